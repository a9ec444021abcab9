"""The RL version of the VIN paper's comparison: PPO from reward alone, VIN against the CNN.

    python -m eval.rl_table [--sizes 8 16 28] [--policies vin cnn] [--seeds 0 1 2] [--seeds-28 0] [--quick]
                            [--address HEAD:6379] [--max-concurrent N] [--serial]

Every run is ``python -m train ppo --env VINGrid-<size>-v0 --policy <policy>`` with the settings of
``hyperparams/ppo.yml`` (the same settings and env-step budget for both policies at a size; the
VIN-only keys do not reach the CNN) and a training seed, from scratch: no expert, no BC start, no
reward shaping. Each run is scored on the same held-out test maps (env seeds from 10^9) under the
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

NAMES = {"vin": "VIN", "cnn": "CNN", "fcn": "FCN"}
COLOURS = {"vin": "tab:blue", "cnn": "tab:orange", "fcn": "tab:green"}

#: The VIN paper's supervised (imitation) success rates, for reference (Tamar et al. 2016, Table 1).
PAPER_SUPERVISED: dict[str, dict[int, float]] = {
    "vin": {8: 99.6, 16: 99.3, 28: 97.0},
    "cnn": {8: 97.9, 16: 87.6, 28: 74.2},
    "fcn": {8: 97.3, 16: 88.3, 28: 76.6},
}


@dataclass
class RLTableConfig:
    """What :func:`rl_table` trains and evaluates."""

    sizes: list[int] = field(default_factory=lambda: [8, 16, 28])
    """Map sizes (registered ``VINGrid-NxN-v0`` envs with a section in the PPO settings)."""
    policies: list[str] = field(default_factory=lambda: ["vin", "cnn"])
    """PPO policies: ``vin``, ``cnn``, ``fcn``."""
    seeds: dict[int, list[int]] = field(default_factory=lambda: {8: [0, 1, 2], 16: [0, 1, 2], 28: [0]})
    """Training seeds per size."""
    overrides: list[str] = field(default_factory=list)
    """``key=value`` PPO settings applied to every run on top of the YAML (``--quick`` shortens runs)."""
    config_path: str | None = None
    """PPO settings file (default: ``hyperparams/ppo.yml``)."""
    episodes: int = 1000
    """Held-out test maps (env seeds from 10^9), the same for every run."""
    runs_dir: str = "runs/rl_table"
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
            if not self.seeds_for(size) or min(self.seeds_for(size)) < 0:
                raise ValueError(
                    f"seeds for size {size} must be non-negative and at least one, got {self.seeds_for(size)}"
                )
        bad = [p for p in self.policies if p not in NAMES]
        if bad:
            raise ValueError(f"unknown policies {bad}: choose from {sorted(NAMES)}")
        check_positive(self, ("episodes", "threads"))
        check_device(self.device)

    def seeds_for(self, size: int) -> list[int]:
        return self.seeds.get(size, [0])


#: The command that tabulates every finished run (named when a narrower one would drop rows).
FULLER = "python -m eval.rl_table --only-cached"


def ppo_config(cfg: RLTableConfig, size: int, policy: str, seed: int) -> Any:
    """The :class:`agents.ppo.PPOConfig` of one run: the YAML section, the policy, the seed."""
    from agents.config import PPO_CONFIG, load_ppo_config

    overrides = [*cfg.overrides, f"seed={seed}", f"threads={cfg.threads}", f"device={cfg.device}"]
    return load_ppo_config(f"VINGrid-{size}x{size}-v0", cfg.config_path or PPO_CONFIG, {"policy": policy}, overrides)


def _finished(checkpoint: str, total_timesteps: int) -> bool:
    """Whether the PPO checkpoint has trained ``total_timesteps`` (it then needs evaluating only)."""
    from agents.ppo import load_ppo_checkpoint

    return int(load_ppo_checkpoint(checkpoint)["num_timesteps"]) >= total_timesteps


def run_dir(cfg: RLTableConfig, size: int, policy: str, seed: int) -> str:
    """The run folder of one (size, policy, seed)."""
    return seed_run_dir(cfg.runs_dir, size, policy, seed)


def _settings(cfg: RLTableConfig, size: int, policy: str, seed: int) -> dict[str, Any]:
    return run_settings(ppo_config(cfg, size, policy, seed), episodes=cfg.episodes)


def _matches(cfg: RLTableConfig, size: int, policy: str, seed: int) -> Any:
    from agents.ppo import effective_settings, with_defaults

    wanted = effective_settings(_settings(cfg, size, policy, seed))
    return lambda stored: effective_settings(with_defaults(stored)) == wanted


def is_cached(cfg: RLTableConfig, size: int, policy: str, seed: int) -> bool:
    """Whether the run left a ``result.json`` with its settings (nothing to train)."""
    path = os.path.join(run_dir(cfg, size, policy, seed), "result.json")
    return cached_result(path, _matches(cfg, size, policy, seed), lambda _m: None) is not None


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run as a sweep trial (:func:`agents.sweep.runner.run_tasks`): ``job`` holds the config and the run."""
    values = dict(job["cfg"])
    values["seeds"] = {int(k): v for k, v in values["seeds"].items()}
    done = run_one(RLTableConfig(**values), job["size"], job["policy"], job["seed"])
    assert done is not None, "run_one trains when only_cached is off"
    return done


