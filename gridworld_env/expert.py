"""The BFS expert and behaviour-cloning data sets.

A data set holds N maps and labelled states: for each state a BFS-optimal action (the
first optimal one in action order, as :meth:`VINGridEnv.expert_action` chooses) and the
mask of *all* optimal actions, for tie-aware accuracy.

Map ``i`` of a data set made with ``seed`` is the map of ``env.reset(seed=seed + i)``, so
a data set covers exactly the env seeds ``[seed, seed + n_maps)``; evaluate on seeds
outside that range for held-out maps. Per map, either ``trajectories_per_map`` expert
trajectories (the first from the env's own start, the others from starts drawn uniformly,
with replacement, over the cells that can reach the goal; the paper used 7) or, with
``trajectories_per_map=None``, every free cell that can reach the goal.

File format (``.npz``, compressed), version :data:`FORMAT`:

============== ================ ==================================================
key            dtype, shape     content
============== ================ ==================================================
``format``     str              ``"vingrid-expert-v1"``
``meta``       str (JSON)       size, seed, trajectories_per_map, map spec
``obstacles``  bool (M, H, W)   the maps, ``True`` where blocked
``goals``      int16 (M, 2)     goal cells
``map_index``  int32 (S,)       the map of each state
``states``     int16 (S, 2)     agent cells ``(row, col)``
``actions``    int8 (S,)        the expert's action
``optimal``    bool (S, 8)      all optimal actions
============== ================ ==================================================
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium.utils.seeding import np_random

from gridworld_env.atomic import atomic_path
from gridworld_env.core import ACTIONS, first_true, move_batch, optimal_action_masks, pad_blocked
from gridworld_env.maps import MapSpec, default_spec, sample_episodes
from gridworld_env.mazes import MazeSpec


def map_family(spec: MapSpec | MazeSpec) -> str:
    """``obstacles`` (random obstacle maps) or ``maze``: what a data set's ``meta["spec"]`` names."""
    return "maze" if isinstance(spec, MazeSpec) else "obstacles"


FORMAT = "vingrid-expert-v1"
_ARRAYS = ("obstacles", "goals", "map_index", "states", "actions", "optimal")


