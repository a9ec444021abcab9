"""World Models data: random rollouts of the batched env, written as compressed npz shards.

The rollout policy is a discrete analogue of the reference's "brownian" one: each step repeats the
previous action with probability ``repeat_prob`` (unless that move hit a wall) and otherwise draws
a uniform action, so a rollout travels in straight runs instead of dithering around its start.

A shard holds ``shard_episodes`` episodes of at most ``episode_steps`` moves. The map of an episode
does not change, so a shard stores it once (obstacles, goal) with the agent's cell at every step,
and :func:`agents.worldmodels.frames.episode_frames` rebuilds the env's map image (obstacles, goal and agent channels, as
:class:`gridworld_env.wrappers.ImageObservation` gives it) exactly. Shard ``i`` depends only on
the settings and ``i`` (env ``j`` of shard ``i`` is seeded ``seed * 10^6 + i * shard_episodes + j``),
so an interrupted collection resumes by writing the missing shards, and the data are the same as
an uninterrupted run's.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridworld_env import env_size
from gridworld_env.atomic import atomic_path
from gridworld_env.core import N_ACTIONS
from gridworld_env.vector import VINGridVecEnv

#: Seeds of different collection seeds never overlap for shards of fewer than 10^6 episodes in all.
SEED_STRIDE = 10**6


@dataclass
class CollectConfig:
    """Random rollouts for the world model (``python -m train worldmodels --stage collect``)."""

    env_id: str = "VINGrid-8x8-v0"
    """Registered VINGrid env id."""
    episodes: int = 10_000
    """Episodes in all (rounded up to whole shards)."""
    episode_steps: int = 32
    """Moves per episode at most; an episode that reaches the goal ends sooner."""
    repeat_prob: float = 0.75
    """Probability of repeating the previous action (0: uniform random actions)."""
    shard_episodes: int = 1000
    """Episodes per shard file."""
    seed: int = 0
    """Collection seed (maps, starts and actions)."""

    def __post_init__(self) -> None:
        from agents.training.config import check_positive, check_types

        check_types(self)
        env_size(self.env_id)
        check_positive(self, ("episodes", "episode_steps", "shard_episodes"))
        if not 0 <= self.repeat_prob < 1:
            raise ValueError(f"repeat_prob must be in [0, 1), got {self.repeat_prob}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.shards * self.shard_episodes > SEED_STRIDE:
            raise ValueError(f"episodes must be at most {SEED_STRIDE:,} per collection seed, got {self.episodes:,}")

    @property
    def shards(self) -> int:
        return -(-self.episodes // self.shard_episodes)


def brownian_step(
    rng: np.random.Generator, previous: np.ndarray, blocked: np.ndarray, repeat_prob: float
) -> np.ndarray:
    """Next actions of the rollout policy: the previous action again with probability
    ``repeat_prob`` unless it was ``blocked`` (it hit a wall: the agent did not move), else a
    uniform one."""
    fresh = rng.integers(0, N_ACTIONS, size=previous.shape)
    repeat = (rng.random(previous.shape) < repeat_prob) & ~blocked
    return np.where(repeat, previous, fresh)


def collect_shard(cfg: CollectConfig, index: int) -> dict[str, np.ndarray]:
    """Roll shard ``index``: one batched env of ``shard_episodes`` envs, ``episode_steps`` moves.

    :return: arrays ``obstacles`` (E, H, W) bool, ``goals`` (E, 2), ``positions`` (E, T + 1, 2)
        (after the episode's end, its last cell), ``actions`` (E, T), ``rewards`` (E, T) float32,
        ``dones`` (E, T) bool (the move that reached the goal; zero reward and no move after it),
        ``lengths`` (E,) moves taken.
    """
    n, steps = cfg.shard_episodes, cfg.episode_steps
    env = VINGridVecEnv(n, size=env_size(cfg.env_id), max_steps=steps + 1)  # ends only at the goal
    env.seed(cfg.seed * SEED_STRIDE + index * n)
    obs = typing.cast(dict[str, np.ndarray], env.reset())
    obstacles, goals = env.obstacles.copy(), env.goals.copy()
    rng = np.random.default_rng([cfg.seed, index])
    actions = np.zeros((steps, n), dtype=np.int64)
    action, blocked = rng.integers(0, N_ACTIONS, size=n), np.ones(n, dtype=bool)
    positions = np.zeros((n, steps + 1, 2), dtype=np.int64)
    rewards = np.zeros((n, steps), dtype=np.float32)
    dones = np.zeros((n, steps), dtype=bool)
    lengths = np.full(n, steps, dtype=np.int64)
    positions[:, 0] = obs["position"]
    live = np.ones(n, dtype=bool)
    for t in range(steps):
        action = brownian_step(rng, action, blocked, cfg.repeat_prob) if t else action
        actions[t] = action
        step_obs, reward, done, infos = env.step(action)
        obs = typing.cast(dict[str, np.ndarray], step_obs)
        blocked = (obs["position"] == positions[:, t]).all(axis=1)
        positions[:, t + 1] = np.where(live[:, None], obs["position"], positions[:, t])
        for i in np.flatnonzero(done & live):  # the env reset them: their last cell is in the info
            positions[i, t + 1] = infos[i]["terminal_observation"]["position"]
        rewards[live, t] = reward[live]
        dones[live, t] = done[live]
        lengths[done & live] = t + 1
        live &= ~done
    actions[~_alive_mask(lengths, steps)] = 0
    return {
        "obstacles": obstacles,
        "goals": goals,
        "positions": positions,
        "actions": actions.T.astype(np.int64),
        "rewards": rewards,
        "dones": dones,
        "lengths": lengths,
    }


def _alive_mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    """(T, E): whether step t of episode e happened."""
    return np.arange(steps)[:, None] < lengths[None, :]


def shard_path(data_dir: str, index: int) -> str:
    return os.path.join(data_dir, f"shard_{index:05d}.npz")


def collect(cfg: CollectConfig, data_dir: str, progress: bool = False) -> list[str]:
    """Write the shards of ``cfg`` that ``data_dir`` lacks; return every shard's path.

    ``data_dir/collect.json`` records the settings; a folder collected with other settings is
    refused (choose another folder, or delete it), so data of two settings never mix.
    """
    os.makedirs(data_dir, exist_ok=True)
    meta_path = os.path.join(data_dir, "collect.json")
    settings = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(CollectConfig)}  # a subclass's too
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            stored = json.load(f)
        same = {k: v for k, v in stored.items() if k != "episodes"} == {
            k: v for k, v in settings.items() if k != "episodes"
        }
        if not same:
            raise ValueError(
                f"{data_dir} holds data collected with other settings ({meta_path}): "
                "choose another folder or delete this one"
            )
    with atomic_path(meta_path) as tmp, open(tmp, "w") as f:
        json.dump(settings, f, indent=1)
    paths = [shard_path(data_dir, i) for i in range(cfg.shards)]
    missing = [i for i, p in enumerate(paths) if not os.path.exists(p)]
    bar: Any = None
    if progress and missing:
        from tqdm import tqdm

        bar = tqdm(total=len(missing) * cfg.shard_episodes, desc="collect", unit="episode")
    for i in missing:
        shard = collect_shard(cfg, i)
        with atomic_path(paths[i]) as tmp, open(tmp, "wb") as out:
            np.savez_compressed(out, **typing.cast(dict[str, Any], shard))
        if bar is not None:
            bar.update(cfg.shard_episodes)
    if bar is not None:
        bar.close()
    return paths


def load_shards(data_dir: str) -> dict[str, np.ndarray]:
    """Every shard of ``data_dir`` concatenated along the episode axis.

    :raises FileNotFoundError: no shard there (run the ``collect`` stage first).
    :raises ValueError: a shard that cannot be read, named.
    """
    paths = sorted(glob.glob(os.path.join(data_dir, "shard_*.npz")))
    if not paths:
        raise FileNotFoundError(f"no data shards in {data_dir}: run the collect stage first")
    parts: list[dict[str, np.ndarray]] = []
    for path in paths:
        try:
            with np.load(path) as z:
                parts.append({k: z[k] for k in z.files})
        except Exception as exc:  # zipfile.BadZipFile, EOFError, ValueError, KeyError ...
            raise ValueError(f"cannot read the data shard {path} ({exc}): delete it and collect again") from exc
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
