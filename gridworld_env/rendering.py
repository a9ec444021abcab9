"""Drawing VINGrid frames with numpy, and a pygame window for ``render_mode="human"``.

Frames are drawn with numpy alone, so ``rgb_array`` rendering needs no pygame; pygame
(from ``pygame-ce``) is imported only when a window opens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridworld_env.atomic import atomic_path

FREE = np.array([245, 245, 240], dtype=np.uint8)
WALL = np.array([45, 52, 64], dtype=np.uint8)
GOAL = np.array([46, 160, 67], dtype=np.uint8)
AGENT = np.array([214, 48, 49], dtype=np.uint8)
TRAIL = np.array([150, 190, 235], dtype=np.uint8)
GRID = np.array([215, 215, 210], dtype=np.uint8)


def _disc(px: int) -> np.ndarray:
    yy, xx = np.mgrid[0:px, 0:px] + 0.5 - px / 2
    return yy**2 + xx**2 <= (0.38 * px) ** 2


def draw_frame(
    obstacles: np.ndarray,
    goal: tuple[int, int],
    agent: tuple[int, int],
    trail: Sequence[tuple[int, int]] = (),
    cell_pixels: int = 24,
) -> np.ndarray:
    """An RGB picture of the map: walls, the trail, the goal and the agent (a disc).

    :return: uint8 array (H * cell_pixels, W * cell_pixels, 3).
    """
    if cell_pixels < 2:
        raise ValueError(f"cell_pixels must be >= 2, got {cell_pixels}")
    h, w = obstacles.shape
    cells = np.where(obstacles[..., None], WALL, FREE)
    for r, c in trail:
        cells[r, c] = TRAIL
    cells[goal] = GOAL
    px = cell_pixels
    frame = np.repeat(np.repeat(cells, px, axis=0), px, axis=1)
    frame[::px, :] = np.where(frame[::px, :] == FREE, GRID, frame[::px, :])
    frame[:, ::px] = np.where(frame[:, ::px] == FREE, GRID, frame[:, ::px])
    r, c = agent
    block = frame[r * px : (r + 1) * px, c * px : (c + 1) * px]
    block[_disc(px)] = AGENT
    return frame


class Window:
    """A pygame window showing frames at a fixed rate (``render_mode="human"``)."""

    def __init__(self, title: str, shape: tuple[int, int], fps: int) -> None:
        import pygame

        pygame.init()
        pygame.display.set_caption(title)
        self._pygame = pygame
        self._screen = pygame.display.set_mode((shape[1], shape[0]))
        self._clock = pygame.time.Clock()
        self._fps = fps
        self.closed = False

    def show(self, frame: np.ndarray) -> None:
        """Draw ``frame`` (H, W, 3) and wait for the next tick."""
        if self.closed:
            return
        pg = self._pygame
        pg.event.pump()
        surface = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._screen.blit(surface, (0, 0))
        pg.display.flip()
        self._clock.tick(self._fps)

    def close(self) -> None:
        """Close the window; calling it twice is harmless."""
        if not self.closed:
            self._pygame.display.quit()
            self.closed = True


def save_gif(frames: Sequence[np.ndarray], path: str, fps: int = 8) -> None:
    """Write RGB frames as an animated GIF (atomically: temp file, then rename)."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def save_png(frame: np.ndarray, path: str) -> None:
    """Write one RGB frame as a PNG (atomically)."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(tmp, format="PNG")
