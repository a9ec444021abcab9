"""Learned planners on the maze family, in GPPN's table format. Writes
``results/mazes.md`` and ``results/mazes.png``.

    python -m eval.mazes [--sizes 15 28] [--planners vin gppn] [--seeds 0 1 2] [--epochs E [E]]
                         [--maps N] [--k-min-fraction F] [--episodes 1000] [--long-episodes 200] [--extra NAME=PATH ...]
                         [--runs runs/mazes] [--out results/mazes.md] [--overwrite] [--no-progress]
                         [--address HEAD:6379] [--max-concurrent N] [--serial]

Every (size, planner, seed) is cloned from the BFS expert on ``VINGridMaze-<size>`` (:data:`COMMON`,
:data:`SIZE_SETTINGS`: the same labels, optimiser, batch and K for both planners at a size;
:data:`PLANNER_SETTINGS`, :data:`MAPS` and :data:`EPOCHS` hold what differs, the architecture and
the budget), in ``runs/mazes/<size>/<planner>/seed<S>/``, and leaves a ``result.json``
there; a later call reuses it (and resumes a training cut short), so the page can be built in
pieces. The runs train as Ray Tune trials on this machine's cores (or a cluster with ``--address``), or
one after another with ``--serial``, as :mod:`eval.table1`'s do.

Each run is scored on the same held-out mazes of its size (env seeds from 10^9):

* GPPN's %Opt and %Suc: its policy followed from *every* free cell
  (:func:`agents.evaluation.evaluate_all_cells`), the figures of GPPN's table;
* success under the VIN paper's protocol (from the env's start, within twice the shortest path),
  and the path ratio of the successful episodes;
* success against shortest-path length on ``--long-episodes`` 64x64 perfect mazes, the network
  rebuilt for 64x64 (:func:`agents.policies.extractors.resize_policy`) with its trained K.

``--extra NAME=PATH`` adds an SB3 zip that is not trained here (the shipped fixed-move VIN),
scored the same way at every size. The page gives mean ± sample standard deviation over seeds,
GPPN's repository figures for its 8-connected (``moore``) mazes beside ours.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eval import experiment as ex
from eval.results import mean_spread

#: Past K: each learned planner is also run on the 64x64 mazes with these multiples of its trained K.
PAST_K = (2, 4)

#: Shortest-path buckets (moves) on 64x64 perfect mazes: [lo, hi).
BUCKETS = ((1, 50), (50, 100), (100, 200), (200, 400), (400, 800))

#: BC settings of every run (fields of :class:`agents.training.bc.BCConfig`): every free cell of each
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

#: Per maze size, the same for both planners: batch (labelled cells, about four mazes),
#: K (GPPN's K for 8-connected mazes: 30 at 15x15, 56 at 28x28) and, where it differs from
#: :data:`COMMON`'s, the learning rate (the 28x28 runs fine-tune a 15x15 run; at 0.003 the VIN of
#: seed 1 diverged in its first epoch).
SIZE_SETTINGS: dict[int, dict[str, Any]] = {
    15: {"batch_size": 400, "k": 30},
    28: {"batch_size": 1600, "k": 56, "lr": 0.001},
}

#: Training mazes per (planner, size), written once per count (:func:`maze_dataset`): the VIN
#: reaches its targets on 10,000; the GPPN, at 94 %Suc on 10,000 15x15 mazes with train accuracy
#: 99.4 % against validation 97.7 %, trains on GPPN's own 25,000 there.
MAPS: dict[str, dict[int, int]] = {"vin": {15: 10000, 28: 10000}, "gppn": {15: 25000, 28: 10000}}

#: BC epochs per (planner, size), under a cosine decay to 0. GPPN's own 30 at 15x15: the GPPN on
#: 25,000 mazes held 99.5-100 % validation success from epoch 19 of a 30-epoch run, while a
#: 20-epoch run of the same seed lost its footing at epoch 4 (loss 0.29 up to 0.54, validation
#: success 49.5 down to 17 %) where the 30-epoch run climbed on: at lr 0.003 the GPPN is on the edge.
EPOCHS: dict[str, dict[int, int]] = {"vin": {15: 30, 28: 10}, "gppn": {15: 30, 28: 10}}

#: Size curriculum: a run at the key's size starts from the weights of the run at the value's size
#: (the same planner and seed); a planner's weights fit every size, and a 28x28 maze costs about
#: 6x a 15x15 one per pass for the GPPN.
START_FROM: dict[int, int] = {28: 15}

#: What differs between the planners: the VIN keeps the paper's 150 reward channels and 10 Q
#: channels; the GPPN gets 32 LSTM channels: GPPN's 150 cost 8.2x the time on this CPU (244.6
#: against 29.9 ms per BC pass of 4 15x15 mazes at K 30, one thread: ``python -m bench.maze_bench``,
#: BENCHMARKS.md).
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
class MazesConfig(ex.ExperimentConfig):
    """What :func:`maze_report` trains and scores."""

    sizes: list[int] = field(default_factory=lambda: [15, 28])
    """Maze sizes with a BC recipe (:data:`SIZE_SETTINGS`)."""
    planners: list[str] = field(default_factory=lambda: ["vin", "gppn"])
    """Planners: ``vin``, ``gppn``."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Training seeds (torch's initialisation and the batch order; every seed trains on the same mazes)."""
    epochs: dict[int, int] = field(default_factory=dict)
    """BC epochs per size in place of :data:`EPOCHS`' (the same for every planner)."""
    n_maps: int | None = None
    """Training mazes of every run in place of :data:`MAPS`' (the same for every seed)."""
    k_min_fraction: float | None = None
    """Train each batch with K drawn uniformly from ``[round(k_min_fraction * K), K]`` (the size's
    K; :attr:`agents.training.bc.BCConfig.k_min`), a remedy for planners run past their trained K;
    ``None``: every batch at K."""
    long_episodes: int = 200
    """Held-out 64x64 perfect mazes for success against path length."""
    extra: dict[str, str] = field(default_factory=dict)
    """NAME -> SB3 zip of a planner not trained here, scored at every size."""
    runs_dir: str = "runs/mazes"
    """Where each run trains and leaves its ``result.json``."""
    data_dir: str = "data/mazes"
    """Where the training mazes of each size are written once (:func:`maze_dataset`) and read by every run."""
    threads: int = 1
    """Torch CPU threads per run."""

    INT_KEYED = ("epochs",)
    POSITIVE = ("n_maps", "episodes", "long_episodes", "threads")

    def __post_init__(self) -> None:
        super().__post_init__()
        bad_sizes = [s for s in self.sizes if s not in SIZE_SETTINGS]
        if bad_sizes or not self.sizes:
            raise ValueError(f"sizes {bad_sizes or self.sizes}: a BC recipe exists for {sorted(SIZE_SETTINGS)}")
        self.sizes = sorted(self.sizes)  # a run's START_FROM size trains first
        bad = [p for p in self.planners if p not in PLANNER_SETTINGS]
        if bad or not self.planners:
            raise ValueError(f"planners {bad or self.planners}: choose from {sorted(PLANNER_SETTINGS)}")
        if self.k_min_fraction is not None and not 0 < self.k_min_fraction <= 1:
            raise ValueError(f"k_min_fraction must lie in (0, 1], got {self.k_min_fraction}")
        for size, n in self.epochs.items():
            if n < 1:
                raise ValueError(f"epochs for size {size} must be >= 1, got {n}")
        ex.check_seeds(self.seeds)
        for name, path in self.extra.items():
            if not os.path.exists(path):
                raise ValueError(f"--extra {name}: no model at {path}")


