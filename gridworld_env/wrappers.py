"""Observation wrappers for VINGrid envs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ImageObservation(gym.ObservationWrapper):
    """One (3, H, W) uint8 image: obstacles, goal and agent as 0/1 channels.

    For reactive convolutional policies (the paper's CNN baseline sees exactly these three
    channels). The values are 0/1, so with SB3 pass ``normalize_images=False``.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        _, h, w = env.observation_space["image"].shape
        self.observation_space = spaces.Box(0, 1, shape=(3, h, w), dtype=np.uint8)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        image = observation["image"]
        out = np.zeros((3,) + image.shape[1:], dtype=np.uint8)
        out[:2] = image
        out[2][tuple(observation["position"])] = 1
        return out


class PixelObservation(gym.ObservationWrapper):
    """The rendered RGB frame as the observation: uint8 (H * px, W * px, 3).

    The env must be made with ``render_mode="rgb_array"``.
    """

    def __init__(self, env: gym.Env) -> None:
        if env.render_mode != "rgb_array":
            raise ValueError(f"PixelObservation needs render_mode='rgb_array', got {env.render_mode!r}")
        super().__init__(env)
        size = env.observation_space["image"].shape[1]
        px = env.unwrapped.cell_pixels
        self.observation_space = spaces.Box(0, 255, shape=(size * px, size * px, 3), dtype=np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        return self.env.render()