def run_on_ray(cfg: RLTableConfig, runner: Any, log: Any = print) -> None:
    """Train every run without a result as a Ray Tune trial (:func:`eval.results.train_on_ray`)."""
    absolute = None if cfg.config_path is None else os.path.abspath(cfg.config_path)
    cfg = dataclasses.replace(cfg, runs_dir=os.path.abspath(cfg.runs_dir), config_path=absolute)
    runs = [(s, p, seed) for s in cfg.sizes for seed in cfg.seeds_for(s) for p in cfg.policies]
    todo = [run for run in runs if not is_cached(cfg, *run)]
    jobs = [{"cfg": asdict(cfg), "size": s, "policy": p, "seed": seed} for s, p, seed in todo]
    paths = [os.path.join(run_dir(cfg, *run), "result.json") for run in todo]
    train_on_ray("eval.rl_table:run_job", jobs, paths, "rl_table", cfg.runs_dir, cfg.threads, cfg.device, runner, log)


def run_one(
    cfg: RLTableConfig,
    size: int,
    policy: str,
    seed: int,
    log: Any = print,
    progress: bool = False,
    only_cached: bool = False,
) -> dict[str, Any] | None:
    """Train one (size, policy, seed) with PPO and evaluate it, or reuse its ``result.json``.

    :param progress: progress bars for the training and the evaluation.
    :param only_cached: return ``None`` instead of training a run that has no result yet (a run
        that finished training is still evaluated).
    """
    from agents.evaluation import evaluate_policy_on_maps
    from agents.ppo import load_ppo_checkpoint, train_ppo

    ppo = ppo_config(cfg, size, policy, seed)
    folder = run_dir(cfg, size, policy, seed)
    result_path = os.path.join(folder, "result.json")
    settings = _settings(cfg, size, policy, seed)
    cached = cached_result(result_path, _matches(cfg, size, policy, seed), log)
    if cached is not None:
        return cached
    resume = os.path.exists(os.path.join(folder, "checkpoint.pt"))
    if only_cached and not (resume and _finished(os.path.join(folder, "checkpoint.pt"), ppo.total_timesteps)):
        return None
    model, history = train_ppo(ppo, folder, resume=resume, progress=progress)
    seconds = load_ppo_checkpoint(os.path.join(folder, "checkpoint.pt"))["extra"].get("train_seconds")
    minutes = None if seconds is None else seconds / 60  # every session of the run, not this call alone
    test = evaluate_policy_on_maps(model.policy, size, cfg.episodes, progress=progress)
    done = {
        "settings": settings,
        "test": test.as_dict(),
        "history": history,
        "train_minutes": minutes,
        "timesteps": int(model.num_timesteps),
        "resumed": resume,
    }
    save_result(result_path, done)
    log(
        f"{size}x{size} {policy} seed {seed}: success {100 * test.success_rate:.1f} %, "
        f"{model.num_timesteps:,} env steps, "
        + ("training time not recorded" if minutes is None else f"{minutes:.1f} min of training")
    )
    return done


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
        }
    return out


