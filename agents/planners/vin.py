"""The Value Iteration Network module (Tamar et al., 2016), planning once per map.

``VIN`` maps an observation image to a reward image (a hidden 3x3 conv with ``ch_h``
channels, then a 1x1 conv to one channel, no nonlinearity between them, as published),
runs ``k`` iterations of value iteration as a convolution over ``[r, v]`` followed by a
max over ``ch_q`` channels, and reads Q at the agent's cell (attention); a linear layer
turns those ``ch_q`` values into action logits.

Two exact speed-ups over the published code:

* ``conv([r, v]) = conv_r(r) + conv_v(v)``: the reward half does not change across
  iterations, so it is computed once, outside the loop;
* planning runs once per *map*: ``plan`` takes M distinct maps, ``act`` gathers Q at any
  number of agent cells on them (``map_index``), so all labelled states of a map (in
  training) or all steps of an episode (in rollouts) share one value iteration.
"""

from __future__ import annotations

import typing

import torch
from torch import nn

#: The paper's number of iterations per map size; other sizes use ``default_k``.
PAPER_K = {8: 10, 16: 20, 28: 36}


def default_k(size: int) -> int:
    """Iterations for a ``size x size`` map: the paper's K, else about 1.3 x size."""
    return PAPER_K.get(size, int(round(1.3 * size)))


#: Stands for minus infinity where a max must never pick an entry (finite, so gradients stay finite).
_NEVER = -1e9