@dataclass
class ExpertDataset:
    """Labelled expert states on a set of maps (see the module docstring for the format)."""

    obstacles: np.ndarray
    goals: np.ndarray
    map_index: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    optimal: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.states.shape[0])

    @property
    def n_maps(self) -> int:
        return int(self.obstacles.shape[0])

    @property
    def size(self) -> int:
        return int(self.obstacles.shape[1])

    def subset_maps(self, maps: np.ndarray) -> ExpertDataset:
        """The data set restricted to the given map indices (renumbered 0..len(maps)-1)."""
        maps = np.asarray(maps, dtype=np.int64)
        renumber = np.full(self.n_maps, -1, dtype=np.int64)
        renumber[maps] = np.arange(maps.size)
        keep = renumber[self.map_index] >= 0
        return ExpertDataset(
            self.obstacles[maps],
            self.goals[maps],
            renumber[self.map_index[keep]].astype(np.int32),
            self.states[keep],
            self.actions[keep],
            self.optimal[keep],
            dict(self.meta),
        )

    def save(self, path: str) -> None:
        """Write the compressed ``.npz`` atomically (a temp file beside it, then rename)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                format=np.array(FORMAT),
                meta=np.array(json.dumps(self.meta)),
                **{k: getattr(self, k) for k in _ARRAYS},
            )
            f.flush()
            os.fsync(f.fileno())

    @classmethod
    def load(cls, path: str) -> ExpertDataset:
        """Read a data set written by :meth:`save`.

        :raises FileNotFoundError: no such file.
        :raises ValueError: a truncated, corrupt or foreign file.
        """
        if not os.path.exists(path):
            raise FileNotFoundError(f"no expert data set at {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                if "format" not in z.files or str(z["format"]) != FORMAT:
                    raise ValueError(f"{path} is not a vingrid expert data set (expected format {FORMAT!r})")
                missing = [k for k in _ARRAYS + ("meta",) if k not in z.files]
                if missing:
                    raise ValueError(f"{path} lacks the arrays {missing}")
                arrays = {k: z[k] for k in _ARRAYS}
                meta = json.loads(str(z["meta"]))
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{path} is not a readable vingrid expert data set (truncated or corrupt?): {exc}"
            ) from exc
        s = arrays["states"].shape[0]
        m = arrays["obstacles"].shape[0]
        shapes_ok = (
            arrays["obstacles"].ndim == 3
            and arrays["goals"].shape == (m, 2)
            and arrays["map_index"].shape == (s,)
            and arrays["states"].shape == (s, 2)
            and arrays["actions"].shape == (s,)
            and arrays["optimal"].shape == (s, len(ACTIONS))
        )
        if not shapes_ok or (s and (arrays["map_index"].min() < 0 or arrays["map_index"].max() >= m)):
            raise ValueError(f"{path} has inconsistent array shapes or map indices")
        return cls(meta=meta, **arrays)


def dataset_meta(spec: MapSpec | MazeSpec, n_maps: int, trajectories_per_map: int | None, seed: int) -> dict[str, Any]:
    """The ``meta`` of the data set :func:`make_dataset` makes with these arguments, as its file
    holds it (JSON: tuples become lists), so a file can be checked against what a caller wants."""
    meta = {
        "size": spec.size,
        "seed": seed,
        "n_maps": n_maps,
        "trajectories_per_map": trajectories_per_map,
        "spec": {"family": map_family(spec), **dataclasses.asdict(spec)},
    }
    return dict(json.loads(json.dumps(meta)))


def make_dataset(
    size: int,
    n_maps: int,
    trajectories_per_map: int | None = 7,
    seed: int = 0,
    spec: MapSpec | MazeSpec | None = None,
    chunk: int = 2048,
) -> ExpertDataset:
    """Build an expert data set (deterministic given its arguments).

    :param size: map side, wall border included.
    :param n_maps: number of maps; map ``i`` is that of ``env.reset(seed=seed + i)``.
    :param trajectories_per_map: expert trajectories per map, or ``None`` for every cell
        that can reach the goal.
    :param seed: first env seed.
    :param spec: generator parameters; default that of the registered env of this size.
    :param chunk: maps per batch (bounds memory).
    """
    if n_maps < 1:
        raise ValueError(f"n_maps must be >= 1, got {n_maps}")
    if trajectories_per_map is not None and trajectories_per_map < 1:
        raise ValueError(f"trajectories_per_map must be >= 1 or None, got {trajectories_per_map}")
    spec = spec or default_spec(size)
    parts = [
        _make_chunk(spec, seed, start, min(n_maps, start + chunk), trajectories_per_map)
        for start in range(0, n_maps, chunk)
    ]
    meta = dataset_meta(spec, n_maps, trajectories_per_map, seed)
    offsets = np.cumsum([0] + [p[0].shape[0] for p in parts[:-1]])
    return ExpertDataset(
        obstacles=np.concatenate([p[0] for p in parts]),
        goals=np.concatenate([p[1] for p in parts]).astype(np.int16),
        map_index=np.concatenate([p[2] + o for p, o in zip(parts, offsets)]).astype(np.int32),
        states=np.concatenate([p[3] for p in parts]).astype(np.int16),
        actions=np.concatenate([p[4] for p in parts]).astype(np.int8),
        optimal=np.concatenate([p[5] for p in parts]),
        meta=meta,
    )


def _make_chunk(spec: MapSpec | MazeSpec, seed: int, lo: int, hi: int, per_map: int | None) -> tuple[np.ndarray, ...]:
    rngs = [np_random(seed + i)[0] for i in range(lo, hi)]
    ep = sample_episodes(rngs, spec)
    masks = optimal_action_masks(ep.distances)  # (M, H, W, 8)
    n = spec.size
    if per_map is None:
        m_idx, rows, cols = np.nonzero(ep.distances > 0)
        states = np.stack([rows, cols], axis=1)
    else:
        starts = [ep.starts]
        extra = np.empty((hi - lo, per_map - 1, 2), dtype=np.int64)
        for j, rng in enumerate(rngs):
            cells = np.flatnonzero(ep.distances[j] > 0)
            picks = cells[rng.integers(cells.size, size=per_map - 1)]
            extra[j, :, 0], extra[j, :, 1] = picks // n, picks % n
        traj_map = np.concatenate([np.arange(hi - lo), np.repeat(np.arange(hi - lo), per_map - 1)])
        pos = np.concatenate([starts[0], extra.reshape(-1, 2)])
        m_list, s_list = [], []
        active = np.ones(traj_map.size, dtype=bool)
        padded = pad_blocked(ep.obstacles)
        while active.any():
            tm, p = traj_map[active], pos[active]
            m_list.append(tm)
            s_list.append(p.copy())
            act = first_true(masks[tm, p[:, 0], p[:, 1]])
            p[:, 0], p[:, 1], _ = move_batch(padded, p[:, 0], p[:, 1], act, maps=tm)
            pos[active] = p
            active[active] = ep.distances[tm, p[:, 0], p[:, 1]] > 0
        m_idx = np.concatenate(m_list)
        states = np.concatenate(s_list)
        order = np.argsort(m_idx, kind="stable")  # group the states by map
        m_idx, states = m_idx[order], states[order]
    optimal = masks[m_idx, states[:, 0], states[:, 1]]
    return ep.obstacles, ep.goals, m_idx, states, first_true(optimal), optimal