def n_maps(cfg: MazesConfig, size: int, planner: str) -> int:
    """Training mazes of a run: ``cfg.n_maps`` if set, else :data:`MAPS`'."""
    return cfg.n_maps if cfg.n_maps is not None else MAPS[planner][size]


def dataset_path(cfg: MazesConfig, size: int, count: int) -> str:
    """Absolute path of the first ``count`` training mazes of ``size`` (written by :func:`maze_dataset`)."""
    return os.path.abspath(os.path.join(cfg.data_dir, f"maze{size}x{size}_{count}.npz"))


def maze_dataset(cfg: MazesConfig, size: int, count: int) -> str:
    """Write the training mazes of ``size`` once: env seeds ``[0, count)`` of ``VINGridMaze-<size>``,
    every free cell labelled, in :func:`dataset_path`; a later call (any planner, any seed) reads the
    same file. Returns its path.

    :raises ValueError: the file holds other mazes (another size, count or labelling).
    """
    from gridworld_env import env_spec
    from gridworld_env.expert import ExpertDataset, dataset_meta, make_dataset

    path = dataset_path(cfg, size, count)
    spec = env_spec(f"VINGridMaze-{size}x{size}-v0")
    wanted = dataset_meta(spec, count, None, 0)
    if os.path.exists(path):
        found = ExpertDataset.load(path).meta
        if found != wanted:
            raise ValueError(
                f"{path} holds other mazes than the {count} {size}x{size} ones this page trains on "
                f"(found {found}, want {wanted}): move it away or choose another --data folder"
            )
        return path
    make_dataset(size, count, None, 0, spec).save(path)
    return path