class VIN(nn.Module):
    """Reward conv, K (tied) value-iteration steps, attention, linear head.

    :param in_channels: observation channels (obstacles, goal).
    :param k: value-iteration steps.
    :param ch_h: channels of the hidden reward layer (150 in the paper).
    :param ch_q: Q channels (10 in the paper: more than the 8 real actions).
    :param kernel_size: kernel of the value-iteration convolution (odd).
    :param n_actions: logits of the linear head; 0 for no head (``act`` then returns Q).
    :param kernel_init: start of the value-iteration kernels: ``"moves"`` (Q channel ``a``
        reads reward and value at the cell that move ``a`` of :data:`gridworld_env.core.ACTIONS`
        reaches, weight 1; channels past 8 start at zero), or ``"zero"`` (value kernel zero,
        reward kernel PyTorch's default, as the public ports do).
    :param tied: one pair of value-iteration kernels shared by all K iterations (value
        iteration proper, as published). ``False`` gives every iteration, and the last Q, its
        own pair (``k`` times the VI parameters), each started as ``kernel_init`` says: the
        paper's open question of untied weights.
    :param terminal_goal: the goal ends an episode, so its value is 0 in every backup
        (channel 1 of the image marks it): Q of a move onto the goal is its reward alone.
        The published VIN backs values up through the goal like any cell; its values near the
        goal then grow with K, and a cell beside the goal can outvalue it unless the learned
        reward peaks sharply there. ``False`` (the default) is the published VIN.
    :param reward_kernel: kernel of the hidden reward layer: 3 (published) or 1 (each cell's
        reward reads that cell alone).
    :param walls_block: the env's rule for a move into an obstacle (or off the map): the agent
        stays where it is. Q of such a move is the obstacle's reward (the learned cost of a
        collision) plus the value of the agent's *own* cell, not the obstacle's. The published
        VIN treats an obstacle as a cell that can be entered at a learned cost, so a wall whose
        learned cost is a few moves looks cheaper than a long detour round it (a PPO agent
        walked into one). Needs the ``moves`` kernels, kept fixed, so that Q channel ``a`` is
        move ``a``. ``False`` (the default) is the published VIN.
    """

    def __init__(
        self,
        in_channels: int = 2,
        k: int = 20,
        ch_h: int = 150,
        ch_q: int = 10,
        kernel_size: int = 3,
        n_actions: int = 8,
        kernel_init: str = "moves",
        tied: bool = True,
        terminal_goal: bool = False,
        reward_kernel: int = 3,
        walls_block: bool = False,
    ) -> None:
        super().__init__()
        if walls_block and (kernel_init != "moves" or not tied):
            raise ValueError("walls_block reads Q channel a as move a: it needs kernel_init='moves' and tied=True")
        self.walls_block = walls_block
        if k < 1:
            raise ValueError(f"k (value-iteration steps) must be >= 1, got {k}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        if kernel_init not in ("moves", "zero"):
            raise ValueError(f"kernel_init must be 'moves' or 'zero', got {kernel_init!r}")
        self.kernel_init = kernel_init
        self.k, self.ch_q = k, ch_q
        if reward_kernel < 1 or reward_kernel % 2 == 0:
            raise ValueError(f"reward_kernel must be odd and positive, got {reward_kernel}")
        self.hidden = nn.Conv2d(in_channels, ch_h, reward_kernel, padding=reward_kernel // 2)
        self.reward = nn.Conv2d(ch_h, 1, 1, bias=False)
        pad = kernel_size // 2

        def vi_conv() -> nn.Conv2d:
            return nn.Conv2d(1, ch_q, kernel_size, padding=pad, bias=False)

        self.q_from_reward = vi_conv()
        self.q_from_value = vi_conv()
        self.tied = tied
        self.terminal_goal = terminal_goal
        # Untied: iteration i + 2 (and, last, the final Q) uses kernel pair i; the first
        # iteration keeps q_from_reward (its value is zero, so q_from_value is unused).
        self.untied_reward = nn.ModuleList([] if tied else [vi_conv() for _ in range(k)])
        self.untied_value = nn.ModuleList([] if tied else [vi_conv() for _ in range(k)])
        self.head = nn.Linear(ch_q, n_actions, bias=False) if n_actions else None
        #: Planning without gradients (rollouts, ``predict``): iterations in place of ``k``, and
        #: a tolerance to stop at when no value moved by more (see :func:`set_inference_planning`).
        self.inference_k: int | None = None
        self.inference_tol: float | None = None
        #: Iterations the last plan ran (they stop early once the values converge).
        self.last_iterations = k
        self.reset_kernels()

    def reset_kernels(self) -> None:
        """Initialise the value-iteration kernels as ``kernel_init`` says.

        A random value kernel whose weights sum above 1 makes the values grow geometrically
        over K iterations (BC diverged at 28x28), and one that sums below 1 lets gradients
        vanish along long paths; the ``moves`` start propagates values one cell per
        iteration from the first step, so the network only has to learn the reward.
        """
        from gridworld_env.core import ACTIONS

        pairs: list[tuple[nn.Conv2d, nn.Conv2d]] = [(self.q_from_reward, self.q_from_value)]
        pairs += [
            (typing.cast(nn.Conv2d, r), typing.cast(nn.Conv2d, v))
            for r, v in zip(self.untied_reward, self.untied_value)
        ]
        with torch.no_grad():
            for from_reward, from_value in pairs:
                from_value.weight.zero_()
                if self.kernel_init == "moves":
                    from_reward.weight.zero_()
                    c = from_value.weight.shape[-1] // 2
                    for a, (dr, dc) in enumerate(ACTIONS[: self.ch_q]):
                        if abs(dr) <= c and abs(dc) <= c:
                            from_value.weight[a, 0, c + dr, c + dc] = 1.0
                            from_reward.weight[a, 0, c + dr, c + dc] = 1.0

    def reward_image(self, image: torch.Tensor) -> torch.Tensor:
        """(M, C, H, W) observation -> (M, 1, H, W) learned reward.

        The hidden 3x3 conv and the 1x1 reward conv have no nonlinearity between them, so they
        run as the one 3x3 conv they compose to (kernel ``w_r . w_h``, bias ``w_r . b_h``):
        the same function and gradients, without the ``ch_h`` channel image.
        """
        w_r = self.reward.weight.flatten(1)  # (1, ch_h)
        weight = (w_r @ self.hidden.weight.flatten(1)).view(1, *self.hidden.weight.shape[1:])
        bias = w_r @ self.hidden.bias if self.hidden.bias is not None else None
        return torch.nn.functional.conv2d(image, weight, bias, padding=self.hidden.padding)

    def plan(self, image: torch.Tensor, values: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Value iteration on M maps: (M, C, H, W) -> Q (M, ch_q, H, W).

        :param values: if given, receives the value image after each iteration.
        """
        r = self.reward_image(image)
        q_r = self.q_from_reward(r)
        blocked = self.blocked_moves(image) if self.walls_block else None
        v = q_r.max(dim=1, keepdim=True).values  # iteration 1: v starts at 0
        not_goal = 1.0 - image[:, 1:2] if self.terminal_goal else None
        if not_goal is not None:
            v = v * not_goal
        if values is not None:
            values.append(v)
        if not self.tied:
            for i in range(self.k - 1):
                v = (self.untied_reward[i](r) + self.untied_value[i](v)).max(dim=1, keepdim=True).values
                if not_goal is not None:
                    v = v * not_goal
                if values is not None:
                    values.append(v)
            return self.untied_reward[-1](r) + self.untied_value[-1](v)
        if blocked is not None:
            # A blocked move's Q is its reward plus v at the cell itself, so the best of them is
            # v + ``stay`` with ``stay`` fixed per map: one max over one channel per iteration
            # instead of a select over all of them (the same values; 2.3x faster planning).
            stay = q_r.masked_fill(~blocked, _NEVER).max(dim=1, keepdim=True).values
            q_r_free = q_r.masked_fill(blocked, _NEVER)
        k, tol = self.k, None
        if not torch.is_grad_enabled():
            k, tol = self.inference_k or self.k, self.inference_tol
        self.last_iterations = k
        for i in range(k - 1):
            before = v
            if blocked is None:
                v = (q_r + self.q_from_value(v)).max(dim=1, keepdim=True).values
            else:
                v = torch.maximum((q_r_free + self.q_from_value(v)).max(dim=1, keepdim=True).values, v + stay)
            if not_goal is not None:
                v = v * not_goal
            if values is not None:
                values.append(v)
            if tol is not None and bool(((v - before).abs() <= tol).all()):  # a fixed point: more changes nothing
                self.last_iterations = i + 2
                break
        moved = self.q_from_value(v)
        return q_r + (moved if blocked is None else torch.where(blocked, v, moved))

    def blocked_moves(self, image: torch.Tensor) -> torch.Tensor:
        """(M, C, H, W) observation -> (M, ch_q, H, W): whether move ``a`` from each cell hits an
        obstacle (channel 0) or leaves the map. Channels past the 8 moves are never blocked."""
        from gridworld_env.core import ACTIONS

        kernel = torch.zeros(self.ch_q, 1, 3, 3, dtype=image.dtype, device=image.device)
        for a, (dr, dc) in enumerate(ACTIONS[: self.ch_q]):
            kernel[a, 0, 1 + dr, 1 + dc] = 1.0
        walls = torch.nn.functional.pad(image[:, :1], (1, 1, 1, 1), value=1.0)
        return torch.nn.functional.conv2d(walls, kernel) > 0.5

    def act(self, q: torch.Tensor, map_index: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Attention: Q of map ``map_index[i]`` at ``(rows[i], cols[i])``, through the head.

        :return: (S, n_actions) logits, or (S, ch_q) Q values without a head.
        """
        at_agent = q[map_index, :, rows, cols]
        return self.head(at_agent) if self.head is not None else at_agent

    def forward(
        self, image: torch.Tensor, map_index: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        """Plan on the M maps of ``image`` once, then act at S agent cells on them."""
        return self.act(self.plan(image), map_index, rows, cols)
