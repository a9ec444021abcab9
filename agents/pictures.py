"""Pictures of agents at work: policy episodes as frames, and a VIN's learned value map.

Used by ``python -m eval --render`` and by ``make demo``; no plotting library needed.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.policies import BasePolicy

from agents.policies import vin_of
from gridworld_env.core import observation_images
from gridworld_env.vingrid import VINGridEnv

#: Colour ramp of value maps, low to high (dark blue, teal, yellow).
RAMP = np.array([[30, 40, 110], [40, 150, 140], [250, 225, 60]], dtype=np.float64)


def policy_episode_frames(
    policy: BasePolicy, env_id: str, seed: int, cell_pixels: int = 16, paper_limit: bool = True
) -> tuple[list[np.ndarray], bool]:
    """Roll ``policy`` (deterministic) on the map of ``env.reset(seed=seed)`` and draw each step.

    :param paper_limit: stop after twice the shortest path, in moves (the paper's protocol);
        otherwise run to the env's own end.
    :return: the frames (first is the start) and whether the goal was reached.
    """
    env = gym.make(env_id, render_mode="rgb_array", cell_pixels=cell_pixels)
    obs, info = env.reset(seed=seed)
    limit = 2 * int(info["shortest_path_length"]) if paper_limit else None
    frames: list[np.ndarray] = [np.asarray(env.render())]
    success, steps = False, 0
    while True:
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(int(action))
        frames.append(np.asarray(env.render()))
        steps += 1
        success = bool(info["is_success"])
        if terminated or truncated or (limit is not None and steps >= limit):
            break
    env.close()
    return frames, success


def value_images(
    policy: BasePolicy, obstacles: np.ndarray, goal: tuple[int, int]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The learned reward and the value after each VI iteration of a VIN policy on one map.

    :return: ``(reward, values)``: (H, W) arrays, ``values`` has K of them.
    """
    vin, _ = vin_of(policy)
    image = torch.from_numpy(observation_images(obstacles[None], np.asarray([goal]), np.float32))
    values: list[torch.Tensor] = []
    with torch.no_grad():
        reward = vin.reward_image(image)
        vin.plan(image, values)
    return reward[0, 0].numpy(), [v[0, 0].numpy() for v in values]


def heat_image(values: np.ndarray, obstacles: np.ndarray, cell_pixels: int = 16) -> np.ndarray:
    """An RGB picture of a per-cell map: free cells on a blue-to-yellow ramp, obstacles black.

    The ramp spans the values of the free cells (so the wall's extreme values do not flatten it).
    """
    free = ~obstacles
    lo, hi = (float(values[free].min()), float(values[free].max())) if free.any() else (0.0, 1.0)
    t = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0) * (len(RAMP) - 1)
    i = np.minimum(t.astype(np.int64), len(RAMP) - 2)
    frac = (t - i)[..., None]
    rgb = RAMP[i] * (1 - frac) + RAMP[i + 1] * frac
    rgb[obstacles] = 0
    return np.repeat(np.repeat(rgb.astype(np.uint8), cell_pixels, axis=0), cell_pixels, axis=1)