def start_model(cfg: MazesConfig, size: int, planner: str, seed: int) -> str:
    """Absolute path of the model a larger size's run starts from (:data:`START_FROM`)."""
    return os.path.abspath(os.path.join(cfg.runs_dir, str(size), planner, f"seed{seed}", "model.zip"))


def check_start_models(cfg: MazesConfig) -> None:
    """``ValueError`` naming the smaller-size runs a size's runs start from that neither exist nor
    train first in this call (checked before any training)."""
    for size in cfg.sizes:
        small = START_FROM.get(size)
        if small is None or small in cfg.sizes:
            continue
        missing = [
            path
            for planner in cfg.planners
            for seed in cfg.seeds
            if not os.path.exists(path := start_model(cfg, small, planner, seed))
        ]
        if missing:
            raise ValueError(
                f"{size}x{size} runs start from the {small}x{small} runs of the same planner and seed, and "
                f"{missing} do not exist: add {small} to --sizes (it trains first)"
            )


def bc_config(cfg: MazesConfig, size: int, planner: str, seed: int) -> Any:
    """The :class:`agents.training.bc.BCConfig` of one run: the size's mazes (:func:`maze_dataset`),
    the size's and the planner's settings, the seed (torch and the batch order)."""
    settings = {**SIZE_SETTINGS[size], "epochs": cfg.epochs.get(size, EPOCHS[planner][size])}
    env_id = f"VINGridMaze-{size}x{size}-v0"
    count = n_maps(cfg, size, planner)
    where: dict[str, Any] = {"dataset": dataset_path(cfg, size, count), "n_maps": count}
    if size in START_FROM:
        where["init"] = start_model(cfg, START_FROM[size], planner, seed)
    if cfg.k_min_fraction is not None:
        where["k_min"] = max(1, round(cfg.k_min_fraction * settings["k"]))
    return ex.bc_run_config(cfg, env_id, planner, seed, **{**COMMON, **settings, **PLANNER_SETTINGS[planner], **where})


