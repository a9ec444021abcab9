"""GPPN as Stable-Baselines3 parts: :class:`GPPNExtractor` and the PPO / MaskablePPO policies
around :class:`agents.planners.gppn.GPPN`."""

from __future__ import annotations

from typing import Any

from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from stable_baselines3.common.policies import MultiInputActorCriticPolicy

from agents.planners.gppn import GPPN
from agents.planners.vin import default_k
from agents.policies.extractors import PlanningExtractor, planner_defaults


class GPPNExtractor(PlanningExtractor):
    """Features = a :class:`GPPN`'s hidden state at the agent's cell (``ch_h`` features).

    :param observation_space: a VINGrid ``Dict`` space (``image`` and ``position``).
    :param k: iterations; default :func:`agents.planners.vin.default_k` of the map size.
    :param ch_h: LSTM channels per cell.
    :param kernel_size: the gather convolution's kernel.
    :param plan_once_per_map: share one plan among samples of the same map (exact).
    :param plan_cache: without gradients, keep the plans of the maps seen since the weights last
        changed (exact; see :class:`agents.policies.vin.VINExtractor`).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        k: int | None = None,
        ch_h: int = 64,
        kernel_size: int = 3,
        plan_once_per_map: bool = True,
        plan_cache: bool = True,
    ) -> None:
        super().__init__(observation_space, features_dim=ch_h)
        shape = observation_space["image"].shape
        assert shape is not None, "the image space has a shape"
        channels, height, _ = shape
        self.gppn = GPPN(channels, k if k is not None else default_k(height), ch_h, kernel_size)
        self.plan_once_per_map, self.plan_cache = plan_once_per_map, plan_cache

    def planner(self) -> GPPN:
        return self.gppn


class GPPNPolicy(MultiInputActorCriticPolicy):
    """Actor-critic policy with a GPPN inside, for ``PPO(GPPNPolicy, env)``; GPPN settings go in
    ``features_extractor_kwargs`` (``k``, ``ch_h``, ``kernel_size``). The action net is the
    paper's linear layer from the agent cell's hidden state to the 8 logits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **planner_defaults(kwargs, GPPNExtractor))


class MaskableGPPNPolicy(MaskableMultiInputActorCriticPolicy):
    """The same for sb3-contrib's ``MaskablePPO(MaskableGPPNPolicy, env)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **planner_defaults(kwargs, GPPNExtractor))
