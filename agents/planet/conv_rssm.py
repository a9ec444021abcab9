"""The spatial RSSM: PlaNet's state-space model with a latent map instead of a latent vector.

Every cell of the ``N x N`` map carries its own deterministic state ``h`` and stochastic state
``s``: DreamerV2's categoricals (the default; one-hot samples with straight-through gradients) or
PlaNet's Gaussian. The transition:

* ``x = ELU(conv3x3([s, h]) + K_a * s + conv3x3(action planes))``. ``K_a`` is a 3x3 kernel over
  ``s`` of the action ``a`` taken (a move shifts what ``s`` holds by the action's offset, a
  product of state and action that a sum of their convolutions learns slowly). The action
  planes are its one-hot and a plane of ones, broadcast to every cell (the ones tell the map's
  edge, a wall, from the zero padding beyond it); they are the same for every map, so their
  convolution is computed once per action and indexed (:meth:`ConvRSSM._action_maps`). One move
  mixes each cell with its 8 neighbours, as far as the agent can go in one step.
* a GRU with an update gate (1x1 convolutions) over ``x`` updates the cell's D memory channels;
  ``h`` is those channels and ``x`` itself, so the move's immediate outcome (did it collide?)
  is in ``h`` without waiting for the gate.

Prior, posterior and frame decoder are 1x1 convolutions per cell. By default the posterior
sees the frame alone (``frame_posterior``). The reward and the episode-end logit are per-cell
values of ``h``, pooled with the VIN's attention on the agent's cell: weights are the softmax over
cells of the decoded agent channel (:meth:`ConvRSSM.attention`).

Why not PlaNet's flat latent (:class:`agents.planet.rssm.RSSM`): its reward head never learned
collisions on 8x8 maps (reward MSE stuck at the collision penalty's variance, CEM on it at the
random policy's success), the limit the World Models agent met with a flat ``z``. The spatial
latent gives the world model the VIN's own bias (a map updated by local convolutions); PlaNet's
loss, filtering and planning are unchanged (:class:`LatentModel`). A plain sum of per-cell
rewards over the map did not learn either.

Frames are the map image (one pixel per cell, the default) or the env's rendered RGB picture at
``pixels`` pixels per cell (``pixels > 1``, :mod:`agents.worldmodels.frames`). For pictures the
encoder's first convolution has stride ``pixels`` (each cell's patch of the picture becomes its
embedding) and the decoder gives each cell its patch (``pixels ** 2`` RGB pixels, put in place by
a pixel shuffle); the rest of the model is the same. Its agent channel, which the attention and
:meth:`ConvRSSM.agent_logits` use, is then a fixed linear read-out of the decoded patch: how
much redder than green the middle of the patch is (the agent is the one red disc of the picture;
:data:`AGENT_TEMPLATE_SCALE`).
What each choice changed is measured in docs/agents/planet.md with
:func:`agents.planet.diagnostics.open_loop_check`.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
from torch import nn
from torch.distributions import Distribution

from agents.planet.rssm import AGENT_CHANNEL, CellCategorical, LatentModel, RSSMState, gaussian
from agents.worldmodels.frames import FRAMES
from gridworld_env.core import N_ACTIONS
from gridworld_env.rendering import _disc

#: Logit scale of the agent read-out of a decoded picture patch: the mean over the patch's middle
#: of ``logit(red) - logit(green)``, times this. A trained decoder's read-out is about 3.1 on the
#: agent's cell (the agent's colour) and 0 or below elsewhere (floor, wall, goal), so times 4 the
#: softmax over 64 cells puts more than 99.9 % of its weight on the agent's cell.
AGENT_TEMPLATE_SCALE = 4.0

#: The stochastic states a model can have: PlaNet's Gaussian or DreamerV2's categoricals.
LATENTS = ("gaussian", "categorical")


def check_model_settings(model: str, latent: str, classes: int, frame_posterior: bool, frame: str = "map") -> None:
    """``ValueError`` for settings no model has: an unknown ``latent`` or ``frame``, fewer than 2
    ``classes``, or categoricals, a frame posterior or pictures asked of the ``flat`` model
    (PlaNet's, Gaussian only, for map frames)."""
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
    if model == "flat" and frame != "map":
        raise ValueError(f"the flat model sees map frames only, got frame={frame!r}: use model=conv")
    if latent not in LATENTS:
        raise ValueError(f"latent must be one of {LATENTS}, got {latent!r}")
    if classes < 2:
        raise ValueError(f"classes must be >= 2, got {classes}")
    if model == "flat" and (latent != "gaussian" or frame_posterior):
        raise ValueError(
            "the flat model has Gaussian latents and PlaNet's posterior only, "
            f"got latent={latent!r}, frame_posterior={frame_posterior}"
        )


def check_window(window: object) -> None:
    """``ValueError`` unless ``window`` (of local imagination) is ``None`` or a positive number of cells."""
    if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
        raise ValueError(f"window must be a positive number of cells or None, got {window!r}")


def check_search(depth: object) -> None:
    """``ValueError`` unless ``depth`` (of :meth:`ConvRSSM.search`) is ``None`` or a positive number of moves."""
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise ValueError(f"search depth must be a positive number of moves or None, got {depth!r}")


class _Imagination(NamedTuple):
    """The weights of imagination (:meth:`ConvRSSM._imagination_weights`) and the action maps as
    rows per (action, cell)."""

    weights: torch.Tensor
    maps: torch.Tensor
    maps_rows: torch.Tensor
    first: torch.Tensor
    first_bias: torch.Tensor
    second: torch.Tensor
    second_bias: torch.Tensor


def _per_cell(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, hidden, 1), nn.ELU(), nn.Conv2d(hidden, out, 1))


