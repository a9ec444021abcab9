"""The VIN paper's reactive baselines as Stable-Baselines3 features extractors and policies.

* :class:`CNNExtractor`: obstacle, goal and agent-position channels; five 3x3 conv layers
  with 50, 50, 100, 100, 100 filters (ReLU), 2x2 max-pooling after the first and third;
  the flattened maps are the features, and SB3's action net is the fully connected layer
  to the 8 actions (``net_arch=[]``).
* :class:`FCNExtractor`: a first conv spanning the whole image ((2n-1) x (2n-1), 150
  filters), a 1x1 conv with 150 channels, a 1x1 conv with 10, then attention at the
  agent's cell: the 10 values there are the features, and the action net is the linear
  layer to the 8 actions. Like VIN, its image part runs once per distinct map in a batch.

Both train with the same BC trainer (``BCConfig(policy="cnn")``) and with PPO.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableMultiInputActorCriticPolicy
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from agents.policies.extractors import group_maps


def _check_space(observation_space: spaces.Space, name: str) -> tuple[int, int, int]:
    if not isinstance(observation_space, spaces.Dict) or {"image", "position"} - set(observation_space.spaces):
        raise ValueError(f"{name} needs a Dict observation space with 'image' and 'position' (a VINGrid env)")
    shape = observation_space["image"].shape
    assert shape is not None, "the image space has a shape"
    channels, height, width = shape
    return channels, height, width


class CNNExtractor(BaseFeaturesExtractor):
    """The paper's CNN baseline (see the module docstring).

    :param observation_space: a VINGrid ``Dict`` space.
    :param channels: filters of the five conv layers.
    :param channels_last: feed the convolutions a channels-last image (the same function; on
        this project's CPU their forward and backward run 1.5-1.8x faster, BENCHMARKS.md).
    :param bf16: run the convolutions in bfloat16 under autocast (the features come back as
        float32): about 8 significant bits instead of 24, for a forward and backward pass
        that are about 2x faster on CPUs with AVX-512 BF16 (BENCHMARKS.md). Saved with the model.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        channels: tuple[int, ...] = (50, 50, 100, 100, 100),
        channels_last: bool = True,
        bf16: bool = False,
    ) -> None:
        in_ch, height, width = _check_space(observation_space, "CNNExtractor")
        if len(channels) != 5 or min(channels) < 1:
            raise ValueError(f"channels must be five positive filter counts, got {channels!r}")
        out_h, out_w = height // 4, width // 4
        super().__init__(observation_space, features_dim=channels[-1] * out_h * out_w)
        layers: list[nn.Module] = []
        prev = in_ch + 1  # + the agent-position channel
        for i, ch in enumerate(channels):
            layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.ReLU()]
            if i in (0, 2):
                layers.append(nn.MaxPool2d(2))
            prev = ch
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.bf16 = bf16

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        image = observations["image"].float()
        pos = observations["position"].long()
        agent = torch.zeros_like(image[:, :1])
        agent[torch.arange(image.shape[0], device=image.device), 0, pos[:, 0], pos[:, 1]] = 1.0
        x = torch.cat([image, agent], dim=1).contiguous(memory_format=self.memory_format)
        with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.net(x).float()


class FCNExtractor(BaseFeaturesExtractor):
    """The paper's fully convolutional baseline (see the module docstring).

    :param observation_space: a VINGrid ``Dict`` space.
    :param ch_h: channels of the full-image conv and of the 1x1 conv after it.
    :param ch_q: channels of the last 1x1 conv (the features dimension).
    """

    def __init__(self, observation_space: spaces.Dict, ch_h: int = 150, ch_q: int = 10) -> None:
        in_ch, height, width = _check_space(observation_space, "FCNExtractor")
        super().__init__(observation_space, features_dim=ch_q)
        n = max(height, width)
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, ch_h, 2 * n - 1, padding=n - 1),
            nn.ReLU(),
            nn.Conv2d(ch_h, ch_h, 1),
            nn.ReLU(),
            nn.Conv2d(ch_h, ch_q, 1),
        )

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        maps, index = group_maps(observations["image"].float())
        pos = observations["position"].long()
        return self.net(maps)[index, :, pos[:, 0], pos[:, 1]]


def _defaults(kwargs: dict[str, Any], extractor: type) -> dict[str, Any]:
    kwargs.setdefault("features_extractor_class", extractor)
    kwargs.setdefault("net_arch", [])
    kwargs.setdefault("normalize_images", False)
    return kwargs


class _ExtractorPolicy:
    """The body of the baseline policies: SB3's actor-critic policy on the class's ``extractor``
    (SB3 saves a policy by its class, so each extractor and algorithm keeps a class of its own)."""

    extractor: type[BaseFeaturesExtractor]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **_defaults(kwargs, self.extractor))


class CNNPolicy(_ExtractorPolicy, MultiInputActorCriticPolicy):
    """Actor-critic policy on :class:`CNNExtractor`, for ``PPO(CNNPolicy, env)``."""

    extractor = CNNExtractor


class FCNPolicy(_ExtractorPolicy, MultiInputActorCriticPolicy):
    """Actor-critic policy on :class:`FCNExtractor`, for ``PPO(FCNPolicy, env)``."""

    extractor = FCNExtractor


class MaskableCNNPolicy(_ExtractorPolicy, MaskableMultiInputActorCriticPolicy):
    """:class:`CNNPolicy` for sb3-contrib's ``MaskablePPO``."""

    extractor = CNNExtractor


class MaskableFCNPolicy(_ExtractorPolicy, MaskableMultiInputActorCriticPolicy):
    """:class:`FCNPolicy` for sb3-contrib's ``MaskablePPO``."""

    extractor = FCNExtractor