def portable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A run's settings with its training mazes and its start model named by where they lie under
    ``--data`` and ``--runs`` (``maze15x15_10000.npz``, ``15/vin/seed0/model.zip``) instead of
    absolute paths, so that a moved checkout or a copied runs folder still finds its runs."""
    out = dict(settings)
    if out.get("dataset"):
        out["dataset"] = os.path.basename(out["dataset"])
    if out.get("init"):
        out["init"] = "/".join(os.path.normpath(out["init"]).split(os.sep)[-4:])
    return out


class Mazes(ex.Experiment, name="mazes", config=MazesConfig, names="planners"):
    """Every (size, planner, seed): BC on mazes, scored by GPPN's figures and the paper's protocol."""

    def training_config(self, run: ex.Run) -> Any:
        return bc_config(self.cfg, *run)

    def scoring(self) -> dict[str, Any]:
        return {"episodes": self.cfg.episodes, "long_episodes": self.cfg.long_episodes}

    def matches(self, run: ex.Run) -> Callable[[dict[str, Any]], bool]:
        from agents.training.config import with_defaults

        config_class = type(self.training_config(run))
        wanted = portable_settings(self.settings(run))
        return lambda stored: portable_settings(with_defaults(config_class, stored)) == wanted

    def trial_config(self) -> MazesConfig:
        # Trials only train; the extra models are scored in this process.
        absolute = {"runs_dir": os.path.abspath(self.cfg.runs_dir), "data_dir": os.path.abspath(self.cfg.data_dir)}
        return dataclasses.replace(self.cfg, **absolute, extra={})

    def train_and_score(self, run: ex.Run, folder: str, resume: bool, progress: bool) -> dict[str, Any]:
        config = self.training_config(run)
        model, history, minutes = ex.train_bc_run(config, folder, resume, progress)
        done = score(model.policy, run.size, self.cfg.episodes, progress)
        done["buckets"] = by_path_length(model.policy, self.cfg.long_episodes, progress)
        done["past_k"] = {
            str(m): by_path_length(model.policy, self.cfg.long_episodes, progress, k=m * config.k) for m in PAST_K
        }
        return {**done, "history": history, "train_minutes": minutes}

    def describe(self, run: ex.Run, done: dict[str, Any]) -> str:
        cells, start = done["cells"], done["test"]["success_rate"]
        optimal, success = 100 * cells["optimal"], 100 * cells["success"]
        return f"%Opt {optimal:.1f}, %Suc {success:.1f}, success from the start {100 * start:.1f} %"

    def table_key(self, size: int, name: str) -> tuple[str, str]:
        return NAMES.get(name, name), f"{size}x{size}"


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


def by_path_length(policy: Any, episodes: int, progress: bool = False, k: int | None = None) -> list[list[Any]]:
    """[bucket, mazes, success] on ``episodes`` held-out 64x64 perfect mazes, bucketed by shortest
    path, the planner run with ``k`` iterations (``None``: as it acts, its trained K)."""
    from agents.evaluation import evaluate_act_fn, held_out_episodes, policy_act_fn
    from agents.planners import set_inference_planning
    from agents.policies import resize_policy
    from gridworld_env import env_spec
    from gridworld_env.maps import Episodes

    policy = resize_policy(policy, 64)
    if k is not None:
        set_inference_planning(policy, k)
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


def _pm(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    mean, spread = mean_spread([scale * v for v in values])
    return f"{mean:.{digits}f} ± {spread:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def _row(
    name: str, given: str, size: int, k: str, f: str, seeds: str, runs: list[dict[str, Any]], budget: str, minutes: str
) -> list[str]:
    ratios = [r["test"]["path_ratio"] for r in runs if r["test"]["path_ratio"] == r["test"]["path_ratio"]]
    return [
        name,
        given,
        f"{size}x{size}",
        k,
        f,
        seeds,
        _pm([r["cells"]["optimal"] for r in runs]),
        _pm([r["cells"]["success"] for r in runs]),
        _pm([r["test"]["success_rate"] for r in runs]),
        _pm(ratios, 1.0, 3) if ratios else "-",
        budget,
        minutes,
    ]


HEADER = [
    "planner",
    "given",
    "maze",
    "K",
    "F",
    "seeds",
    "%Opt",
    "%Suc",
    "success from the start",
    "path / optimal",
    "training mazes x epochs",
    "min / run",
]

#: What a planner learns from, besides the expert's actions on every free cell (:func:`given`): a
#: VIN with fixed value-iteration kernels is given the env's moves; one that learns its kernels
#: from the ``moves`` start (the default) is given them as its start; a GPPN learns its moves.
GIVEN = {
    "fixed": "expert actions and the env's moves",
    "moves start": "expert actions; learns its moves, started at the env's",
    "learned": "expert actions; learns its moves",
}


def given(planner: str, learn_vi_kernels: bool = True, kernel_init: str = "moves") -> str:
    """:data:`GIVEN` of a planner with these VIN settings (the GPPN has none: it always learns its moves)."""
    if planner != "vin":
        return GIVEN["learned"]
    if not learn_vi_kernels:
        return GIVEN["fixed"]
    return GIVEN["moves start" if kernel_init == "moves" else "learned"]


def planner_given(policy: Any) -> str:
    """:func:`given` of a loaded policy (a VIN's extractor has a ``vin`` planner, a GPPN's not)."""
    extractor = getattr(policy, "features_extractor", None)
    vin = getattr(extractor, "vin", None)
    if vin is None:
        return given("gppn")
    return given("vin", bool(getattr(extractor, "learn_vi_kernels", True)), vin.kernel_init)


def run_name(planner: str, settings: dict[str, Any]) -> str:
    """A planner's name on the page, with the range of K it was trained with when K was drawn per batch."""
    k_min = settings.get("k_min")
    return NAMES[planner] + (f" (K drawn from [{k_min}, {settings['k']}])" if k_min is not None else "")


