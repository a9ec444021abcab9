"""Run a sweep's trials on Ray Tune: locally on every core, or on a Ray cluster.

* :func:`run_sweep` runs a :class:`~agents.sweep.spec.SweepSpec`: each trial calls
  :func:`agents.training.bc.train_bc` or :func:`agents.training.ppo.train_ppo` in its run folder
  (``<experiment>/runs/<trial>``), reports every epoch (BC) or evaluation (PPO) to Tune with the
  run's atomic ``checkpoint.pt``, and resumes from it when Tune retries the trial.
* :func:`run_tasks` runs a list of jobs through a module-level function (``"module:function"``),
  one trial each: how ``eval.table1`` and ``eval.rl_table`` spread their runs.

With no ``address`` (and no ``RAY_ADDRESS``), Ray starts inside the call on this machine's cores
and stops at the end; with one, it joins that cluster. An already started Ray is used as it is.
Workers import the repository checkout (its root is put on their ``PYTHONPATH``), so on a cluster
every node needs the checkout at the same path, and ``storage`` must be a folder every node shares.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from agents.sweep.spec import SweepSpec, grid_trials, trial_config
from agents.training.config import PACKAGE_PARENT
from gridworld_env.atomic import atomic_path

REPO_ROOT = PACKAGE_PARENT  # the checkout's root: workers put it on PYTHONPATH

#: Log of each start of a trial in its run folder: one JSON line (time, host, Ray node, pid, resumed from).
TRIAL_LOG = "trial_starts.jsonl"


class SweepInterrupted(RuntimeError):
    """The sweep stopped (Ctrl+C / SIGINT) with trials unfinished; its state is saved for ``resume``."""


@dataclass
class RunnerOptions:
    """Where and how trials run (not what they train)."""

    address: str | None = None
    """Ray cluster address (``HEAD:6379``); ``None``: ``RAY_ADDRESS`` if set, else a local Ray inside the call."""
    max_concurrent: int | None = None
    """At most this many trials at once (default: as many as the resources allow)."""
    resume: bool = False
    """Continue an interrupted experiment: finished trials are kept, unfinished ones resume from checkpoints."""
    overwrite: bool = False
    """Replace an existing experiment folder (without it, and without ``resume``, one is refused)."""
    progress: bool = True
    """A progress bar over finished trials."""
    num_cpus: int | None = None
    """CPUs of a local Ray (default: all)."""


#: Ray's setting of the niceness its workers add to the raylet's (Ray's default: 15).
WORKER_NICENESS_VAR = "RAY_worker_niceness"


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[None]:
    """Ray for the duration of the block: the running one, a cluster at ``address``, or a local one."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    path = os.pathsep.join(p for p in (REPO_ROOT, os.environ.get("PYTHONPATH")) if p)
    env = {"env_vars": {"PYTHONPATH": path}}
    kwargs: dict[str, Any] = {"runtime_env": env, "include_dashboard": False, "logging_level": "WARNING"}
    if address is None:
        kwargs["num_cpus"] = num_cpus
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a Ray started for us reports nothing home
        # Ray adds 15 to its workers' niceness, so beside any other job on the machine the trials
        # starve; a Ray started for us runs them at the driver's niceness (``nice -n`` still works).
        os.environ.setdefault(WORKER_NICENESS_VAR, "0")
    ray.init(address=address, **kwargs)
    try:
        yield
    finally:
        ray.shutdown()


#: The spec a sweep started with, in its experiment folder (``--resume`` must give the same one).
SPEC_FILE = "spec.json"


def _prepare_experiment(path: str, spec: SweepSpec, options: RunnerOptions) -> None:
    """Refuse to replace a sweep without ``overwrite``, or to resume one with another spec."""
    from ray import tune

    stored = os.path.join(path, SPEC_FILE)
    current = json.loads(json.dumps(asdict(spec), default=str))
    if options.resume:
        if os.path.exists(stored):
            with open(stored) as f:
                before = json.load(f)
            changed = sorted(k for k in set(before) | set(current) if before.get(k) != current.get(k))
            if changed:
                raise ValueError(
                    f"the spec differs from the one {path} was started with in {changed}: resume with the "
                    "same spec, or start a new sweep (another name, or --overwrite)"
                )
        if not tune.Tuner.can_restore(path):
            raise FileNotFoundError(f"no sweep to resume in {path}: run it without --resume first")
        return
    if os.path.exists(path) and os.listdir(path):
        if not options.overwrite:
            raise ValueError(
                f"{path} already holds a sweep: continue it with --resume, replace it with --overwrite, "
                "or give the spec another name"
            )
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    with open(stored, "w") as f:
        json.dump(current, f, indent=1)


