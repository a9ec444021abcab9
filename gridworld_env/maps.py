"""Random obstacle maps in the style of the VIN paper's generator, and episode sampling.

The paper's MATLAB generator (``obstacle_gen``) draws the goal uniformly over interior
cells, then a random number of obstacles, each a filled rectangle or a filled disc (type
chosen uniformly) of random size at a random position; an obstacle that would cover the
goal is rejected, a map to which no obstacle was added is drawn again, and a one-cell
wall border is added. Ours follows the same recipe:

* the goal is uniform over interior cells;
* ``k ~ U{1, ..., max_obstacles}`` obstacles, each anchored at a uniform interior cell,
  each a rectangle (probability 1/2) of ``h x w`` cells with
  ``h, w ~ U{1, ..., max_obstacle_size}`` (the anchor is its top-left corner) or a disc
  ``{(i, j): (i - r0)^2 + (j - c0)^2 <= rho^2}`` with ``rho ~ U{0, ..., max_obstacle_size - 1}``,
  clipped to the grid; an obstacle covering the goal (or a start fixed by the caller) is
  rejected; a map with no obstacle is drawn again;
* the border is always wall;
* the start is uniform over the free cells that can reach the goal, never the goal; a map
  whose goal reaches no other cell is drawn again.

``max_obstacles`` was calibrated so that the mean interior obstacle density matches what
was measured on the paper's own test maps (10.8 %, 20.0 %, 20.7 % at 8, 16, 28); 32 and 64
keep about 20 %. ``tests/test_maps.py`` checks the densities.

**Randomness.** An episode is a pure function of one block of
:meth:`MapSpec.uniforms_per_map` uniforms drawn with ``rng.random``; a rejected map draws
a fresh block from the same generator. The layout is computed by a compiled kernel, so a
batch of resets (the batched env, the expert data set) costs one kernel call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from gridworld_env.core import bfs_into
from gridworld_env.mazes import MazeSpec, maze_layout_batch, pick_cell


@dataclass(frozen=True)
class MapSpec:
    """Parameters of the random map generator."""

    size: int
    """Side of the square map in cells, wall border included (the paper's convention)."""
    max_obstacles: int
    """Upper end of the uniform number of obstacles drawn per map."""
    max_obstacle_size: int
    """Largest rectangle side in cells; discs have radius up to ``max_obstacle_size - 1``."""

    def __post_init__(self) -> None:
        if self.size < 3:
            raise ValueError(f"map size must be at least 3 (a border and one interior cell), got {self.size}")
        if self.max_obstacles < 1:
            raise ValueError(f"max_obstacles must be >= 1, got {self.max_obstacles}")
        if self.max_obstacle_size < 1:
            raise ValueError(f"max_obstacle_size must be >= 1, got {self.max_obstacle_size}")

    @property
    def uniforms_per_map(self) -> int:
        """Length of the uniform block one map attempt consumes: 4 + 5 per obstacle."""
        return 4 + 5 * self.max_obstacles


#: Generator parameters of the registered sizes. Shape sizes follow the paper's
#: maxObsSize (0 / 1 / 2 for 8 / 16 / 28) plus one; counts are calibrated on density.
PAPER_SPECS: dict[int, MapSpec] = {
    8: MapSpec(8, max_obstacles=8, max_obstacle_size=1),
    16: MapSpec(16, max_obstacles=36, max_obstacle_size=2),
    28: MapSpec(28, max_obstacles=68, max_obstacle_size=3),
    32: MapSpec(32, max_obstacles=85, max_obstacle_size=3),
    64: MapSpec(64, max_obstacles=215, max_obstacle_size=4),
}

#: Mean interior obstacle density of the paper's test maps (REFERENCE.md).
PAPER_DENSITY: dict[int, float] = {8: 0.108, 16: 0.200, 28: 0.207}


def default_spec(size: int) -> MapSpec:
    """The registered spec for ``size``, or one of about 20 % density for other sizes."""
    if size in PAPER_SPECS:
        return PAPER_SPECS[size]
    interior = (size - 2) ** 2
    return MapSpec(size, max_obstacles=max(1, round(interior * 85 / 900)), max_obstacle_size=3 if size < 48 else 4)


# Status codes of the kernel.
OK, REDRAW, START_ISOLATED = 0, 1, 2


@njit(cache=True)
def _layout(
    u: np.ndarray,
    max_obstacles: int,
    max_size: int,
    fixed_obstacles: np.ndarray,
    has_fixed_obstacles: bool,
    goal_in: np.ndarray,
    start_in: np.ndarray,
    obstacles: np.ndarray,
    dist: np.ndarray,
    goal_out: np.ndarray,
    start_out: np.ndarray,
    queue: np.ndarray,
) -> int:
    """One episode from the uniform block ``u``; ``goal_in``/``start_in`` are -1 when drawn."""
    n = obstacles.shape[0]
    inner = n - 2
    sr, sc = start_in[0], start_in[1]
    gr, gc = -1, -1
    if has_fixed_obstacles:
        obstacles[:, :] = fixed_obstacles
        if goal_in[0] >= 0:
            gr, gc = goal_in[0], goal_in[1]
        else:
            # The goal is uniform over the free cells (that the given start can reach).
            if sr >= 0:
                if bfs_into(obstacles, sr, sc, dist, queue) == 0:
                    return START_ISOLATED
                cell = pick_cell(dist > 0, u[0], -1)
            else:
                cell = pick_cell(~obstacles, u[0], -1)
                if cell < 0:
                    return START_ISOLATED
            gr, gc = cell // n, cell % n
    else:
        if goal_in[0] >= 0:
            gr, gc = goal_in[0], goal_in[1]
        else:
            gr, gc = 1 + int(u[0] * inner), 1 + int(u[1] * inner)
            if gr == sr and gc == sc:
                return REDRAW
        k = 1 + int(u[2] * max_obstacles)
        obstacles[:, :] = False
        added = 0
        for j in range(k):
            base = 4 + 5 * j
            ar, ac = 1 + int(u[base] * inner), 1 + int(u[base + 1] * inner)
            if u[base + 2] < 0.5:  # rectangle, anchored at its top-left corner
                h, w = 1 + int(u[base + 3] * max_size), 1 + int(u[base + 4] * max_size)
                if ar <= gr < ar + h and ac <= gc < ac + w:
                    continue
                if sr >= 0 and ar <= sr < ar + h and ac <= sc < ac + w:
                    continue
                obstacles[ar : min(ar + h, n), ac : min(ac + w, n)] = True
            else:  # disc, centred on the anchor
                rho = int(u[base + 3] * max_size)
                if (gr - ar) ** 2 + (gc - ac) ** 2 <= rho * rho:
                    continue
                if sr >= 0 and (sr - ar) ** 2 + (sc - ac) ** 2 <= rho * rho:
                    continue
                for i in range(max(0, ar - rho), min(n, ar + rho + 1)):
                    for jj in range(max(0, ac - rho), min(n, ac + rho + 1)):
                        if (i - ar) ** 2 + (jj - ac) ** 2 <= rho * rho:
                            obstacles[i, jj] = True
            added += 1
        if added == 0:
            return REDRAW
        obstacles[0, :] = True
        obstacles[n - 1, :] = True
        obstacles[:, 0] = True
        obstacles[:, n - 1] = True
    goal_out[0], goal_out[1] = gr, gc
    reachable = bfs_into(obstacles, gr, gc, dist, queue)
    if reachable == 0:
        return REDRAW
    if sr >= 0:
        if dist[sr, sc] <= 0:
            return REDRAW
        start_out[0], start_out[1] = sr, sc
        return OK
    cell = pick_cell(dist > 0, u[3], -1)  # the cells other than the goal that reach it
    start_out[0], start_out[1] = cell // n, cell % n
    return OK


@njit(cache=True)
def _layout_batch(
    uniforms: np.ndarray,
    max_obstacles: int,
    max_size: int,
    fixed_obstacles: np.ndarray,
    has_fixed_obstacles: np.ndarray,
    goals_in: np.ndarray,
    starts_in: np.ndarray,
    obstacles: np.ndarray,
    dist: np.ndarray,
    goals: np.ndarray,
    starts: np.ndarray,
    status: np.ndarray,
) -> None:
    b, n = obstacles.shape[0], obstacles.shape[1]
    queue = np.empty(n * n, dtype=np.int64)
    for i in range(b):
        status[i] = _layout(
            uniforms[i],
            max_obstacles,
            max_size,
            fixed_obstacles[i],
            has_fixed_obstacles[i],
            goals_in[i],
            starts_in[i],
            obstacles[i],
            dist[i],
            goals[i],
            starts[i],
            queue,
        )


@dataclass
class Episodes:
    """A batch of B episode layouts (what a reset produces)."""

    obstacles: np.ndarray
    """(B, H, W) bool, ``True`` where blocked."""
    goals: np.ndarray
    """(B, 2) int64 goal cells."""
    starts: np.ndarray
    """(B, 2) int64 start cells."""
    distances: np.ndarray
    """(B, H, W) int32 BFS distance to the goal (-1 where unreachable)."""


OPTION_KEYS = frozenset({"obstacles", "start", "goal"})


def _check_cell(name: str, value: Any, shape: tuple[int, int]) -> tuple[int, int]:
    arr = np.asarray(value)
    if arr.shape != (2,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"option {name!r} must be a (row, col) pair of ints, got {value!r}")
    r, c = int(arr[0]), int(arr[1])
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise ValueError(f"option {name!r} = {(r, c)} is out of bounds for a {shape[0]}x{shape[1]} map")
    return r, c


def check_options(
    options: Mapping[str, Any] | None, size: int, spec: MapSpec | MazeSpec | None = None
) -> dict[str, Any]:
    """Validate reset options; return them normalised (a bool map, int tuples).

    :param spec: the env's generator; with a :class:`gridworld_env.mazes.MazeSpec`, a start or
        goal given without a map must be a cell that a maze can have free.
    :raises ValueError: unknown key, wrong shape or dtype, out-of-bounds or blocked cell,
        start equal to goal, a start or goal on the wall border of a generated map (or, in a
        maze, on a cell that is wall in every maze).
    """
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"reset options must be a dict or None, got {options!r} of type {type(options).__name__}")
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise ValueError(f"unknown reset option(s) {sorted(unknown)}; expected any of {sorted(OPTION_KEYS)}")
    out: dict[str, Any] = {}
    shape = (size, size)
    if "obstacles" in options:
        obs = np.asarray(options["obstacles"])
        if obs.shape != shape:
            raise ValueError(f"option 'obstacles' must have shape {shape}, got {obs.shape}")
        if obs.dtype != bool:
            if not np.issubdtype(obs.dtype, np.number) or not np.isin(obs, (0, 1)).all():
                raise ValueError(f"option 'obstacles' must be a bool array (or 0/1), got dtype {obs.dtype}")
        out["obstacles"] = np.array(obs, dtype=bool)
    for key in ("start", "goal"):
        if key in options:
            cell = _check_cell(key, options[key], shape)
            if "obstacles" in out and out["obstacles"][cell]:
                raise ValueError(f"option {key!r} = {cell} is on an obstacle")
            if "obstacles" not in out and not (0 < cell[0] < size - 1 and 0 < cell[1] < size - 1):
                raise ValueError(f"option {key!r} = {cell} is on the wall border of the generated map")
            if "obstacles" not in out and isinstance(spec, MazeSpec) and not spec.can_be_free(*cell):
                raise ValueError(
                    f"option {key!r} = {cell} is wall in every {size}x{size} maze (a pillar between four "
                    "corridor cells, or an even size's last row or column): give a cell with an odd row or column"
                )
            out[key] = cell
    if "start" in out and "goal" in out and out["start"] == out["goal"]:
        raise ValueError(f"options 'start' and 'goal' are the same cell {out['start']}")
    return out


