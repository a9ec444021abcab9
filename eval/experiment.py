"""The scaffold every table experiment stands on (:mod:`eval.table1`, :mod:`eval.rl_table`,
:mod:`eval.mazes`): an experiment declares its runs, how one run trains and is scored, and its
page; this module does the rest, once.

* **Run folders and caching.** Each run, a (size, name, seed), trains in
  ``<runs_dir>/<size>/<name>/seed<seed>/`` and leaves a ``result.json`` there holding the
  settings it was made with; a later call reuses a result whose settings match, and resumes a
  training cut short from the folder's ``checkpoint.pt``, so a table can be built in pieces.
* **Settings record.** :func:`run_settings`: the training config without where it ran.
* **Ray.** The runs without a result train as Ray Tune trials (:func:`run_job`), on this
  machine's cores or a cluster, or one after another in this process.
* **Tables.** :meth:`Experiment.check_page` refuses, before any training, to replace a page that
  holds rows the new one would drop; :func:`write_page` writes atomically.
* **Command lines.** :func:`add_common_arguments`, :func:`per_size`, :func:`command_line` and
  :func:`run_main` give every experiment the same flags and the same error handling.

A subclass of :class:`Experiment` names itself, its config and its models in its class line and
gives :meth:`~Experiment.training_config`, :meth:`~Experiment.train_and_score`,
:meth:`~Experiment.describe` and :meth:`~Experiment.table_key`; :class:`Page` holds where and how
its page is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NamedTuple

from eval.results import check_not_dropping
from gridworld_env.atomic import atomic_path


class Run(NamedTuple):
    """One run of an experiment."""

    size: int
    name: str
    seed: int


@dataclass
class ExperimentConfig:
    """Fields every experiment config has (a subclass adds its own, each with a default)."""

    episodes: int = 1000
    """Held-out test maps (env seeds from 10^9), the same for every run."""
    runs_dir: str = "runs/experiment"
    """Where each run trains and leaves its ``result.json``."""
    threads: int = 2
    """Torch CPU threads per run."""
    device: str = "cpu"
    """Torch device for training (``cpu``, ``cuda``, ``auto``)."""

    #: Fields holding ``dict[int, ...]`` (their keys come back as strings from JSON).
    INT_KEYED: ClassVar[tuple[str, ...]] = ()
    #: Fields that must be >= 1.
    POSITIVE: ClassVar[tuple[str, ...]] = ("episodes", "threads")

    def seeds_for(self, size: int) -> list[int]:
        """The training seeds at ``size`` (a subclass's ``seeds`` field)."""
        return list(getattr(self, "seeds"))  # noqa: B009 (a field of every subclass)

    def __post_init__(self) -> None:
        from agents.training.config import check_device, check_positive, check_types

        check_types(self)
        check_positive(self, self.POSITIVE)
        check_device(self.device)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Any:
        """The config of ``asdict(config)``, after a trip through JSON or not."""
        values = dict(values)
        for key in cls.INT_KEYED:
            values[key] = {int(k): v for k, v in values[key].items()}
        return cls(**values)


def check_seeds(seeds: Sequence[int], what: str = "seeds") -> None:
    """``ValueError`` unless there is at least one seed and none is negative."""
    if not seeds or min(seeds) < 0:
        raise ValueError(f"{what} must be non-negative and at least one, got {list(seeds)}")


def run_settings(config: Any, **scoring: Any) -> dict[str, Any]:
    """What a run's ``result.json`` must have been made with to be reused: the training config
    (a dataclass) without where it ran (threads, device), and the scoring settings.

    A config that starts from a model file (``init``) also records that file's SHA-256 as
    ``init_sha256``: a result is tied to the weights it started from, not to their path, so
    replacing a shipped model retrains the runs that start from it instead of reusing theirs.
    ``None`` while that file does not exist yet (a run of the same table makes it), so no stored
    result matches.
    """
    settings = {**asdict(config), "device": "any", "threads": "any", **scoring}
    init = getattr(config, "init", None)
    if isinstance(init, str):
        from agents.training.bc import init_sha256

        try:
            settings["init_sha256"] = init_sha256(init)
        except FileNotFoundError:
            settings["init_sha256"] = None
    return settings


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


def bc_run_config(cfg: Any, env_id: str, policy: str, seed: int, **settings: Any) -> Any:
    """The :class:`agents.training.bc.BCConfig` of one run of an experiment config ``cfg`` (its
    ``n_maps``, ``threads`` and ``device``) with the experiment's ``settings``, which take precedence."""
    from agents.training.bc import BCConfig

    where = {"n_maps": cfg.n_maps, "threads": cfg.threads, "device": cfg.device}
    return BCConfig(env_id=env_id, policy=policy, seed=seed, **{**where, **settings})


def train_bc_run(config: Any, folder: str, resume: bool, progress: bool) -> tuple[Any, list[dict[str, Any]], float]:
    """Behaviour cloning in ``folder``: the model, the per-epoch history and the wall minutes of
    its training over every call (those of this call alone when the run began before its
    checkpoint kept the time)."""
    from agents.training.bc import train_bc, trained_seconds

    t0 = time.perf_counter()
    model, history = train_bc(config, folder, resume=resume, progress=progress)
    seconds = trained_seconds(os.path.join(folder, "checkpoint.pt"))
    return model, history, (time.perf_counter() - t0 if seconds is None else seconds) / 60


def write_page(path: str, text: str) -> None:
    """Write a results page atomically, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(text)


class Experiment:
    """A table's runs: which, how each trains and is scored, where each lives.

    A subclass names itself in its class line: ``class Table1(Experiment, name="table1",
    config=Table1Config, names="models")``: the Ray experiment's folder, the config dataclass, and
    the config's field listing the models (policies, planners) of the table.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    names_field: ClassVar[str]

    def __init_subclass__(cls, name: str = "", config: type | None = None, names: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            cls.name = name
        if config is not None:
            cls.config_class = config
        if names:
            cls.names_field = names

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @classmethod
    def module(cls) -> str:
        """The module defining the class, by its import name (also when run as ``python -m``)."""
        module = cls.__module__
        if module == "__main__":
            spec = getattr(sys.modules["__main__"], "__spec__", None)
            module = spec.name if spec is not None else module
        return module

    @property
    def task(self) -> str:
        """The class as ``"module:Class"``: how a Ray trial finds it."""
        return f"{self.module()}:{type(self).__qualname__}"

    @property
    def fuller(self) -> str:
        """The command that tabulates every finished run, named when a narrower one would drop rows."""
        return f"python -m {self.module()} (finished runs are reused)"

    # What a subclass declares.
    def training_config(self, run: Run) -> Any:
        """The trainer's config (a dataclass) of one run."""
        raise NotImplementedError

    def train_and_score(self, run: Run, folder: str, resume: bool, progress: bool) -> dict[str, Any]:
        """Train the run in ``folder`` (resuming its checkpoint if ``resume``) and score it: the
        result's fields besides ``settings`` and ``resumed``."""
        raise NotImplementedError

    def describe(self, run: Run, done: dict[str, Any]) -> str:
        """One line on a finished run, for the log."""
        raise NotImplementedError

    def table_key(self, size: int, name: str) -> tuple[str, str]:
        """The first two cells of the page's row for (size, name)."""
        raise NotImplementedError

    # What a subclass may change.
    def runs(self) -> list[Run]:
        """Every run of the table: sizes, then names, then seeds."""
        names = getattr(self.cfg, self.names_field)
        return [Run(s, n, seed) for s in self.cfg.sizes for n in names for seed in self.cfg.seeds_for(s)]

    def scoring(self) -> dict[str, Any]:
        """The scoring settings a result is made with, beside its training config."""
        return {"episodes": self.cfg.episodes}

    def settings(self, run: Run) -> dict[str, Any]:
        """What the run's result must have been made with (:func:`run_settings`)."""
        return run_settings(self.training_config(run), **self.scoring())

    def matches(self, run: Run) -> Callable[[dict[str, Any]], bool]:
        """Whether stored settings are the run's (default: equal to :meth:`settings` once the
        training config's fields added since the result was written take their defaults)."""
        from agents.training.config import with_defaults

        config_class = type(self.training_config(run))
        wanted = self.settings(run)
        return lambda stored: with_defaults(config_class, stored) == wanted

    def finished_training(self, run: Run, checkpoint: str) -> bool:
        """Whether the run's checkpoint has trained its whole budget (then it needs scoring only)."""
        return False

    def trial_config(self) -> Any:
        """The config a Ray trial gets (absolute paths: a trial runs in a folder of its own)."""
        return dataclasses.replace(self.cfg, runs_dir=os.path.abspath(self.cfg.runs_dir))

    # The scaffold.
    def run_dir(self, run: Run) -> str:
        """``<runs_dir>/<size>/<name>/seed<seed>``."""
        return os.path.join(self.cfg.runs_dir, str(run.size), run.name, f"seed{run.seed}")

    def result_path(self, run: Run) -> str:
        return os.path.join(self.run_dir(run), "result.json")

    def is_cached(self, run: Run) -> bool:
        """Whether the run left a ``result.json`` with its settings (nothing to train)."""
        return cached_result(self.result_path(run), self.matches(run), lambda _m: None) is not None

    def run_one(
        self, run: Run, log: Any = print, progress: bool = False, only_cached: bool = False
    ) -> dict[str, Any] | None:
        """Train and score one run, or reuse its ``result.json``.

        :param only_cached: return ``None`` instead of training a run that has no result yet (a
            run whose training finished is still scored).
        """
        cached = cached_result(self.result_path(run), self.matches(run), log)
        if cached is not None:
            return cached
        folder = self.run_dir(run)
        checkpoint = os.path.join(folder, "checkpoint.pt")
        resume = os.path.exists(checkpoint)
        if only_cached and not (resume and self.finished_training(run, checkpoint)):
            return None
        done = {"settings": self.settings(run), **self.train_and_score(run, folder, resume, progress)}
        done["resumed"] = resume
        save_result(self.result_path(run), done)
        log(f"{run.size}x{run.size} {run.name} seed {run.seed}: {self.describe(run, done)}")
        return done

    def run_on_ray(self, runner: Any, log: Any = print) -> None:
        """Train every run without a result as a Ray Tune trial (:func:`agents.sweep.runner.run_tasks`).

        Each result is also written in its run folder on this machine when the trial did not (a
        cluster without a shared folder trains elsewhere), so the table is assembled from the same
        folders as after a serial call.
        """
        from agents.sweep.runner import run_tasks

        trial = type(self)(self.trial_config())
        todo = [run for run in self.runs() if not trial.is_cached(run)]
        if todo:
            log(f"{len(todo)} runs to train on Ray ({self.cfg.threads} CPUs each)")
        cfg = asdict(trial.cfg)
        jobs = [{"experiment": self.task, "cfg": cfg, "run": list(run)} for run in todo]
        gpus = 1 if self.cfg.device == "cuda" else 0
        storage = os.path.join(trial.cfg.runs_dir, "_tune")
        results = run_tasks("eval.experiment:run_job", jobs, self.name, storage, self.cfg.threads, gpus, runner)
        for run, done in zip(todo, results):
            if not os.path.exists(trial.result_path(run)):
                save_result(trial.result_path(run), done)

    def check_page(self, out: str, overwrite: bool, keys: Sequence[tuple[int, str]] | None = None) -> None:
        """``ValueError`` if the page at ``out`` holds rows that one with ``keys`` (default: every
        run's) would drop, unless ``overwrite``."""
        if keys is None:
            keys = [(run.size, run.name) for run in self.runs()]
        check_not_dropping(out, [self.table_key(s, n) for s, n in keys], overwrite, self.fuller)

    def collect(
        self, log: Any = print, progress: bool = False, only_cached: bool = False, runner: Any = None
    ) -> tuple[dict[tuple[int, str], list[dict[str, Any]]], list[Run]]:
        """Every run's result, grouped by (size, name) in the runs' order, and the runs left out
        (``only_cached``: no finished training).

        :param runner: :class:`agents.sweep.runner.RunnerOptions` to train the missing runs on Ray
            first; ``None``: one after another in this process.
        """
        if runner is not None and not only_cached:
            self.run_on_ray(runner, log)
        results: dict[tuple[int, str], list[dict[str, Any]]] = {}
        missing = []
        for run in self.runs():
            done = self.run_one(run, log, progress, only_cached)
            if done is None:
                missing.append(run)
            else:
                results.setdefault((run.size, run.name), []).append(done)
        return results, missing


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run as a Ray Tune trial: ``job`` names the experiment class, its config and the run."""
    module, _, cls_name = job["experiment"].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    experiment = cls(cls.config_class.from_dict(job["cfg"]))
    done = experiment.run_one(Run(*job["run"]))
    assert done is not None, "run_one trains when only_cached is off"
    return done


@dataclass
class Page:
    """Where an experiment writes its page, and how it runs."""

    out: str
    """The markdown page."""
    command: str
    """The command that made it (recorded on the page)."""
    progress: bool = False
    """Progress bars while runs train and are scored."""
    overwrite: bool = False
    """Replace a page at ``out`` even if it holds rows this one lacks."""
    runner: Any = None
    """:class:`agents.sweep.runner.RunnerOptions` to train the runs on Ray; ``None``: in this process."""
    log: Callable[[str], None] = print
    """Where the per-run lines go."""


def page_of(args: argparse.Namespace, out: str, prog: str, argv: Sequence[str] | None) -> Page:
    """The :class:`Page` of parsed :func:`add_common_arguments` flags (``ValueError`` on a bad runner flag)."""
    from agents.sweep.runner import runner_options

    runner = runner_options(args, not args.no_progress)
    return Page(out, command_line(prog, argv), not args.no_progress, args.overwrite, runner, flush_log)


# Command lines.
def add_common_arguments(parser: argparse.ArgumentParser, threads: int = 2, quick: str = "") -> None:
    """``--threads --device --runs --out --overwrite --no-progress`` and the Ray runner's flags.

    :param quick: what ``--quick`` does, if the experiment has it.
    """
    from agents.sweep.runner import add_runner_arguments

    parser.add_argument("--threads", type=int, default=threads, help="torch threads per run (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    parser.add_argument("--runs", help="run folders")
    parser.add_argument("--out", help="markdown page")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out page even if it has more rows")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    if quick:
        parser.add_argument("--quick", action="store_true", help=quick)
    add_runner_arguments(parser)


def per_size(
    parser: argparse.ArgumentParser, values: Sequence[int] | None, sizes: Sequence[int], flag: str = "--epochs"
) -> dict[int, int] | None:
    """A flag given once for every size or once per size, as ``{size: value}`` (``None`` if not given)."""
    if values is None:
        return None
    if len(values) == 1:
        return {s: values[0] for s in sizes}
    if len(values) == len(sizes):
        return dict(zip(sizes, values))
    parser.error(f"{flag} takes one value or one per size ({len(sizes)}), got {len(values)}")


def check_at_least(parser: argparse.ArgumentParser, args: argparse.Namespace, floors: dict[str, int]) -> None:
    """The parser's error naming the first flag (``dest`` name) below its floor."""
    for name, floor in floors.items():
        value = getattr(args, name)
        if value < floor:
            parser.error(f"--{name.replace('_', '-')} must be >= {floor}, got {value}")


def command_line(prog: str, argv: Sequence[str] | None) -> str:
    """The command as typed (recorded on the page it writes)."""
    return f"{prog} {shlex.join(argv if argv is not None else sys.argv[1:])}".strip()


def run_main(job: Callable[[], str]) -> int:
    """Run an experiment's main job and print what it returns; a ``ValueError`` or ``RuntimeError``
    is printed as ``error: ...`` with exit status 2."""
    try:
        text = job()
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


def flush_log(message: str) -> None:
    print(message, flush=True)
