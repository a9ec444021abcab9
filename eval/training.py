"""What the ``eval`` experiment scripts train: a BC run scored on held-out maps."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from typing import Any


def train_and_score(size: int, overrides: Sequence[str], episodes: int) -> tuple[Any, Any, float]:
    """BC with ``hyperparams/bc.yml`` for ``VINGrid-<size>`` plus ``key=value`` overrides, in a
    temporary folder, then the paper-protocol evaluation on ``episodes`` held-out maps.

    :return: (model, :class:`agents.evaluation.EvalResult`, training minutes).
    """
    from agents.bc import train_bc
    from agents.config import BC_CONFIG, load_bc_config
    from agents.evaluation import evaluate_policy_on_maps

    cfg = load_bc_config(f"VINGrid-{size}x{size}-v0", BC_CONFIG, overrides)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        model, _ = train_bc(cfg, run_dir)
    minutes = (time.perf_counter() - t0) / 60
    return model, evaluate_policy_on_maps(model.policy, size, episodes), minutes
