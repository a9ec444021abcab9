"""Learned planners on the maze family, in GPPN's table format (issue 15). Writes
``results/mazes.md`` and ``results/mazes.png``.

    python -m eval.mazes [--sizes 15 28] [--planners vin gppn] [--seeds 0 1 2] [--epochs 80 8]
                         [--maps 1000] [--episodes 1000] [--long-episodes 200] [--extra NAME=PATH ...]
                         [--runs runs/mazes] [--out results/mazes.md] [--overwrite] [--no-progress]
                         [--address HEAD:6379] [--max-concurrent N] [--serial]

Every (size, planner, seed) is cloned from the BFS expert on ``VINGridMaze-<size>`` with the same
budget (:data:`COMMON`, :data:`SIZE_SETTINGS`: the same training mazes, labels, optimiser and
epochs for both planners at a size; :data:`PLANNER_SETTINGS` holds what differs, the
architecture), in ``runs/mazes/<size>/<planner>/seed<S>/``, and leaves a ``result.json`` there;
a later call reuses it (and resumes a training cut short), so the page can be built in pieces.
The runs train as Ray Tune trials on this machine's cores (or a cluster with ``--address``), or
one after another with ``--serial``, as :mod:`eval.table1`'s do.

Each run is scored on the same held-out mazes of its size (env seeds from 10^9):

* GPPN's %Opt and %Suc: its policy followed from *every* free cell
  (:func:`agents.evaluation.evaluate_all_cells`), the figures of GPPN's table;
* success under the VIN paper's protocol (from the env's start, within twice the shortest path),
  and the path ratio of the successful episodes;
* success against shortest-path length on ``--long-episodes`` 64x64 perfect mazes, the network
  rebuilt for 64x64 (:func:`agents.policies.resize_policy`) with its trained K.

``--extra NAME=PATH`` adds an SB3 zip that is not trained here (the shipped fixed-move VIN),
scored the same way at every size. The page gives mean ± sample standard deviation over seeds,
GPPN's repository figures for its 8-connected (``moore``) mazes beside ours.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

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

#: Shortest-path buckets (moves) on 64x64 perfect mazes: [lo, hi).
BUCKETS = ((1, 50), (50, 100), (100, 200), (200, 400), (400, 800))

#: BC settings of every run (fields of :class:`agents.bc.BCConfig`): every free cell of each
#: training maze labelled (GPPN trains on every cell too), the tie-aware loss, Adam with cosine decay.
COMMON: dict[str, Any] = {
    "trajectories_per_map": None,
    "loss": "optimal_set",
    "optimizer": "adam",
    "lr": 0.003,
    "lr_schedule": "cosine",
    "max_grad_norm": 10.0,
    "kernel_size": 5,
}

#: Per maze size, the same for both planners: epochs, batch (labelled cells, about four mazes)
#: and K (GPPN's K for 8-connected mazes: 30 at 15x15, 56 at 28x28).
SIZE_SETTINGS: dict[int, dict[str, int]] = {
    15: {"epochs": 80, "batch_size": 400, "k": 30},
    28: {"epochs": 8, "batch_size": 1600, "k": 56},
}

#: What differs between the planners: the VIN keeps the paper's 150 reward channels and 10 Q
#: channels; the GPPN gets 32 LSTM channels (GPPN's 150 cost 20x the time on this CPU).
PLANNER_SETTINGS: dict[str, dict[str, Any]] = {"vin": {}, "gppn": {"ch_h": 32}}

NAMES = {"vin": "VIN", "gppn": "GPPN"}

#: GPPN's repository reproduction table (Lee et al. 2018), 8-connected ``moore`` mazes with 25k
#: training mazes: (K, F, %Opt, %Suc) per (maze size, planner).
GPPN_REPORTED: dict[tuple[int, str], tuple[int, int, float, float]] = {
    (15, "vin"): (30, 5, 85.4, 88.1),
    (15, "gppn"): (30, 9, 98.9, 99.5),
    (28, "vin"): (56, 5, 73.3, 81.0),
    (28, "gppn"): (56, 9, 96.5, 97.9),
}


@dataclass
class MazesConfig:
    """What :func:`maze_report` trains and scores."""

    sizes: list[int] = field(default_factory=lambda: [15, 28])
    """Maze sizes with a BC recipe (:data:`SIZE_SETTINGS`)."""
    planners: list[str] = field(default_factory=lambda: ["vin", "gppn"])
    """Planners: ``vin``, ``gppn``."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Training seeds (torch, batch order and the first training maze)."""
    epochs: dict[int, int] = field(default_factory=dict)
    """BC epochs per size in place of :data:`SIZE_SETTINGS`' (the same for every planner)."""
    n_maps: int = 1000
    """Training mazes per run."""
    episodes: int = 1000
    """Held-out test mazes per size, the same for every run."""
    long_episodes: int = 200
    """Held-out 64x64 perfect mazes for success against path length."""
    extra: dict[str, str] = field(default_factory=dict)
    """NAME -> SB3 zip of a planner not trained here, scored at every size."""
    runs_dir: str = "runs/mazes"
    """Where each run trains and leaves its ``result.json``."""
    threads: int = 1
    """Torch CPU threads per run."""
    device: str = "cpu"
    """Torch device for training (``cpu``, ``cuda``, ``auto``)."""

    def __post_init__(self) -> None:
        from agents.config import check_device, check_positive, check_types

        check_types(self)
        bad_sizes = [s for s in self.sizes if s not in SIZE_SETTINGS]
        if bad_sizes or not self.sizes:
            raise ValueError(f"sizes {bad_sizes or self.sizes}: a BC recipe exists for {sorted(SIZE_SETTINGS)}")
        bad = [p for p in self.planners if p not in PLANNER_SETTINGS]
        if bad or not self.planners:
            raise ValueError(f"planners {bad or self.planners}: choose from {sorted(PLANNER_SETTINGS)}")
        for size, n in self.epochs.items():
            if n < 1:
                raise ValueError(f"epochs for size {size} must be >= 1, got {n}")
        check_positive(self, ("n_maps", "episodes", "long_episodes", "threads"))
        if not self.seeds or min(self.seeds) < 0:
            raise ValueError(f"seeds must be non-negative and at least one, got {self.seeds}")
        for name, path in self.extra.items():
            if not os.path.exists(path):
                raise ValueError(f"--extra {name}: no model at {path}")
        check_device(self.device)


