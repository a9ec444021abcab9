"""PlaNet's planner for discrete actions: the cross-entropy method over action sequences.

PlaNet (Hafner et al. 2019) fits a diagonal Gaussian over continuous action sequences. Our actions
are discrete, so the belief over a sequence is one categorical distribution per step, refit to the
frequencies of the actions in the elite set. Everything is batched: ``B`` planning problems (the
envs being played) x ``J`` candidates are scored by one call of the model's return function.
:func:`exhaustive_plan` scores every sequence, for short horizons and for checking CEM.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: ``returns_of(sequences)``: (B, J, H) int64 action sequences -> (B, J) float returns.
ReturnFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class CEMConfig:
    """CEM settings; the defaults are PlaNet's (H=12, I=10, J=1000, K=100)."""

    horizon: int = 12
    """Planning horizon H (actions per sequence)."""
    iterations: int = 10
    """Refits of the belief I."""
    candidates: int = 1000
    """Sequences sampled per iteration J."""
    elites: int = 100
    """Best sequences the belief is refit to K."""

    def __post_init__(self) -> None:
        for name in ("horizon", "iterations", "candidates", "elites"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.elites > self.candidates:
            raise ValueError(f"elites ({self.elites}) must not exceed candidates ({self.candidates})")


def cem_plan(
    returns_of: ReturnFn,
    batch: int,
    n_actions: int,
    cfg: CEMConfig | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plan ``batch`` problems at once; return the best sequence each saw (B, H) and its return (B,).

    Each iteration samples J sequences from the per-step categorical belief (uniform at first),
    scores them, and refits the belief to the action frequencies of the K best. The best sequence
    over all iterations is kept (the model is deterministic, so a sequence seen is a sequence known).
    """
    cfg = cfg or CEMConfig()
    b, h, j, k = batch, cfg.horizon, cfg.candidates, cfg.elites
    probs = torch.full((b * h, n_actions), 1.0 / n_actions, device=device)
    best_seq = torch.zeros(b, h, dtype=torch.long, device=device)
    best_ret = torch.full((b,), -torch.inf, device=device)
    rows = torch.arange(b, device=device)
    for _ in range(cfg.iterations):
        seq = torch.multinomial(probs, j, replacement=True, generator=generator).view(b, h, j).transpose(1, 2)
        ret = returns_of(seq)
        top = ret.topk(k, dim=1).indices
        elite = seq.gather(1, top[:, :, None].expand(b, k, h))
        probs = torch.nn.functional.one_hot(elite, n_actions).float().mean(1).reshape(b * h, n_actions)
        value, index = ret.max(1)
        better = value > best_ret
        best_ret = torch.where(better, value, best_ret)
        best_seq[better] = seq[rows, index][better]
    return best_seq, best_ret


def exhaustive_plan(
    returns_of: ReturnFn, batch: int, n_actions: int, horizon: int, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score all ``n_actions ** horizon`` sequences; return the best (first in order on ties) and its return."""
    if n_actions**horizon > 10**7:
        raise ValueError(f"{n_actions}^{horizon} sequences are too many to enumerate: use cem_plan")
    every = torch.tensor(list(itertools.product(range(n_actions), repeat=horizon)), dtype=torch.long)
    best_ret = torch.full((batch,), -torch.inf)
    best_seq = torch.zeros(batch, horizon, dtype=torch.long)
    for start in range(0, every.shape[0], chunk):
        part = every[start : start + chunk]
        ret = returns_of(part[None].expand(batch, -1, -1))
        value, index = ret.max(1)
        better = value > best_ret
        best_ret = torch.where(better, value, best_ret)
        best_seq[better] = part[index][better]
    return best_seq, best_ret
