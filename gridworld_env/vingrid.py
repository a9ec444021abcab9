"""The VINGrid environment: reach the goal on a random obstacle map (one env, one file)."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gridworld_env.core import (
    N_ACTIONS,
    first_true,
    free_moves,
    move,
    observation_images,
    optimal_action_masks,
    reward_index,
)
from gridworld_env.maps import MapSpec, check_options, default_spec, sample_episodes
from gridworld_env.mazes import MazeSpec


def _is_int(value: Any) -> bool:
    """An int or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_action(action: Any) -> int:
    """Return ``action`` as an int in ``[0, 8)``, or raise ``ValueError`` naming it.

    Python and numpy integers (and 0-d integer arrays) are accepted; bools, floats,
    strings and arrays of other shapes are not.
    """
    if type(action) is int or isinstance(action, np.integer):
        a = int(action)
    elif isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer):
        a = int(action)
    else:
        raise ValueError(
            f"action must be an integer in [0, {N_ACTIONS}), got {action!r} of type {type(action).__name__}"
        )
    if not 0 <= a < N_ACTIONS:
        raise ValueError(f"action must be an integer in [0, {N_ACTIONS}), got {a}")
    return a


def observation_space(size: int) -> spaces.Dict:
    """The observation space of a ``size x size`` VINGrid env (see :class:`VINGridEnv`)."""
    return spaces.Dict(
        {
            "image": spaces.Box(0, 1, shape=(2, size, size), dtype=np.uint8),
            "position": spaces.Box(0, size - 1, shape=(2,), dtype=np.int64),
        }
    )


