"""Table 1 of the VIN paper: VIN against the reactive CNN and FCN, trained by BC, on held-out maps.

    python -m eval.table1 [--sizes 8 16 28] [--models vin cnn fcn] [--seeds 0 1 2] [--epochs 5 3 1] [--quick]
                          [--address HEAD:6379] [--max-concurrent N] [--serial]

Every model is cloned from the BFS expert on the paper's data budget (5,000 maps, 7 expert
trajectories each), with the same optimiser, batch size, loss and number of epochs at a size
(:data:`SETTINGS`), then evaluated on the same 1,000 held-out maps (env seeds from 10^9):

* prediction error: 1 - tie-aware action accuracy along the expert's path (the paper's
  "prediction loss" is a 0-1 loss);
* success rate under the paper's protocol (goal within twice the optimal moves);
* extra moves: moves taken minus the optimal number, over successful episodes (the paper's
  trajectory difference).

Each (size, model, seed) trains in ``runs/table1/<size>/<model>/seed<S>/`` and leaves a
``result.json`` there; a later call reuses it (and resumes a training cut short), so the table
can be built in pieces. The runs train as Ray Tune trials (:func:`agents.sweep.runner.run_tasks`):
on this machine's cores by default, on a Ray cluster with ``--address`` (``--threads`` CPUs per
run), or one after another in this process with ``--serial``. ``results/table1.md`` gets the mean and the spread (sample standard
deviation) over seeds, the paper's figures beside ours, per-epoch validation success (to show
whether training had levelled off) and the command. ``--quick``: 8x8, 1,000 maps, 3 epochs,
200 test maps, one seed, written to ``runs/table1_quick.md``, for CI-scale checks (35 s here on Ray, 18 s with ``--serial``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agents.sweep.runner import RunnerOptions, add_runner_arguments, runner_options
from eval.results import (
    cached_result,
    check_not_dropping,
    mean_spread,
    run_settings,
    save_result,
    seed_run_dir,
    train_on_ray,
)
from gridworld_env.atomic import atomic_path

#: The paper's Table 1 (Tamar et al. 2016): (success %, prediction loss) per model and size.
PAPER: dict[str, dict[int, tuple[float, float]]] = {
    "vin": {8: (99.6, 0.004), 16: (99.3, 0.05), 28: (97.0, 0.11)},
    "cnn": {8: (97.9, 0.02), 16: (87.6, 0.10), 28: (74.2, 0.13)},
    "fcn": {8: (97.3, 0.01), 16: (88.3, 0.07), 28: (76.6, 0.09)},
}

#: BC settings shared by every model (fields of :class:`agents.bc.BCConfig`): the paper's batch
#: of 128, Adam with cosine decay, the tie-aware loss (every model sees the same labels).
COMMON: dict[str, Any] = {
    "batch_size": 128,
    "optimizer": "adam",
    "lr_schedule": "cosine",
    "max_grad_norm": 10.0,
    "loss": "optimal_set",
}

#: Per-model settings on top of :data:`COMMON`.
SETTINGS: dict[str, dict[str, Any]] = {"vin": {"lr": 0.003}, "cnn": {"lr": 0.001}, "fcn": {"lr": 0.001}}

#: Default epochs per size: the same for every model at a size (CPU-bound choice, see README.md).
DEFAULT_EPOCHS = {8: 5, 16: 3, 28: 1}

NAMES = {"vin": "VIN", "cnn": "CNN", "fcn": "FCN"}


@dataclass
class Table1Config:
    """What :func:`table1` trains and evaluates."""

    sizes: list[int] = field(default_factory=lambda: [8, 16, 28])
    """Map sizes (registered ``VINGrid-NxN-v0`` envs)."""
    models: list[str] = field(default_factory=lambda: ["vin", "cnn", "fcn"])
    """Policies: ``vin``, ``cnn``, ``fcn``."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Training seeds (torch, batch order and the first training map)."""
    epochs: dict[int, int] = field(default_factory=lambda: dict(DEFAULT_EPOCHS))
    """BC epochs per size, the same for every model."""
    n_maps: int = 5000
    """Training maps per run (the paper's 5,000)."""
    trajectories_per_map: int = 7
    """Expert trajectories per map (the paper's 7)."""
    episodes: int = 1000
    """Held-out test maps (env seeds from 10^9), the same for every run."""
    runs_dir: str = "runs/table1"
    """Where each run trains and leaves its ``result.json``."""
    threads: int = 2
    """Torch CPU threads."""
    device: str = "cpu"
    """Torch device for training (``cpu``, ``cuda``, ``auto``)."""

    def __post_init__(self) -> None:
        from agents.config import check_device, check_positive, check_types
        from gridworld_env import env_size

        check_types(self)
        for size in self.sizes:
            env_size(f"VINGrid-{size}x{size}-v0")  # ValueError for an unregistered size
            if self.epochs.get(size, 1) < 1:
                raise ValueError(f"epochs for size {size} must be >= 1, got {self.epochs[size]}")
        bad = [m for m in self.models if m not in SETTINGS]
        if bad:
            raise ValueError(f"unknown models {bad}: choose from {sorted(SETTINGS)}")
        check_positive(self, ("n_maps", "trajectories_per_map", "episodes", "threads"))
        if not self.seeds or min(self.seeds) < 0:
            raise ValueError(f"seeds must be non-negative and at least one, got {self.seeds}")
        check_device(self.device)

    def epochs_for(self, size: int) -> int:
        return self.epochs.get(size, DEFAULT_EPOCHS.get(size, 3))