def bc_config(cfg: MazesConfig, size: int, planner: str, seed: int) -> Any:
    """The :class:`agents.bc.BCConfig` of one run."""
    from agents.bc import BCConfig

    settings = {**SIZE_SETTINGS[size], **({"epochs": cfg.epochs[size]} if size in cfg.epochs else {})}
    return BCConfig(
        env_id=f"VINGridMaze-{size}x{size}-v0",
        policy=planner,
        n_maps=cfg.n_maps,
        seed=seed,
        threads=cfg.threads,
        device=cfg.device,
        **COMMON,
        **settings,
        **PLANNER_SETTINGS[planner],
    )


def run_dir(cfg: MazesConfig, size: int, planner: str, seed: int) -> str:
    """The run folder of one (size, planner, seed)."""
    return seed_run_dir(cfg.runs_dir, size, planner, seed)


def _settings(cfg: MazesConfig, size: int, planner: str, seed: int) -> dict[str, Any]:
    return run_settings(bc_config(cfg, size, planner, seed), episodes=cfg.episodes, long_episodes=cfg.long_episodes)


def _result_path(cfg: MazesConfig, size: int, planner: str, seed: int) -> str:
    return os.path.join(run_dir(cfg, size, planner, seed), "result.json")


def is_cached(cfg: MazesConfig, size: int, planner: str, seed: int) -> bool:
    """Whether the run left a ``result.json`` with its settings (nothing to train)."""
    wanted = _settings(cfg, size, planner, seed)
    return cached_result(_result_path(cfg, size, planner, seed), lambda s: s == wanted, lambda _m: None) is not None


