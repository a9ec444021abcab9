"""Observation wrappers for VINGrid envs."""

from __future__ import annotations

import typing
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gridworld_env.rendering import draw_frame
from gridworld_env.vingrid import VINGridEnv


class ImageObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """One (3, H, W) uint8 image: obstacles, goal and agent as 0/1 channels.

    For reactive convolutional policies (the paper's CNN baseline sees exactly these three
    channels). The values are 0/1, so with SB3 pass ``normalize_images=False``.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        assert isinstance(space, spaces.Dict), "a VINGrid env has a Dict observation space"
        shape = space["image"].shape
        assert shape is not None, "the image space has a shape"
        _, h, w = shape
        self.observation_space = spaces.Box(0, 1, shape=(3, h, w), dtype=np.uint8)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        image = observation["image"]
        out = np.zeros((3,) + image.shape[1:], dtype=np.uint8)
        out[:2] = image
        out[2][tuple(observation["position"])] = 1
        return out


class PixelObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """The picture of the map as the observation: uint8 (H * px, W * px, 3).

    The frame is the one ``render_mode="rgb_array"`` renders (walls, trail, goal, agent), drawn
    from the env's state, so the env may have any render mode.

    :param env: a VINGrid env (possibly wrapped).
    :param cell_pixels: pixels per cell; default the env's ``cell_pixels``.
    """

    def __init__(self, env: gym.Env, cell_pixels: int | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, cell_pixels=cell_pixels)
        gym.ObservationWrapper.__init__(self, env)
        base = env.unwrapped
        if not isinstance(base, VINGridEnv):
            raise ValueError(f"PixelObservation needs a VINGrid env, got {type(base).__name__}")
        px = base.cell_pixels if cell_pixels is None else cell_pixels
        if isinstance(px, bool) or not isinstance(px, (int, np.integer)) or px < 2:
            raise ValueError(f"cell_pixels must be an int >= 2, got {px!r}")
        self.cell_pixels = int(px)
        size = base.size
        self.observation_space = spaces.Box(
            0, 255, shape=(size * self.cell_pixels, size * self.cell_pixels, 3), dtype=np.uint8
        )

    def observation(self, observation: Any) -> np.ndarray:
        base = typing.cast(VINGridEnv, self.env.unwrapped)
        return draw_frame(base.obstacles, base.goal_pos, base.agent_pos, base.trail, self.cell_pixels)
