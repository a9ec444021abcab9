"""The sweep spec: a YAML file naming the trainer, envs, policies, seeds and settings of a sweep.

Example (``hyperparams/sweeps/ppo8_seeds.yml``)::

    name: ppo8_seeds            # experiment folder: <storage>/<name>
    trainer: ppo                # bc or ppo: agents.training.bc.train_bc / agents.training.ppo.train_ppo
    envs: [VINGrid-8x8-v0]
    policies: [vin, cnn]
    seeds: [0, 1, 2]
    settings: {total_timesteps: 100000}   # every trial (fields of BCConfig / PPOConfig)
    grid: {lr: [0.001, 0.0003]}           # every combination
    resources: {cpus: 1, gpus: 0}         # per trial; torch threads = cpus

A ``search`` section replaces the grid by Optuna's sampler with ASHA early stopping::

    search:
      num_samples: 16
      metric: val_success_rate
      space:
        lr: {loguniform: [1.0e-4, 1.0e-2]}
        ent_coef: {uniform: [0.0, 0.01]}
        n_steps: {choice: [32, 64]}
      points_to_evaluate:         # optional: tried first, then Optuna samples
        - {lr: 0.001, ent_coef: 0.001, n_steps: 64}

Nothing here imports Ray: a spec is checked (every trial's settings built) before Ray starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from agents.training.config import BC_CONFIG, PPO_CONFIG, load_config

#: Trainers a spec may name, with their default settings file.
TRAINERS = {"bc": BC_CONFIG, "ppo": PPO_CONFIG}

#: Search-space kinds: ``{kind: [low, high]}`` or ``{choice: [values]}``.
SPACE_KINDS = ("uniform", "loguniform", "randint", "choice")

#: Settings a spec may not set: they follow the trial's resources.
RESOURCE_KEYS = ("threads", "device", "env_id", "policy", "seed")


def spec_error(path: str, name: str, message: str) -> ValueError:
    """A ``ValueError`` naming the spec file and the field."""
    return ValueError(f"sweep spec {path}: field '{name}': {message}")


@dataclass
class SearchSpec:
    """Hyperparameter search: Optuna's sampler inside Tune, ASHA stopping on ``metric``."""

    space: dict[str, dict[str, list[Any]]]
    """Setting name -> ``{uniform|loguniform|randint: [low, high]}`` or ``{choice: [values]}``."""
    num_samples: int = 8
    """Trials Optuna proposes."""
    metric: str = "val_success_rate"
    """Reported figure to optimise and to stop on (validation success, 200 held-out maps)."""
    mode: str = "max"
    """``max`` or ``min``."""
    grace_period: int = 1
    """ASHA: reports (BC epochs, PPO evaluations) a trial runs before it may be stopped."""
    reduction_factor: int = 2
    """ASHA: the fraction 1/reduction_factor of trials goes on at each rung."""
    seed: int = 0
    """Optuna sampler seed."""
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)
    """Settings tried first, before Optuna samples (e.g. the winner of the search at another size),
    each a value for every setting of ``space``; they count in ``num_samples``."""


@dataclass
class SweepSpec:
    """A sweep: the trials (env x policy x seed x grid, or a search) and how each runs."""

    name: str
    """Experiment name: trials, checkpoints and results go to ``<storage>/<name>``."""
    trainer: str
    """``bc`` (:func:`agents.training.bc.train_bc`) or ``ppo`` (:func:`agents.training.ppo.train_ppo`)."""
    envs: list[str]
    """Registered env ids."""
    policies: list[str] = field(default_factory=lambda: ["vin"])
    """Policies (``vin``, ``cnn``, ``fcn``; PPO also ``mlp``)."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Training seeds."""
    config: str | None = None
    """YAML settings per env id (default: ``hyperparams/<trainer>.yml``); ``settings`` and the grid go on top."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Settings of every trial (fields of the trainer's config dataclass)."""
    grid: dict[str, list[Any]] = field(default_factory=dict)
    """Setting name -> values: one trial per combination (and per env, policy and seed)."""
    search: SearchSpec | None = None
    """Optuna + ASHA search instead of a grid (one env and one policy)."""
    resources: dict[str, float] = field(default_factory=lambda: {"cpus": 1, "gpus": 0})
    """Per trial: ``cpus`` (also the torch threads) and ``gpus`` (a trial with a GPU trains on ``cuda``)."""
    max_failures: int = 2
    """Retries of a trial whose worker died, each from its last checkpoint."""
    storage: str = "runs/sweeps"
    """Folder (shared by every node on a cluster) of the experiment."""

    @property
    def cpus(self) -> int:
        return int(self.resources.get("cpus", 1))

    @property
    def gpus(self) -> float:
        return float(self.resources.get("gpus", 0))

    @property
    def config_path(self) -> str:
        return os.path.abspath(self.config or TRAINERS[self.trainer])

    @property
    def experiment_dir(self) -> str:
        return os.path.join(os.path.abspath(self.storage), self.name)

    def runtime_settings(self) -> dict[str, Any]:
        return {"threads": self.cpus, "device": "cuda" if self.gpus > 0 else "cpu"}


