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

from agents.planners.vin import VIN, default_k
from agents.policies.extractors import PlanningExtractor, planner_defaults


class VINExtractor(PlanningExtractor):
    """Features = Q of a :class:`~agents.planners.vin.VIN` at the agent's cell.

    :param observation_space: a VINGrid ``Dict`` space (``image`` and ``position``).
    :param k: value-iteration steps; default :func:`agents.planners.vin.default_k` of the map size.
    :param ch_h: hidden reward channels.
    :param ch_q: Q channels (the features dimension).
    :param kernel_size: value-iteration kernel.
    :param plan_once_per_map: share one value iteration among samples of the same map
        (exact; turning it off is only for tests and benchmarks).
    :param kernel_init: start of the VI kernels, ``moves`` or ``zero`` (see :class:`~agents.planners.vin.VIN`).
    :param plan_cache: without gradients (rollouts, ``predict``), keep the plans of the
        maps seen since the weights last changed, so an episode's map is planned once, not
        at every step. Exact: a weight update (any in-place change) empties the cache.
    :param tied: share the VI kernels across iterations (see :class:`~agents.planners.vin.VIN`).
    :param terminal_goal: the goal's value is 0 in every backup (see :class:`~agents.planners.vin.VIN`).
    :param learn_vi_kernels: ``False`` keeps the value-iteration kernels at the ``moves`` start
        (the env's known deterministic moves, weight 1): only the reward and the heads learn,
        and no kernel gain above 1 can make a longer path look more valuable than a shorter one.
    :param reward_kernel: kernel of the VIN's hidden reward layer (see :class:`~agents.planners.vin.VIN`).
    :param walls_block: a move into an obstacle leaves the agent in place, as in the env (see
        :class:`~agents.planners.vin.VIN`); needs ``learn_vi_kernels=False``.
    :param inference_k: iterations when planning without gradients (rollouts, ``predict``); default K.
    :param inference_tol: without gradients, stop once no value changes by more than this (``0``:
        at the fixed point; see :func:`agents.planners.set_inference_planning`). Saved with the model.
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
            from agents.planners.inference import set_inference_planning

            set_inference_planning(self.vin, inference_k, inference_tol)

    def planner(self) -> VIN:
        return self.vin


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
