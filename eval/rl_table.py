"""The RL version of the VIN paper's comparison: PPO from reward alone, VIN against the CNN.

    python -m eval.rl_table [--sizes 8 16 28] [--policies vin vinlearned vinscratch cnn] [--seeds 0 1 2] [--seeds-28 0] [--quick]
                            [--address HEAD:6379] [--max-concurrent N] [--serial]

Every run is ``python -m train ppo --env VINGrid-<size>-v0 --policy <policy> --config <file>`` with
the settings file of its row (:data:`ROWS`: ``hyperparams/ppo.yml`` for the VIN given the env's
moves, ``ppo_vinlearned.yml`` for the paper's VIN started at the env's moves, ``ppo_vinscratch.yml``
for it from zero kernels, ``ppo_cnn.yml`` for the CNN's own recipe; the
VIN-only keys do not reach the CNN) and a training seed, from reward alone: no expert, no BC start, no
reward shaping (``ppo_vinscratch.yml`` starts 16x16 and 28x28 from its agent of the size below, itself
learned from reward). Each run is scored on the same held-out test maps (env seeds from 10^9) under the
paper's protocol (goal within twice the optimal moves).

Each (size, policy, seed) trains in ``runs/rl_table/<size>/<policy>/seed<S>/`` and leaves a
``result.json`` there; a later call reuses it, and resumes a training cut short from its
checkpoint, so the table can be built in pieces. ``results/rl_table.md`` gets the mean and the
spread (sample standard deviation) over seeds, and ``results/rl_curves.png`` the validation
success rate (200 validation maps, paper protocol) against env steps. ``--quick``: 8x8, 30,000
env steps, one seed, 200 test maps, written under ``runs/`` (a CI-scale check of the pipeline,
not of learning). ``--only-cached`` builds both from the finished runs alone and names the others.
The runs train as Ray Tune trials (:func:`agents.sweep.runner.run_tasks`): on this machine's cores
by default, on a Ray cluster with ``--address`` (``--threads`` CPUs per run), or one after another
in this process with ``--serial``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eval import experiment as ex
from eval.results import bracketed, grid_rows, mean_spread, pm, table_lines
from gridworld_env.atomic import atomic_path

NAMES = {
    "vin": "VIN",
    "vinlearned": "VIN, learned kernels",
    "vinscratch": "VIN, learned kernels from zero",
    "cnn": "CNN",
    "cnn_shared": "CNN, the VIN's settings",
    "fcn": "FCN",
}
COLOURS = {
    "vin": "tab:blue",
    "vinlearned": "tab:purple",
    "vinscratch": "tab:red",
    "cnn": "tab:orange",
    "cnn_shared": "tab:brown",
    "fcn": "tab:green",
}

#: Each row: the PPO policy, its settings file in ``hyperparams/`` and what the learner is given.
#: The CNN trains on its own recipe (``ppo_cnn.yml``, from the project's Ray search); the row
#: ``cnn_shared`` keeps it on the VIN's settings, to show what the recipe is worth.
ROWS: dict[str, tuple[str, str, str]] = {
    "vin": ("vin", "ppo.yml", "the image and the reward; the env's moves and collision rule built into its planner"),
    "vinlearned": (
        "vin",
        "ppo_vinlearned.yml",
        "the image and the reward; its planner learns its moves and head, started at the env's moves and their greedy head",
    ),
    "vinscratch": (
        "vin",
        "ppo_vinscratch.yml",
        "the image and the reward; its planner learns its moves and head from zero kernels and a random head "
        "(16x16 and 28x28 start from this row's agent of the size below)",
    ),
    "cnn": ("cnn", "ppo_cnn.yml", "the image and the reward"),
    "cnn_shared": ("cnn", "ppo.yml", "the image and the reward"),
    "fcn": ("fcn", "ppo.yml", "the image and the reward"),
}

#: The rows a call trains and tabulates unless ``--policies`` names others.
DEFAULT_ROWS = ["vin", "vinlearned", "vinscratch", "cnn"]

#: The VIN paper's supervised (imitation) success rates per policy, for reference (Tamar et al. 2016, Table 1).
PAPER_SUPERVISED: dict[str, dict[int, float]] = {
    "vin": {8: 99.6, 16: 99.3, 28: 97.0},
    "cnn": {8: 97.9, 16: 87.6, 28: 74.2},
    "fcn": {8: 97.3, 16: 88.3, 28: 76.6},
}


@dataclass
class RLTableConfig(ex.ExperimentConfig):
    """What :func:`rl_table` trains and evaluates."""

    sizes: list[int] = field(default_factory=lambda: [8, 16, 28])
    """Map sizes (registered ``VINGrid-NxN-v0`` envs with a section in the PPO settings)."""
    policies: list[str] = field(default_factory=lambda: list(DEFAULT_ROWS))
    """Rows of :data:`ROWS`: ``vin`` (fixed moves), ``vinlearned`` (the paper's VIN, kernels started
    at the env's moves), ``vinscratch`` (the same, kernels at zero), ``cnn`` (its own recipe),
    ``cnn_shared`` (the VIN's settings), ``fcn``."""
    seeds: dict[int, list[int]] = field(default_factory=lambda: {8: [0, 1, 2], 16: [0, 1, 2], 28: [0]})
    """Training seeds per size."""
    overrides: list[str] = field(default_factory=list)
    """``key=value`` PPO settings applied to every run on top of the YAML (``--quick`` shortens runs)."""
    config_path: str | None = None
    """PPO settings file of every row (default: each row's, :data:`ROWS`)."""
    runs_dir: str = "runs/rl_table"
    """Where each run trains and leaves its ``result.json``."""

    INT_KEYED = ("seeds",)

    def __post_init__(self) -> None:
        from gridworld_env import env_size

        super().__post_init__()
        for size in self.sizes:
            env_size(f"VINGrid-{size}x{size}-v0")  # ValueError for an unregistered size
            ex.check_seeds(self.seeds_for(size), f"seeds for size {size}")
        bad = [p for p in self.policies if p not in ROWS]
        if bad:
            raise ValueError(f"unknown policies {bad}: choose from {sorted(ROWS)}")

    def seeds_for(self, size: int) -> list[int]:
        return self.seeds.get(size, [0])


#: The command that tabulates every finished run (named when a narrower one would drop rows).
FULLER = "python -m eval.rl_table --only-cached"


def ppo_config(cfg: RLTableConfig, size: int, name: str, seed: int) -> Any:
    """The :class:`agents.training.ppo.PPOConfig` of one run: the row's YAML section (or
    ``cfg.config_path``'s), its policy, the seed."""
    from agents.training.config import HYPERPARAMS
    from agents.training.ppo import load_ppo_config

    policy, settings_file, _ = ROWS[name]
    path = cfg.config_path or os.path.join(HYPERPARAMS, settings_file)
    overrides = [*cfg.overrides, f"seed={seed}", f"threads={cfg.threads}", f"device={cfg.device}"]
    return load_ppo_config(f"VINGrid-{size}x{size}-v0", path, {"policy": policy}, overrides)


class RLTable(ex.Experiment, name="rl_table", config=RLTableConfig, names="policies"):
    """Every (size, policy, seed): PPO from reward alone, scored on the held-out maps."""

    fuller = FULLER  # type: ignore[assignment]

    def training_config(self, run: ex.Run) -> Any:
        return ppo_config(self.cfg, *run)

    def matches(self, run: ex.Run) -> Callable[[dict[str, Any]], bool]:
        from agents.training.ppo import effective_settings, with_defaults

        wanted = effective_settings(self.settings(run))
        return lambda stored: effective_settings(with_defaults(stored)) == wanted

    def finished_training(self, run: ex.Run, checkpoint: str) -> bool:
        from agents.training.ppo import load_ppo_checkpoint

        total = self.training_config(run).total_timesteps
        return int(load_ppo_checkpoint(checkpoint)["num_timesteps"]) >= total

    def trial_config(self) -> RLTableConfig:
        absolute = None if self.cfg.config_path is None else os.path.abspath(self.cfg.config_path)
        return dataclasses.replace(self.cfg, runs_dir=os.path.abspath(self.cfg.runs_dir), config_path=absolute)

    def train_and_score(self, run: ex.Run, folder: str, resume: bool, progress: bool) -> dict[str, Any]:
        from agents.evaluation import evaluate_policy_on_maps
        from agents.training.ppo import load_ppo_checkpoint, train_ppo

        model, history = train_ppo(self.training_config(run), folder, resume=resume, progress=progress)
        seconds = load_ppo_checkpoint(os.path.join(folder, "checkpoint.pt"))["extra"].get("train_seconds")
        minutes = None if seconds is None else seconds / 60  # every session of the run, not this call alone
        test = evaluate_policy_on_maps(model.policy, run.size, self.cfg.episodes, progress=progress)
        return {
            "test": test.as_dict(),
            "history": history,
            "train_minutes": minutes,
            "timesteps": int(model.num_timesteps),
        }

    def describe(self, run: ex.Run, done: dict[str, Any]) -> str:
        minutes = done["train_minutes"]
        return f"success {100 * done['test']['success_rate']:.1f} %, {done['timesteps']:,} env steps, " + (
            "training time not recorded" if minutes is None else f"{minutes:.1f} min of training"
        )

    def table_key(self, size: int, name: str) -> tuple[str, str]:
        return f"{size}x{size}", NAMES[name]


def summarise(results: dict[tuple[int, str], list[dict[str, Any]]]) -> dict[tuple[int, str], dict[str, Any]]:
    """Per (size, policy): mean and spread of success (%) and extra moves; the mean curve."""
    out = {}
    for key, runs in results.items():
        if not runs:
            continue
        steps = [h["timesteps"] for h in runs[0]["history"]]
        n = min(len(r["history"]) for r in runs)
        curves = [[100 * h["paper_success_rate"] for h in r["history"][:n]] for r in runs]
        out[key] = {
            "seeds": [r["settings"]["seed"] for r in runs],
            "success": mean_spread([100 * r["test"]["success_rate"] for r in runs]),
            "extra": mean_spread([r["test"]["extra_moves"] for r in runs]),
            "accuracy": mean_spread([100 * r["test"]["action_accuracy"] for r in runs]),
            "steps": steps[:n],
            "curve_mean": [mean_spread([c[i] for c in curves])[0] for i in range(n)],
            "curve_min": [min(c[i] for c in curves) for i in range(n)],
            "curve_max": [max(c[i] for c in curves) for i in range(n)],
            "timesteps": runs[0]["timesteps"],
            "minutes": [r["train_minutes"] for r in runs],
            "update": update_figures([r["history"][:n] for r in runs]),
        }
    return out


def update_figures(histories: list[list[dict[str, Any]]]) -> dict[str, list[float]]:
    """Per PPO update figure (:data:`agents.training.ppo.UPDATE_FIGURES`): its mean over the runs
    at each evaluation, where every run recorded it (runs trained before they were kept have none)."""
    from agents.training.ppo import UPDATE_FIGURES

    out = {}
    for key in UPDATE_FIGURES:
        points = [[h.get(key) for h in history] for history in histories]
        out[key] = [float(np.mean(p)) if None not in p else math.nan for p in zip(*points)]
    return out


def minutes_cell(minutes: Sequence[float | None]) -> str:
    """Mean training minutes of the runs that recorded them, and how many did not."""
    known = [m for m in minutes if m is not None]
    cell = f"{sum(known) / len(known):.1f}" if known else "n/a"
    return cell + (f" ({len(minutes) - len(known)} not recorded)" if len(known) < len(minutes) else "")


#: The update figures the page shows for each row (its last evaluation's).
UPDATE_COLUMNS = ("value_loss", "explained_variance", "entropy_loss", "approx_kl")


def render(
    summary: dict[tuple[int, str], dict[str, Any]],
    command: str,
    episodes: int,
    curves: str,
    missing: Sequence[str] = (),
) -> str:
    """The markdown page of :func:`rl_table` (``missing``: the runs left out, named)."""
    sizes = sorted({s for s, _ in summary})
    policies = [p for p in NAMES if any((s, p) in summary for s in sizes)]
    files = ", ".join(f"{NAMES[p]}: `hyperparams/{ROWS[p][1]}`" for p in policies)
    lines = [
        "# PPO from reward: VIN against the CNN\n",
        f"Command: `{command}`\n",
        "Every run: `python -m train ppo --env VINGrid-<size>-v0 --policy <policy> --config <file>` with the "
        f"size's section of its row's settings file ({files}; the VIN-only keys do not reach the CNN) "
        "and the seed listed, from the env's reward and observations only (no expert, no BC start), "
        "with the start-distance curriculum, no action masks. "
        f"Test: the same {episodes} held-out maps (env seeds from 10^9) for every run, paper protocol "
        "(goal within twice the optimal moves). Figures are mean ± sample standard deviation over "
        "the seeds; the paper's supervised (imitation) figures are in brackets for reference. "
        f"Learning curves: `{curves}`.\n",
        *(
            [f"**Not in this table (no finished run; `--only-cached` left them out):** {', '.join(missing)}.\n"]
            if missing
            else []
        ),
    ]

    def row(size: int, policy: str, s: dict[str, Any]) -> list[str]:
        extra = "n/a" if math.isnan(s["extra"][0]) else pm(s["extra"], 3)
        cells = [f"{size}x{size}", NAMES[policy], ROWS[policy][2], ",".join(map(str, s["seeds"]))]
        cells += [pm(s["success"]) + bracketed(PAPER_SUPERVISED.get(ROWS[policy][0], {}).get(size)), pm(s["accuracy"])]
        return cells + [extra, f"{s['timesteps']:,}", minutes_cell(s["minutes"])]

    header = ["size", "policy", "given to the learner", "seeds", "success % (paper, supervised)"]
    header += ["action accuracy %", "extra moves"]
    lines += table_lines([*header, "env steps / run", "train min / run"], grid_rows(summary, sizes, policies, row))
    lines += ["", "## Validation success during training (200 validation maps, paper protocol, mean over seeds, %)\n"]

    def points(size: int, policy: str, s: dict[str, Any]) -> list[str]:
        curve = " / ".join(f"{t // 1000}k: {c:.1f}" for t, c in zip(s["steps"], s["curve_mean"]))
        return [f"{size}x{size}", NAMES[policy], curve]

    lines += table_lines(["size", "policy", "env steps: success"], grid_rows(summary, sizes, policies, points))
    lines += [
        "",
        "## What the updates did: the last update before the last evaluation (mean over seeds)\n",
        "Explained variance: the share of the returns' variance the value head predicts (1: all; 0 or "
        "below: none; noisy once the returns hardly vary, as at the end of a run that solves its maps). "
        "Entropy loss: minus the policy's entropy (ln 8 = 2.08 for a uniform choice of 8 moves).\n",
    ]

    def last_update(size: int, policy: str, s: dict[str, Any]) -> list[str]:
        cells = [s["update"][k][-1] if s["update"][k] else math.nan for k in UPDATE_COLUMNS]
        return [f"{size}x{size}", NAMES[policy], *("-" if math.isnan(c) else f"{c:.3g}" for c in cells)]

    columns = [c.replace("_", " ").replace("approx kl", "approx. KL") for c in UPDATE_COLUMNS]
    lines += table_lines(["size", "policy", *columns], grid_rows(summary, sizes, policies, last_update))
    return "\n".join(lines) + "\n"


def plot_curves(summary: dict[tuple[int, str], dict[str, Any]], png: str) -> None:
    """Validation success against env steps, one panel per size, mean over seeds and its range;
    below, the value head's explained variance (mean over seeds; absent for runs without it)."""
    from eval.plots import _pyplot

    plt = _pyplot()
    sizes = sorted({s for s, _ in summary})
    fig, axes = plt.subplots(2, len(sizes), figsize=(4.2 * len(sizes), 6.6), squeeze=False, sharex="col")
    for ax, size in zip(axes[1], sizes):
        for policy in NAMES:
            s = summary.get((size, policy))
            if s is not None:
                steps = [t / 1e6 for t in s["steps"]]
                ev = s["update"]["explained_variance"]
                ax.plot(steps, ev, color=COLOURS[policy], marker=".", label=NAMES[policy])
        ax.set_xlabel("env steps (millions)")
        ax.set_ylim(-0.5, 1.02)
        ax.grid(alpha=0.3)
    axes[1][0].set_ylabel("explained variance of the value head")
    for ax, size in zip(axes[0], sizes):
        for policy in NAMES:
            s = summary.get((size, policy))
            if s is None:
                continue
            steps = [t / 1e6 for t in s["steps"]]
            label = f"{NAMES[policy]} ({len(s['seeds'])} seed{'s' if len(s['seeds']) > 1 else ''})"
            ax.plot(steps, s["curve_mean"], color=COLOURS[policy], label=label)
            if len(s["seeds"]) > 1:
                ax.fill_between(steps, s["curve_min"], s["curve_max"], color=COLOURS[policy], alpha=0.2)
        ax.set_title(f"{size}x{size}")
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
        ax.legend(loc="center right")
    axes[0][0].set_ylabel("validation success % (paper protocol)")
    fig.suptitle("PPO from reward\n(line: mean over seeds; band: min to max)", fontsize=10)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def rl_table(cfg: RLTableConfig, page: ex.Page, curves: str, only_cached: bool = False) -> str:
    """Train and evaluate every (size, policy, seed) of ``cfg``; write the table and the curves.

    :param only_cached: build them from the finished runs alone and name the others.
    :raises ValueError: ``page.out`` holds rows this table would drop, unless ``page.overwrite``
        (checked before any training).
    """
    experiment = RLTable(cfg)
    experiment.check_page(page.out, page.overwrite)
    results, missing = experiment.collect(page.log, page.progress, only_cached, page.runner)
    if not results:
        raise ValueError("no finished run to tabulate: run without --only-cached first")
    experiment.check_page(page.out, page.overwrite, list(results))
    summary = summarise(results)
    left_out = [f"{r.size}x{r.size} {NAMES[r.name]} seed {r.seed}" for r in missing]
    text = render(summary, page.command, cfg.episodes, curves, left_out)
    ex.write_page(page.out, text)
    plot_curves(summary, curves)
    return text


def parse_args(argv: Sequence[str] | None) -> tuple[RLTableConfig, ex.Page, str, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m eval.rl_table", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="map sizes (default: 8 16 28; --quick: 8)")
    parser.add_argument("--policies", nargs="+", choices=sorted(ROWS), help=f"rows (default: {' '.join(DEFAULT_ROWS)})")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds below 28x28 (default: 0 1 2)")
    parser.add_argument("--seeds-28", type=int, nargs="+", help="training seeds at 28x28 (default: 0)")
    parser.add_argument("--episodes", type=int, help="held-out test maps (default: 1000; --quick: 200)")
    parser.add_argument("--config", help="PPO settings file of every row (default: each row's)")
    parser.add_argument("--curves", help="curves (default: results/rl_curves.png, --quick: runs/rl_curves_quick.png)")
    parser.add_argument(
        "--only-cached", action="store_true", help="tabulate the finished runs only and name the missing ones"
    )
    parser.add_argument("overrides", nargs="*", help="key=value PPO settings for every run")
    ex.add_common_arguments(parser, quick="8x8, 30,000 env steps, one seed: a pipeline check")
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = args.sizes or ([8] if quick else [8, 16, 28])
    low = args.seeds if args.seeds is not None else [0] if quick else [0, 1, 2]
    seeds = {s: (args.seeds_28 if args.seeds_28 is not None else [0]) if s == 28 else low for s in sizes}
    overrides = (["total_timesteps=30000", "eval_freq=10000"] if quick else []) + list(args.overrides)
    try:
        cfg = RLTableConfig(
            sizes=sizes,
            policies=args.policies or list(DEFAULT_ROWS),
            seeds=seeds,
            overrides=overrides,
            config_path=args.config,
            episodes=args.episodes if args.episodes is not None else (200 if quick else 1000),
            runs_dir=args.runs or ("runs/rl_table_quick" if quick else "runs/rl_table"),
            threads=args.threads,
            device=args.device,
        )
        for size in cfg.sizes:  # every setting checked before any training
            for policy in cfg.policies:
                ppo_config(cfg, size, policy, 0)
        out = args.out or ("runs/rl_table_quick.md" if quick else "results/rl_table.md")
        page = ex.page_of(args, out, "python -m eval.rl_table", argv)
    except (ValueError, TypeError, OSError) as exc:
        parser.error(str(exc))
    curves = args.curves or ("runs/rl_curves_quick.png" if quick else "results/rl_curves.png")
    return cfg, page, curves, args.only_cached


def main(argv: Sequence[str] | None = None) -> int:
    cfg, page, curves, only_cached = parse_args(argv)
    return ex.run_main(lambda: rl_table(cfg, page, curves, only_cached))


if __name__ == "__main__":
    sys.exit(main())