def _config_class(trainer: str) -> type:
    if trainer == "bc":
        from agents.training.bc import BCConfig

        return BCConfig
    from agents.training.ppo import PPOConfig

    return PPOConfig


def trial_config(spec: SweepSpec, env_id: str, policy: str, seed: int, settings: dict[str, Any]) -> Any:
    """The trainer's config dataclass of one trial: YAML section, spec settings, then ``settings``."""
    from agents.training.config import yaml_settings

    values = {**yaml_settings(env_id, spec.config_path), **spec.settings, **settings}
    values.update(policy=policy, seed=seed, **spec.runtime_settings())
    return load_config(_config_class(spec.trainer), spec.trainer.upper(), env_id, None, values)


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "-", str(value))


def grid_trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every trial of a grid sweep: env, policy, seed, its grid settings and its run-folder name."""
    keys = sorted(spec.grid)
    trials = []
    for env_id, policy, seed in itertools.product(spec.envs, spec.policies, spec.seeds):
        for values in itertools.product(*(spec.grid[k] for k in keys)):
            settings = dict(zip(keys, values))
            name = f"{env_id}__{spec.trainer}-{policy}__seed{seed}"
            name += "".join(f"__{k}={_slug(v)}" for k, v in settings.items())
            trials.append({"env_id": env_id, "policy": policy, "seed": seed, "settings": settings, "name": name})
    return trials


def _check_fields(path: str, cls: type, where: str, names: list[str]) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    for name in names:
        if name in RESOURCE_KEYS:
            raise spec_error(
                path,
                f"{where}.{name}",
                "set by the sweep (envs, policies, seeds, resources: cpus = torch threads, gpus -> cuda)",
            )
        if name not in known:
            raise spec_error(path, f"{where}.{name}", f"not a setting of the trainer; known: {sorted(known)}")


def _check_space(path: str, space: Any) -> None:
    if not isinstance(space, dict) or not space:
        raise spec_error(path, "search.space", "must map setting names to {kind: [values]}")
    for name, dom in space.items():
        where = f"search.space.{name}"
        if not isinstance(dom, dict) or len(dom) != 1:
            raise spec_error(path, where, f"must be one of {{kind: [...]}} with kind in {SPACE_KINDS}, got {dom!r}")
        ((kind, values),) = dom.items()
        if kind not in SPACE_KINDS:
            raise spec_error(path, where, f"unknown kind {kind!r}: choose from {SPACE_KINDS}")
        if not isinstance(values, list) or not values:
            raise spec_error(path, where, f"{kind} takes a list, got {values!r}")
        if kind == "choice":
            continue
        if len(values) != 2 or not all(isinstance(v, int | float) for v in values) or values[0] >= values[1]:
            raise spec_error(path, where, f"{kind} takes [low, high] numbers with low < high, got {values!r}")
        if kind == "loguniform" and values[0] <= 0:
            raise spec_error(path, where, f"loguniform needs low > 0, got {values[0]}")


def _check_points(path: str, points: Any, space: dict[str, Any]) -> None:
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise spec_error(path, "search.points_to_evaluate", f"must be a list of mappings, got {points!r}")
    for i, point in enumerate(points):
        where = f"search.points_to_evaluate[{i}]"
        if set(point) != set(space):
            raise spec_error(
                path, where, f"must give a value for every setting of the space {sorted(space)}, got {sorted(point)}"
            )
        for name, value in point.items():
            ((kind, values),) = space[name].items()
            inside = (
                value in values
                if kind == "choice"
                else isinstance(value, int | float) and values[0] <= value <= values[1]
            )
            if not inside:
                raise spec_error(path, f"{where}.{name}", f"{value!r} lies outside the space's {kind} {values}")


def _as_list(path: str, name: str, value: Any, kind: type) -> list[Any]:
    if not isinstance(value, list) or not value or not all(isinstance(v, kind) for v in value):
        raise spec_error(path, name, f"must be a non-empty list of {kind.__name__}, got {value!r}")
    return value


def parse_spec(raw: Any, path: str = "<spec>") -> SweepSpec:
    """Check a spec (a mapping read from YAML) field by field and build every trial's settings.

    :raises ValueError: naming the spec and the bad field.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"sweep spec {path}: must be a mapping of fields, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(SweepSpec)}
    for name in raw:
        if name not in known:
            raise spec_error(path, str(name), f"unknown field; known: {sorted(known)}")
    for name in ("name", "trainer", "envs"):
        if name not in raw:
            raise spec_error(path, name, "missing (required)")
    values = dict(raw)
    if not isinstance(values["name"], str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", values["name"]):
        raise spec_error(path, "name", f"must be a folder name (letters, digits, _ . -), got {values['name']!r}")
    if values["trainer"] not in TRAINERS:
        raise spec_error(path, "trainer", f"unknown trainer {values['trainer']!r}: choose from {sorted(TRAINERS)}")
    values["envs"] = _as_list(path, "envs", values["envs"], str)
    for name in ("policies",):
        if name in values:
            values[name] = _as_list(path, name, values[name], str)
    if "seeds" in values:
        values["seeds"] = _as_list(path, "seeds", values["seeds"], int)
        if min(values["seeds"]) < 0:
            raise spec_error(path, "seeds", f"must be non-negative, got {values['seeds']}")
    for name in ("settings", "grid", "resources"):
        if name in values and not isinstance(values[name], dict):
            raise spec_error(path, name, f"must be a mapping, got {values[name]!r}")
    for key, options in values.get("grid", {}).items():
        _as_list(path, f"grid.{key}", options, object)
    resources = values.get("resources", {})
    for key, amount in resources.items():
        if key not in ("cpus", "gpus"):
            raise spec_error(path, f"resources.{key}", "unknown resource: give cpus and gpus")
        if not isinstance(amount, int | float) or amount < 0:
            raise spec_error(path, f"resources.{key}", f"must be a number >= 0, got {amount!r}")
    if resources.get("cpus", 1) < 1 or int(resources.get("cpus", 1)) != resources.get("cpus", 1):
        raise spec_error(path, "resources.cpus", f"must be a whole number >= 1, got {resources.get('cpus')!r}")
    if not isinstance(values.get("max_failures", 0), int) or values.get("max_failures", 0) < 0:
        raise spec_error(path, "max_failures", f"must be an integer >= 0, got {values['max_failures']!r}")
    if "config" in values and values["config"] is not None and not os.path.exists(values["config"]):
        raise spec_error(path, "config", f"no settings file {values['config']}")
    search = values.get("search")
    if search is not None:
        if not isinstance(search, dict):
            raise spec_error(path, "search", f"must be a mapping, got {search!r}")
        skeys = {f.name for f in dataclasses.fields(SearchSpec)}
        for key in search:
            if key not in skeys:
                raise spec_error(path, f"search.{key}", f"unknown field; known: {sorted(skeys)}")
        _check_space(path, search.get("space"))
        for key in ("num_samples", "grace_period", "reduction_factor"):
            if key in search and (not isinstance(search[key], int) or search[key] < 1):
                raise spec_error(path, f"search.{key}", f"must be an integer >= 1, got {search[key]!r}")
        if search.get("mode", "max") not in ("max", "min"):
            raise spec_error(path, "search.mode", f"must be max or min, got {search['mode']!r}")
        _check_points(path, search.get("points_to_evaluate", []), search["space"])
        values["search"] = SearchSpec(**search)
        if values.get("grid"):
            raise spec_error(path, "grid", "a search samples its settings: give a grid or a search, not both")
        if len(values["envs"]) != 1 or len(values.get("policies", ["vin"])) != 1:
            raise spec_error(path, "search", "a search tunes one env and one policy: list one of each")
    spec = SweepSpec(**values)
    cls = _config_class(spec.trainer)
    _check_fields(path, cls, "settings", list(spec.settings))
    _check_fields(path, cls, "grid", list(spec.grid))
    if spec.search is not None:
        _check_fields(path, cls, "search.space", list(spec.search.space))
    from gridworld_env import env_size

    for env_id in spec.envs:
        try:
            env_size(env_id)
        except ValueError as exc:
            raise spec_error(path, "envs", str(exc)) from exc
    if spec.search is None:
        trials = grid_trials(spec)
    else:
        trials = [{"env_id": spec.envs[0], "policy": spec.policies[0], "seed": spec.seeds[0], "settings": {}}]
    for trial in trials:  # every trial built once: types and values checked before Ray starts
        try:
            trial_config(spec, trial["env_id"], trial["policy"], trial["seed"], trial["settings"])
        except (ValueError, TypeError) as exc:
            where = "policies" if "policy" in str(exc) else "grid" if spec.grid else "settings"
            raise spec_error(path, where, f"{trial['name'] if 'name' in trial else spec.envs[0]}: {exc}") from exc
    return spec


def load_spec(path: str) -> SweepSpec:
    """Read and check a YAML sweep spec (see the module docstring)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no sweep spec {path}")
    with open(path) as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            raise ValueError(f"sweep spec {path}: not valid YAML: {exc}") from exc
    return parse_spec(raw, path)