def mean_buckets(runs: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """Success per 64x64 bucket, averaged over runs (every run scores the same mazes)."""
    first = runs[0]["buckets"]
    return [(b, n, float(np.mean([r["buckets"][i][2] for r in runs]))) for i, (b, n, _) in enumerate(first)]


def render(
    cfg: MazesConfig,
    results: dict[tuple[int, str], list[dict[str, Any]]],
    extras: dict[str, tuple[tuple[str, str, str], dict[int, dict[str, Any]], list[Any]]],
    command: str,
    png: str,
) -> tuple[str, dict[str, list[tuple[str, int, float]]]]:
    """The markdown page and the 64x64 curves to plot (name -> buckets)."""
    rows: list[list[str]] = []
    curves: dict[str, list[tuple[str, int, float]]] = {}
    for name, ((k, f, about), by_size, buckets) in extras.items():
        for size in cfg.sizes:
            rows.append(_row(name, about, size, k, f, "-", [by_size[size]], "-", "-"))
        curves[name] = buckets
    for size in cfg.sizes:
        for planner in cfg.planners:
            runs = results[(size, planner)]
            bc = runs[0]["settings"]
            minutes = [r["train_minutes"] for r in runs if r["train_minutes"] == r["train_minutes"]]
            spent = f"{np.mean(minutes):.1f}" if minutes else "-"
            seeds = ",".join(str(r["settings"]["seed"]) for r in runs)
            budget = f"{bc['n_maps']:,} x {bc['epochs']}" + (
                f", from {START_FROM[size]}x{START_FROM[size]}" if bc.get("init") else ""
            )
            what = given(planner, bool(bc["learn_vi_kernels"]), bc.get("kernel_init", "moves"))
            k, f = str(bc["k"]), str(bc["kernel_size"])
            name = run_name(planner, bc)
            rows.append(_row(name, what, size, k, f, seeds, runs, budget, spent))
            curves[f"{name}, trained on {size}x{size}"] = mean_buckets(runs)

    def size_budget(s: int) -> str:
        each = [results[(s, p)][0]["settings"] for p in cfg.planners]
        bc = each[0]
        mazes = ", ".join(f"{NAMES[p]} {r['n_maps']} x {r['epochs']}" for p, r in zip(cfg.planners, each))
        return f"{s}x{s}: training mazes x epochs {mazes}; K {bc['k']}, batch {bc['batch_size']} cells, lr {bc['lr']}"

    budget = "; ".join(size_budget(s) for s in cfg.sizes)
    common = {k: v for k, v in COMMON.items() if not any(k in SIZE_SETTINGS[s] for s in cfg.sizes)}
    lines = [
        "# Planners on mazes\n",
        f"Command: `{command}`\n",
        "BC from the BFS expert, every free cell of the training mazes (env seeds from 0, the same for "
        f"every seed) labelled; {budget}; settings of every run `{common}`; per planner "
        f"`{PLANNER_SETTINGS}`. Test: the same {cfg.episodes} held-out perfect mazes per size "
        "(env seeds from 10^9) for every run. %Opt and %Suc are GPPN's figures: the greedy policy "
        "followed from every free cell (%Suc: it reaches the goal; %Opt: by a shortest path). "
        "Success from the start: the VIN paper's protocol (the env's start, within twice the "
        "shortest path); path / optimal over its successful episodes. Mean ± sample standard "
        "deviation over the seeds listed; min / run: training wall minutes of each run over all "
        "its calls, on this 2-core machine beside other jobs. "
        "Rows not trained here (`--extra`) are scored alone: no seeds, no budget "
        "(docs/experiments/mazes.md).\n",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "## GPPN's own figures\n",
        "Lee et al. 2018, the repository's reproduction table: 8-connected (`moore`) mazes, 25k "
        "training mazes, 30 epochs, 150 channels; %Opt and %Suc as ours. "
        "Their mazes are not ours: the figures stand beside ours, not against them.\n",
        "| planner | maze | K | F | %Opt | %Suc |",
        "|---|---|---|---|---|---|",
    ]
    for (size, planner), (rk, rf, opt, suc) in GPPN_REPORTED.items():
        lines.append(f"| {NAMES[planner]} | {size}x{size} | {rk} | {rf} | {opt:.1f} | {suc:.1f} |")
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
    lines += past_k_lines(cfg, results, [b for b, _, _ in first])
    lines += ["", f"![success against path length]({os.path.basename(png)})", ""]
    return "\n".join(lines), curves


def past_k_lines(
    cfg: MazesConfig, results: dict[tuple[int, str], list[dict[str, Any]]], buckets: list[str]
) -> list[str]:
    """The page's section on the learned planners run past their trained K on the 64x64 mazes."""
    lines = [
        "",
        "## Past the trained K, the same 64x64 mazes\n",
        f"Each learned planner run with its trained K and {' and '.join(f'{m}x' for m in PAST_K)} that; "
        "mean success over its seeds; '-': a run scored before this section existed.\n",
        "| planner | K | " + " | ".join(buckets) + " |",
        "|---|---|" + "---|" * len(buckets),
    ]
    for size in cfg.sizes:
        for planner in cfg.planners:
            runs = results[(size, planner)]
            k = int(runs[0]["settings"]["k"])
            name = f"{run_name(planner, runs[0]['settings'])}, trained on {size}x{size}"
            rows = [(str(k), mean_buckets(runs))]
            for m in PAST_K:
                parts = [r.get("past_k", {}).get(str(m)) for r in runs]
                if all(parts):
                    rows.append((f"{m * k} ({m}x)", mean_buckets([{"buckets": p} for p in parts])))
                else:
                    rows.append((f"{m * k} ({m}x)", []))
            for k_text, part in rows:
                cells = [f"{100 * r:.1f} %" for _, _, r in part] or ["-"] * len(buckets)
                lines.append(f"| {name} | {k_text} | " + " | ".join(cells) + " |")
    return lines


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


def maze_report(cfg: MazesConfig, page: ex.Page) -> str:
    """Train and score every (size, planner, seed) of ``cfg`` and the extra models; write
    ``page.out`` and the plot beside it (``.png``).

    :raises ValueError: ``page.out`` holds rows this page would drop, unless ``page.overwrite``
        (checked before any training).
    """
    from agents.zoo import load_model

    experiment = Mazes(cfg)
    keys = [(s, n) for n in cfg.extra for s in cfg.sizes] + [(r.size, r.name) for r in experiment.runs()]
    experiment.check_page(page.out, page.overwrite, keys)
    check_start_models(cfg)
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for size in cfg.sizes:  # smallest first: the larger sizes start from its runs (START_FROM)
        for count in sorted({n_maps(cfg, size, planner) for planner in cfg.planners}):
            maze_dataset(cfg, size, count)
        done, _ = Mazes(dataclasses.replace(cfg, sizes=[size])).collect(page.log, page.progress, runner=page.runner)
        results.update(done)
    extras = {}
    for name, path in cfg.extra.items():
        policy = load_model(path).policy
        by_size = {s: score(policy, s, cfg.episodes, page.progress) for s in cfg.sizes}
        about = (*planner_k_f(policy), planner_given(policy))
        extras[name] = (about, by_size, by_path_length(policy, cfg.long_episodes, page.progress))
    png = os.path.splitext(page.out)[0] + ".png"
    text, curves = render(cfg, results, extras, page.command, png)
    os.makedirs(os.path.dirname(os.path.abspath(page.out)), exist_ok=True)
    plot(curves, png)
    ex.write_page(page.out, text)
    return text


def parse_args(argv: Sequence[str] | None) -> tuple[MazesConfig, ex.Page]:
    parser = argparse.ArgumentParser(
        prog="python -m eval.mazes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 28], help="maze sizes (default: 15 28)")
    parser.add_argument("--planners", nargs="+", choices=sorted(PLANNER_SETTINGS), help="planners (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--epochs", type=int, nargs="+", help="epochs, one for all sizes or one per size")
    parser.add_argument("--maps", type=int, help="training mazes of every run (default: MAPS, per planner and size)")
    parser.add_argument(
        "--k-min-fraction", type=float, help="train each batch with K drawn from [fraction x K, K] (default: K)"
    )
    parser.add_argument("--episodes", type=int, default=1000, help="test mazes per size (default: %(default)s)")
    parser.add_argument("--long-episodes", type=int, default=200, help="64x64 mazes (default: %(default)s)")
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=PATH of SB3 zips scored, not trained")
    parser.add_argument("--data", default="data/mazes", help="folder of the training mazes (default: %(default)s)")
    ex.add_common_arguments(parser, threads=1)
    args = parser.parse_args(argv)
    extra = {}
    for item in args.extra:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--extra takes NAME=PATH, got {item!r}")
        extra[name] = path
    try:
        cfg = MazesConfig(
            sizes=args.sizes,
            planners=args.planners or list(PLANNER_SETTINGS),
            seeds=args.seeds,
            epochs=ex.per_size(parser, args.epochs, args.sizes) or {},
            n_maps=args.maps,
            k_min_fraction=args.k_min_fraction,
            episodes=args.episodes,
            long_episodes=args.long_episodes,
            extra=extra,
            runs_dir=args.runs or "runs/mazes",
            data_dir=args.data,
            threads=args.threads,
            device=args.device,
        )
        page = ex.page_of(args, args.out or "results/mazes.md", "python -m eval.mazes", argv)
    except ValueError as exc:
        parser.error(str(exc))
    return cfg, page


def main(argv: Sequence[str] | None = None) -> int:
    cfg, page = parse_args(argv)

    def job() -> str:
        maze_report(cfg, page)
        return f"wrote {page.out} and {os.path.splitext(page.out)[0]}.png"

    return ex.run_main(job)


if __name__ == "__main__":
    sys.exit(main())
