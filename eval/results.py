"""The markdown tables the ``eval`` experiment scripts write into ``results/``, and the summary
figures in them (what the scripts train is in :mod:`eval.training`)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gridworld_env.atomic import atomic_path


def mean_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)


def write_table(
    path: str,
    title: str,
    command: str,
    description: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    extra: str = "",
) -> str:
    """Write a markdown page (title, the command that made it, a description, one table, then
    ``extra`` markdown) and return it."""
    lines = [
        f"# {title}\n",
        f"Command: `{command}`\n",
        f"{description}\n",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines) + "\n" + (f"\n{extra}" if extra else "")
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


def dropped_rows(path: str, keys: Iterable[tuple[str, str]]) -> list[str]:
    """The (size, model) rows of the table already at ``path`` that a new table with ``keys``
    would lose (none when there is no table there): a narrower command must not silently
    replace a fuller table."""
    if not os.path.exists(path):
        return []
    try:
        _, rows = read_table(path)
    except ValueError:
        return []
    wanted = set(keys)
    return [f"{r[0]} {r[1]}" for r in rows if len(r) > 1 and (r[0], r[1]) not in wanted]


def check_not_dropping(path: str, keys: Iterable[tuple[str, str]], overwrite: bool, fuller: str) -> None:
    """``ValueError`` naming the rows of ``path`` a new table with ``keys`` would drop, unless ``overwrite``.

    :param fuller: the command that tabulates every finished run, named in the message.
    """
    lost = [] if overwrite else dropped_rows(path, keys)
    if lost:
        raise ValueError(
            f"{path} holds rows this command would drop ({', '.join(lost)}): tabulate every finished run "
            f"with `{fuller}`, write elsewhere with --out, or pass --overwrite"
        )


def seed_run_dir(runs_dir: str, size: int, name: str, seed: int) -> str:
    """A table's run folder of one (size, model, seed): ``<runs_dir>/<size>/<name>/seed<seed>``."""
    return os.path.join(runs_dir, str(size), name, f"seed{seed}")


def run_settings(config: Any, **scoring: Any) -> dict[str, Any]:
    """What a run's ``result.json`` must have been made with to be reused: the training config
    (a dataclass) without where it ran (threads, device), and the scoring settings."""
    from dataclasses import asdict

    return {**asdict(config), "device": "any", "threads": "any", **scoring}


def cached_result(path: str, matches: Callable[[dict[str, Any]], bool], log: Any = print) -> dict[str, Any] | None:
    """The ``result.json`` of a finished run at ``path`` if ``matches`` accepts its settings, else ``None``.

    A file damaged outside us (not JSON) is reported through ``log`` and treated as missing, so the
    run is evaluated again; one written with other settings is not reused.
    """
    try:
        with open(path) as f:
            done = json.load(f)
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        log(f"{path} is unreadable ({exc}); evaluating that run again")
        return None
    if isinstance(done, dict) and isinstance(done.get("settings"), dict) and matches(done["settings"]):
        return done
    return None


def save_result(path: str, done: dict[str, Any]) -> None:
    """Write a run's ``result.json`` atomically (a crash leaves the old file or none, never half)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(done, f, indent=1)


def train_on_ray(
    task: str,
    jobs: list[dict[str, Any]],
    result_paths: list[str],
    name: str,
    runs_dir: str,
    threads: int,
    device: str,
    runner: Any,
    log: Any = print,
) -> None:
    """Train a table's runs as Ray Tune trials (:func:`agents.sweep.runner.run_tasks`), one per job.

    Each result is also written at its path in ``result_paths`` on this machine when the trial did
    not (a cluster without a shared folder trains elsewhere), so the table is assembled from the
    same run folders as after a serial call.
    """
    from agents.sweep.runner import run_tasks

    if jobs:
        log(f"{len(jobs)} runs to train on Ray ({threads} CPUs each)")
    gpus = 1 if device == "cuda" else 0
    results = run_tasks(task, jobs, name, os.path.join(runs_dir, "_tune"), threads, gpus, runner)
    for path, done in zip(result_paths, results):
        if not os.path.exists(path):
            save_result(path, done)
