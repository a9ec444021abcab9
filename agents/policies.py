"""VIN as Stable-Baselines3 parts: a features extractor and PPO / MaskablePPO policies.

The extractor plans once per distinct map in a batch (samples of one map share one value
iteration) and returns Q at each agent's cell: ``ch_q`` features. With ``net_arch=[]``
(the default here) SB3's action net is the paper's linear layer from those Q values to
the 8 logits, and the value net a linear layer beside it.

    from stable_baselines3 import PPO
    from agents.policies import VINPolicy
    model = PPO(VINPolicy, env)          # env: a VINGrid env or VINGridVecEnv
"""

from __future__ import annotations

import typing
from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.vin import VIN, default_k


def group_maps(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct maps of a batch and each sample's map: ``maps[index] == images`` exactly.

    Samples of one map (a BC batch of whole maps, the steps of an episode, a shuffled PPO
    minibatch) then share one value iteration. Runs of identical adjacent maps are merged
    first (O(B * H * W)); the remaining maps are deduplicated by a random projection, and
    the result is checked element-wise, so a hash collision only costs speed (the batch is
    then planned map by map), never exactness.

    :param images: (B, C, H, W).
    :return: ``(maps, index)``: (M, C, H, W) distinct maps and (B,) int64 indices into them.
    """
    b = images.shape[0]
    flat = images.flatten(1)
    new = torch.ones(b, dtype=torch.bool, device=images.device)
    if b > 1:
        new[1:] = (flat[1:] != flat[:-1]).any(dim=1)
    run = new.long().cumsum(0) - 1
    firsts = flat[new]
    if firsts.shape[0] > 1:
        gen = torch.Generator(device="cpu").manual_seed(0x5EED)
        proj = torch.rand(flat.shape[1], generator=gen, dtype=torch.float64).to(images.device)
        keys = firsts.double() @ proj
        unique, inverse = torch.unique(keys, return_inverse=True)
        # The first run of each key stands for it.
        runs = torch.arange(inverse.numel(), device=images.device)
        order = torch.full((unique.shape[0],), inverse.numel(), dtype=torch.long, device=images.device)
        order.scatter_reduce_(0, inverse, runs, "amin")
        if torch.equal(firsts[order[inverse]], firsts):
            return images[new][order], inverse[run]
    return images[new], run


class PlanningExtractor(BaseFeaturesExtractor):
    """A features extractor that plans once per distinct map and reads the plan at each agent's
    cell: the body of :class:`VINExtractor` and :class:`agents.gppn.GPPNExtractor`. A subclass
    gives :meth:`planner`, a module with ``plan(maps) -> (M, F, H, W)`` and
    ``act(plans, map_index, rows, cols) -> (S, F)``, and sets ``plan_once_per_map`` and
    ``plan_cache`` (see :class:`VINExtractor`)."""

    #: Plans kept at most; the cache is emptied when it would grow past this.
    CACHE_SIZE = 4096

    plan_once_per_map: bool
    plan_cache: bool

    def __init__(self, observation_space: spaces.Dict, features_dim: int) -> None:
        name = type(self).__name__
        if not isinstance(observation_space, spaces.Dict) or {"image", "position"} - set(observation_space.spaces):
            raise ValueError(f"{name} needs a Dict observation space with 'image' and 'position' (a VINGrid env)")
        super().__init__(observation_space, features_dim=features_dim)
        self._cache: dict[bytes, torch.Tensor] = {}
        self._cache_version: tuple = ()

    def planner(self) -> Any:
        raise NotImplementedError

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        images = observations["image"]
        pos = observations["position"].long()
        if self.plan_once_per_map:
            maps, index = group_maps(images)
        else:
            maps, index = images, torch.arange(images.shape[0], device=images.device)
        if self.plan_cache and not torch.is_grad_enabled():
            q = self._cached_plans(maps)
        else:
            q = self.planner().plan(maps)
        return self.planner().act(q, index, pos[:, 0], pos[:, 1])

    def _cached_plans(self, maps: torch.Tensor) -> torch.Tensor:
        # The cache is keyed on each parameter's storage and torch's in-place version counter
        # (``Tensor._version``, private): an optimiser step or ``load_state_dict`` bumps it.
        # ``tests/test_agents.py::test_plan_cache_is_exact_and_follows_weight_updates`` fails if
        # torch stops doing so.
        version = tuple((p.data_ptr(), p._version) for p in self.parameters())
        if version != self._cache_version or len(self._cache) + maps.shape[0] > self.CACHE_SIZE:
            self._cache, self._cache_version = {}, version
        keys = [m.tobytes() for m in maps.cpu().numpy()]
        missing = [i for i, key in enumerate(keys) if key not in self._cache]
        if missing:
            for i, q in zip(missing, self.planner().plan(maps[missing])):
                self._cache[keys[i]] = q
        return torch.stack([self._cache[key] for key in keys])


class VINExtractor(PlanningExtractor):
    """Features = Q of a :class:`~agents.vin.VIN` at the agent's cell.

    :param observation_space: a VINGrid ``Dict`` space (``image`` and ``position``).
    :param k: value-iteration steps; default :func:`agents.vin.default_k` of the map size.
    :param ch_h: hidden reward channels.
    :param ch_q: Q channels (the features dimension).
    :param kernel_size: value-iteration kernel.
    :param plan_once_per_map: share one value iteration among samples of the same map
        (exact; turning it off is only for tests and benchmarks).
    :param kernel_init: start of the VI kernels, ``moves`` or ``zero`` (see :class:`~agents.vin.VIN`).
    :param plan_cache: without gradients (rollouts, ``predict``), keep the plans of the
        maps seen since the weights last changed, so an episode's map is planned once, not
        at every step. Exact: a weight update (any in-place change) empties the cache.
    :param tied: share the VI kernels across iterations (see :class:`~agents.vin.VIN`).
    :param terminal_goal: the goal's value is 0 in every backup (see :class:`~agents.vin.VIN`).
    :param learn_vi_kernels: ``False`` keeps the value-iteration kernels at the ``moves`` start
        (the env's known deterministic moves, weight 1): only the reward and the heads learn,
        and no kernel gain above 1 can make a longer path look more valuable than a shorter one.
    :param reward_kernel: kernel of the VIN's hidden reward layer (see :class:`~agents.vin.VIN`).
    :param walls_block: a move into an obstacle leaves the agent in place, as in the env (see
        :class:`~agents.vin.VIN`); needs ``learn_vi_kernels=False``.
    :param inference_k: iterations when planning without gradients (rollouts, ``predict``); default K.
    :param inference_tol: without gradients, stop once no value changes by more than this (``0``:
        at the fixed point; see :func:`agents.vin.set_inference_planning`). Saved with the model.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        k: int | None = None,
        ch_h: int = 150,
        ch_q: int = 10,
        kernel_size: int = 3,
        plan_once_per_map: bool = True,
        plan_cache: bool = True,
        kernel_init: str = "moves",
        tied: bool = True,
        terminal_goal: bool = False,
        learn_vi_kernels: bool = True,
        reward_kernel: int = 3,
        walls_block: bool = False,
        inference_k: int | None = None,
        inference_tol: float | None = None,
    ) -> None:
        super().__init__(observation_space, features_dim=ch_q)
        shape = observation_space["image"].shape
        assert shape is not None, "the image space has a shape"
        channels, height, _ = shape
        self.vin = VIN(
            channels,
            k if k is not None else default_k(height),
            ch_h,
            ch_q,
            kernel_size,
            n_actions=0,
            kernel_init=kernel_init,
            tied=tied,
            terminal_goal=terminal_goal,
            reward_kernel=reward_kernel,
            walls_block=walls_block,
        )
        self.learn_vi_kernels = learn_vi_kernels
        if walls_block and learn_vi_kernels:
            raise ValueError("walls_block=True reads Q channel a as move a: it needs learn_vi_kernels=False")
        if not learn_vi_kernels:
            if kernel_init != "moves" or not tied:
                raise ValueError("learn_vi_kernels=False keeps the 'moves' kernels: it needs kernel_init='moves', tied")
            for conv in (self.vin.q_from_reward, self.vin.q_from_value):
                conv.weight.requires_grad_(False)
        self.plan_once_per_map = plan_once_per_map
        self.plan_cache = plan_cache
        if inference_k is not None or inference_tol is not None:
            from agents.vin import set_inference_planning

            set_inference_planning(self.vin, inference_k, inference_tol)

    def planner(self) -> VIN:
        return self.vin


def planner_defaults(kwargs: dict[str, Any], extractor: type[PlanningExtractor]) -> dict[str, Any]:
    """SB3 policy arguments for a planner policy: its extractor, SB3's action net straight on the
    extractor's features (``net_arch=[]``), raw 0/1 images, one extractor for actor and critic."""
    kwargs.setdefault("features_extractor_class", extractor)
    kwargs.setdefault("net_arch", [])
    kwargs.setdefault("normalize_images", False)
    kwargs.setdefault("share_features_extractor", True)
    return kwargs


def _zero_value_kernels(policy: torch.nn.Module) -> None:
    """Undo SB3's orthogonal init (gain sqrt(2)) of the VIN kernels (see ``VIN.reset_kernels``)."""
    for module in policy.modules():
        if isinstance(module, VINExtractor):
            module.vin.reset_kernels()


class CenteredQ(torch.nn.Module):
    """Q at the agent's cell minus its largest entry, before the action head.

    Raw Q carries a large offset shared by every channel (the value of the neighbourhood,
    hundreds at 16x16); a linear head whose rows sum to different numbers turns that offset
    into map-dependent logit biases. Centred Q keeps only the differences between moves,
    which softmax and argmax read anyway once the head is the identity.
    """

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return q - q.max(dim=1, keepdim=True).values


#: Starts of a VIN policy's action head.
HEAD_INITS = ("orthogonal", "moves")


def _moves_head(head: torch.nn.Linear) -> None:
    """Logit ``a`` = Q channel ``a`` (the channel that the ``moves`` kernels tie to move ``a``)."""
    n_actions, ch_q = head.weight.shape
    if ch_q < n_actions:
        raise ValueError(f"head_init='moves' needs ch_q >= {n_actions} Q channels, got {ch_q}")
    with torch.no_grad():
        head.weight.zero_()
        head.weight[:, :n_actions].copy_(torch.eye(n_actions))
        if head.bias is not None:
            head.bias.zero_()


def _detach_inputs(module: torch.nn.Module, args: tuple) -> tuple:
    return tuple(a.detach() for a in args)


class _VINPolicyMixin:
    """The body of :class:`VINPolicy` and :class:`MaskableVINPolicy` (SB3 saves a policy by its
    class, so each algorithm keeps a class of its own)."""

    value_net: torch.nn.Linear

    action_net: torch.nn.Module

    def __init__(
        self,
        *args: Any,
        value_gradients: bool = True,
        center_q: bool = False,
        head_init: str = "orthogonal",
        learn_head: bool = True,
        **kwargs: Any,
    ) -> None:
        if head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS}, got {head_init!r}")
        if not learn_head and head_init != "moves":
            raise ValueError("learn_head=False keeps the action head at its start: it needs head_init='moves'")
        self.learn_head = learn_head
        self.center_q = center_q
        self.head_init = head_init
        super().__init__(*args, **planner_defaults(kwargs, VINExtractor))
        self.value_gradients = value_gradients
        _zero_value_kernels(typing.cast(torch.nn.Module, self))
        if not value_gradients:
            self.value_net.register_forward_pre_hook(_detach_inputs)

    def _build(self, lr_schedule: Any) -> None:
        # SB3 builds the heads and the optimiser here; the wrapped head keeps its parameters,
        # so the optimiser holds them still.
        typing.cast(Any, super())._build(lr_schedule)
        if self.head_init == "moves":
            _moves_head(typing.cast(torch.nn.Linear, self.action_net))
            if not self.learn_head:
                self.action_net.requires_grad_(False)
        if self.center_q:
            self.action_net = torch.nn.Sequential(CenteredQ(), self.action_net)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data: dict[str, Any] = typing.cast(Any, super())._get_constructor_parameters()
        data["value_gradients"] = self.value_gradients
        data["center_q"] = self.center_q
        data["head_init"] = self.head_init
        data["learn_head"] = self.learn_head
        return data