def _log_start(run_dir: str, resumed_from: int) -> None:
    import ray

    os.makedirs(run_dir, exist_ok=True)
    line = {
        "time": time.time(),
        "host": socket.gethostname(),
        "node": ray.get_runtime_context().get_node_id(),
        "pid": os.getpid(),
        "resumed_from": resumed_from,
    }
    with open(os.path.join(run_dir, TRIAL_LOG), "a") as f:
        f.write(json.dumps(line) + "\n")


def _restore_run_dir(run_dir: str) -> bool:
    """Whether the trial resumes: its run folder's checkpoint, else the last one reported to Tune."""
    from ray import tune

    ckpt = os.path.join(run_dir, "checkpoint.pt")
    if os.path.exists(ckpt):
        return True
    reported = tune.get_checkpoint()
    if reported is None:
        return False
    os.makedirs(run_dir, exist_ok=True)
    with reported.as_directory() as folder, atomic_path(ckpt) as tmp:
        shutil.copy(os.path.join(folder, "checkpoint.pt"), tmp)
    return True


class _Reporter:
    """Reports figures to Tune, with the run's checkpoint whenever it changed since the last report."""

    def __init__(self, ckpt: str, extra: dict[str, Any]) -> None:
        self.ckpt, self.extra = ckpt, extra
        self.stamp: int | None = None

    def __call__(self, figures: dict[str, Any]) -> None:
        from ray import tune

        metrics = {k: float(v) for k, v in figures.items() if isinstance(v, int | float)}
        if "paper_success_rate" in metrics:  # PPO: the paper-protocol success on the validation maps
            metrics["val_success_rate"] = metrics["paper_success_rate"]
        metrics.update(self.extra)
        stamp = os.stat(self.ckpt).st_mtime_ns if os.path.exists(self.ckpt) else None
        if stamp is None or stamp == self.stamp:
            tune.report(metrics)
            return
        self.stamp = stamp
        with tempfile.TemporaryDirectory() as folder:
            shutil.copy(self.ckpt, os.path.join(folder, "checkpoint.pt"))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def train_trial(config: dict[str, Any], spec: dict[str, Any], base: dict[str, Any] | None = None) -> None:
    """Tune's function trainable: one trial of a sweep (``config``: the grid trial or the sampled settings)."""
    from ray import tune

    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)  # a line per checkpoint otherwise

    sweep = SweepSpec(**{**spec, "search": None})
    if base is None:  # grid: the trial is in the config
        trial, sampled = config["trial"], {}
    else:  # search: the base trial, the sampled settings
        trial, sampled = base, dict(config)
        trial = {**trial, "name": f"{trial['name']}__{tune.get_context().get_trial_id()}"}
    cfg = trial_config(sweep, trial["env_id"], trial["policy"], trial["seed"], {**trial["settings"], **sampled})
    run_dir = os.path.join(sweep.experiment_dir, "runs", trial["name"])
    resume = _restore_run_dir(run_dir)
    start = 0
    if resume:
        import torch

        state = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
        start = int(state.get("epoch", state.get("num_timesteps", 0)))
    _log_start(run_dir, start)
    report = _Reporter(os.path.join(run_dir, "checkpoint.pt"), {"resumed_from": float(start)})
    if sweep.trainer == "bc":
        from agents.training.bc import train_bc

        train_bc(cfg, run_dir, resume=resume, overwrite=not resume, on_epoch=lambda _epoch, f: report(f))
    else:
        from agents.training.ppo import train_ppo

        _, history = train_ppo(cfg, run_dir, resume=resume, overwrite=not resume, on_eval=report)
        report({**(history[-1] if history else {}), "timesteps": cfg.total_timesteps, "final": 1})


def run_task(config: dict[str, Any], task: str) -> None:
    """Tune's function trainable of :func:`run_tasks`: call ``task`` on the job, report its result."""
    from ray import tune

    module, _, name = task.partition(":")
    result = getattr(importlib.import_module(module), name)(config["job"])
    tune.report({"done": 1.0, "result": json.dumps(result)})


