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
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eval import experiment as ex
from eval.results import bracketed, grid_rows, mean_spread, pm, table_lines

#: The paper's Table 1 (Tamar et al. 2016): (success %, prediction loss) per model and size.
PAPER: dict[str, dict[int, tuple[float, float]]] = {
    "vin": {8: (99.6, 0.004), 16: (99.3, 0.05), 28: (97.0, 0.11)},
    "cnn": {8: (97.9, 0.02), 16: (87.6, 0.10), 28: (74.2, 0.13)},
    "fcn": {8: (97.3, 0.01), 16: (88.3, 0.07), 28: (76.6, 0.09)},
}

#: BC settings shared by every model (fields of :class:`agents.training.bc.BCConfig`): the paper's batch
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

#: Default epochs per size: the same for every model at a size (CPU-bound choice, see docs/experiments/table1.md).
DEFAULT_EPOCHS = {8: 5, 16: 3, 28: 1}

NAMES = {"vin": "VIN", "cnn": "CNN", "fcn": "FCN"}


@dataclass
class Table1Config(ex.ExperimentConfig):
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
    runs_dir: str = "runs/table1"
    """Where each run trains and leaves its ``result.json``."""

    INT_KEYED = ("epochs",)
    POSITIVE = ("n_maps", "trajectories_per_map", "episodes", "threads")

    def __post_init__(self) -> None:
        from gridworld_env import env_size

        super().__post_init__()
        for size in self.sizes:
            env_size(f"VINGrid-{size}x{size}-v0")  # ValueError for an unregistered size
            if self.epochs.get(size, 1) < 1:
                raise ValueError(f"epochs for size {size} must be >= 1, got {self.epochs[size]}")
        bad = [m for m in self.models if m not in SETTINGS]
        if bad:
            raise ValueError(f"unknown models {bad}: choose from {sorted(SETTINGS)}")
        ex.check_seeds(self.seeds)

    def epochs_for(self, size: int) -> int:
        return self.epochs.get(size, DEFAULT_EPOCHS.get(size, 3))


def bc_config(cfg: Table1Config, size: int, model: str, seed: int) -> Any:
    """The :class:`agents.training.bc.BCConfig` of one run."""
    settings = {"trajectories_per_map": cfg.trajectories_per_map, "epochs": cfg.epochs_for(size)}
    return ex.bc_run_config(cfg, f"VINGrid-{size}x{size}-v0", model, seed, **settings, **COMMON, **SETTINGS[model])


class Table1(ex.Experiment, name="table1", config=Table1Config, names="models"):
    """Every (size, model, seed): BC on the paper's budget, scored on the held-out maps."""

    def training_config(self, run: ex.Run) -> Any:
        return bc_config(self.cfg, *run)

    def train_and_score(self, run: ex.Run, folder: str, resume: bool, progress: bool) -> dict[str, Any]:
        from agents.evaluation import evaluate_policy_on_maps

        model, history, minutes = ex.train_bc_run(self.training_config(run), folder, resume, progress)
        test = evaluate_policy_on_maps(model.policy, run.size, self.cfg.episodes, progress=progress)
        return {"test": test.as_dict(), "history": history, "train_minutes": minutes}

    def describe(self, run: ex.Run, done: dict[str, Any]) -> str:
        success, accuracy = done["test"]["success_rate"], done["test"]["action_accuracy"]
        return f"success {100 * success:.1f} %, prediction error {1 - accuracy:.4f}, {done['train_minutes']:.1f} min"

    def table_key(self, size: int, name: str) -> tuple[str, str]:
        return f"{size}x{size}", NAMES[name]


def run_one(
    cfg: Table1Config, size: int, model: str, seed: int, log: Any = print, progress: bool = False
) -> dict[str, Any]:
    """Train one (size, model, seed) by BC and evaluate it, or reuse its ``result.json``."""
    done = Table1(cfg).run_one(ex.Run(size, model, seed), log, progress)
    assert done is not None, "run_one trains when only_cached is off"
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
    ]

    def row(size: int, model: str, s: dict[str, Any]) -> list[str]:
        paper = PAPER.get(model, {}).get(size)
        return [
            f"{size}x{size}",
            NAMES[model],
            ",".join(map(str, s["seeds"])),
            pm(s["success"]) + bracketed(paper and paper[0]),
            pm(s["error"], 4) + bracketed(paper and paper[1], 3),
            pm(s["extra"], 3),
            f"{s['minutes']:.1f}",
        ]

    header = ["size", "model", "seeds", "success % (paper)", "prediction error (paper)", "extra moves"]
    lines += table_lines([*header, "train min / run"], grid_rows(summary, sizes, SETTINGS, row))
    gaps = [
        [f"{size}x{size}"]
        + [
            f"{summary[(size, 'vin')]['success'][0] - summary[(size, m)]['success'][0]:+.1f}"
            if (size, m) in summary
            else "n/a"
            for m in ("cnn", "fcn")
        ]
        for size in sizes
        if (size, "vin") in summary
    ]
    lines += ["", "## VIN's lead in success rate (points, means over seeds)\n"]
    lines += table_lines(["size", "VIN - CNN", "VIN - FCN"], gaps)
    lines += ["", "## Validation success after each epoch (200 validation maps, mean over seeds, %)\n"]
    curves = grid_rows(
        summary,
        sizes,
        SETTINGS,
        lambda size, m, s: [f"{size}x{size}", NAMES[m], " / ".join(f"{c:.1f}" for c in s["curve"])],
    )
    lines += table_lines(["size", "model", "per epoch"], curves)
    return "\n".join(lines) + "\n"


def table1(cfg: Table1Config, page: ex.Page) -> str:
    """Train and evaluate every (size, model, seed) of ``cfg``, then write the table to ``page.out``.

    :raises ValueError: ``page.out`` holds rows this table would drop, unless ``page.overwrite``
        (checked before any training).
    """
    experiment = Table1(cfg)
    experiment.check_page(page.out, page.overwrite)
    results, _ = experiment.collect(page.log, page.progress, runner=page.runner)
    text = render(summarise(results), cfg, page.command)
    ex.write_page(page.out, text)
    return text


def parse_args(argv: Sequence[str] | None) -> tuple[Table1Config, ex.Page]:
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
    ex.add_common_arguments(parser, quick="a CI-scale run (35 s here; 18 s with --serial)")
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = args.sizes or ([8] if quick else [8, 16, 28])
    epochs = ex.per_size(parser, args.epochs, sizes) or {s: 3 if quick else DEFAULT_EPOCHS.get(s, 3) for s in sizes}
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
        out = args.out or ("runs/table1_quick.md" if quick else "results/table1.md")
        page = ex.page_of(args, out, "python -m eval.table1", argv)
    except ValueError as exc:
        parser.error(str(exc))
    return cfg, page


def main(argv: Sequence[str] | None = None) -> int:
    cfg, page = parse_args(argv)
    return ex.run_main(lambda: table1(cfg, page))


if __name__ == "__main__":
    sys.exit(main())