def score(policy: Any, size: int, episodes: int, progress: bool = False) -> dict[str, Any]:
    """A planner's figures on ``episodes`` held-out mazes of ``size``: the protocol's (``test``) and
    GPPN's every-cell ones (``cells``)."""
    from agents.evaluation import evaluate_act_fn, evaluate_all_cells, held_out_episodes, policy_act_fn
    from agents.policies import resize_policy
    from gridworld_env import env_spec

    sized = resize_policy(policy, size)
    ep = held_out_episodes(size, episodes, spec=env_spec(f"VINGridMaze-{size}x{size}-v0"))
    act = policy_act_fn(sized, ep)  # one plan per maze serves both scorings
    test = evaluate_act_fn(act, ep, progress)
    cells = evaluate_all_cells(act, ep)
    return {"test": test.as_dict(), "cells": cells.as_dict()}


def planner_k_f(policy: Any) -> tuple[str, str]:
    """(K, F) of a VIN or GPPN policy as GPPN's table gives them: iterations when acting ("fixed
    point" when value iteration runs until no value changes) and the planning kernel's size."""
    from agents.policies import PlanningExtractor

    extractor = getattr(policy, "features_extractor", None)
    if not isinstance(extractor, PlanningExtractor):
        return "-", "-"
    net = extractor.planner()
    kernel = getattr(net, "gather", None) or net.q_from_value
    k = "fixed point" if net.inference_tol == 0 else str(net.inference_k or net.k)
    return k, str(kernel.kernel_size[0])