class _Bar:
    """A tqdm bar over finished trials (a Tune callback)."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        from ray.tune import Callback
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="trial", disable=not enabled)

        class _Callback(Callback):
            def on_trial_complete(inner, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
                self.bar.update(1)

            def on_trial_error(inner, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
                self.bar.update(1)

            def on_experiment_end(inner, trials: list[Any], **info: Any) -> None:
                self.bar.close()

        self.callback = _Callback()


def _tuner(
    trainable: Any,
    param_space: dict[str, Any],
    name: str,
    storage: str,
    resources: dict[str, float],
    max_failures: int,
    options: RunnerOptions,
    total: int,
    tune_config: dict[str, Any] | None = None,
) -> Any:
    from ray import tune

    trainable = tune.with_resources(trainable, resources)
    path = os.path.join(storage, name)
    bar = _Bar(total, name, options.progress)
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage,
        failure_config=tune.FailureConfig(max_failures=max_failures),
        verbose=0,
        callbacks=[bar.callback],
    )
    if options.resume:
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, restart_errored=True, param_space=None)
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=options.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
            **(tune_config or {}),
        ),
        run_config=run_config,
    )


def _results(grid: Any, path: str, stopped: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One record per trial; :class:`SweepInterrupted` if Tune stopped before every trial ended.

    A trial ended if it returned (Tune's ``done``), failed, or was stopped by the scheduler (``stopped``).
    """
    unfinished = [
        r
        for r in grid
        if r.error is None and not (r.metrics or {}).get("done") and r.metrics.get("trial_id") not in stopped
    ]
    if unfinished:
        raise SweepInterrupted(
            f"the sweep stopped with {len(unfinished)} of {len(grid)} trials unfinished; its state is saved in "
            f"{path}: continue with the same command and --resume (finished trials are not rerun)"
        )
    out = []
    for result in grid:
        out.append(
            {
                "config": result.config,
                "metrics": dict(result.metrics or {}),
                "error": None if result.error is None else str(result.error),
                "path": result.path,
            }
        )
    return out


def run_sweep(spec: SweepSpec, options: RunnerOptions | None = None) -> list[dict[str, Any]]:
    """Run every trial of ``spec`` on Ray Tune; return one record per trial (config, last metrics, error).

    Writes ``<experiment>/sweep.json`` (the spec and every trial's last figures) and, for a search,
    ``<experiment>/best.yml``: the best trial's settings as a ``hyperparams/*.yml`` section.

    :raises ValueError: the experiment folder holds a sweep and neither ``resume`` nor ``overwrite`` is set.
    :raises FileNotFoundError: ``resume`` without a sweep to resume.
    """
    from ray import tune

    options = options or RunnerOptions()
    path = spec.experiment_dir
    _prepare_experiment(path, spec, options)
    raw = {**asdict(spec), "search": None}
    resources = {"cpu": spec.cpus, "gpu": spec.gpus}
    storage = os.path.dirname(path)
    with ray_session(options.address, options.num_cpus):
        if spec.search is None:
            trials = grid_trials(spec)
            trainable = tune.with_parameters(train_trial, spec=raw)
            space: dict[str, Any] = {"trial": tune.grid_search(trials)}
            extra: dict[str, Any] = {}
            total = len(trials)
        else:
            from ray.tune.search.optuna import OptunaSearch

            search = spec.search
            base = {"env_id": spec.envs[0], "policy": spec.policies[0], "seed": spec.seeds[0], "settings": {}}
            base["name"] = f"{spec.envs[0]}__{spec.trainer}-{spec.policies[0]}__seed{spec.seeds[0]}"
            trainable = tune.with_parameters(train_trial, spec=raw, base=base)
            space = {name: _domain(dom) for name, dom in search.space.items()}
            extra = {
                "search_alg": OptunaSearch(seed=search.seed, points_to_evaluate=search.points_to_evaluate or None),
                "scheduler": _ASHA(grace_period=search.grace_period, reduction_factor=search.reduction_factor),
                "num_samples": search.num_samples,
                "metric": search.metric,
                "mode": search.mode,
            }
            total = search.num_samples
        tuner = _tuner(trainable, space, spec.name, storage, resources, spec.max_failures, options, total, extra)
        grid = tuner.fit()
        stopped = _stopped_by_scheduler(tuner) if spec.search is not None else set()
        results = _results(grid, path, stopped)
    for record in results:
        record["config"] = record["config"].get("trial", record["config"])
    with open(os.path.join(path, "sweep.json"), "w") as f:
        json.dump({"spec": asdict(spec), "trials": results}, f, indent=1, default=str)
    if spec.search is not None:
        write_best(spec, results)
    return results


def _asha_class() -> type:
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class ASHA(ASHAScheduler):
        """ASHA that remembers the trials it stopped (they ended; an interrupted trial did not)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.stopped: set[str] = set()

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            decision = super().on_trial_result(tune_controller, trial, result)
            if decision == TrialScheduler.STOP:
                self.stopped.add(trial.trial_id)
            return str(decision)

    return ASHA


def _ASHA(**kwargs: Any) -> Any:  # noqa: N802 (a class made on first use: Ray is imported lazily)
    return _asha_class()(**kwargs)


def _stopped_by_scheduler(tuner: Any) -> set[str]:
    scheduler = getattr(tuner._local_tuner._tune_config, "scheduler", None)  # noqa: SLF001 (no public accessor)
    return set(getattr(scheduler, "stopped", ()))


def _domain(dom: dict[str, list[Any]]) -> Any:
    from ray import tune

    ((kind, values),) = dom.items()
    if kind == "choice":
        return tune.choice(values)
    if kind == "randint":
        return tune.randint(int(values[0]), int(values[1]) + 1)
    return getattr(tune, kind)(float(values[0]), float(values[1]))


def best_trial(spec: SweepSpec, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The finished trial with the best ``search.metric`` (the last figure it reported)."""
    assert spec.search is not None, "best_trial ranks a search's trials: the spec has no search section"
    metric, sign = spec.search.metric, 1 if spec.search.mode == "max" else -1
    scored = [r for r in results if metric in r["metrics"]]
    if not scored:
        raise ValueError(f"no trial reported {metric!r}: check the search's metric name")
    return max(scored, key=lambda r: sign * r["metrics"][metric])


