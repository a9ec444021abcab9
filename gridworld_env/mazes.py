"""Depth-first-search mazes, the long-horizon map family (``VINGridMaze-*``), as GPPN builds them.

GPPN (Lee et al., 2018) trains and tests on mazes carved by a randomised depth-first search
(the recursive backtracker) with 8-connected moves. Ours, on an ``n x n`` map (wall border
included):

* the lattice cells are ``(2i + 1, 2j + 1)`` for ``i, j < m``, ``m = (n - 1) // 2``; every other
  cell starts as wall (for an even ``n`` the last interior row and column stay wall);
* the search starts at a uniform lattice cell and, from the cell on top of its stack, carves
  the wall to a uniform unvisited lattice neighbour (4-connected) and moves there; a cell with
  no unvisited neighbour is popped. This carves a spanning tree: a *perfect* maze, one path
  between any two cells, the longest shortest paths a maze of that size can have;
* then each wall between two lattice neighbours that is still standing is opened with
  probability ``open_walls`` (0: the perfect maze; 1: the open lattice of pillars), which makes
  loops and shortens paths, as GPPN's generator removes a share of the walls;
* the goal is uniform over the free cells and the start uniform over the free cells that reach
  it, never the goal (every free cell of a maze reaches every other).

Moves are the suite's (:mod:`gridworld_env.core`): 8 of them, a diagonal move needs only its
target free. In a maze a diagonal move cuts a corridor's corner and never passes a wall: the
diagonal neighbours of a carved passage are next to the same lattice cells as the passage.

**Randomness.** As for the random-obstacle maps (:mod:`gridworld_env.maps`): an episode is a pure
function of one block of :meth:`MazeSpec.uniforms_per_map` uniforms, so the batched env and
the data sets draw the same mazes as the single env.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from gridworld_env.core import bfs_into

# Status codes, as in gridworld_env.maps (OK, REDRAW, START_ISOLATED).
_OK, _REDRAW = 0, 1

_DI = np.array([-1, 1, 0, 0], dtype=np.int64)
_DJ = np.array([0, 0, 1, -1], dtype=np.int64)


@dataclass(frozen=True)
class MazeSpec:
    """Parameters of the maze generator."""

    size: int
    """Side of the square map in cells, wall border included."""
    open_walls: float = 0.0
    """Probability that each wall the search left standing between two lattice cells is opened
    afterwards (0: a perfect maze, the longest paths)."""

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int | np.integer) or self.size < 5:
            raise ValueError(f"a maze's size must be an int >= 5 (a border and a 2x2 lattice), got {self.size!r}")
        if not 0.0 <= float(self.open_walls) <= 1.0:
            raise ValueError(f"open_walls must be in [0, 1], got {self.open_walls!r}")

    @property
    def lattice(self) -> int:
        """Lattice cells per side, ``m``."""
        return (self.size - 1) // 2

    @property
    def uniforms_per_map(self) -> int:
        """Length of one map attempt's uniform block: goal, start, the search's first cell, one
        per carving step (``m * m - 1``) and one per wall between lattice neighbours."""
        m = self.lattice
        return 3 + (m * m - 1) + 2 * m * (m - 1)

    def can_be_free(self, row: int, col: int) -> bool:
        """Whether the cell is free in some maze of this spec (lattice cells always; the walls
        between lattice neighbours sometimes; the pillars between four lattice cells, the
        border and an even size's last interior row and column never)."""
        last = 2 * self.lattice - 1
        return 1 <= row <= last and 1 <= col <= last and not (row % 2 == 0 and col % 2 == 0)


@njit(cache=True)
def _maze_layout(
    u: np.ndarray,
    m: int,
    open_walls: float,
    goal_in: np.ndarray,
    start_in: np.ndarray,
    obstacles: np.ndarray,
    dist: np.ndarray,
    goal_out: np.ndarray,
    start_out: np.ndarray,
    queue: np.ndarray,
    stack: np.ndarray,
    visited: np.ndarray,
) -> int:
    """One maze episode from the uniform block ``u``; ``goal_in``/``start_in`` are -1 when drawn."""
    obstacles[:, :] = True
    visited[:] = False
    first = int(u[2] * m * m)
    stack[0] = first
    visited[first] = True
    obstacles[2 * (first // m) + 1, 2 * (first % m) + 1] = False
    top, k = 1, 3
    while top > 0:
        cell = stack[top - 1]
        ci, cj = cell // m, cell % m
        count = 0
        for d in range(4):
            ni, nj = ci + _DI[d], cj + _DJ[d]
            if 0 <= ni < m and 0 <= nj < m and not visited[ni * m + nj]:
                count += 1
        if count == 0:
            top -= 1
            continue
        pick = int(u[k] * count)
        k += 1
        for d in range(4):
            ni, nj = ci + _DI[d], cj + _DJ[d]
            if 0 <= ni < m and 0 <= nj < m and not visited[ni * m + nj]:
                if pick == 0:
                    obstacles[ci + ni + 1, cj + nj + 1] = False  # the wall between the two cells
                    obstacles[2 * ni + 1, 2 * nj + 1] = False
                    visited[ni * m + nj] = True
                    stack[top] = ni * m + nj
                    top += 1
                    break
                pick -= 1
    k = 3 + m * m - 1
    for i in range(m):  # walls between lattice neighbours, row-major: below, then right of each cell
        for j in range(m):
            if i + 1 < m:
                if u[k] < open_walls:
                    obstacles[2 * i + 2, 2 * j + 1] = False
                k += 1
            if j + 1 < m:
                if u[k] < open_walls:
                    obstacles[2 * i + 1, 2 * j + 2] = False
                k += 1
    sr, sc = start_in[0], start_in[1]
    if goal_in[0] >= 0:
        gr, gc = goal_in[0], goal_in[1]
        if obstacles[gr, gc]:
            return _REDRAW
    else:
        cell = pick_cell(~obstacles, u[0], sr * obstacles.shape[1] + sc if sr >= 0 else -1)
        gr, gc = cell // obstacles.shape[1], cell % obstacles.shape[1]
    if sr >= 0 and obstacles[sr, sc]:
        return _REDRAW
    goal_out[0], goal_out[1] = gr, gc
    bfs_into(obstacles, gr, gc, dist, queue)
    if sr >= 0:
        start_out[0], start_out[1] = sr, sc
        return _OK
    cell = pick_cell(dist > 0, u[1], -1)
    start_out[0], start_out[1] = cell // obstacles.shape[1], cell % obstacles.shape[1]
    return _OK


@njit(cache=True)
def pick_cell(marked: np.ndarray, u: float, skip: int) -> int:
    """The flat index of the ``int(u * k)``-th of the ``k`` marked cells other than ``skip``
    (row-major; ``skip=-1``: none): a uniform draw from them for ``u`` uniform in [0, 1); -1 if none."""
    k = 0
    for i in range(marked.size):
        if marked.flat[i] and i != skip:
            k += 1
    pick = int(u * k)
    for i in range(marked.size):
        if marked.flat[i] and i != skip:
            if pick == 0:
                return i
            pick -= 1
    return -1


@njit(cache=True)
def maze_layout_batch(
    uniforms: np.ndarray,
    m: int,
    open_walls: float,
    goals_in: np.ndarray,
    starts_in: np.ndarray,
    obstacles: np.ndarray,
    dist: np.ndarray,
    goals: np.ndarray,
    starts: np.ndarray,
    status: np.ndarray,
) -> None:
    """:func:`_maze_layout` for each row of ``uniforms`` (the outputs are filled in place)."""
    b, n = obstacles.shape[0], obstacles.shape[1]
    queue = np.empty(n * n, dtype=np.int64)
    stack = np.empty(max(1, m * m), dtype=np.int64)
    visited = np.empty(max(1, m * m), dtype=np.bool_)
    for i in range(b):
        status[i] = _maze_layout(
            uniforms[i],
            m,
            open_walls,
            goals_in[i],
            starts_in[i],
            obstacles[i],
            dist[i],
            goals[i],
            starts[i],
            queue,
            stack,
            visited,
        )
