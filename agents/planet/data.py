"""Episodes for PlaNet: played on sampled maps with the env's rule, kept in a replay buffer.

:func:`step_outcome` is the one move-and-reward rule (the env's reward table, the episode ending
at the goal, nothing after the end) used both to play episodes here and to score sequences in the
planning oracle (:mod:`agents.planet.oracle`). :func:`play_episodes` plays a batch of maps with
any chooser of actions (random for PlaNet's seed episodes, the planner later) and records what
:func:`agents.planet.rssm.rssm_loss` needs; :class:`ReplayBuffer` keeps played episodes as cells,
not pictures, and draws sequence chunks of them, with frames drawn on demand
(:func:`agents.worldmodels.frames.episode_frames`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.worldmodels.frames import as_float, episode_frames
from gridworld_env.core import N_ACTIONS, move_batch, pad_blocked, reward_index
from gridworld_env.maps import Episodes, default_spec, sample_episodes

#: The env's reward table (step, collision, goal), as :class:`gridworld_env.vingrid.VINGridEnv`'s defaults.
REWARDS = np.array([-0.01, -1.0, 1.0], dtype=np.float32)

#: ``choose(maps, rows, cols)`` -> actions for the live episodes ``maps`` at cells ``(rows, cols)``.
Chooser = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

#: The arrays an episode batch holds (besides its maps), and their dtypes.
FIELDS = {"positions": np.int16, "actions": np.int64, "rewards": np.float32, "ends": np.float32, "mask": np.float32}


def step_outcome(
    reached: np.ndarray, hit: np.ndarray, live: np.ndarray, rewards: np.ndarray = REWARDS
) -> tuple[np.ndarray, np.ndarray]:
    """Reward and goal flags of one move for a batch of agents.

    :param reached: the agent's new cell is its goal. :param hit: the move collided (the agent
        stayed put; a finished agent sitting on its goal that collides has not reached it again).
    :param live: the episode had not ended before this move (no reward after the end).
    :return: ``(reward, at_goal)``.
    """
    at_goal = reached & ~hit
    return np.where(live, rewards[reward_index(hit.astype(np.int64), at_goal)], 0.0).astype(np.float32), at_goal


def play_episodes(ep: Episodes, choose: Chooser, length: int) -> dict[str, np.ndarray]:
    """Play every map of ``ep`` from its start for up to ``length - 1`` moves (``length`` frames).

    :return: ``positions`` (B, L, 2) agent cells per frame (the last one repeated after the end),
        ``actions`` (B, L) the move that led to each frame (0 at frame 0), ``rewards`` and ``ends``
        (B, L) of that move, ``mask`` (B, L) 1 for the frames the episode has.
    """
    b = ep.goals.shape[0]
    padded = pad_blocked(ep.obstacles)
    out = {k: np.zeros((b, length) + ((2,) if k == "positions" else ()), dtype=v) for k, v in FIELDS.items()}
    rows, cols = ep.starts[:, 0].copy(), ep.starts[:, 1].copy()
    out["positions"][:, 0] = ep.starts
    out["mask"][:, 0] = 1
    live = np.ones(b, dtype=bool)
    for t in range(1, length):
        a = np.zeros(b, dtype=np.int64)
        idx = np.flatnonzero(live)
        if idx.size:
            a[idx] = choose(idx, rows[idx], cols[idx])
        r, c, hit = move_batch(padded, rows, cols, a)
        reward, at_goal = step_outcome((r == ep.goals[:, 0]) & (c == ep.goals[:, 1]), hit, live)
        out["actions"][:, t] = np.where(live, a, 0)
        out["rewards"][:, t] = reward
        out["ends"][:, t] = live & at_goal
        out["mask"][:, t] = live
        rows, cols = np.where(live, r, rows), np.where(live, c, cols)
        out["positions"][:, t] = np.stack([rows, cols], 1)
        live &= ~at_goal
    return out


def random_chooser(rng: np.random.Generator) -> Chooser:
    """Uniform random actions drawn from ``rng``."""

    def choose(maps: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.asarray(rng.integers(0, N_ACTIONS, size=maps.shape[0]))

    return choose


def training_maps(size: int, seed: int, first: int, count: int) -> Episodes:
    """Maps ``first .. first + count - 1`` of a run's training stream (each from ``[seed, index]``,
    apart from the validation and test streams of :mod:`agents.evaluation`)."""
    return sample_episodes([np.random.default_rng([seed, i]) for i in range(first, first + count)], default_spec(size))


def to_tensors(ep: Episodes, played: dict[str, np.ndarray], frame: str = "map") -> dict[str, torch.Tensor]:
    """The arrays :func:`agents.planet.rssm.rssm_loss` takes (frames of kind ``frame`` drawn from
    the cells, the rest as tensors) and ``cells`` (B, T): the agent's flat cell index per frame."""
    positions = played["positions"].astype(np.int64)
    out = {"frames": as_float(episode_frames(ep.obstacles, ep.goals, positions, frame))}
    out["cells"] = torch.from_numpy(positions[..., 0] * ep.obstacles.shape[-1] + positions[..., 1])
    for key in ("actions", "rewards", "ends", "mask"):
        out[key] = torch.from_numpy(np.ascontiguousarray(played[key]))
    return out