def sample_episodes(
    rngs: Sequence[np.random.Generator],
    spec: MapSpec | MazeSpec,
    options: Sequence[Mapping[str, Any]] | None = None,
    max_attempts: int = 1000,
) -> Episodes:
    """Draw one episode layout per generator.

    Each episode consumes only its own generator, one uniform block per attempt, so a
    batch of B equals B calls with one generator each (the batched env's guarantee).

    :param rngs: one generator per episode.
    :param spec: generator parameters: random obstacles (:class:`MapSpec`) or a maze
        (:class:`gridworld_env.mazes.MazeSpec`).
    :param options: per episode, options validated by :func:`check_options`.
    :param max_attempts: attempts per episode before giving up.
    :raises ValueError: when the options make a valid episode impossible.
    """
    b, n, length = len(rngs), spec.size, spec.uniforms_per_map
    opts = list(options) if options is not None else [{}] * b
    if len(opts) != b:
        raise ValueError(f"got {len(opts)} option dicts for {b} generators")
    fixed = np.zeros((b, n, n), dtype=bool)
    has_fixed = np.zeros(b, dtype=bool)
    goals_in = np.full((b, 2), -1, dtype=np.int64)
    starts_in = np.full((b, 2), -1, dtype=np.int64)
    for i, o in enumerate(opts):
        if "obstacles" in o:
            fixed[i], has_fixed[i] = o["obstacles"], True
        if "goal" in o:
            goals_in[i] = o["goal"]
        if "start" in o:
            starts_in[i] = o["start"]
    uniforms = np.stack([rng.random(length) for rng in rngs]) if b else np.empty((0, length))
    obstacles = np.empty((b, n, n), dtype=bool)
    dist = np.empty((b, n, n), dtype=np.int32)
    goals = np.empty((b, 2), dtype=np.int64)
    starts = np.empty((b, 2), dtype=np.int64)
    status = np.empty(b, dtype=np.int64)
    _run_layout(spec, uniforms, fixed, has_fixed, goals_in, starts_in, obstacles, dist, goals, starts, status)
    for _ in range(max_attempts):
        if not status.any():
            return Episodes(obstacles, goals, starts, dist)
        bad = np.flatnonzero(status)
        for i in bad.tolist():
            if status[i] == START_ISOLATED:
                if starts_in[i, 0] < 0:
                    raise ValueError("the given obstacles leave no free cell for the start and the goal")
                raise ValueError(f"the start {_cell(starts_in[i])} can reach no other cell on the given obstacles")
            if has_fixed[i] and goals_in[i, 0] >= 0:
                what = f"the start {_cell(starts_in[i])}" if starts_in[i, 0] >= 0 else "any other cell"
                raise ValueError(f"the goal {_cell(goals_in[i])} cannot be reached from {what} on the given obstacles")
        sub_u = np.stack([rngs[i].random(length) for i in bad.tolist()])
        sub = [np.empty_like(a[bad]) for a in (obstacles, dist, goals, starts, status)]
        _run_layout(spec, sub_u, fixed[bad], has_fixed[bad], goals_in[bad], starts_in[bad], *sub)
        obstacles[bad], dist[bad], goals[bad], starts[bad], status[bad] = sub
    raise ValueError(
        f"no valid episode in {max_attempts} attempts with options "
        f"{_describe(opts[int(np.flatnonzero(status)[0])])}: the free cells may be too few or cut off"
    )


