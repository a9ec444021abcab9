"""A planning oracle: the env's own move and reward rule as PlaNet's model.

:class:`TrueModel` scores action sequences exactly (the reward table of the env, the episode ending
at the goal), so a planner run on it is judged apart from any learned model.
:func:`planner_act_fn` plays it model-predictively (plan, take the first action, replan) as an
:data:`agents.evaluation.ActFn`, for :func:`agents.evaluation.evaluate_act_fn`.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.evaluation import ActFn
from agents.planet.cem import CEMConfig, cem_plan, shifted
from agents.planet.data import REWARDS, step_outcome
from gridworld_env.core import N_ACTIONS, flat_offsets, move_flat, pad_blocked
from gridworld_env.maps import Episodes


class TrueModel:
    """Returns of action sequences on given maps, from the env's rule (undiscounted, no reward after the goal)."""

    def __init__(self, obstacles: np.ndarray, goals: np.ndarray, rewards: np.ndarray = REWARDS) -> None:
        padded = pad_blocked(obstacles)
        self.m, self.hp, self.wp = padded.shape
        self.flat = padded.reshape(-1)
        self.offsets = flat_offsets(self.wp)
        self.rewards = np.asarray(rewards, dtype=np.float32)
        self.goal_cells = self._cells(np.arange(self.m), goals[:, 0], goals[:, 1])

    def _cells(self, maps: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return maps * (self.hp * self.wp) + (rows + 1) * self.wp + cols + 1

    def returns(self, maps: np.ndarray, rows: np.ndarray, cols: np.ndarray, seq: torch.Tensor) -> torch.Tensor:
        """(B, J) returns of the (B, J, H) sequences for agents at ``(rows, cols)`` of ``maps``."""
        b, j, h = seq.shape
        actions = seq.numpy()
        cells = np.repeat(self._cells(maps, rows, cols), j)
        goal = np.repeat(self.goal_cells[maps], j)
        total = np.zeros(b * j, dtype=np.float32)
        live = np.ones(b * j, dtype=bool)
        for t in range(h):
            moved, hit = move_flat(self.flat, cells, actions[:, :, t].reshape(-1), self.offsets)
            reward, at_goal = step_outcome(moved == goal, hit, live, self.rewards)
            total += reward
            cells = np.where(live, moved, cells)
            live &= ~at_goal
        return torch.from_numpy(total.reshape(b, j))


def planner_act_fn(ep: Episodes, cfg: CEMConfig | None = None, seed: int = 0, warm_start: bool = True) -> ActFn:
    """Model-predictive CEM on :class:`TrueModel` for the maps of ``ep``: replans at every step,
    each episode's last plan warm-starting its next decision (as the PlaNet agent does; ``False``:
    every decision from scratch)."""
    cfg = cfg or CEMConfig()
    model = TrueModel(ep.obstacles, ep.goals)
    generator = torch.Generator().manual_seed(seed)
    plans = torch.zeros(ep.goals.shape[0], cfg.horizon, dtype=torch.long)

    def act(maps: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        index = torch.from_numpy(maps.astype(np.int64))
        init = shifted(plans[index]) if warm_start else None
        seq, _ = cem_plan(lambda s: model.returns(maps, rows, cols, s), maps.size, N_ACTIONS, cfg, generator, init=init)
        plans[index] = seq
        return seq[:, 0].numpy()

    return act
