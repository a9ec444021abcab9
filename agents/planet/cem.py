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
    repeat: float = 0.0
    """Probability that a sample of the first iteration repeats its previous action instead of
    drawing from the (uniform) belief: a correlated walk reaches farther than an uncorrelated one,
    so a far goal is found by some sample more often (0: PlaNet's independent steps)."""

    def __post_init__(self) -> None:
        for name in ("horizon", "iterations", "candidates", "elites"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.elites > self.candidates:
            raise ValueError(f"elites ({self.elites}) must not exceed candidates ({self.candidates})")
        if not isinstance(self.repeat, (int, float)) or not 0 <= self.repeat < 1:
            raise ValueError(f"repeat must be in [0, 1), got {self.repeat!r}")

    def as_list(self) -> list[float]:
        """The settings in field order, as an agent file stores them (``CEMConfig(*list)``)."""
        return [self.horizon, self.iterations, self.candidates, self.elites, self.repeat]


def shifted(plans: torch.Tensor) -> torch.Tensor:
    """The warm start of the next decision from each (B, H) plan: its actions after the first,
    the last one repeated."""
    return torch.cat([plans[:, 1:], plans[:, -1:]], 1)


def cem_plan(
    returns_of: ReturnFn,
    batch: int,
    n_actions: int,
    cfg: CEMConfig | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    init: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plan ``batch`` problems at once; return the best sequence each saw (B, H) and its return (B,).

    Each iteration samples J sequences from the per-step categorical belief (uniform at first; with
    ``cfg.repeat``, the first iteration's samples repeat their previous action that often), scores
    them, and refits the belief to the action frequencies of the K best. The best sequence over all
    iterations is kept (the model is deterministic, so a sequence seen is a sequence known).

    :param init: (B, H) sequences scored among the first iteration's candidates (a warm start,
        such as :func:`shifted` plans of the last decision: model-predictive control keeps a path
        to the goal once found).
    """
    cfg = cfg or CEMConfig()
    b, h, j, k = batch, cfg.horizon, cfg.candidates, cfg.elites
    if init is not None and tuple(init.shape) != (b, h):
        raise ValueError(f"init must hold one sequence per problem, shape {(b, h)}, got {tuple(init.shape)}")
    probs = torch.full((b * h, n_actions), 1.0 / n_actions, device=device)
    best_seq = torch.zeros(b, h, dtype=torch.long, device=device)
    best_ret = torch.full((b,), -torch.inf, device=device)
    rows = torch.arange(b, device=device)
    for it in range(cfg.iterations):
        seq = torch.multinomial(probs, j, replacement=True, generator=generator).view(b, h, j).transpose(1, 2)
        if it == 0 and cfg.repeat > 0:
            seq = seq.contiguous()
            again = torch.rand(b, j, h, generator=generator, device=device) < cfg.repeat
            for t in range(1, h):
                seq[:, :, t] = torch.where(again[:, :, t], seq[:, :, t - 1], seq[:, :, t])
        if it == 0 and init is not None:
            seq = seq.contiguous()
            seq[:, 0] = init
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