def write_best(spec: SweepSpec, results: list[dict[str, Any]]) -> str:
    """Write ``<experiment>/best.yml``: a ``hyperparams/*.yml`` section with the best trial's settings."""
    best = best_trial(spec, results)
    assert spec.search is not None
    sampled = {k: best["config"][k] for k in spec.search.space}
    cfg = trial_config(spec, spec.envs[0], spec.policies[0], spec.seeds[0], sampled)
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("env_id", "seed", "threads", "device")}
    figure = best["metrics"][spec.search.metric]
    text = (
        f"# Best of {len(results)} trials of sweep {spec.name!r} by {spec.search.metric} = {figure:.4f}\n"
        f"# (Optuna + ASHA, python -m train sweep): paste into hyperparams/{spec.trainer}.yml.\n"
    )
    text += yaml.safe_dump({spec.envs[0]: settings}, sort_keys=True)
    out = os.path.join(spec.experiment_dir, "best.yml")
    with open(out, "w") as f:
        f.write(text)
    return out


def run_tasks(
    task: str,
    jobs: list[dict[str, Any]],
    name: str,
    storage: str,
    cpus: int,
    gpus: float = 0,
    options: RunnerOptions | None = None,
    max_failures: int = 2,
) -> list[dict[str, Any]]:
    """Run ``task`` (``"module:function"``, importable from the checkout) on each job as a Tune trial.

    Each job must be picklable; the function's return value (JSON) comes back in the job's order.
    A retried trial calls the function again: it must resume from its own run folder (as
    ``eval.table1.run_one`` does). The experiment is ``<storage>/<name>``, replaced at each call
    (the run folders, not Tune's, hold the state).

    :raises RuntimeError: a trial failed more than ``max_failures`` times (its error is named).
    """
    from ray import tune

    options = options or RunnerOptions()
    storage = os.path.abspath(storage)
    if not jobs:
        return []
    path = os.path.join(storage, name)
    if os.path.exists(path):
        shutil.rmtree(path)
    fresh = RunnerOptions(**{**asdict(options), "resume": False, "overwrite": True})
    with ray_session(options.address, options.num_cpus):
        trainable = tune.with_parameters(run_task, task=task)
        space = {"job": tune.grid_search(jobs)}
        tuner = _tuner(trainable, space, name, storage, {"cpu": cpus, "gpu": gpus}, max_failures, fresh, len(jobs))
        grid = tuner.fit()
        results = _results(grid, path)
    shutil.rmtree(path, ignore_errors=True)  # the run folders hold the state; Tune's copy is not needed
    with contextlib.suppress(OSError):
        os.rmdir(storage)
    by_job = {json.dumps(r["config"]["job"], sort_keys=True, default=str): r for r in results}
    out = []
    for job in jobs:
        record = by_job[json.dumps(job, sort_keys=True, default=str)]
        if record["error"] is not None or "result" not in record["metrics"]:
            raise RuntimeError(f"trial {job} failed: {record['error']}")
        out.append(json.loads(record["metrics"]["result"]))
    return out


def add_runner_arguments(parser: Any) -> None:
    """The runner flags of a table command (``eval.table1``, ``eval.rl_table``)."""
    parser.add_argument(
        "--address", default=None, help="train on the Ray cluster at HEAD:6379 (default: RAY_ADDRESS, else local cores)"
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="at most N runs at once (default: as CPUs allow)"
    )
    parser.add_argument(
        "--serial", action="store_true", help="train the runs one after another in this process, without Ray"
    )


def runner_options(args: Any, progress: bool) -> RunnerOptions | None:
    """:class:`RunnerOptions` from :func:`add_runner_arguments`'s flags (``None`` for ``--serial``)."""
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise ValueError(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
    if args.serial:
        if args.address is not None:
            raise ValueError("--serial trains in this process: drop --address, or drop --serial to use the cluster")
        return None
    return RunnerOptions(address=args.address, max_concurrent=args.max_concurrent, progress=progress)
