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

from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.vin import VIN, default_k


def group_maps(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge runs of identical adjacent maps: the maps to plan on and each sample's map.

    Exact and O(B * H * W): samples of one map that sit next to each other (a BC batch of
    whole maps, the steps of one episode) share one plan; a map that reappears later in
    the batch is planned again, which gives the same result.

    :param images: (B, C, H, W).
    :return: ``(maps, index)`` with ``maps[index] == images``.
    """
    flat = images.flatten(1)
    new = torch.ones(flat.shape[0], dtype=torch.bool, device=images.device)
    if flat.shape[0] > 1:
        new[1:] = (flat[1:] != flat[:-1]).any(dim=1)
    return images[new], new.long().cumsum(0) - 1


class VINExtractor(BaseFeaturesExtractor):
    """Features = Q of a :class:`~agents.vin.VIN` at the agent's cell.

    :param observation_space: a VINGrid ``Dict`` space (``image`` and ``position``).
    :param k: value-iteration steps; default :func:`agents.vin.default_k` of the map size.
    :param ch_h: hidden reward channels.
    :param ch_q: Q channels (the features dimension).
    :param kernel_size: value-iteration kernel.
    :param plan_once_per_map: share one value iteration among samples of the same map
        (exact; turning it off is only for tests and benchmarks).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        k: int | None = None,
        ch_h: int = 150,
        ch_q: int = 10,
        kernel_size: int = 3,
        plan_once_per_map: bool = True,
    ) -> None:
        if not isinstance(observation_space, spaces.Dict) or {"image", "position"} - set(observation_space.spaces):
            raise ValueError("VINExtractor needs a Dict observation space with 'image' and 'position' (a VINGrid env)")
        super().__init__(observation_space, features_dim=ch_q)
        channels, height, _ = observation_space["image"].shape
        self.vin = VIN(channels, k if k is not None else default_k(height), ch_h, ch_q, kernel_size, n_actions=0)
        self.plan_once_per_map = plan_once_per_map

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        images = observations["image"]
        pos = observations["position"].long()
        if self.plan_once_per_map:
            maps, index = group_maps(images)
        else:
            maps, index = images, torch.arange(images.shape[0], device=images.device)
        return self.vin(maps, index, pos[:, 0], pos[:, 1])


def _vin_defaults(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("features_extractor_class", VINExtractor)
    kwargs.setdefault("net_arch", [])
    kwargs.setdefault("normalize_images", False)
    kwargs.setdefault("share_features_extractor", True)
    return kwargs


class VINPolicy(MultiInputActorCriticPolicy):
    """Actor-critic policy with a VIN inside, for ``PPO(VINPolicy, env)``.

    Takes the arguments of ``MultiInputActorCriticPolicy``; VIN settings go in
    ``features_extractor_kwargs`` (``k``, ``ch_h``, ``ch_q``, ``kernel_size``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **_vin_defaults(kwargs))


class MaskableVINPolicy(MaskableMultiInputActorCriticPolicy):
    """The same for sb3-contrib's ``MaskablePPO(MaskableVINPolicy, env)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **_vin_defaults(kwargs))


def vin_of(policy: torch.nn.Module) -> tuple[VIN, torch.nn.Module]:
    """The VIN and the action head (SB3's ``action_net``) of a VIN policy."""
    extractor = getattr(policy, "features_extractor", None) or getattr(policy, "pi_features_extractor", None)
    if not isinstance(extractor, VINExtractor):
        raise ValueError(f"{type(policy).__name__} has no VINExtractor: not a VIN policy")
    return extractor.vin, policy.action_net