def minutes_cell(minutes: Sequence[float | None]) -> str:
    """Mean training minutes of the runs that recorded them, and how many did not."""
    known = [m for m in minutes if m is not None]
    cell = f"{sum(known) / len(known):.1f}" if known else "n/a"
    return cell + (f" ({len(minutes) - len(known)} not recorded)" if len(known) < len(minutes) else "")


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
    lines = [
        "# PPO from reward: VIN against the CNN\n",
        f"Command: `{command}`\n",
        "Every run: `python -m train ppo --env VINGrid-<size>-v0 --policy <policy>` with the settings of "
        "`hyperparams/ppo.yml` for the size (the same settings and env-step budget for both policies; "
        "the VIN-only keys do not reach the CNN) and the seed listed, from scratch: the env's reward "
        "and observations only, with the start-distance curriculum, no action masks. "
        f"Test: the same {episodes} held-out maps (env seeds from 10^9) for every run, paper protocol "
        "(goal within twice the optimal moves). Figures are mean ± sample standard deviation over "
        "the seeds; the paper's supervised (imitation) figures are in brackets for reference. "
        f"Learning curves: `{curves}`.\n",
        *(
            [f"**Not in this table (no finished run; `--only-cached` left them out):** {', '.join(missing)}.\n"]
            if missing
            else []
        ),
        "| size | policy | seeds | success % (paper, supervised) | action accuracy % | extra moves "
        "| env steps / run | train min / run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for policy in policies:
            s = summary.get((size, policy))
            if s is None:
                continue
            paper = PAPER_SUPERVISED.get(policy, {}).get(size)
            ps = f" ({paper:.1f})" if paper is not None else ""
            extra = "n/a" if math.isnan(s["extra"][0]) else f"{s['extra'][0]:.3f} ± {s['extra'][1]:.3f}"
            lines.append(
                f"| {size}x{size} | {NAMES[policy]} | {','.join(map(str, s['seeds']))} | "
                f"{s['success'][0]:.1f} ± {s['success'][1]:.1f}{ps} | "
                f"{s['accuracy'][0]:.1f} ± {s['accuracy'][1]:.1f} | "
                f"{extra} | {s['timesteps']:,} | {minutes_cell(s['minutes'])} |"
            )
    lines += [
        "",
        "## Validation success during training (200 validation maps, paper protocol, mean over seeds, %)\n",
        "| size | policy | env steps: success |",
        "|---|---|---|",
    ]
    for size in sizes:
        for policy in policies:
            s = summary.get((size, policy))
            if s is not None:
                points = " / ".join(f"{t // 1000}k: {c:.1f}" for t, c in zip(s["steps"], s["curve_mean"]))
                lines.append(f"| {size}x{size} | {NAMES[policy]} | {points} |")
    return "\n".join(lines) + "\n"


def plot_curves(summary: dict[tuple[int, str], dict[str, Any]], png: str) -> None:
    """Validation success against env steps, one panel per size, mean over seeds and its range."""
    from eval.plots import _pyplot

    plt = _pyplot()
    sizes = sorted({s for s, _ in summary})
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.4), squeeze=False)
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
        ax.set_xlabel("env steps (millions)")
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
        ax.legend(loc="center right")
    axes[0][0].set_ylabel("validation success % (paper protocol)")
    fig.suptitle("PPO from reward: VIN against CNN (line: mean over seeds; band: min to max)")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def rl_table(
    cfg: RLTableConfig,
    out: str,
    curves: str,
    command: str,
    log: Any = print,
    progress: bool = False,
    only_cached: bool = False,
    overwrite: bool = False,
    runner: Any = None,
) -> str:
    """Train and evaluate every (size, policy, seed) of ``cfg``; write the table and the curves.

    :param only_cached: build them from the finished runs alone and name the others.
    :param overwrite: replace a table at ``out`` even if it holds rows this one lacks.
    :param runner: :class:`agents.sweep.runner.RunnerOptions`: train the runs as Ray Tune trials
        (local cores or a cluster); ``None``: one after another in this process.
    :raises ValueError: ``out`` holds rows this table would drop (checked before any training).
    """
    planned = [(f"{s}x{s}", NAMES[p]) for s in cfg.sizes for p in cfg.policies]
    check_not_dropping(out, planned, overwrite, FULLER)
    if runner is not None and not only_cached:
        run_on_ray(cfg, runner, log)
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    missing = []
    for size in cfg.sizes:
        for seed in cfg.seeds_for(size):
            for policy in cfg.policies:
                done = run_one(cfg, size, policy, seed, log, progress, only_cached)
                if done is None:
                    missing.append(f"{size}x{size} {NAMES[policy]} seed {seed}")
                else:
                    results.setdefault((size, policy), []).append(done)
    if not results:
        raise ValueError("no finished run to tabulate: run without --only-cached first")
    check_not_dropping(out, [(f"{s}x{s}", NAMES[p]) for s, p in results], overwrite, FULLER)
    summary = summarise(results)
    text = render(summary, command, cfg.episodes, curves, missing)
    with atomic_path(out) as tmp, open(tmp, "w") as f:
        f.write(text)
    plot_curves(summary, curves)
    return text


