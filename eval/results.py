"""Shared pieces of the ``eval`` experiment scripts: a BC run scored on held-out maps, and the
markdown tables they write into ``results/``."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from typing import Any

from gridworld_env.atomic import atomic_path


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


def write_table(
    path: str, title: str, command: str, description: str, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> str:
    """Write a markdown page (title, the command that made it, a description, one table) and return it."""
    lines = [
        f"# {title}\n",
        f"Command: `{command}`\n",
        f"{description}\n",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)
    return text


def read_table(path: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the first markdown table in ``path`` (as :func:`write_table` writes it)."""
    header: list[str] = []
    rows: list[list[str]] = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("|"):
                if header:
                    break
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not header:
                header = cells
            elif not set(line) <= set("|-: "):
                rows.append(cells)
    if not header:
        raise ValueError(f"{path} holds no markdown table")
    return header, rows