def by_path_length(policy: Any, episodes: int, progress: bool = False) -> list[list[Any]]:
    """[bucket, mazes, success] on ``episodes`` held-out 64x64 perfect mazes, bucketed by shortest path."""
    from agents.evaluation import evaluate_act_fn, held_out_episodes, policy_act_fn
    from agents.policies import resize_policy
    from gridworld_env import env_spec
    from gridworld_env.maps import Episodes

    policy = resize_policy(policy, 64)
    ep = held_out_episodes(64, episodes, spec=env_spec("VINGridMaze-64x64-v0"))
    moves = ep.distances[np.arange(episodes), ep.starts[:, 0], ep.starts[:, 1]]
    rows: list[list[Any]] = []
    for lo, hi in BUCKETS:
        idx = np.flatnonzero((moves >= lo) & (moves < hi))
        if idx.size == 0:
            continue
        part = Episodes(ep.obstacles[idx], ep.goals[idx], ep.starts[idx], ep.distances[idx])
        rate = evaluate_act_fn(policy_act_fn(policy, part), part, progress).success_rate
        rows.append([f"{lo}-{hi - 1}", int(idx.size), rate])
    return rows


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run as a sweep trial (:func:`agents.sweep.runner.run_tasks`): ``job`` holds the config and the run."""
    values = dict(job["cfg"])
    values["epochs"] = {int(k): v for k, v in values["epochs"].items()}
    return run_one(MazesConfig(**values), job["size"], job["planner"], job["seed"])


def run_on_ray(cfg: MazesConfig, runner: Any, log: Any = print) -> None:
    """Train every run without a result as a Ray Tune trial (:func:`eval.results.train_on_ray`)."""
    # Trials only train; the extra models are scored in this process.
    cfg = dataclasses.replace(cfg, runs_dir=os.path.abspath(cfg.runs_dir), extra={})
    todo = [
        (s, p, seed) for s in cfg.sizes for p in cfg.planners for seed in cfg.seeds if not is_cached(cfg, s, p, seed)
    ]
    jobs = [{"cfg": asdict(cfg), "size": s, "planner": p, "seed": seed} for s, p, seed in todo]
    paths = [_result_path(cfg, *run) for run in todo]
    train_on_ray("eval.mazes:run_job", jobs, paths, "mazes", cfg.runs_dir, cfg.threads, cfg.device, runner, log)


def run_one(
    cfg: MazesConfig, size: int, planner: str, seed: int, log: Any = print, progress: bool = False
) -> dict[str, Any]:
    """Train one (size, planner, seed) by BC and score it, or reuse its ``result.json``."""
    from agents.bc import train_bc

    folder = run_dir(cfg, size, planner, seed)
    result_path = _result_path(cfg, size, planner, seed)
    settings = _settings(cfg, size, planner, seed)
    cached = cached_result(result_path, lambda stored: stored == settings, log)
    if cached is not None:
        return cached
    resume = os.path.exists(os.path.join(folder, "checkpoint.pt"))
    t0 = time.perf_counter()
    model, history = train_bc(bc_config(cfg, size, planner, seed), folder, resume=resume, progress=progress)
    minutes = (time.perf_counter() - t0) / 60  # of this call: a resumed run's earlier part is not counted
    done = {"settings": settings, **score(model.policy, size, cfg.episodes, progress)}
    done["buckets"] = by_path_length(model.policy, cfg.long_episodes, progress)
    done.update({"history": history, "train_minutes": minutes, "resumed": resume})
    save_result(result_path, done)
    cells = done["cells"]
    log(
        f"{size}x{size} {planner} seed {seed}: %Opt {100 * cells['optimal']:.1f}, %Suc {100 * cells['success']:.1f}, "
        f"success from the start {100 * done['test']['success_rate']:.1f} %"
    )
    return done


def _pm(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    mean, spread = mean_spread([scale * v for v in values])
    return f"{mean:.{digits}f} ± {spread:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def _row(name: str, size: int, k: str, f: str, seeds: str, runs: list[dict[str, Any]], minutes: str) -> list[str]:
    ratios = [r["test"]["path_ratio"] for r in runs if r["test"]["path_ratio"] == r["test"]["path_ratio"]]
    return [
        name,
        f"{size}x{size}",
        k,
        f,
        seeds,
        _pm([r["cells"]["optimal"] for r in runs]),
        _pm([r["cells"]["success"] for r in runs]),
        _pm([r["test"]["success_rate"] for r in runs]),
        _pm(ratios, 1.0, 3) if ratios else "-",
        minutes,
    ]


HEADER = ["planner", "maze", "K", "F", "seeds", "%Opt", "%Suc", "success from the start", "path / optimal", "min / run"]


def mean_buckets(runs: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """Success per 64x64 bucket, averaged over runs (every run scores the same mazes)."""
    first = runs[0]["buckets"]
    return [(b, n, float(np.mean([r["buckets"][i][2] for r in runs]))) for i, (b, n, _) in enumerate(first)]


def render(
    cfg: MazesConfig,
    results: dict[tuple[int, str], list[dict[str, Any]]],
    extras: dict[str, tuple[tuple[str, str], dict[int, dict[str, Any]], list[Any]]],
    command: str,
    png: str,
) -> tuple[str, dict[str, list[tuple[str, int, float]]]]:
    """The markdown page and the 64x64 curves to plot (name -> buckets)."""
    rows: list[list[str]] = []
    curves: dict[str, list[tuple[str, int, float]]] = {}
    for name, (k_f, by_size, buckets) in extras.items():
        for size in cfg.sizes:
            rows.append(_row(name, size, *k_f, "-", [by_size[size]], "-"))
        curves[name] = buckets
    for size in cfg.sizes:
        for planner in cfg.planners:
            runs = results[(size, planner)]
            bc = runs[0]["settings"]
            minutes = [r["train_minutes"] for r in runs if r["train_minutes"] == r["train_minutes"]]
            spent = f"{np.mean(minutes):.1f}" if minutes else "-"
            seeds = ",".join(str(r["settings"]["seed"]) for r in runs)
            rows.append(_row(NAMES[planner], size, str(bc["k"]), str(bc["kernel_size"]), seeds, runs, spent))
            curves[f"{NAMES[planner]}, trained on {size}x{size}"] = mean_buckets(runs)
    budget = ", ".join(
        f"{s}x{s}: {results[(s, cfg.planners[0])][0]['settings']['epochs']} epoch(s), K {SIZE_SETTINGS[s]['k']}, "
        f"batch {SIZE_SETTINGS[s]['batch_size']} cells"
        for s in cfg.sizes
    )
    lines = [
        "# Planners on mazes\n",
        f"Command: `{command}`\n",
        f"BC on the same budget for both planners: {cfg.n_maps} training mazes (env seeds from the run's seed), "
        f"every free cell labelled; {budget}; settings of every run `{COMMON}`; per planner "
        f"`{PLANNER_SETTINGS}`. Test: the same {cfg.episodes} held-out perfect mazes per size "
        "(env seeds from 10^9) for every run. %Opt and %Suc are GPPN's figures: the greedy policy "
        "followed from every free cell (%Suc: it reaches the goal; %Opt: by a shortest path). "
        "Success from the start: the VIN paper's protocol (the env's start, within twice the "
        "shortest path); path / optimal over its successful episodes. Mean ± sample standard "
        "deviation over the seeds listed; min / run: training wall minutes (one thread, two runs at a time). "
        "The shipped agent knows the env's moves and plans to its "
        "fixed point (README, Mazes).\n",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "## GPPN's own figures\n",
        "Lee et al. 2018, the repository's reproduction table: 8-connected (`moore`) mazes, 25k "
        f"training mazes (against our {cfg.n_maps}), 30 epochs, 150 channels; %Opt and %Suc as ours. "
        "Their mazes are not ours: the figures stand beside ours, not against them.\n",
        "| planner | maze | K | F | %Opt | %Suc |",
        "|---|---|---|---|---|---|",
    ]
    for (size, planner), (k, f, opt, suc) in GPPN_REPORTED.items():
        lines.append(f"| {NAMES[planner]} | {size}x{size} | {k} | {f} | {opt:.1f} | {suc:.1f} |")
    first = next(iter(curves.values()))
    lines += [
        "",
        f"## Success from the start against shortest-path length, {cfg.long_episodes} 64x64 perfect mazes\n",
        "Each network rebuilt for 64x64 with its trained K; learned planners averaged over their seeds; "
        "in brackets, the mazes in each bucket.\n",
        "| planner | " + " | ".join(f"{b} ({n})" for b, n, _ in first) + " |",
        "|---|" + "---|" * len(first),
    ]
    for name, part in curves.items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * r:.1f} %" for _, _, r in part) + " |")
    lines += ["", f"![success against path length]({os.path.basename(png)})", ""]
    return "\n".join(lines), curves


def plot(curves: dict[str, list[tuple[str, int, float]]], path: str) -> None:
    from eval.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, rows in curves.items():
        ax.plot([b for b, _, _ in rows], [100 * r for _, _, r in rows], marker="o", label=name)
    ax.set_xlabel("shortest path on a 64x64 perfect maze (moves)")
    ax.set_ylabel("success (%)")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def maze_report(
    cfg: MazesConfig,
    out: str,
    command: str,
    log: Any = print,
    progress: bool = False,
    overwrite: bool = False,
    runner: Any = None,
) -> str:
    """Train and score every (size, planner, seed) of ``cfg`` and the extra models; write ``out``
    and the plot beside it (``.png``).

    :param overwrite: replace a page at ``out`` even if it holds rows this one lacks.
    :param runner: :class:`agents.sweep.runner.RunnerOptions` to train on Ray; ``None``: in this process.
    :raises ValueError: ``out`` holds rows this page would drop (checked before any training).
    """
    from agents.zoo import load_model

    planned = [(n, f"{s}x{s}") for n in cfg.extra for s in cfg.sizes]
    planned += [(NAMES[p], f"{s}x{s}") for s in cfg.sizes for p in cfg.planners]
    check_not_dropping(out, planned, overwrite, "python -m eval.mazes (finished runs are reused)")
    if runner is not None:
        run_on_ray(cfg, runner, log)
    results = {
        (s, p): [run_one(cfg, s, p, seed, log, progress) for seed in cfg.seeds] for s in cfg.sizes for p in cfg.planners
    }
    extras = {}
    for name, path in cfg.extra.items():
        policy = load_model(path).policy
        by_size = {s: score(policy, s, cfg.episodes, progress) for s in cfg.sizes}
        extras[name] = (planner_k_f(policy), by_size, by_path_length(policy, cfg.long_episodes, progress))
    png = os.path.splitext(out)[0] + ".png"
    text, curves = render(cfg, results, extras, command, png)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    plot(curves, png)
    with atomic_path(out) as tmp, open(tmp, "w") as f:
        f.write(text)
    return text


def parse_args(argv: Sequence[str] | None) -> tuple[MazesConfig, str, str, bool, bool, RunnerOptions | None]:
    parser = argparse.ArgumentParser(
        prog="python -m eval.mazes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 28], help="maze sizes (default: 15 28)")
    parser.add_argument("--planners", nargs="+", choices=sorted(PLANNER_SETTINGS), help="planners (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--epochs", type=int, nargs="+", help="epochs, one for all sizes or one per size")
    parser.add_argument("--maps", type=int, default=1000, help="training mazes per run (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=1000, help="test mazes per size (default: %(default)s)")
    parser.add_argument("--long-episodes", type=int, default=200, help="64x64 mazes (default: %(default)s)")
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=PATH of SB3 zips scored, not trained")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    parser.add_argument("--runs", default="runs/mazes", help="run folders (default: %(default)s)")
    parser.add_argument("--out", default="results/mazes.md", help="markdown page (the plot beside it, .png)")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out page even if it has more rows")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_runner_arguments(parser)
    args = parser.parse_args(argv)
    extra = {}
    for item in args.extra:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--extra takes NAME=PATH, got {item!r}")
        extra[name] = path
    if args.epochs is None:
        epochs: dict[int, int] = {}
    elif len(args.epochs) == 1:
        epochs = {s: args.epochs[0] for s in args.sizes}
    elif len(args.epochs) == len(args.sizes):
        epochs = dict(zip(args.sizes, args.epochs))
    else:
        parser.error(f"--epochs takes one value or one per size ({len(args.sizes)}), got {len(args.epochs)}")
    try:
        cfg = MazesConfig(
            sizes=args.sizes,
            planners=args.planners or list(PLANNER_SETTINGS),
            seeds=args.seeds,
            epochs=epochs,
            n_maps=args.maps,
            episodes=args.episodes,
            long_episodes=args.long_episodes,
            extra=extra,
            runs_dir=args.runs,
            threads=args.threads,
            device=args.device,
        )
        runner = runner_options(args, not args.no_progress)
    except ValueError as exc:
        parser.error(str(exc))
    command = "python -m eval.mazes " + shlex.join(argv if argv is not None else sys.argv[1:])
    return cfg, args.out, command.strip(), not args.no_progress, args.overwrite, runner


def main(argv: Sequence[str] | None = None) -> int:
    cfg, out, command, progress, overwrite, runner = parse_args(argv)
    try:
        maze_report(
            cfg, out, command, log=lambda m: print(m, flush=True), progress=progress, overwrite=overwrite, runner=runner
        )
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} and {os.path.splitext(out)[0]}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