def parse_args(
    argv: Sequence[str] | None,
) -> tuple[RLTableConfig, str, str, str, bool, bool, bool, RunnerOptions | None]:
    parser = argparse.ArgumentParser(
        prog="python -m eval.rl_table", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="map sizes (default: 8 16 28; --quick: 8)")
    parser.add_argument("--policies", nargs="+", choices=sorted(NAMES), help="policies (default: vin cnn)")
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds below 28x28 (default: 0 1 2)")
    parser.add_argument("--seeds-28", type=int, nargs="+", help="training seeds at 28x28 (default: 0)")
    parser.add_argument("--episodes", type=int, help="held-out test maps (default: 1000; --quick: 200)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    parser.add_argument("--config", help="PPO settings file (default: hyperparams/ppo.yml)")
    parser.add_argument("--runs", help="run folder (default: runs/rl_table, --quick: runs/rl_table_quick)")
    parser.add_argument("--out", help="markdown output (default: results/rl_table.md, --quick: runs/rl_table_quick.md)")
    parser.add_argument("--curves", help="curves (default: results/rl_curves.png, --quick: runs/rl_curves_quick.png)")
    parser.add_argument("--quick", action="store_true", help="8x8, 30,000 env steps, one seed: a pipeline check")
    parser.add_argument(
        "--only-cached", action="store_true", help="tabulate the finished runs only and name the missing ones"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out table even if it has more rows")
    parser.add_argument("overrides", nargs="*", help="key=value PPO settings for every run")
    add_runner_arguments(parser)
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = args.sizes or ([8] if quick else [8, 16, 28])
    low = args.seeds if args.seeds is not None else [0] if quick else [0, 1, 2]
    seeds = {s: (args.seeds_28 if args.seeds_28 is not None else [0]) if s == 28 else low for s in sizes}
    overrides = (["total_timesteps=30000", "eval_freq=10000"] if quick else []) + list(args.overrides)
    try:
        cfg = RLTableConfig(
            sizes=sizes,
            policies=args.policies or ["vin", "cnn"],
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
        runner = runner_options(args, not args.no_progress)
    except (ValueError, TypeError, OSError) as exc:
        parser.error(str(exc))
    out = args.out or ("runs/rl_table_quick.md" if quick else "results/rl_table.md")
    curves = args.curves or ("runs/rl_curves_quick.png" if quick else "results/rl_curves.png")
    command = "python -m eval.rl_table " + " ".join(argv if argv is not None else sys.argv[1:])
    return cfg, out, curves, command.strip(), not args.no_progress, args.only_cached, args.overwrite, runner


def main(argv: Sequence[str] | None = None) -> int:
    cfg, out, curves, command, progress, only_cached, overwrite, runner = parse_args(argv)
    log = lambda m: print(m, flush=True)  # noqa: E731
    try:
        text = rl_table(cfg, out, curves, command, log, progress, only_cached, overwrite, runner)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