class VINGridEnv(gym.Env):
    """Navigate from a start cell to a goal on a random obstacle map (Tamar et al., 2016).

    ## Description
    A square map, wall border included, with filled rectangles and discs as obstacles
    (see :mod:`gridworld_env.maps` for the generator and its calibration). Each reset
    draws a new map, a goal uniform over interior cells and a start uniform over the
    free cells that can reach the goal. The task is to reach the goal.

    ## Action Space
    ``Discrete(8)``: the moves of :data:`gridworld_env.ACTIONS`, in the order
    N, S, E, W, NE, NW, SE, SW as ``(drow, dcol)``. A move into an obstacle or off the
    grid leaves the agent in place (a collision). A diagonal move needs only its target
    cell free. :meth:`action_masks` gives the non-colliding moves (for MaskablePPO).

    ## Observation
    A ``Dict`` that works with SB3's ``MultiInputPolicy``:

    ============ ================================ ===========================================
    key          space                            content
    ============ ================================ ===========================================
    ``image``    ``Box(0, 1, (2, H, W), uint8)``  channel 0: obstacles; channel 1: the goal
    ``position`` ``Box(0, H - 1, (2,), int64)``   the agent's ``(row, col)``
    ============ ================================ ===========================================

    ``position`` is a Box, not ``MultiDiscrete``, on purpose: SB3 passes a Box to the
    features extractor as exact float integers, where it would one-hot encode a
    ``MultiDiscrete``; an extractor that needs the cell index casts it back with
    ``.long()``.

    ## Rewards
    Exactly one per step: ``goal_reward`` (+1) when the move reaches the goal,
    ``collision_reward`` (-1) when it collides, ``step_reward`` (-0.01) otherwise.

    ## Starting State
    Random, or fixed through ``reset(options={"obstacles": bool (H, W), "start": (r, c),
    "goal": (r, c)})``, any subset; the missing parts are drawn. Bad options raise
    ``ValueError``.

    ## Episode End
    Terminated when the agent reaches the goal (``info["is_success"] = True``);
    truncated after ``max_steps`` steps (``info["is_success"] = False``).

    ## Info
    At reset ``shortest_path_length`` (BFS moves from the start to the goal); at every
    step ``is_success`` and ``collision``.

    ## Registered Configurations
    ``VINGrid-8x8-v0``, ``VINGrid-16x16-v0``, ``VINGrid-28x28-v0`` (the paper's sizes) and
    ``VINGrid-32x32-v0``, ``VINGrid-64x64-v0`` for scaling studies.

    :param size: side of the map in cells, wall border included.
    :param max_steps: steps before truncation; default ``4 * size * size``
        (MiniGrid's convention).
    :param step_reward: reward of an ordinary move.
    :param collision_reward: reward of a move that collides.
    :param goal_reward: reward of the move that reaches the goal.
    :param spec: map generator parameters; default :func:`gridworld_env.maps.default_spec`.
    :param render_mode: ``None``, ``"rgb_array"`` or ``"human"``.
    :param cell_pixels: pixels per cell when rendering.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 8}
    #: Seconds the human window keeps an episode's last frame before the next map.
    human_pause: float = 1.0

    def __init__(
        self,
        size: int = 16,
        max_steps: int | None = None,
        step_reward: float = -0.01,
        collision_reward: float = -1.0,
        goal_reward: float = 1.0,
        spec: MapSpec | MazeSpec | None = None,
        render_mode: str | None = None,
        cell_pixels: int = 24,
    ) -> None:
        if not _is_int(size) or size < 3:
            raise ValueError(f"size must be an int >= 3, got {size!r}")
        if max_steps is None:
            max_steps = 4 * size * size
        if not _is_int(max_steps) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if not _is_int(cell_pixels) or cell_pixels < 2:
            raise ValueError(f"cell_pixels must be an int >= 2, got {cell_pixels!r}")
        for name, value in (
            ("step_reward", step_reward),
            ("collision_reward", collision_reward),
            ("goal_reward", goal_reward),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.size = int(size)
        self.map_spec = spec if spec is not None else default_spec(self.size)
        if self.map_spec.size != self.size:
            raise ValueError(f"spec.size = {self.map_spec.size} does not match size = {self.size}")
        self.max_steps = int(max_steps)
        self.step_reward = float(step_reward)
        self.collision_reward = float(collision_reward)
        self.goal_reward = float(goal_reward)
        self._reward_table = (self.step_reward, self.collision_reward, self.goal_reward)  # REWARD_EVENTS order
        self.render_mode = render_mode
        self.cell_pixels = int(cell_pixels)
        self.observation_space = observation_space(self.size)
        self.action_space = spaces.Discrete(N_ACTIONS)

        self.obstacles = np.ones((self.size, self.size), dtype=bool)
        self.goal_pos: tuple[int, int] = (0, 0)
        self.agent_pos: tuple[int, int] = (0, 0)
        self.trail: list[tuple[int, int]] = []
        self._distances = np.full((self.size, self.size), -1, dtype=np.int32)
        self._image = np.zeros((2, self.size, self.size), dtype=np.uint8)
        self._blocked: list[list[bool]] = []
        self._steps = 0
        self._shortest = -1
        self._collided = False
        self._needs_reset = True
        self._renderer: Any = None
        self._human_pixels = self.cell_pixels

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        opts = check_options(options, self.size, self.map_spec)
        ep = sample_episodes([self.np_random], self.map_spec, [opts])
        self._set_episode(ep.obstacles[0], tuple(ep.goals[0]), tuple(ep.starts[0]), ep.distances[0])
        if self.render_mode == "human":
            self.render()
        return self._obs(), {"shortest_path_length": int(self._distances[self.agent_pos])}

    def _set_episode(self, obstacles: np.ndarray, goal: tuple, start: tuple, distances: np.ndarray) -> None:
        self.obstacles = obstacles
        self.goal_pos = (int(goal[0]), int(goal[1]))
        self.agent_pos = (int(start[0]), int(start[1]))
        self._distances = distances
        self._blocked = obstacles.tolist()
        self._image = observation_images(obstacles[None], np.array([self.goal_pos]))[0]
        self.trail = [self.agent_pos]
        self._steps = 0
        self._shortest = int(distances[self.agent_pos])
        self._collided = False
        self._needs_reset = False

    def step(self, action: Any) -> tuple[dict, SupportsFloat, bool, bool, dict]:
        a = check_action(action)
        if self._needs_reset:
            raise RuntimeError("step() called before reset() or after the episode ended: call reset() first")
        r, c = self.agent_pos
        r, c, collided = move(self._blocked, r, c, a)
        if not collided:
            self.agent_pos = (r, c)
            self.trail.append(self.agent_pos)
        self._steps += 1
        success = self.agent_pos == self.goal_pos
        reward = self._reward_table[reward_index(collided, success)]
        truncated = not success and self._steps >= self.max_steps
        self._needs_reset = success or truncated
        self._collided = collided
        if self.render_mode == "human":
            self.render()
        return self._obs(), reward, success, truncated, {"is_success": success, "collision": collided}

    def _obs(self) -> dict[str, np.ndarray]:
        return {"image": self._image.copy(), "position": np.array(self.agent_pos, dtype=np.int64)}

    # ------------------------------------------------------------- the expert
    def distance_map(self) -> np.ndarray:
        """BFS distance (moves) from every cell to the goal; -1 where unreachable. A copy."""
        return self._distances.copy()

    def expert_action(self) -> int:
        """An action on a shortest path from the agent (the first optimal one in action order).

        :raises RuntimeError: before reset, or at the goal (no move is optimal there).
        """
        if not self.trail:
            raise RuntimeError("expert_action() needs a reset first")
        if self.agent_pos == self.goal_pos:
            raise RuntimeError("expert_action(): the agent is at the goal; no move is needed")
        r, c = self.agent_pos
        window = np.pad(self._distances, 1, constant_values=-1)[r : r + 3, c : c + 3]
        return int(first_true(optimal_action_masks(window)[1, 1]))

    def action_masks(self) -> np.ndarray:
        """bool[8]: the moves that do not collide from the agent's cell (for MaskablePPO)."""
        return free_moves(self.obstacles, *self.agent_pos)

    # ---------------------------------------------------------------- render
    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'human' to make()")
            return None
        from gridworld_env.rendering import draw_frame

        if self.render_mode == "rgb_array":
            return draw_frame(self.obstacles, self.goal_pos, self.agent_pos, self.trail, self.cell_pixels)
        if self._renderer is None:
            from gridworld_env.rendering import Window, fit_cell_pixels, screen_size

            self._human_pixels = fit_cell_pixels(self.size, self.cell_pixels, screen_size())
            side = self.size * self._human_pixels
            self._renderer = Window(f"VINGrid {self.size}x{self.size}", (side, side), self.metadata["render_fps"])
        frame = draw_frame(self.obstacles, self.goal_pos, self.agent_pos, self.trail, self._human_pixels)
        ended = self._needs_reset and self._steps > 0
        self._renderer.show(frame, self.status_line(), hold=self.human_pause if ended else 0.0)
        return None

    def status_line(self) -> str:
        """One line for the human window: steps, the shortest path and the last move's outcome."""
        success = self._steps > 0 and self.agent_pos == self.goal_pos
        events = (
            ("reached the goal", success),
            ("collision", self._collided),
            ("time out", self._needs_reset and self._steps > 0 and not success),
        )
        outcome = ", ".join(word for word, happened in events if happened)
        line = f"step {self._steps}/{self.max_steps}   shortest path {self._shortest}"
        return f"{line}   {outcome}" if outcome else line

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_renderer"] = None  # a pygame window does not pickle; a copy opens its own
        return state

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
