"""A natively batched VINGrid env implementing Stable-Baselines3's ``VecEnv``.

SB3 rejects gymnasium vector envs, so this subclasses
:class:`stable_baselines3.common.vec_env.VecEnv`. All N envs step together with numpy
(:func:`gridworld_env.core.move_flat`, the single env's move rule in flat-index form); envs
that finish are reset together (one batched BFS). Env ``i`` owns its random generator and draws exactly what a single
:class:`~gridworld_env.vingrid.VINGridEnv` draws, so the batch produces what
``DummyVecEnv`` over N single envs produces with the same seeds, step for step
(``tests/test_vector.py`` checks it).

**Infos.** SB3 reads a step's info only when the episode ends. At those steps each env
gets a fresh dict with ``is_success``, ``collision``, ``TimeLimit.truncated`` and
``terminal_observation``, equal to ``DummyVecEnv``'s. At other steps every env gets the
same read-only empty mapping, :data:`EMPTY_INFO` (building 4,096 fresh dicts would cost
more than the step itself); writing to it raises ``TypeError``, and ``dict(info)`` gives
a private copy. A collision on such a step shows in the reward (``collision_reward``).

**Curriculum.** :meth:`set_max_start_distance` limits new episodes to starts at most ``d``
moves from the goal (uniform over those cells; the map and goal are drawn as usual), as
the VIN paper did for RL; ``None`` restores the default start distribution.

**Checkpoints.** :meth:`state_dict` / :meth:`load_state_dict` save and restore everything
(maps, agents, step counters, random generators), so a resumed training run continues the
exact episode stream.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils.seeding import np_random
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from gridworld_env.core import (
    N_ACTIONS,
    first_true,
    flat_offsets,
    free_moves_flat,
    move_flat,
    observation_images,
    optimal_action_masks,
    pad_blocked,
    reward_index,
)
from gridworld_env.maps import MapSpec, check_options, sample_episodes
from gridworld_env.mazes import MazeSpec
from gridworld_env.vingrid import VINGridEnv, observation_space


class _ReadOnlyInfo(dict):
    """An empty info dict shared by every env on a non-final step; mutation raises."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "the info of a non-final VINGridVecEnv step is a shared read-only empty dict; "
            "copy it with dict(info) before writing"
        )

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse  # type: ignore[assignment]

    def copy(self) -> dict:
        return {}

    def __copy__(self) -> dict:
        return {}

    def __deepcopy__(self, memo: dict) -> dict:
        return {}

    def __reduce__(self) -> tuple:
        return (dict, ())


#: The info of every env on a non-final step (see the module docstring).
EMPTY_INFO: dict = _ReadOnlyInfo()