class VINPolicy(_VINPolicyMixin, MultiInputActorCriticPolicy):
    """Actor-critic policy with a VIN inside, for ``PPO(VINPolicy, env)``.

    Takes the arguments of ``MultiInputActorCriticPolicy``; VIN settings go in
    ``features_extractor_kwargs`` (``k``, ``ch_h``, ``ch_q``, ``kernel_size``, ``kernel_init``).

    :param value_gradients: let the critic's loss train the VIN too (SB3's usual shared
        extractor). ``False`` detaches the value head's input, so only the policy loss shapes
        the planner.
    :param center_q: the action head reads Q minus its largest entry (:class:`CenteredQ`);
        the value head still reads Q.
    :param head_init: start of the action head: ``orthogonal`` (SB3's, gain 0.01) or ``moves``
        (logit ``a`` = Q channel ``a``, the channel tied to move ``a`` by the VIN's ``moves``
        kernels): the planner's own greedy policy from the first step, with nothing learned.
    :param learn_head: ``False`` keeps the ``moves`` head fixed: the policy is a softmax over the
        planner's Q, as sharp as the learned reward's scale makes it.
    """


class MaskableVINPolicy(_VINPolicyMixin, MaskableMultiInputActorCriticPolicy):
    """The same for sb3-contrib's ``MaskablePPO(MaskableVINPolicy, env)``."""


