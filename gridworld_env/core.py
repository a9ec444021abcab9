"""The pure array core of the gridworld: the move rule, the reward table, shortest-path
distances and the expert's tie-break.

Everything here is a function of arrays, with no environment state. **The move rule** lives
here once, in two forms of one table of moves (:data:`ACTIONS`):

* :func:`move` for one agent on a map (any 2-D indexable: a numpy array or a list of rows),
  used by the single env (:mod:`gridworld_env.vingrid`);
* :func:`move_flat` for a batch of agents as flat indices into maps with a blocked frame
  (:func:`pad_blocked`, :func:`flat_offsets`), used by the batched env
  (:mod:`gridworld_env.vector`) and, through :func:`move_batch`, by the expert data sets
  (:mod:`gridworld_env.expert`) and the evaluator (:mod:`agents.evaluation`).

:func:`reward_index` picks the reward of a move from the table ``(step, collision, goal)``;
:func:`first_true` is the expert's tie-break (the first optimal action in action order). The
breadth-first search walks the same moves (moves are symmetric, so the distance to the goal
equals the distance from it).

Conventions: positions are ``(row, col)``; ``obstacles`` is a bool array, ``True`` where a
cell is blocked; a move into an obstacle or off the grid leaves the agent in place (a
*collision*); a diagonal move needs only its target cell free.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

#: The 8 moves ``(drow, dcol)`` in action order: N, S, E, W, NE, NW, SE, SW.
ACTIONS: tuple[tuple[int, int], ...] = (
    (-1, 0),
    (1, 0),
    (0, 1),
    (0, -1),
    (-1, 1),
    (-1, -1),
    (1, 1),
    (1, -1),
)
#: Human-readable names of :data:`ACTIONS`, in the same order.
ACTION_NAMES: tuple[str, ...] = ("N", "S", "E", "W", "NE", "NW", "SE", "SW")
N_ACTIONS = len(ACTIONS)

_DR = np.array([a[0] for a in ACTIONS], dtype=np.int64)
_DC = np.array([a[1] for a in ACTIONS], dtype=np.int64)


def move(blocked: Any, row: int, col: int, action: int) -> tuple[int, int, bool]:
    """Apply one move for one agent.

    :param blocked: (H, W), truthy where blocked: a bool array, or (faster for the single env)
        the same as a list of rows.
    :param row: agent row.
    :param col: agent column.
    :param action: index into :data:`ACTIONS` (not validated here).
    :return: ``(row, col, collided)`` after the move.
    """
    dr, dc = ACTIONS[action]
    nr, nc = row + dr, col + dc
    if 0 <= nr < len(blocked) and 0 <= nc < len(blocked[0]) and not blocked[nr][nc]:
        return nr, nc, False
    return row, col, True


def flat_offsets(padded_width: int) -> np.ndarray:
    """(8,) int64: how far each action moves a flat index on maps of row length ``padded_width``."""
    return _DR * padded_width + _DC


def move_flat(
    padded_flat: np.ndarray, cells: np.ndarray, actions: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one move per agent, agents given as flat indices into stacked padded maps.

    :param padded_flat: the flattened (M, H + 2, W + 2) maps of :func:`pad_blocked`.
    :param cells: (N,) int64 flat index of each agent (its map's offset included).
    :param actions: (N,) int actions in ``[0, 8)`` (not validated here).
    :param offsets: :func:`flat_offsets` of the padded row length.
    :return: ``(cells, collided)``, new arrays; the frame makes bounds checks unneeded.
    """
    target = cells + offsets[actions]
    collided = padded_flat[target]
    return np.where(collided, cells, target), collided