class VINGridVecEnv(VecEnv):
    """N VINGrid envs stepped as one batch of arrays.

    :param num_envs: number of envs N.
    :param size: map side, wall border included.
    :param max_steps: truncation length; default ``4 * size * size`` as in the single env.
    :param step_reward: reward of an ordinary move.
    :param collision_reward: reward of a move that collides.
    :param goal_reward: reward of the move that reaches the goal.
    :param spec: map generator parameters.
    :param render_mode: ``None`` or ``"rgb_array"`` (frames of every env via ``get_images``).
    :param seed: if given, seeds env ``i`` with ``seed + i`` at the first reset.
    """

    def __init__(
        self,
        num_envs: int,
        size: int = 16,
        max_steps: int | None = None,
        step_reward: float = -0.01,
        collision_reward: float = -1.0,
        goal_reward: float = 1.0,
        spec: MapSpec | MazeSpec | None = None,
        render_mode: str | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array' for the batched env, got {render_mode!r}")
        # One single env holds the validated settings and renders for get_images().
        self._proto = VINGridEnv(
            size=size,
            max_steps=max_steps,
            step_reward=step_reward,
            collision_reward=collision_reward,
            goal_reward=goal_reward,
            spec=spec,
            render_mode=render_mode,
        )
        self.size = self._proto.size
        self.map_spec = self._proto.map_spec
        self.max_steps = self._proto.max_steps
        self.render_mode = render_mode
        n, s = int(num_envs), self.size
        super().__init__(n, observation_space(s), spaces.Discrete(N_ACTIONS))
        self._rngs: list[np.random.Generator | None] = [None] * n
        self.obstacles = np.ones((n, s, s), dtype=bool)
        self.goals = np.zeros((n, 2), dtype=np.int64)
        self.distances = np.full((n, s, s), -1, dtype=np.int32)
        self.steps = np.zeros(n, dtype=np.int64)
        self._images = np.zeros((n, 2, s, s), dtype=np.uint8)
        # Agents live as flat indices into the obstacle maps with a blocked frame, so a
        # move is one add, one gather and one where, with no bounds check.
        self._wp = s + 2
        self._padded = pad_blocked(self.obstacles)
        self._padded_flat = self._padded.reshape(-1)
        self._base = np.arange(n, dtype=np.int64) * self._wp * self._wp
        self._offsets = flat_offsets(self._wp)
        self._cell = self._base + self._wp + 1
        self._goal_cell = self._cell.copy()
        self._rewards = np.array([step_reward, collision_reward, goal_reward], dtype=np.float32)  # REWARD_EVENTS
        self._actions: np.ndarray | None = None
        self._started = False
        self.max_start_distance: int | None = None
        if seed is not None:
            self.seed(seed)

    @property
    def positions(self) -> np.ndarray:
        """(N, 2) int64: every agent's ``(row, col)``."""
        return self._positions(self._cell, self._base)

    def _positions(self, cell: np.ndarray, base: np.ndarray) -> np.ndarray:
        rows, cols = np.divmod(cell - base, self._wp)
        return np.stack([rows - 1, cols - 1], axis=1)

    # ----------------------------------------------------------------- resets
    def _reset_envs(self, idx: np.ndarray, seeds: Sequence[int | None], options: Sequence[dict]) -> None:
        """Draw new episodes for envs ``idx`` (the single env's reset, batched)."""
        opts = [check_options(o, self.size, self.map_spec) for o in options]
        rngs = []
        for i, seed in zip(idx.tolist(), seeds):
            if seed is not None or self._rngs[i] is None:
                self._rngs[i], _ = np_random(seed)
            rngs.append(self._rngs[i])
        ep = sample_episodes(rngs, self.map_spec, opts)
        if self.max_start_distance is not None:
            self._near_starts(ep, rngs, np.array(["start" not in o for o in opts]))
        self.obstacles[idx] = ep.obstacles
        self._padded[idx, 1:-1, 1:-1] = ep.obstacles
        self.goals[idx] = ep.goals
        self.distances[idx] = ep.distances
        self.steps[idx] = 0
        base = self._base[idx]
        self._cell[idx] = base + (ep.starts[:, 0] + 1) * self._wp + ep.starts[:, 1] + 1
        self._goal_cell[idx] = base + (ep.goals[:, 0] + 1) * self._wp + ep.goals[:, 1] + 1
        self._images[idx] = observation_images(ep.obstacles, ep.goals)
        lengths = ep.distances[np.arange(len(idx)), ep.starts[:, 0], ep.starts[:, 1]].tolist()
        for i, length in zip(idx.tolist(), lengths):
            self.reset_infos[i] = {"shortest_path_length": length}

    def set_max_start_distance(self, distance: int | None) -> None:
        """Curriculum: new episodes start at most ``distance`` moves from the goal (``None``: anywhere)."""
        if distance is not None and (not isinstance(distance, (int, np.integer)) or distance < 1):
            raise ValueError(f"max start distance must be a positive int or None, got {distance!r}")
        self.max_start_distance = None if distance is None else int(distance)

    def _near_starts(self, ep: Any, rngs: list[np.random.Generator], redraw: np.ndarray) -> None:
        """Redraw the starts of episodes ``redraw`` uniformly among cells 1..max_start_distance from the goal."""
        idx = np.flatnonzero(redraw)
        if idx.size == 0:
            return
        d = ep.distances[idx].reshape(idx.size, -1)
        ok = (d > 0) & (d <= self.max_start_distance)  # never empty: the goal has a reachable neighbour
        counts = ok.sum(axis=1)
        u = np.array([rngs[i].random() for i in idx.tolist()])
        pick = np.minimum((u * counts).astype(np.int64), counts - 1)
        cell = np.argmax(np.cumsum(ok, axis=1) > pick[:, None], axis=1)
        ep.starts[idx] = np.stack(np.divmod(cell, self.size), axis=1)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this env exactly (arrays, counters, generator states)."""
        return {
            "cell": self._cell.copy(),
            "goal_cell": self._goal_cell.copy(),
            "padded": self._padded.copy(),
            "goals": self.goals.copy(),
            "distances": self.distances.copy(),
            "steps": self.steps.copy(),
            "images": self._images.copy(),
            "started": self._started,
            "max_start_distance": self.max_start_distance,
            "rngs": [None if r is None else r.bit_generator.state for r in self._rngs],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` of an env with the same ``num_envs`` and ``size``."""
        if np.shape(state["cell"]) != (self.num_envs,) or np.shape(state["images"])[-1] != self.size:
            raise ValueError(f"env state is for other settings than num_envs={self.num_envs}, size={self.size}")
        self._cell[:] = state["cell"]
        self._goal_cell[:] = state["goal_cell"]
        self._padded[:] = state["padded"]
        self.obstacles[:] = self._padded[:, 1:-1, 1:-1]
        self.goals[:] = state["goals"]
        self.distances[:] = state["distances"]
        self.steps[:] = state["steps"]
        self._images[:] = state["images"]
        self._started = bool(state["started"])
        self.max_start_distance = state["max_start_distance"]
        for i, rng_state in enumerate(state["rngs"]):
            if rng_state is None:
                self._rngs[i] = None
            else:
                rng, _ = np_random(0)
                rng.bit_generator.state = rng_state
                self._rngs[i] = rng

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """Options for the next :meth:`reset` of each env (one dict for all, or a list of one per env).

        They are checked now (``ValueError`` naming the bad option) and used by the next reset only;
        a reset that fails on them (say, a goal the given obstacles cut off) drops them too.
        """
        per_env = [options] * self.num_envs if options is None or isinstance(options, Mapping) else options
        if not isinstance(per_env, Sequence) or isinstance(per_env, str) or len(per_env) != self.num_envs:
            raise ValueError(f"options must be a dict, None, or a list of {self.num_envs} of them, got {options!r}")
        self._options = [check_options(o, self.size, self.map_spec) for o in per_env]

    def reset(self) -> dict[str, np.ndarray]:
        try:
            self._reset_envs(np.arange(self.num_envs), self._seeds, self._options)
        finally:
            self._reset_options()  # options serve one reset, failed or not
        self._reset_seeds()
        self._started = True
        return self._obs()

    def _obs(self) -> dict[str, np.ndarray]:
        return {"image": self._images.copy(), "position": self.positions}

    # ------------------------------------------------------------------- step
    def step_async(self, actions: np.ndarray) -> None:
        a = np.asarray(actions)
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions must be integers in [0, {N_ACTIONS}), got dtype {a.dtype}")
        if a.min() < 0 or a.max() >= N_ACTIONS:
            raise ValueError(f"actions must be integers in [0, {N_ACTIONS}), got values in [{a.min()}, {a.max()}]")
        self._actions = a

    def step_wait(self) -> VecEnvStepReturn:
        if not self._started or self._actions is None:
            raise RuntimeError("step() called before reset(): call reset() first")
        actions, self._actions = self._actions, None
        self._cell, collided = move_flat(self._padded_flat, self._cell, actions, self._offsets)
        self.steps += 1
        success = self._cell == self._goal_cell
        truncated = self.steps >= self.max_steps
        truncated &= ~success
        rewards = self._rewards[reward_index(collided, success)]
        dones = success | truncated
        obs = self._obs()
        infos: list[dict[str, Any]] = [EMPTY_INFO] * self.num_envs
        done_idx = np.flatnonzero(dones)
        if done_idx.size:
            for i in done_idx.tolist():
                infos[i] = {
                    "is_success": bool(success[i]),
                    "collision": bool(collided[i]),
                    "TimeLimit.truncated": bool(truncated[i]),
                    "terminal_observation": {"image": obs["image"][i].copy(), "position": obs["position"][i].copy()},
                }
            self._reset_envs(done_idx, [None] * done_idx.size, [{}] * done_idx.size)
            obs["image"][done_idx] = self._images[done_idx]
            obs["position"][done_idx] = self._positions(self._cell[done_idx], self._base[done_idx])
        return obs, rewards, dones, infos

    # --------------------------------------------------------- expert & masks
    def action_masks(self) -> np.ndarray:
        """(N, 8) bool: the non-colliding moves of every env (for MaskablePPO)."""
        return free_moves_flat(self._padded_flat, self._cell, self._offsets)

    def expert_actions(self) -> np.ndarray:
        """(N,) int: each env's first shortest-path action in action order (-1 at the goal)."""
        n = self.num_envs
        pos = self.positions
        padded = np.pad(self.distances, ((0, 0), (1, 1), (1, 1)), constant_values=-1)
        k = np.arange(3)
        windows = padded[
            np.arange(n)[:, None, None],
            pos[:, 0, None, None] + k[None, :, None],
            pos[:, 1, None, None] + k[None, None, :],
        ]
        return first_true(optimal_action_masks(windows)[:, 1, 1])

    # ------------------------------------------------------- VecEnv plumbing
    def close(self) -> None:
        self._proto.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            gym.logger.warn("get_images() needs render_mode='rgb_array'")
            return [None] * self.num_envs
        from gridworld_env.rendering import draw_frame

        pos = self.positions
        return [
            draw_frame(self.obstacles[i], tuple(self.goals[i]), tuple(pos[i]), (), self._proto.cell_pixels)
            for i in range(self.num_envs)
        ]

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        picked = [indices] if isinstance(indices, (int, np.integer)) else list(indices)
        for i in picked:
            if not isinstance(i, (int, np.integer)) or not 0 <= i < self.num_envs:
                raise IndexError(f"env index {i!r} is out of range for {self.num_envs} envs")
        return [int(i) for i in picked]

    #: Attributes that differ between envs, read from the batch (``get_attr``).
    PER_ENV_ATTRS = ("agent_pos", "goal_pos", "obstacles")
    #: Settings shared by every env (``get_attr`` gives the same value for each).
    SHARED_ATTRS = (
        "size",
        "max_steps",
        "step_reward",
        "collision_reward",
        "goal_reward",
        "map_spec",
        "render_mode",
        "cell_pixels",
        "observation_space",
        "action_space",
        "metadata",
    )
    #: Methods of the single env that ``env_method`` (and ``get_attr``, as callables) provides per env.
    METHODS = ("action_masks", "expert_action", "distance_map")

    def _per_env(self, name: str, i: int) -> Any:
        if name == "agent_pos":
            return tuple(int(x) for x in self.positions[i])
        if name == "goal_pos":
            return tuple(int(x) for x in self.goals[i])
        return self.obstacles[i].copy()

    def _call(self, name: str, i: int) -> Any:
        if name == "action_masks":
            return self.action_masks()[i]
        if name == "expert_action":
            return int(self.expert_actions()[i])
        return self.distances[i].copy()

    def _unsupported(self, what: str, name: str) -> AttributeError:
        return AttributeError(
            f"VINGridVecEnv.{what}: {name!r} is not available per env; supported: per-env attributes "
            f"{list(self.PER_ENV_ATTRS)}, shared settings {list(self.SHARED_ATTRS)}, methods {list(self.METHODS)}"
        )

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The value of ``attr_name`` in each env: the batch's true per-env values for
        :data:`PER_ENV_ATTRS`, the shared settings, or per-env callables for :data:`METHODS`.

        :raises AttributeError: any other name (never a placeholder value).
        """
        idx = self._indices(indices)
        if attr_name in self.PER_ENV_ATTRS:
            if not self._started:
                raise AttributeError(f"get_attr({attr_name!r}) before reset(): call reset() first")
            return [self._per_env(attr_name, i) for i in idx]
        if attr_name in self.SHARED_ATTRS:
            value = self.render_mode if attr_name == "render_mode" else getattr(self._proto, attr_name)
            return [value for _ in idx]
        if attr_name in self.METHODS:
            return [functools.partial(self._call, attr_name, i) for i in idx]
        raise self._unsupported("get_attr", attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(
            f"VINGridVecEnv does not support set_attr({attr_name!r}): its settings are shared by all envs and "
            "fixed at construction, and per-env state comes from reset options (set_options); build a new env instead"
        )

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a method of the single env in each env of ``indices`` (see :data:`METHODS`)."""
        idx = self._indices(indices)
        if method_name not in self.METHODS:
            raise self._unsupported("env_method", method_name)
        if method_args or method_kwargs:
            raise TypeError(f"{method_name}() takes no arguments, got {method_args} {method_kwargs}")
        if not self._started:
            raise RuntimeError(f"env_method({method_name!r}) before reset(): call reset() first")
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in idx]
        return [self._call(method_name, i) for i in idx]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]