class ConvRSSM(LatentModel):
    """The model; ``channels`` x ``size`` x ``size`` 0/1 map frames (one pixel per cell) or RGB
    pictures of ``size * pixels`` pixels a side; 8 actions.

    :param deter: channels of ``h`` per cell.
    :param stoch: channels of ``s`` per cell (``gaussian``), or categoricals per cell
        (``categorical``: ``s`` has ``stoch * classes`` one-hot channels).
    :param hidden: channels of the transition's and the heads' hidden layers.
    :param embed: channels of the frame embedding per cell.
    :param latent: ``gaussian`` (PlaNet) or ``categorical`` (DreamerV2, straight-through samples).
    :param classes: classes of each categorical.
    :param frame_posterior: the posterior sees the frame's embedding only, not ``h`` (PlaNet's sees
        both). A map frame is the whole state of the env, so the frame alone tells ``s``; so each
        step's ``s`` is one fixed code of its frame, and the prior learns to predict that code
        instead of chasing a posterior that can re-encode the frame in a new way every step.
    :param pixels: pixels per cell of the frames: 1 for map frames, more for RGB pictures.
    """

    def __init__(
        self,
        channels: int,
        size: int,
        deter: int = 16,
        stoch: int = 4,
        hidden: int = 32,
        embed: int = 16,
        latent: str = "gaussian",
        classes: int = 4,
        frame_posterior: bool = False,
        pixels: int = 1,
    ) -> None:
        super().__init__()
        check_model_settings("conv", latent, classes, frame_posterior)
        if pixels < 1 or (pixels > 1 and channels != 3):
            raise ValueError(f"pixels must be >= 1 (and pictures RGB, 3 channels), got {pixels} and {channels}")
        self.latent, self.classes, self.frame_posterior = latent, classes, frame_posterior
        self.channels, self.size, self.deter, self.pixels = channels, size, deter, pixels
        self.stoch = stoch * classes if latent == "categorical" else stoch  # channels of s
        stats = self.stoch if latent == "categorical" else 2 * stoch
        stoch = self.stoch
        if pixels == 1:
            self.encoder = nn.Sequential(nn.Conv2d(channels, embed, 3, padding=1), nn.ELU(), nn.Conv2d(embed, embed, 1))
        else:  # each cell's patch -> its embedding, then the cell's neighbourhood as for a map frame
            self.encoder = nn.Sequential(
                nn.Conv2d(channels, embed, pixels, stride=pixels),
                nn.ELU(),
                nn.Conv2d(embed, embed, 3, padding=1),
                nn.ELU(),
                nn.Conv2d(embed, embed, 1),
            )
        self.width = deter + hidden  # h holds the GRU state and the transition's input x
        self.inp = nn.Conv2d(stoch + self.width, hidden, 3, padding=1)
        self.action_inp = nn.Conv2d(N_ACTIONS + 1, hidden, 3, padding=1, bias=False)
        # One 3x3 kernel over s per action (a move shifts what s holds by the action's offset)
        self.action_kernels = nn.Parameter(torch.randn(N_ACTIONS, hidden, stoch * 9) / (stoch * 9) ** 0.5)
        self.gates = nn.Conv2d(hidden + deter, 2 * deter, 1)
        self.prior_net = _per_cell(self.width, hidden, stats)
        self.post_net = _per_cell(embed if frame_posterior else self.width + embed, hidden, stats)
        self.decoder = _per_cell(self.width + stoch, hidden, channels * pixels**2)
        # The agent channel as a read-out of the decoder's output: one weight per output channel
        self.register_buffer("agent_template", self._agent_template(), persistent=False)
        self.reward_head = _per_cell(self.width, hidden, 1)
        self.end_head = _per_cell(self.width, hidden, 1)
        self.reward_bias = nn.Parameter(torch.zeros(()))
        self.end_bias = nn.Parameter(torch.zeros(()))

    def _agent_template(self) -> torch.Tensor:
        """(C * P * P,) weights of the agent read-out over the decoder's output channels."""
        px = self.pixels
        template = torch.zeros(self.channels, px, px)
        if px == 1:
            template[AGENT_CHANNEL] = 1.0
            return template.flatten()
        middle = torch.from_numpy(_disc(px, 0.25))
        middle[px // 2, px // 2] = True  # the renderer's disc covers these pixels on every cell it is on
        template[0][middle], template[1][middle] = 1.0, -1.0
        return (template * AGENT_TEMPLATE_SCALE / middle.sum()).flatten()  # (c, i, j): pixel_shuffle's order

    def _agent_head(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's last layer read out as the agent channel: weight (1, hidden), bias (1,)."""
        last = cast(nn.Conv2d, self.decoder[2])
        template = cast(torch.Tensor, self.agent_template)
        return template[None] @ last.weight.flatten(1), (template @ cast(torch.Tensor, last.bias))[None]

    #: Candidates imagined at once at most by :meth:`imagine_returns` (whole problems at a time).
    IMAGINE_NODES = 1024

    def initial(self, batch: int) -> RSSMState:
        p = self.reward_bias
        n = self.size
        return RSSMState(p.new_zeros(batch, self.width, n, n), p.new_zeros(batch, self.stoch, n, n))

    def _dist(self, stats: torch.Tensor) -> Distribution:
        if self.latent == "categorical":
            return CellCategorical.from_logits(stats, self.classes)
        return gaussian(stats, 1)

    def _point(self, stats: torch.Tensor) -> torch.Tensor:
        """:func:`agents.planet.rssm.point` of :meth:`_dist`, straight from the statistics."""
        if self.latent == "categorical":
            b, gc, n, m = stats.shape
            groups = stats.view(b, gc // self.classes, self.classes, n, m)
            return nn.functional.one_hot(groups.argmax(2), self.classes).permute(0, 1, 4, 2, 3).flatten(1, 2).to(stats)
        return stats[:, : self.stoch]

    def initial_prior(self, h: torch.Tensor) -> Distribution:
        return self._dist(self.prior_net(h))

    def _action_maps(self) -> torch.Tensor:
        """(8, hidden, N, N): the input convolution's response to each action's planes (the
        one-hot and the ones plane, constant over the map), so a batch indexes it instead of
        convolving the planes again (the same sum, by linearity)."""
        n = self.size
        planes = torch.cat([torch.eye(N_ACTIONS), torch.ones(N_ACTIONS, 1)], 1).to(self.reward_bias)
        return self.action_inp(planes[:, :, None, None].expand(N_ACTIONS, N_ACTIONS + 1, n, n).contiguous())

    def _step(self, state: RSSMState, action: torch.Tensor, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, n, m = state.s.shape
        moved = torch.bmm(self.action_kernels[action], nn.functional.unfold(state.s, 3, padding=1))
        x = nn.functional.elu(self.inp(torch.cat([state.s, state.h], 1)) + maps[action] + moved.view(b, -1, n, m))
        gru = state.h[:, : self.deter]
        z, c = self.gates(torch.cat([x, gru], 1)).chunk(2, 1)
        z = torch.sigmoid(z)
        h = torch.cat([(1 - z) * gru + z * torch.tanh(c), x], 1)
        return h, self.prior_net(h)

    def transition(self, state: RSSMState, action: torch.Tensor) -> tuple[torch.Tensor, Distribution]:
        h, stats = self._step(state, action, self._action_maps())
        return h, self._dist(stats)

    def _imagination_weights(
        self,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The weights :meth:`imagine_returns` uses, derived from the model's own (so they are the
        same function), over the features ``[h, s]``:

        * per action ``a`` the input convolution with ``K_a`` added on its ``s`` channels (8,
          hidden, F, 3, 3) and its bias plus the action's planes' response (8, hidden, N, N): one
          convolution per action is ``inp([s, h]) + K_a * s + action maps``;
        * the first layers of the reward head, the end head and the decoder's agent channel as one
          1x1 convolution (3 hidden, F) with its bias, and their second layers as one grouped 1x1
          convolution (3, hidden) with its bias.
        """
        w, hidden, stoch = self.inp.weight, self.inp.out_channels, self.stoch
        kernels = self.action_kernels.view(N_ACTIONS, hidden, stoch, 3, 3)
        folded = w.expand(N_ACTIONS, *w.shape).clone()
        folded[:, :, :stoch] += kernels
        folded = torch.cat([folded[:, :, stoch:], folded[:, :, :stoch]], 2)  # [s, h] -> [h, s]
        assert self.inp.bias is not None
        maps = self._action_maps() + self.inp.bias[:, None, None]
        layers = [
            (cast(nn.Conv2d, m[0]), cast(nn.Conv2d, m[2])) for m in (self.reward_head, self.end_head, self.decoder)
        ]
        first = [a.weight.flatten(1) for a, _ in layers]
        first[0], first[1] = (nn.functional.pad(x, (0, stoch)) for x in first[:2])  # no s in those heads
        agent_weight, agent_bias = self._agent_head()
        second = torch.cat([layers[0][1].weight.flatten(1), layers[1][1].weight.flatten(1), agent_weight])
        bias = [cast(torch.Tensor, a.bias) for a, _ in layers]
        second_bias = torch.cat([cast(torch.Tensor, b.bias) for _, b in layers[:2]] + [agent_bias])
        first_weight = torch.cat(first)[:, :, None, None].contiguous(memory_format=torch.channels_last)
        return folded, maps, first_weight, torch.cat(bias), second[:, :, None, None], second_bias

    #: Moves imagined on the whole map before a ``window`` narrows them (:meth:`imagine_returns`):
    #: the filtered state's cells are not yet in the regime of imagined ones, and a cell left as
    #: filtered skews the read-outs (on the shipped 16x16 model, the returns of 800 sequences
    #: differ from the whole-map ones by 0.14 on average with one such move, 0.04 with two).
    WHOLE_MAP_MOVES = 2

    @torch.no_grad()
    def imagine_returns(
        self, state: RSSMState, sequences: torch.Tensor, discount: float = 1.0, window: int | None = None
    ) -> torch.Tensor:
        """As :meth:`LatentModel.imagine_returns` (the same figures), computed once per distinct
        prefix: candidates that share their first ``t`` actions share the states up to ``t``, so each
        step imagines the distinct ``(parent, action)`` pairs alone (CEM's samples repeat prefixes:
        about 40 % of the moves). The pairs come sorted by action, so each action's slice takes one
        convolution of :meth:`_imagination_weights` and no per-sample kernel is gathered; one tensor
        holds each state's features ``[h, s]``, and the heads run as one network. The problems
        are imagined in groups of at most :attr:`IMAGINE_NODES` candidates, so that a step's
        tensors stay in the processor's cache (1.5x faster on the CPU than all at once).

        :param window: local imagination, an approximation: after the first
            :attr:`WHOLE_MAP_MOVES` moves, each move updates only the ``2 * window + 1`` square of
            cells around where the parent state sees the agent (its attention's peak, kept inside
            the map); the other cells keep the parent's state and read-outs. A move's effect spreads
            one cell per step, and the read-outs are taken at the agent's cell, so near cells carry
            what matters; the cost falls with the square's share of the map. ``None``: every cell
            at every move (exact).
        """
        check_window(window)
        b, j, _ = sequences.shape
        per = max(1, self.IMAGINE_NODES // j)
        feats = state.features()
        if b <= per:
            return self._imagine_tree(feats, sequences, discount, window)
        return torch.cat(
            [self._imagine_tree(feats[i : i + per], sequences[i : i + per], discount, window) for i in range(0, b, per)]
        )

    def _imagination_setup(self, feats: torch.Tensor, read: bool) -> tuple[_Imagination, torch.Tensor, torch.Tensor]:
        """The weights of :meth:`_moves`, and the roots' cells (rows of features with the
        convolution's zero border) and read-outs per cell (only a window reads the latter)."""
        weights, maps, first, first_bias, second, second_bias = self._imagination_weights()
        n = self.size
        maps_rows = maps.permute(0, 2, 3, 1).reshape(N_ACTIONS * n * n, -1)  # (action, cell) -> hidden
        w = _Imagination(weights, maps, maps_rows, first, first_bias, second, second_bias)
        cells = nn.functional.pad(feats.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)).contiguous()
        heads = self._heads(w, feats).permute(0, 2, 3, 1).contiguous() if read else feats.new_empty(0)
        return w, cells, heads

    @staticmethod
    def _heads(w: _Imagination, f: torch.Tensor) -> torch.Tensor:
        """(B, 3, n, m): reward, end and agent logit per cell of the features ``f``."""
        hid = nn.functional.elu(nn.functional.conv2d(f, w.first, w.first_bias))
        return nn.functional.conv2d(hid, w.second, w.second_bias, groups=3)

    def _moves(
        self,
        w: _Imagination,
        cells: torch.Tensor,
        heads: torch.Tensor,
        parent: torch.Tensor,
        action: torch.Tensor,
        window: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One imagined move for each ``(parent, action)`` pair (sorted by action).

        :param cells: (P, n + 2, n + 2, F) the parents' cells. :param heads: (P, n, n, 3) their
            read-outs (read with a ``window`` only).
        :param window: update the ``2 * window + 1`` square around each parent's agent cell only.
        :return: the updated cells' features (M, F, side, side), where they go (M, side * side)
            rows of the cells with border (for the whole map, ``side = n``) and the children's
            read-outs per cell (M, n, n, 3): the square's new ones over the parent's.
        """
        n, dev = self.size, cells.device
        m, width, wide = parent.shape[0], cells.shape[-1], (n + 2) ** 2
        counts = torch.bincount(action, minlength=N_ACTIONS).tolist()
        local = window is not None
        if window is not None:  # each pair's square around the parent's agent cell, with its one-cell border
            side = min(2 * window + 1, n)
            cell = heads[..., 2].flatten(1).argmax(1)[parent]
            top = (cell // n - window).clamp(0, n - side)
            left = (cell % n - window).clamp(0, n - side)
            span = torch.arange(side + 2, device=dev)
            at = (top[:, None, None] + span[:, None]) * (n + 2) + left[:, None, None] + span  # (m, side+2, side+2)
            joined = cells.view(-1, width)[(at + parent[:, None, None] * wide).flatten()]
            joined = joined.view(m, side + 2, side + 2, width).permute(0, 3, 1, 2)
            place = at[:, 1:-1, 1:-1].reshape(m, -1)  # the square's own cells, rows of one state
            inner_map = ((top[:, None, None] + span[:-2, None]) * n + left[:, None, None] + span[:-2]).view(m, -1)
            act_maps = w.maps_rows[(action[:, None] * n * n + inner_map).flatten()]
            act_maps = act_maps.view(m, side, side, -1).permute(0, 3, 1, 2)
        else:
            side = n
            joined = cells[parent].permute(0, 3, 1, 2)
            whole = torch.arange(1, n + 1, device=dev)
            place = (whole[:, None] * (n + 2) + whole).flatten()[None].expand(m, -1)
        parts, start = [], 0
        for a, count in enumerate(counts):
            if count:
                part = nn.functional.conv2d(joined[start : start + count], w.weights[a])
                parts.append(part + (act_maps[start : start + count] if local else w.maps[a]))
                start += count
        x = nn.functional.elu(torch.cat(parts))
        gru = joined[:, : self.deter, 1:-1, 1:-1]
        z, c = self.gates(torch.cat([x, gru], 1)).chunk(2, 1)
        z = torch.sigmoid(z)
        gru = (1 - z) * gru + z * torch.tanh(c)
        s = self._point(self.prior_net(torch.cat([gru, x], 1)))
        new = torch.cat([gru, x, s], 1)
        out = self._heads(w, new).permute(0, 2, 3, 1)
        if local:
            heads = heads[parent]
            heads.view(-1, 3)[(inner_map + torch.arange(m, device=dev)[:, None] * n * n).flatten()] = out.reshape(-1, 3)
        else:
            heads = out.contiguous()
        return new, place, heads

    @staticmethod
    def _children_cells(
        cells: torch.Tensor, parent: torch.Tensor, new: torch.Tensor, place: torch.Tensor, local: bool
    ) -> torch.Tensor:
        """The children's cells: their parents' (for a window; the whole map's new cells need no
        copy) with the updated ``new`` cells put at ``place`` (see :meth:`_moves`)."""
        m, width = new.shape[0], cells.shape[-1]
        out = cells[parent] if local else cells.new_zeros(m, *cells.shape[1:])
        rows = (place + torch.arange(m, device=cells.device)[:, None] * cells[0, ..., 0].numel()).flatten()
        out.view(-1, width)[rows] = new.permute(0, 2, 3, 1).reshape(-1, width)
        return out

    def _imagine_tree(
        self, feats: torch.Tensor, sequences: torch.Tensor, discount: float, window: int | None
    ) -> torch.Tensor:
        b, j, horizon = sequences.shape
        dev = feats.device
        seq = sequences.reshape(b * j, horizon)
        w, cells, heads = self._imagination_setup(feats, window is not None)
        node = torch.arange(b, device=dev).repeat_interleave(j)  # each candidate's state now
        nodes = b
        alive = torch.ones(b, device=dev)
        total = torch.zeros(b, device=dev)
        for t in range(horizon):
            pairs, node = torch.unique(seq[:, t] * nodes + node, return_inverse=True)
            action, parent = pairs // nodes, pairs % nodes
            local = window is not None and t >= self.WHOLE_MAP_MOVES
            new, place, heads = self._moves(w, cells, heads, parent, action, window if local else None)
            if t < horizon - 1:  # no child reads the last states' cells
                cells = self._children_cells(cells, parent, new, place, local)
            total, alive = self._accumulate(heads, total[parent], alive[parent], discount**t)
            nodes = pairs.shape[0]
        return total[node].view(b, j)

    @torch.no_grad()
    def search(
        self,
        state: RSSMState,
        depth: int,
        discount: float = 1.0,
        window: int | None = None,
        end: float = 0.5,
        top_reward: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Plan by breadth-first search over imagined moves: each problem's state is expanded by
        every action, then every child by every action, up to ``depth`` moves; children that put
        the agent (the attention's peak) on a cell already reached are merged into the best of
        them, those on a cell reached by fewer moves dropped, and those whose episode has ended
        (probability above ``end``) not expanded. So the number of imagined states is bounded by
        the actions times the cells the agent can reach, however deep the search. A problem stops
        once no deeper path can beat its best: when the best return exceeds ``discount ** t``
        times the largest reward of one move (``top_reward``, the env's goal reward, or the largest
        the model imagined if that is more); so a near goal is found cheaply.

        The planner is given that the agent's cell is what tells imagined states apart (the map
        does not change); CEM (:meth:`imagine_returns`) is not.

        :return: (B, depth) the best imagined path of each problem (highest discounted return; its
            moves after the path's end are 0), (B,) its length and (B,) its return.
        """
        check_window(window)
        if depth is None:
            raise ValueError("search depth must be a positive number of moves, got None")
        check_search(depth)
        feats, per = state.features(), self.SEARCH_PROBLEMS
        parts = [
            self._search(feats[i : i + per], depth, discount, window, end, top_reward)
            for i in range(0, feats.shape[0], per)
        ]
        path, length, best = zip(*parts)
        return torch.cat(path), torch.cat(length), torch.cat(best)

    #: Problems searched at once by :meth:`search` at most (their imagined states are held together).
    SEARCH_PROBLEMS = 16

    def _search(
        self, feats: torch.Tensor, depth: int, discount: float, window: int | None, end: float, top_reward: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, dev = feats.shape[0], self.size, feats.device
        w, cells, heads = self._imagination_setup(feats, True)
        visited = torch.zeros(b * n * n, dtype=torch.bool, device=dev)
        visited[torch.arange(b, device=dev) * n * n + heads[..., 2].flatten(1).argmax(1)] = True
        problem = torch.arange(b, device=dev)
        total, alive = torch.zeros(b, device=dev), torch.ones(b, device=dev)
        paths = torch.zeros(b, 0, dtype=torch.long, device=dev)
        best, best_path = torch.full((b,), -torch.inf, device=dev), torch.zeros(b, depth, dtype=torch.long, device=dev)
        length = torch.zeros(b, dtype=torch.long, device=dev)
        top = torch.full((b,), float(top_reward), device=dev)
        for t in range(depth):
            p = problem.shape[0]
            if p == 0:
                break
            action = torch.arange(N_ACTIONS, device=dev).repeat_interleave(p)
            parent = torch.arange(p, device=dev).repeat(N_ACTIONS)
            local = window is not None and t >= self.WHOLE_MAP_MOVES
            new, place, heads = self._moves(w, cells, heads, parent, action, window if local else None)
            ret, live = self._accumulate(heads, total[parent], alive[parent], discount**t)
            owner, path = problem[parent], torch.cat([paths[parent], action[:, None]], 1)
            # the best child of each problem (the first in order on ties)
            high = torch.full((b,), -torch.inf, device=dev).scatter_reduce(0, owner, ret, "amax")
            order = torch.arange(ret.shape[0], device=dev)
            hit = torch.where(ret == high[owner], order, ret.shape[0])
            pick = torch.full((b,), ret.shape[0], device=dev).scatter_reduce(0, owner, hit, "amin")
            better = (high > best) & (pick < ret.shape[0])
            best = torch.where(better, high, best)
            best_path[better, : t + 1] = path[pick[better]]
            length = torch.where(better, t + 1, length)
            gain = (ret - total[parent]) / discount**t  # each move's own reward
            top = top.scatter_reduce(0, owner, gain.masked_fill(alive[parent] <= 1 - end, -torch.inf), "amax")
            done = best > discount ** (t + 1) * top
            if t == depth - 1:
                break
            key = owner * n * n + heads[..., 2].flatten(1).argmax(1)
            open_ = torch.nonzero(~visited[key] & (live > 1 - end) & ~done[owner]).squeeze(1)
            open_ = open_[ret[open_].argsort(descending=True, stable=True)]  # the best child per cell first
            cell_keys, inverse = torch.unique(key[open_], return_inverse=True)
            slot = torch.full((cell_keys.shape[0],), open_.shape[0], device=dev)
            keep = open_[slot.scatter_reduce(0, inverse, torch.arange(open_.shape[0], device=dev), "amin")]
            visited[key[keep]] = True
            cells = self._children_cells(cells, parent[keep], new[keep], place[keep], local)
            heads = heads[keep]
            problem, total, alive, paths = owner[keep], ret[keep], live[keep], path[keep]
        return best_path, length, best

    def _accumulate(
        self, heads: torch.Tensor, total: torch.Tensor, alive: torch.Tensor, weight: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The return so far and the probability that the episode goes on, after a move whose
        read-outs are ``heads`` (M, n, n, 3): its reward at the agent's cell, times ``weight``
        and the probability that the episode had not ended before it, is added."""
        value, end, agent = heads.flatten(1, 2).unbind(-1)
        att = agent.softmax(-1)
        total = total + weight * alive * ((att * value).sum(-1) + self.reward_bias)
        return total, alive * (1 - torch.sigmoid((att * end).sum(-1) + self.end_bias))

    def posterior(self, h: torch.Tensor, embed: torch.Tensor) -> Distribution:
        return self._dist(self.post_net(embed if self.frame_posterior else torch.cat([h, embed], 1)))

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        out = self.decoder(feats)
        return out if self.pixels == 1 else nn.functional.pixel_shuffle(out, self.pixels)

    def agent_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, N * N): the decoded agent channel (of a picture, the read-out of each cell's patch)."""
        weight, bias = self._agent_head()
        return nn.functional.conv2d(self.decoder[:2](feats), weight[:, :, None, None], bias).flatten(1)

    def attention(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, N * N) where the model sees the agent: the softmax over cells of the decoded agent
        channel (the VIN's attention on the agent's cell, from the model's own belief; no gradient
        flows back into the decoder through it)."""
        return self.agent_logits(feats).softmax(-1).detach()

    def reward(self, feats: torch.Tensor) -> torch.Tensor:
        value = self.reward_head(feats[:, : self.width]).flatten(1)
        return (self.attention(feats) * value).sum(-1) + self.reward_bias

    def end_logit(self, feats: torch.Tensor) -> torch.Tensor:
        value = self.end_head(feats[:, : self.width]).flatten(1)
        return (self.attention(feats) * value).sum(-1) + self.end_bias
