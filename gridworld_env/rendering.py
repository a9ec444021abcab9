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


def _disc(px: int, radius: float = 0.38) -> np.ndarray:
    yy, xx = np.mgrid[0:px, 0:px] + 0.5 - px / 2
    return yy**2 + xx**2 <= (radius * px) ** 2


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
    # On the goal the agent is drawn smaller, so that a ring of the goal's colour stays visible.
    disc = _disc(px, 0.25 if tuple(agent) == tuple(goal) else 0.38)
    disc[px // 2, px // 2] = True  # at least one pixel, however small the cell
    block[disc] = AGENT
    return frame


#: Share of the screen a window may take, each way.
SCREEN_SHARE = 0.9
#: Height of the status line under the map in a window, in pixels.
STATUS_HEIGHT = 24
#: Narrowest window, so that the status line fits beside a small map (which is centred).
MIN_WINDOW_WIDTH = 360


def fit_cell_pixels(
    cells: int, requested: int, screen: tuple[int, int] | None, status_height: int = STATUS_HEIGHT
) -> int:
    """Pixels per cell for a ``cells x cells`` map in a window: ``requested``, or less so that
    the window (map and status line) fits in :data:`SCREEN_SHARE` of ``screen`` (width, height).

    Never below 2 (a map too large for that still opens, larger than the screen).
    """
    if screen is None or min(screen) <= 0:
        return requested
    room = min(SCREEN_SHARE * screen[0], SCREEN_SHARE * screen[1] - status_height)
    return max(2, min(requested, int(room // cells)))


def screen_size() -> tuple[int, int] | None:
    """The desktop size (width, height) pygame reports, or ``None`` if it reports none."""
    import pygame

    pygame.display.init()
    sizes = pygame.display.get_desktop_sizes()
    if not sizes:
        return None
    width, height = sizes[0]
    return int(width), int(height)


def has_display() -> bool:
    """Whether pygame opens windows on a real display (not SDL's ``dummy`` or ``offscreen`` driver)."""
    import pygame

    try:
        pygame.display.init()
    except pygame.error:
        return False
    return pygame.display.get_driver() not in ("dummy", "offscreen")


class Window:
    """A pygame window showing frames at a fixed rate (``render_mode="human"``), with a one-line
    status under the map.

    :param title: window caption.
    :param shape: (height, width) of the frames.
    :param fps: frames per second.
    """

    def __init__(self, title: str, shape: tuple[int, int], fps: int) -> None:
        import pygame

        pygame.init()
        pygame.display.set_caption(title)
        self._pygame = pygame
        self._shape = shape
        self._left = max(0, (MIN_WINDOW_WIDTH - shape[1]) // 2)
        self._screen = pygame.display.set_mode((max(shape[1], MIN_WINDOW_WIDTH), shape[0] + STATUS_HEIGHT))
        self._font = pygame.font.Font(None, STATUS_HEIGHT - 4)
        self._clock = pygame.time.Clock()
        self._fps = fps
        self.closed = False

    def show(self, frame: np.ndarray, status: str = "", hold: float = 0.0) -> None:
        """Draw ``frame`` (H, W, 3) and the ``status`` line, wait for the next tick, then keep
        the picture for ``hold`` more seconds (the pause on an episode's last frame)."""
        if self.closed:
            return
        pg = self._pygame
        pg.event.pump()
        surface = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._screen.fill((255, 255, 255))
        self._screen.blit(surface, (self._left, 0))
        if status:
            text = self._font.render(status, True, (30, 30, 30))
            self._screen.blit(text, (6, self._shape[0] + (STATUS_HEIGHT - text.get_height()) // 2))
        pg.display.flip()
        self._clock.tick(self._fps)
        if hold > 0:
            pg.time.wait(int(1000 * hold))
            pg.event.pump()

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