def random_chunks(size: int, batch: int, length: int, seed: int = 0, frame: str = "map") -> dict[str, torch.Tensor]:
    """``batch`` episodes of ``length`` frames (uniform random actions) on ``size x size`` maps."""
    ep = training_maps(size, seed, 0, batch)
    return to_tensors(ep, play_episodes(ep, random_chooser(np.random.default_rng(seed)), length), frame)


class ReplayBuffer:
    """Played episodes, as maps and cells; :meth:`sample` draws sequence chunks.

    :param size: map side. :param length: frames per stored episode (moves + 1).
    """

    def __init__(self, size: int, length: int) -> None:
        self.size, self.length = size, length
        self.obstacles = np.zeros((0, size, size), dtype=bool)
        self.goals = np.zeros((0, 2), dtype=np.int64)
        self.arrays = {
            k: np.zeros((0, length) + ((2,) if k == "positions" else ()), dtype=v) for k, v in FIELDS.items()
        }

    def __len__(self) -> int:
        return self.goals.shape[0]

    @property
    def steps(self) -> int:
        """Env steps (moves) stored."""
        return int(self.arrays["mask"][:, 1:].sum())

    def add(self, ep: Episodes, played: dict[str, np.ndarray]) -> None:
        if played["mask"].shape[1] != self.length:
            raise ValueError(f"episodes of {played['mask'].shape[1]} frames do not fit a buffer of {self.length}")
        self.obstacles = np.concatenate([self.obstacles, ep.obstacles])
        self.goals = np.concatenate([self.goals, ep.goals])
        for key, dtype in FIELDS.items():
            self.arrays[key] = np.concatenate([self.arrays[key], played[key].astype(dtype)])

    def sample(self, rng: np.random.Generator, batch: int, chunk: int, frame: str = "map") -> dict[str, torch.Tensor]:
        """``batch`` chunks of ``chunk`` frames, each from a random episode and a random start among
        its frames (frames past the episode's end are masked out)."""
        if not len(self):
            raise ValueError("the replay buffer is empty")
        which = rng.integers(0, len(self), size=batch)
        frames = self.arrays["mask"][which].sum(1).astype(np.int64)
        starts = (rng.random(batch) * frames).astype(np.int64)
        cols = np.minimum(starts[:, None] + np.arange(chunk), self.length - 1)
        inside = (starts[:, None] + np.arange(chunk)) < self.length
        played = {k: v[which[:, None], cols] for k, v in self.arrays.items()}
        played["mask"] = played["mask"] * inside
        ep = Episodes(self.obstacles[which], self.goals[which], played["positions"][:, 0], np.zeros(0))
        return to_tensors(ep, played, frame)

    def state_dict(self) -> dict[str, Any]:
        """The buffer as tensors (for a checkpoint loaded with ``weights_only``)."""
        state = {"obstacles": torch.from_numpy(self.obstacles), "goals": torch.from_numpy(self.goals)}
        state.update({k: torch.from_numpy(v) for k, v in self.arrays.items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.obstacles, self.goals = state["obstacles"].numpy(), state["goals"].numpy()
        self.arrays = {k: state[k].numpy().astype(v) for k, v in FIELDS.items()}
        if self.arrays["mask"].shape[1:] != (self.length,) or self.obstacles.shape[1:] != (self.size, self.size):
            raise ValueError(
                f"the stored buffer holds {self.obstacles.shape[1:]} maps and episodes of "
                f"{self.arrays['mask'].shape[1:]} frames, not {(self.size, self.size)} and ({self.length},)"
            )