def vin_of(policy: torch.nn.Module) -> tuple[VIN, torch.nn.Module]:
    """The VIN and the action head (SB3's ``action_net``) of a VIN policy."""
    extractor = getattr(policy, "features_extractor", None) or getattr(policy, "pi_features_extractor", None)
    if not isinstance(extractor, VINExtractor):
        raise ValueError(f"{type(policy).__name__} has no VINExtractor: not a VIN policy")
    head = policy.action_net
    assert isinstance(head, torch.nn.Module), "an SB3 actor-critic policy has an action_net"
    return extractor.vin, head


def resize_policy(policy: Any, size: int) -> Any:
    """The SB3 ``policy`` rebuilt for ``size x size`` maps, with its weights: a convolutional
    planner's (VIN, GPPN, FCN) weights fit any map size, so an agent trained on small maps can be
    run on large ones (with K from :func:`agents.vin.set_inference_planning`).

    :raises ValueError: the policy has weights tied to its map size (the CNN's fully connected layer).
    """
    from gridworld_env.vingrid import observation_space

    kwargs = dict(policy._get_constructor_parameters())
    kwargs["observation_space"] = observation_space(size)
    resized = type(policy)(**kwargs)
    try:
        resized.load_state_dict(policy.state_dict())
    except RuntimeError as exc:
        raise ValueError(
            f"{type(policy).__name__} has weights sized for its maps: it cannot run on {size}x{size}"
        ) from exc
    resized.set_training_mode(False)
    return resized