def free_moves_flat(padded_flat: np.ndarray, cells: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(N, 8) bool: the moves that do not collide, for agents as in :func:`move_flat`."""
    return ~padded_flat[cells[:, None] + offsets]


#: Reward events in the order of a reward table ``(step, collision, goal)``.
REWARD_EVENTS = ("step", "collision", "goal")


def reward_index(collided: Any, success: Any) -> Any:
    """Index into the reward table ``(step, collision, goal)`` of :data:`REWARD_EVENTS`, for
    Python bools or numpy bool arrays. The two events exclude each other (a collision leaves the
    agent where it was, which is never the goal), so the index is ``collided + 2 * success``."""
    return collided + 2 * success


def pad_blocked(obstacles: np.ndarray) -> np.ndarray:
    """Obstacles with a one-cell blocked frame: (..., H + 2, W + 2) bool.

    Off-grid targets then read as blocked, so a batched move needs no bounds check.
    """
    pad = [(0, 0)] * (obstacles.ndim - 2) + [(1, 1), (1, 1)]
    return np.pad(obstacles, pad, constant_values=True)


def move_batch(
    padded: np.ndarray, rows: np.ndarray, cols: np.ndarray, actions: np.ndarray, maps: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply one move per agent for a batch of N agents.

    :param padded: (M, H + 2, W + 2) bool from :func:`pad_blocked`.
    :param rows: (N,) int agent rows.
    :param cols: (N,) int agent columns.
    :param actions: (N,) int actions in ``[0, 8)`` (not validated here).
    :param maps: (N,) the map of each agent; default ``arange(N)`` (agent i on map i).
    :return: ``(rows, cols, collided)``, new arrays.
    """
    m, hp, wp = padded.shape
    maps = np.arange(rows.shape[0]) if maps is None else maps
    base = maps * (hp * wp) + wp + 1
    cells, collided = move_flat(padded.reshape(-1), base + rows * wp + cols, actions, flat_offsets(wp))
    new_rows, new_cols = np.divmod(cells - base, wp)
    return new_rows, new_cols, collided


def free_moves(obstacles: np.ndarray, row: int, col: int) -> np.ndarray:
    """bool[8]: the actions that do not collide from ``(row, col)`` (:func:`move`'s rule)."""
    return np.array([not move(obstacles, row, col, a)[2] for a in range(N_ACTIONS)])


def observation_images(obstacles: np.ndarray, goals: np.ndarray, dtype: type = np.uint8) -> np.ndarray:
    """The ``image`` observation of B maps: (B, 2, H, W), channel 0 obstacles, channel 1 the goal.

    :param obstacles: (B, H, W) bool.
    :param goals: (B, 2) int goal cells.
    """
    b = obstacles.shape[0]
    images: np.ndarray = np.zeros((b, 2) + obstacles.shape[1:], dtype=dtype)
    images[:, 0] = obstacles
    images[np.arange(b), 1, goals[:, 0], goals[:, 1]] = 1
    return images


# --------------------------------------------------------------------------- BFS


@njit(cache=True)
def bfs_into(blocked: np.ndarray, goal_r: int, goal_c: int, dist: np.ndarray, queue: np.ndarray) -> int:
    """Compiled BFS from the goal on one map, written into ``dist``.

    :param blocked: (H, W) bool, ``True`` where blocked.
    :param dist: (H, W) int32 output; -1 where the goal cannot be reached.
    :param queue: int64 scratch of at least H * W entries.
    :return: the number of cells reached other than the goal.
    """
    h, w = blocked.shape
    dist[:, :] = -1
    dist[goal_r, goal_c] = 0
    queue[0] = goal_r * w + goal_c
    head, tail = 0, 1
    while head < tail:
        cell = queue[head]
        head += 1
        r, c = cell // w, cell % w
        d = dist[r, c] + 1
        # The 3 x 3 neighbourhood is the move set of ACTIONS (and the cell itself, already
        # visited), under move()'s rule; the nested loop skips a whole row off the map, which a
        # loop over the table cannot: 17 % more maps per second at 28x28 (python -m bench.ab_env).
        # tests/test_core.py checks these distances against a BFS that calls move().
        for dr in range(-1, 2):
            nr = r + dr
            if nr < 0 or nr >= h:
                continue
            for dc in range(-1, 2):
                nc = c + dc
                if nc < 0 or nc >= w or blocked[nr, nc] or dist[nr, nc] >= 0:
                    continue
                dist[nr, nc] = d
                queue[tail] = nr * w + nc
                tail += 1
    return tail - 1


@njit(cache=True)
def _bfs_batch(blocked: np.ndarray, goals: np.ndarray, dist: np.ndarray) -> None:
    b, h, w = blocked.shape
    queue = np.empty(h * w, dtype=np.int64)
    for i in range(b):
        bfs_into(blocked[i], goals[i, 0], goals[i, 1], dist[i], queue)


def distance_maps(obstacles: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """BFS distance (moves, unit cost, 8-connected) from every cell to the goal.

    Moves are symmetric here (a move needs only its target free, and the agent's own cell
    is free), so the distance to the goal equals the distance from it.

    :param obstacles: (H, W) or (B, H, W) bool, ``True`` where blocked.
    :param goals: (2,) or (B, 2) int goal cells, inside the map.
    :return: int32 array shaped like ``obstacles``; 0 at the goal, -1 where the goal
        cannot be reached (obstacles included).
    """
    obstacles = np.ascontiguousarray(obstacles, dtype=bool)
    goals = np.ascontiguousarray(goals, dtype=np.int64)
    single = obstacles.ndim == 2
    if single:
        obstacles, goals = obstacles[None], goals[None]
    if obstacles.ndim != 3 or goals.shape != (obstacles.shape[0], 2):
        raise ValueError(
            f"distance_maps expects obstacles (B, H, W) and goals (B, 2); got {obstacles.shape} and {goals.shape}"
        )
    h, w = obstacles.shape[1:]
    if goals.size and (goals.min() < 0 or (goals[:, 0] >= h).any() or (goals[:, 1] >= w).any()):
        raise ValueError(f"goals must lie inside the {h}x{w} map")
    dist = np.empty(obstacles.shape, dtype=np.int32)
    _bfs_batch(obstacles, goals, dist)
    return dist[0] if single else dist


def optimal_action_masks(dist: np.ndarray) -> np.ndarray:
    """Which actions are on a shortest path, from every cell.

    :param dist: (..., H, W) distances from :func:`distance_maps`.
    :return: (..., H, W, 8) bool; action ``a`` is optimal at a cell at distance ``d > 0``
        when its target is free and at distance ``d - 1``. All False at the goal and at
        unreachable or blocked cells.
    """
    h, w = dist.shape[-2:]
    pad = [(0, 0)] * (dist.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(dist, pad, constant_values=-1)
    masks = np.empty(dist.shape + (N_ACTIONS,), dtype=bool)
    target = dist - 1
    for a, (dr, dc) in enumerate(ACTIONS):
        neighbour = padded[..., 1 + dr : h + 1 + dr, 1 + dc : w + 1 + dc]
        masks[..., a] = (dist > 0) & (neighbour == target)
    return masks


def first_true(masks: np.ndarray) -> np.ndarray:
    """Index of the first True along the last axis (the expert's tie-break), -1 if none."""
    idx = np.argmax(masks, axis=-1)
    return np.where(masks.any(axis=-1), idx, -1)