def bc_config(cfg: Table1Config, size: int, model: str, seed: int) -> Any:
    """The :class:`agents.bc.BCConfig` of one run."""
    from agents.bc import BCConfig

    return BCConfig(
        env_id=f"VINGrid-{size}x{size}-v0",
        policy=model,
        n_maps=cfg.n_maps,
        trajectories_per_map=cfg.trajectories_per_map,
        epochs=cfg.epochs_for(size),
        seed=seed,
        threads=cfg.threads,
        device=cfg.device,
        **COMMON,
        **SETTINGS[model],
    )


def run_dir(cfg: Table1Config, size: int, model: str, seed: int) -> str:
    """The run folder of one (size, model, seed)."""
    return seed_run_dir(cfg.runs_dir, size, model, seed)


def _settings(cfg: Table1Config, size: int, model: str, seed: int) -> dict[str, Any]:
    return run_settings(bc_config(cfg, size, model, seed), episodes=cfg.episodes)


def is_cached(cfg: Table1Config, size: int, model: str, seed: int) -> bool:
    """Whether the run left a ``result.json`` with its settings (nothing to train)."""
    wanted = _settings(cfg, size, model, seed)
    path = os.path.join(run_dir(cfg, size, model, seed), "result.json")
    return cached_result(path, lambda stored: stored == wanted, lambda _m: None) is not None


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run as a sweep trial (:func:`agents.sweep.runner.run_tasks`): ``job`` holds the config and the run."""
    values = dict(job["cfg"])
    values["epochs"] = {int(k): v for k, v in values["epochs"].items()}
    return run_one(Table1Config(**values), job["size"], job["model"], job["seed"])


def run_on_ray(cfg: Table1Config, runner: Any, log: Any = print) -> None:
    """Train every run without a result as a Ray Tune trial (:func:`eval.results.train_on_ray`)."""
    cfg = dataclasses.replace(cfg, runs_dir=os.path.abspath(cfg.runs_dir))
    todo = [(s, m, seed) for s in cfg.sizes for seed in cfg.seeds for m in cfg.models if not is_cached(cfg, s, m, seed)]
    jobs = [{"cfg": asdict(cfg), "size": s, "model": m, "seed": seed} for s, m, seed in todo]
    paths = [os.path.join(run_dir(cfg, *run), "result.json") for run in todo]
    train_on_ray("eval.table1:run_job", jobs, paths, "table1", cfg.runs_dir, cfg.threads, cfg.device, runner, log)


def run_one(
    cfg: Table1Config, size: int, model: str, seed: int, log: Any = print, progress: bool = False
) -> dict[str, Any]:
    """Train one (size, model, seed) by BC and evaluate it, or reuse its ``result.json``.

    :param progress: progress bars for the training (per batch) and the evaluation.
    """
    from agents.bc import train_bc
    from agents.evaluation import evaluate_policy_on_maps

    bc = bc_config(cfg, size, model, seed)
    folder = run_dir(cfg, size, model, seed)
    result_path = os.path.join(folder, "result.json")
    settings = _settings(cfg, size, model, seed)
    cached = cached_result(result_path, lambda stored: stored == settings, log)
    if cached is not None:
        return cached
    resume = os.path.exists(os.path.join(folder, "checkpoint.pt"))
    t0 = time.perf_counter()
    model_obj, history = train_bc(bc, folder, resume=resume, progress=progress)
    minutes = (time.perf_counter() - t0) / 60
    test = evaluate_policy_on_maps(model_obj.policy, size, cfg.episodes, progress=progress)
    done = {
        "settings": settings,
        "test": test.as_dict(),
        "history": history,
        "train_minutes": minutes,
        "resumed": resume,
    }
    save_result(result_path, done)
    log(
        f"{size}x{size} {model} seed {seed}: success {100 * test.success_rate:.1f} %, prediction error "
        f"{1 - test.action_accuracy:.4f}, {minutes:.1f} min"
    )
    return done


def summarise(results: dict[tuple[int, str], list[dict[str, Any]]]) -> dict[tuple[int, str], dict[str, Any]]:
    """Per (size, model): mean and spread of success (%), prediction error and extra moves."""
    out = {}
    for key, runs in results.items():
        if not runs:
            continue
        success = [100 * r["test"]["success_rate"] for r in runs]
        error = [1 - r["test"]["action_accuracy"] for r in runs]
        extra = [r["test"]["extra_moves"] for r in runs]
        epochs = len(runs[0]["history"])
        curve = [mean_spread([100 * r["history"][e]["val_success_rate"] for r in runs])[0] for e in range(epochs)]
        out[key] = {
            "seeds": [r["settings"]["seed"] for r in runs],
            "success": mean_spread(success),
            "error": mean_spread(error),
            "extra": mean_spread(extra),
            "curve": curve,
            "minutes": sum(r["train_minutes"] for r in runs) / len(runs),
            "epochs": epochs,
        }
    return out


def render(summary: dict[tuple[int, str], dict[str, Any]], cfg: Table1Config, command: str) -> str:
    """The markdown page of :func:`table1`."""
    sizes = sorted({s for s, _ in summary})
    lrs = ", ".join(f"{NAMES[m]} {SETTINGS[m]['lr']}" for m in SETTINGS)
    lines = [
        "# Table 1: VIN against reactive networks (behaviour cloning)\n",
        f"Command: `{command}`\n",
        f"Data: the paper's budget, {cfg.n_maps} training maps (env seeds from the run's seed) with "
        f"{cfg.trajectories_per_map} BFS-expert trajectories each. Settings of every run: "
        f"`{json.dumps(COMMON)}`, learning rate {lrs}; "
        f"epochs per size "
        + ", ".join(f"{s}x{s}: {summary[next(k for k in summary if k[0] == s)]['epochs']}" for s in sizes)
        + " (the same for every model at a size). "
        f"Test: the same {cfg.episodes} held-out maps (env seeds from 10^9) for every run, paper protocol. "
        "Figures are mean ± sample standard deviation over the training seeds listed; the paper's "
        "figures (Tamar et al. 2016, Table 1) are in brackets.\n",
        "| size | model | seeds | success % (paper) | prediction error (paper) | extra moves | train min / run |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for model in SETTINGS:
            s = summary.get((size, model))
            if s is None:
                continue
            paper = PAPER.get(model, {}).get(size)
            ps = f" ({paper[0]:.1f})" if paper else ""
            pe = f" ({paper[1]:.3f})" if paper else ""
            lines.append(
                f"| {size}x{size} | {NAMES[model]} | {','.join(map(str, s['seeds']))} | "
                f"{s['success'][0]:.1f} ± {s['success'][1]:.1f}{ps} | "
                f"{s['error'][0]:.4f} ± {s['error'][1]:.4f}{pe} | "
                f"{s['extra'][0]:.3f} ± {s['extra'][1]:.3f} | {s['minutes']:.1f} |"
            )
    lines += [
        "",
        "## VIN's lead in success rate (points, means over seeds)\n",
        "| size | VIN - CNN | VIN - FCN |",
        "|---|---|---|",
    ]
    for size in sizes:
        vin = summary.get((size, "vin"))
        if vin is None:
            continue
        gaps = [
            f"{vin['success'][0] - summary[(size, m)]['success'][0]:+.1f}" if (size, m) in summary else "n/a"
            for m in ("cnn", "fcn")
        ]
        lines.append(f"| {size}x{size} | {gaps[0]} | {gaps[1]} |")
    lines += [
        "",
        "## Validation success after each epoch (200 validation maps, mean over seeds, %)\n",
        "| size | model | per epoch |",
        "|---|---|---|",
    ]
    for size in sizes:
        for model in SETTINGS:
            s = summary.get((size, model))
            if s is not None:
                lines.append(f"| {size}x{size} | {NAMES[model]} | {' / '.join(f'{c:.1f}' for c in s['curve'])} |")
    return "\n".join(lines) + "\n"


def table1(
    cfg: Table1Config,
    out: str,
    command: str,
    log: Any = print,
    progress: bool = False,
    overwrite: bool = False,
    runner: Any = None,
) -> str:
    """Train and evaluate every (size, model, seed) of ``cfg``, then write the table to ``out``.

    :param overwrite: replace a table at ``out`` even if it holds rows this one lacks.
    :param runner: :class:`agents.sweep.runner.RunnerOptions`: train the runs as Ray Tune trials
        (local cores or a cluster); ``None``: one after another in this process.
    :raises ValueError: ``out`` holds rows this table would drop (checked before any training).
    """
    planned = [(f"{s}x{s}", NAMES[m]) for s in cfg.sizes for m in cfg.models]
    check_not_dropping(out, planned, overwrite, "python -m eval.table1 (finished runs are reused)")
    if runner is not None:
        run_on_ray(cfg, runner, log)
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for size in cfg.sizes:
        for seed in cfg.seeds:
            for model in cfg.models:
                results.setdefault((size, model), []).append(run_one(cfg, size, model, seed, log, progress))
    text = render(summarise(results), cfg, command)
    with atomic_path(out) as tmp, open(tmp, "w") as f:
        f.write(text)
    return text


def parse_args(argv: Sequence[str] | None) -> tuple[Table1Config, str, str, bool, bool, RunnerOptions | None]:
    parser = argparse.ArgumentParser(
        prog="python -m eval.table1", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="map sizes (default: 8 16 28; --quick: 8)")
    parser.add_argument("--models", nargs="+", choices=sorted(SETTINGS), help="models (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: 0 1 2; --quick: 0)")
    parser.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        help=f"epochs, one for all sizes or one per size (default: {DEFAULT_EPOCHS}; --quick: 3)",
    )
    parser.add_argument("--maps", type=int, help="training maps (default: 5000; --quick: 1000)")
    parser.add_argument("--episodes", type=int, help="held-out test maps (default: 1000; --quick: 200)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    parser.add_argument("--runs", help="run folder (default: runs/table1, --quick: runs/table1_quick)")
    parser.add_argument("--out", help="markdown output (default: results/table1.md, --quick: runs/table1_quick.md)")
    parser.add_argument("--quick", action="store_true", help="a CI-scale run (35 s here; 18 s with --serial)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out table even if it has more rows")
    add_runner_arguments(parser)
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = args.sizes or ([8] if quick else [8, 16, 28])
    if args.epochs is None:
        epochs = {s: 3 if quick else DEFAULT_EPOCHS.get(s, 3) for s in sizes}
    elif len(args.epochs) == 1:
        epochs = {s: args.epochs[0] for s in sizes}
    elif len(args.epochs) == len(sizes):
        epochs = dict(zip(sizes, args.epochs))
    else:
        parser.error(f"--epochs takes one value or one per size ({len(sizes)}), got {len(args.epochs)}")
    try:
        cfg = Table1Config(
            sizes=sizes,
            models=args.models or ["vin", "cnn", "fcn"],
            seeds=args.seeds if args.seeds is not None else ([0] if quick else [0, 1, 2]),
            epochs=epochs,
            n_maps=args.maps if args.maps is not None else (1000 if quick else 5000),
            episodes=args.episodes if args.episodes is not None else (200 if quick else 1000),
            runs_dir=args.runs or ("runs/table1_quick" if quick else "runs/table1"),
            threads=args.threads,
            device=args.device,
        )
    except ValueError as exc:
        parser.error(str(exc))
    out = args.out or ("runs/table1_quick.md" if quick else "results/table1.md")
    command = "python -m eval.table1 " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        runner = runner_options(args, not args.no_progress)
    except ValueError as exc:
        parser.error(str(exc))
    return cfg, out, command.strip(), not args.no_progress, args.overwrite, runner


def main(argv: Sequence[str] | None = None) -> int:
    cfg, out, command, progress, overwrite, runner = parse_args(argv)
    try:
        text = table1(
            cfg, out, command, log=lambda m: print(m, flush=True), progress=progress, overwrite=overwrite, runner=runner
        )
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
