"""What V sees: the env's map image, the map centred on the agent, or the env's rendered RGB frame.

``map`` (the default) is :class:`gridworld_env.wrappers.ImageObservation`'s image: three 0/1
channels (obstacles, goal, agent), one pixel per cell. ``pixels`` is the picture the env renders
(:func:`gridworld_env.rendering.draw_frame`: walls, grid lines, the goal, the agent as a disc),
drawn without the trail, at ``64 // size`` pixels per cell (64x64 at 8x8 and 16x16, as the
World Models paper's CarRacing frames), as RGB in [0, 1]. ``ego`` is the map seen from the agent:
a ``(2 size - 1)``-pixel square centred on the agent's cell, two 0/1 channels (obstacles, with
everything off the map drawn as obstacle; the goal), so the walls beside the agent and the goal's
offset always sit at the same pixels, and the goal is always inside it. All are drawn here for a whole
batch at once, from the map images and the agents' cells, so collected data stores cells, not
pictures, and the agent can draw what V needs from the env's own observation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from gridworld_env.core import observation_images
from gridworld_env.rendering import AGENT, FREE, GOAL, GRID, WALL, _disc

#: The kinds of frame V can see.
FRAMES = ("map", "pixels", "ego")

#: Side of a ``pixels`` frame, in pixels, when the map size divides it.
PIXEL_SIDE = 64


def cell_pixels(size: int) -> int:
    """Pixels per cell of a ``pixels`` frame for a ``size x size`` map (at least 2)."""
    return max(2, PIXEL_SIDE // size)


def frame_shape(kind: str, size: int) -> tuple[int, int]:
    """(channels, side) of a frame of ``kind`` for a ``size x size`` map."""
    if kind not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {kind!r}")
    if kind == "ego":
        return 2, 2 * size - 1
    return 3, size if kind == "map" else size * cell_pixels(size)


def _colour(c: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(c.astype(np.float32) / 255.0)


def draw_frames(images: torch.Tensor, positions: torch.Tensor, kind: str = "map") -> torch.Tensor:
    """(B, 2, H, W) obstacle and goal channels and (B, 2) agent cells -> (B, 3, S, S) float frames.

    ``map``: the :class:`gridworld_env.wrappers.ImageObservation` image (S = H). ``pixels``: the
    env's ``rgb_array`` frame without the trail, scaled to [0, 1] (S = H * :func:`cell_pixels`).
    ``ego``: (B, 2, 2H - 1, 2H - 1) obstacles (off the map: 1) and goal, centred on the agent.
    """
    b, _, h, w = images.shape
    rows, cols = positions[:, 0].long(), positions[:, 1].long()
    if kind == "ego":
        return ego_frames(images, rows, cols)
    if kind == "map":
        agent = torch.zeros(b, 1, h, w)
        agent[torch.arange(b), 0, rows, cols] = 1.0
        return torch.cat([images.float(), agent], dim=1)
    if kind != "pixels":
        raise ValueError(f"frame must be one of {FRAMES}, got {kind!r}")
    px = cell_pixels(h)
    obstacles, goal = images[:, 0] > 0, images[:, 1] > 0
    cells = torch.where(obstacles[..., None], _colour(WALL), _colour(FREE))  # (B, H, W, 3)
    cells = torch.where(goal[..., None], _colour(GOAL), cells)
    frame = cells.repeat_interleave(px, dim=1).repeat_interleave(px, dim=2)  # (B, H px, W px, 3)
    line = torch.zeros(h * px, w * px, dtype=torch.bool)
    line[::px, :] = True
    line[:, ::px] = True
    is_free = (frame == _colour(FREE)).all(-1)
    frame = torch.where((line[None] & is_free)[..., None], _colour(GRID), frame)
    at_goal = goal[torch.arange(b), rows, cols]
    for small in (False, True):
        disc = _disc(px, 0.25 if small else 0.38)
        disc[px // 2, px // 2] = True
        dy, dx = (torch.from_numpy(a) for a in np.nonzero(disc))
        which = torch.nonzero(at_goal == small).flatten()
        if which.numel():
            rr = rows[which, None] * px + dy[None]
            cc = cols[which, None] * px + dx[None]
            frame[which[:, None], rr, cc] = _colour(AGENT)
    return frame.permute(0, 3, 1, 2).contiguous()


def ego_frames(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) obstacle and goal channels, agent rows and columns -> (B, 2, 2H - 1, 2W - 1)
    float frames centred on the agent; cells off the map read as obstacles."""
    b, _, h, w = images.shape
    obstacles = F.pad(images[:, 0].float(), (w - 1, w - 1, h - 1, h - 1), value=1.0)
    goal = F.pad(images[:, 1].float(), (w - 1, w - 1, h - 1, h - 1), value=0.0)
    # agent cell (r, c) sits at (r + h - 1, c + w - 1) of the padded map: the window starts at (r, c)
    rr = rows[:, None, None] + torch.arange(2 * h - 1)[None, :, None]
    cc = cols[:, None, None] + torch.arange(2 * w - 1)[None, None, :]
    batch = torch.arange(b)[:, None, None]
    return torch.stack([obstacles[batch, rr, cc], goal[batch, rr, cc]], dim=1)


def episode_frames(
    obstacles: np.ndarray, goals: np.ndarray, positions: np.ndarray, kind: str = "map", chunk: int = 4096
) -> torch.Tensor:
    """Frames of every step of collected episodes: (E, H, W) maps, (E, 2) goals, (E, T, 2) cells
    -> (E, T, C, S, S); float for ``map``, uint8 (0-255) for ``pixels`` and ``ego`` (to keep memory
    small: :func:`as_float` scales them)."""
    e, t = positions.shape[:2]
    images = observation_images(obstacles, goals, np.float32)
    idx = np.repeat(np.arange(e), t)
    cells = torch.from_numpy(positions.reshape(-1, 2))
    channels, side = frame_shape(kind, obstacles.shape[1])
    out = torch.empty((e * t, channels, side, side), dtype=torch.float32 if kind == "map" else torch.uint8)
    for start in range(0, e * t, chunk):
        sl = slice(start, start + chunk)
        f = draw_frames(torch.from_numpy(images[idx[sl]]), cells[sl], kind)
        out[sl] = f if kind == "map" else (f * 255).round().to(torch.uint8)
    return out.view(e, t, channels, side, side)


def as_float(frames: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1]: uint8 pixel frames scaled by 1/255, float frames as they are."""
    return frames.float() / 255.0 if frames.dtype == torch.uint8 else frames


@torch.no_grad()
def encode_all(vae: torch.nn.Module, frames: torch.Tensor, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """V's mean and log-variance of z for (N, C, S, S) frames, ``chunk`` at a time."""
    parts = [vae.encode(as_float(frames[i : i + chunk])) for i in range(0, len(frames), chunk)]  # type: ignore[operator]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