def side_by_side(*images: np.ndarray, gap: int = 4) -> np.ndarray:
    """Images of equal height joined left to right with a white gap."""
    h = images[0].shape[0]
    if any(im.shape[0] != h for im in images):
        raise ValueError(f"images must have the same height, got {[im.shape[0] for im in images]}")
    spacer = np.full((h, gap, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for im in images:
        parts += [im, spacer]
    return np.concatenate(parts[:-1], axis=1)


def render_policy(
    policy: BasePolicy, env_id: str, seeds: list[int], mode: str, path: str | None = None, fps: int = 8
) -> list[bool]:
    """Show (``mode="human"``, a pygame window) or save (``mode="gif"``, to ``path``) policy episodes.

    :return: whether each episode reached the goal within the paper's limit.
    """
    if mode not in ("human", "gif"):
        raise ValueError(f"render mode must be 'human' or 'gif', got {mode!r}")
    if mode == "gif" and not path:
        raise ValueError("render mode 'gif' needs an output path")
    from gridworld_env import env_size
    from gridworld_env.rendering import Window, fit_cell_pixels, save_gif, screen_size

    cell_pixels = 16 if mode == "gif" else fit_cell_pixels(env_size(env_id), 16, screen_size())
    episodes = [policy_episode_frames(policy, env_id, seed, cell_pixels) for seed in seeds]
    outcomes = [success for _, success in episodes]
    if mode == "gif":
        assert path is not None
        frames = [frame for episode, _ in episodes for frame in episode + [episode[-1]] * 3]  # a pause at each end
        save_gif(frames, path, fps=fps)
        return outcomes
    window = Window(f"{env_id}: seeds {seeds[0]}..{seeds[-1]}", episodes[0][0][0].shape[:2], fps)
    for seed, (episode, success) in zip(seeds, episodes):
        for i, frame in enumerate(episode):
            last = i == len(episode) - 1
            status = f"seed {seed}   step {i}" + (f"   {'reached the goal' if success else 'failed'}" if last else "")
            window.show(frame, status, hold=1.0 if last else 0.0)
    window.close()
    return outcomes


def overlay_path(
    image: np.ndarray, path: list[tuple[int, int]], cell_pixels: int, colour: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """Mark each cell of ``path`` with a small square in the middle of the cell."""
    out = image.copy()
    lo, hi = cell_pixels // 3, cell_pixels - cell_pixels // 3
    for r, c in path:
        out[r * cell_pixels + lo : r * cell_pixels + hi, c * cell_pixels + lo : c * cell_pixels + hi] = colour
    return out


def _font(size: int = 13) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font where Pillow has FreeType
    except (TypeError, ValueError, OSError):
        return ImageFont.load_default()


def _text(image: np.ndarray, xy: tuple[int, int], text: str, size: int = 13) -> np.ndarray:
    from PIL import Image, ImageDraw

    picture = Image.fromarray(image)
    ImageDraw.Draw(picture).text(xy, text, fill=(20, 20, 20), font=_font(size))
    return np.asarray(picture).copy()


def titled(panel: np.ndarray, title: str, caption: str = "", band: int = 18) -> np.ndarray:
    """``panel`` with ``title`` in a white band above it and ``caption`` in one below."""
    h, w, _ = panel.shape
    out = np.full((h + 2 * band, w, 3), 255, dtype=np.uint8)
    out[band : band + h] = panel
    out = _text(out, (3, 2), title)
    return _text(out, (3, band + h + 2), caption) if caption else out


def colour_bar(width: int, height: int, label: str = "low  ->  high") -> np.ndarray:
    """A white panel with the value ramp of :func:`heat_image` as a bar, ``label`` above it."""
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    bar_w = max(8, width - 12)
    t = np.linspace(0.0, len(RAMP) - 1, bar_w)
    i = np.minimum(t.astype(np.int64), len(RAMP) - 2)
    ramp = (RAMP[i] * (1 - (t - i))[:, None] + RAMP[i + 1] * (t - i)[:, None]).astype(np.uint8)
    top = min(height - 4, max(height // 2 - 8, 20))
    out[top : top + 16, 6 : 6 + bar_w] = ramp[None]
    out = _text(out, (6, max(0, top - 34)), "colour scale of each value panel:")
    out = _text(out, (6, max(0, top - 18)), label)
    return _text(out, (6, top + 20), "(its own range below it; black: obstacles)")


def grid_of(
    panels: list[np.ndarray], columns: int = 6, gap: int = 4, filler: Callable[[int, int], np.ndarray] | None = None
) -> np.ndarray:
    """Equal-sized RGB panels tiled row by row on a white background.

    :param filler: ``filler(width, height)`` draws what fills the empty slots after the last
        panel (a new row if there are none), so that the grid has no blank holes: a legend, say.
    """
    h, w, _ = panels[0].shape
    cols = min(columns, len(panels))
    empty = -len(panels) % cols
    if filler is not None and empty == 0:
        empty = cols
    slots = len(panels) + (empty if filler is not None else 0)
    rows = -(-slots // cols)
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, dtype=np.uint8)
    for i, panel in enumerate(panels):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = panel
    if filler is not None:
        r, c = divmod(len(panels), cols)
        x0, width = c * (w + gap), empty * (w + gap) - gap
        out[r * (h + gap) : r * (h + gap) + h, x0 : x0 + width] = filler(width, h)
    return out


def _value_range(values: np.ndarray, obstacles: np.ndarray) -> str:
    free = values[~obstacles]
    return f"{free.min():.3g} .. {free.max():.3g}" if free.size else ""


def planner_pictures(
    policy: BasePolicy, env_id: str, seed: int, cell_pixels: int = 12
) -> tuple[np.ndarray, list[np.ndarray], bool]:
    """The planner at work on the map of ``env.reset(seed=seed)``.

    :return: ``(grid, frames, success)``: a PNG-ready grid with the map and the agent's path,
        the learned reward and the value after each iteration (path overlaid on each), the
        same panels as animation frames (map beside the value of iteration 1, 2, ..., K), and
        whether the agent reached the goal within the paper's limit.
    """
    from gridworld_env.rendering import draw_frame

    env = gym.make(env_id)
    obs, info = env.reset(seed=seed)
    base = typing.cast(VINGridEnv, env.unwrapped)
    obstacles, goal = base.obstacles.copy(), base.goal_pos
    path, success = [base.agent_pos], False
    for _ in range(2 * int(info["shortest_path_length"])):
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, terminated, truncated, step_info = env.step(int(action))
        path.append(base.agent_pos)
        if terminated or truncated:
            success = bool(step_info["is_success"])
            break
    env.close()
    reward, values = value_images(policy, obstacles, goal)
    board = draw_frame(obstacles, goal, path[0], path[1:-1], cell_pixels)
    maps = [overlay_path(heat_image(v, obstacles, cell_pixels), path, cell_pixels) for v in (reward, *values)]
    names = ["learned reward"] + [f"V{i}" for i in range(1, len(values) + 1)]
    panels = [titled(board, "map and path", "success" if success else "failure")]
    panels += [titled(m, name, _value_range(v, obstacles)) for m, name, v in zip(maps, names, (reward, *values))]
    grid = grid_of(panels, filler=colour_bar)
    frames = [side_by_side(panels[0], p) for p in panels[2:]]
    return grid, frames, success
