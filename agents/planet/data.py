"""Sequence chunks for the RSSM: episodes played with given or random actions on sampled maps.

:func:`random_chunks` plays ``B`` episodes of uniform random actions for ``T - 1`` moves with the
env's own rule (:mod:`gridworld_env.core`), and returns them as the arrays :func:`agents.planet.rssm.rssm_loss`
takes: map frames (:func:`agents.worldmodels.frames.episode_frames`), the action that led to each
frame, its reward, whether the episode ended there, and a mask that is 0 after the end.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.worldmodels.frames import episode_frames
from gridworld_env.core import N_ACTIONS, move_batch, pad_blocked, reward_index
from gridworld_env.maps import default_spec, sample_episodes

#: The env's reward table (step, collision, goal), as :class:`gridworld_env.vingrid.VINGridEnv`'s defaults.
REWARDS = np.array([-0.01, -1.0, 1.0], dtype=np.float32)


def random_chunks(size: int, batch: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """``batch`` episodes of ``length`` frames (random actions) on ``size x size`` maps."""
    rng = np.random.default_rng(seed)
    ep = sample_episodes([np.random.default_rng([seed, i]) for i in range(batch)], default_spec(size))
    padded = pad_blocked(ep.obstacles)
    rows, cols = ep.starts[:, 0].copy(), ep.starts[:, 1].copy()
    positions = np.zeros((batch, length, 2), dtype=np.int64)
    actions = np.zeros((batch, length), dtype=np.int64)
    rewards = np.zeros((batch, length), dtype=np.float32)
    ends = np.zeros((batch, length), dtype=np.float32)
    mask = np.zeros((batch, length), dtype=np.float32)
    positions[:, 0] = ep.starts
    mask[:, 0] = 1
    live = np.ones(batch, dtype=bool)
    for t in range(1, length):
        a = rng.integers(0, N_ACTIONS, size=batch)
        r, c, hit = move_batch(padded, rows, cols, a)
        at_goal = (r == ep.goals[:, 0]) & (c == ep.goals[:, 1]) & ~hit  # a finished agent may sit on its goal
        actions[:, t] = a
        rewards[:, t] = np.where(live, REWARDS[reward_index(hit.astype(np.int64), at_goal)], 0.0)
        ends[:, t] = live & at_goal
        mask[:, t] = live
        rows, cols = np.where(live, r, rows), np.where(live, c, cols)
        positions[:, t] = np.stack([rows, cols], 1)
        live &= ~at_goal
    frames = episode_frames(ep.obstacles, ep.goals, positions)
    return {
        "frames": frames,
        "actions": torch.from_numpy(actions),
        "rewards": torch.from_numpy(rewards),
        "ends": torch.from_numpy(ends),
        "mask": torch.from_numpy(mask),
    }