def _run_layout(
    spec: MapSpec | MazeSpec,
    uniforms: np.ndarray,
    fixed: np.ndarray,
    has_fixed: np.ndarray,
    goals_in: np.ndarray,
    starts_in: np.ndarray,
    *out: np.ndarray,
) -> None:
    """The layout kernel of ``spec``'s family on each row of ``uniforms``; ``out``: obstacles,
    distances, goals, starts and status, filled in place. A map given in the options is laid out
    the same way in both families (only the goal and the start are drawn)."""
    if isinstance(spec, MapSpec):
        _layout_batch(uniforms, spec.max_obstacles, spec.max_obstacle_size, fixed, has_fixed, goals_in, starts_in, *out)
        return
    maze_layout_batch(uniforms, spec.lattice, float(spec.open_walls), goals_in, starts_in, *out)
    given = np.flatnonzero(has_fixed)
    if given.size:
        part = [np.empty_like(a[given]) for a in out]
        _layout_batch(uniforms[given], 1, 1, fixed[given], has_fixed[given], goals_in[given], starts_in[given], *part)
        for a, b in zip(out, part):
            a[given] = b


def _cell(cell: np.ndarray) -> tuple[int, int]:
    return int(cell[0]), int(cell[1])


def _describe(options: Mapping[str, Any]) -> str:
    """Reset options for a message: cells as plain tuples, a map by its size and blocked cells."""
    parts = []
    for key, value in options.items():
        if key == "obstacles":
            arr = np.asarray(value)
            parts.append(f"obstacles ({arr.shape[0]}x{arr.shape[1]} map, {int(arr.sum())} blocked)")
        else:
            parts.append(f"{key} {_cell(np.asarray(value))}")
    return ", ".join(parts) or "none"
