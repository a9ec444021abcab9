"""Typed settings dataclasses: build them from YAML / ``key=value`` values, check every field's
type, and compare the settings of a run with those stored in its checkpoint.

The trainers' configs (:class:`agents.training.bc.BCConfig`, :class:`agents.training.ppo.PPOConfig`) call
:func:`check_types` first in ``__post_init__``, so a wrong type is refused with the key's name
before any work, whether the config comes from the command line or from Python.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

#: Settings that change how a run executes, not what it computes: a resumed run may change them.
RUNTIME_KEYS = frozenset({"threads", "device"})

#: The folder holding the ``agents`` package: a checkout's root, or ``site-packages`` once installed.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HYPERPARAMS = os.path.join(PACKAGE_PARENT, "hyperparams")
BC_CONFIG = os.path.join(HYPERPARAMS, "bc.yml")
PPO_CONFIG = os.path.join(HYPERPARAMS, "ppo.yml")


def _field_types(cls: type) -> dict[str, Any]:
    """The annotations of the dataclass ``cls``'s fields (class variables left out)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _accepts(tp: Any, value: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is not None:  # list[int], dict[int, int]: the container's type only
        return isinstance(value, origin)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "").replace("NoneType", "None")


def check_types(config: Any) -> None:
    """Check every field of the dataclass instance ``config`` against its annotation.

    ``bool`` is not taken for ``int`` or ``float`` (``epochs=true`` is refused); an ``int`` is
    taken for a ``float`` and converted, so ``lr=1`` means ``1.0``.

    :raises ValueError: naming the first field whose value has the wrong type.
    """
    for name, tp in _field_types(type(config)).items():
        value = getattr(config, name)
        if not _accepts(tp, value):
            raise ValueError(
                f"setting {name!r} must be of type {_type_name(tp)}, got {value!r} ({type(value).__name__})"
            )
        if tp is float or (typing.get_origin(tp) in (typing.Union, types.UnionType) and float in typing.get_args(tp)):
            if isinstance(value, int):
                setattr(config, name, float(value))


def check_positive(config: Any, names: Iterable[str]) -> None:
    """``ValueError`` naming the first of ``names`` whose value is below 1 (``None``: not set, passes)."""
    for name in names:
        if getattr(config, name) is not None and getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


@dataclasses.dataclass
class VINSettings:
    """The VIN's planner and action-head settings, the same fields in BC
    (:class:`agents.training.bc.BCConfig`) and PPO (:class:`agents.training.ppo.PPOConfig`), which
    derive from this class; the CNN, FCN and GPPN ignore them."""

    kernel_init: str = "moves"
    """VIN: start of the value-iteration kernels, ``moves`` (the env's moves) or ``zero`` (value
    kernel zero, reward kernel PyTorch's default, as the public ports start; see :class:`agents.planners.vin.VIN`)."""
    terminal_goal: bool = False
    """VIN: the goal's value is 0 in every value-iteration backup (see :class:`agents.planners.vin.VIN`)."""
    learn_vi_kernels: bool = True
    """VIN: ``False`` keeps the value-iteration kernels at the env's moves (only the reward and the
    head learn; see :class:`agents.policies.vin.VINExtractor`)."""
    reward_kernel: int = 3
    """VIN: kernel of the hidden reward layer, 3 (published) or 1 (each cell's reward reads that cell)."""
    walls_block: bool = False
    """VIN: a move into an obstacle leaves the agent in place, as in the env (needs
    ``learn_vi_kernels=False``; see :class:`agents.planners.vin.VIN`)."""
    head_init: str = "orthogonal"
    """VIN: start of the action head, ``orthogonal`` or ``moves`` (logit ``a`` = Q channel ``a``;
    see :class:`agents.policies.vin.VINPolicy`)."""
    learn_head: bool = True
    """VIN: ``False`` keeps the ``moves`` head fixed: the policy is the softmax of the planner's Q."""

    def vin_kwargs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """These settings as SB3 arguments: (``VINExtractor`` keyword arguments, ``VINPolicy`` ones)."""
        extractor = ("kernel_init", "terminal_goal", "learn_vi_kernels", "reward_kernel", "walls_block")
        values = dataclasses.asdict(self)
        head = {name: values[name] for name in ("head_init", "learn_head")}
        return {name: values[name] for name in extractor}, head

    def check_vin_settings(self) -> None:
        """``ValueError`` naming the setting for a bad choice or a combination the VIN cannot run."""
        check_choice("kernel_init", self.kernel_init, ("moves", "zero"))
        check_choice("head_init", self.head_init, ("orthogonal", "moves"))
        if not self.learn_vi_kernels and self.kernel_init != "moves":
            raise ValueError(
                "learn_vi_kernels=false keeps the kernels at the env's moves: it needs kernel_init='moves', "
                f"got {self.kernel_init!r}"
            )
        if self.walls_block and self.learn_vi_kernels:
            raise ValueError("walls_block=true needs learn_vi_kernels=false (Q channel a must stay move a)")
        if not self.learn_head and self.head_init != "moves":
            raise ValueError("learn_head=false keeps the action head at its start: it needs head_init='moves'")


def check_device(device: str) -> None:
    """``ValueError`` unless ``device`` is ``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""
    if device not in ("auto", "cpu") and not (
        device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())
    ):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")


def resolve_device(device: str) -> str:
    """The torch device of a ``device`` setting: ``auto`` is CUDA when there is one, else the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def make_config(cls: Any, values: dict[str, Any], what: str) -> Any:
    """``cls(**values)`` for a config dataclass, with a clear error for unknown keys."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["epochs=5", "lr=0.01"]`` -> ``{"epochs": 5, "lr": 0.01}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or key.startswith("-"):
            raise ValueError(f"override {item!r} is not of the form key=value")
        out[key] = yaml.safe_load(value)
    return out


def yaml_settings(env_id: str, config_path: str | None) -> dict[str, Any]:
    """The section of ``env_id`` in a YAML file of settings per env id (``{}`` if it has none)."""
    if config_path is None:
        return {}
    if not os.path.exists(config_path):
        raise FileNotFoundError(
            f"no settings file {config_path}: hyperparams/ belongs to the repository checkout; pass the path of a "
            "YAML file of settings per env id, or None for the dataclass defaults"
        )
    with open(config_path) as f:
        sections = yaml.safe_load(f) or {}
    if not isinstance(sections, dict):
        raise ValueError(f"{config_path} must map env ids to settings")
    section = sections.get(env_id) or {}
    if not isinstance(section, dict):
        raise ValueError(f"the section {env_id!r} of {config_path} must map setting names to values")
    return dict(section)


def load_config(
    cls: Any,
    what: str,
    env_id: str,
    config_path: str | None,
    flags: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> Any:
    """Settings of ``env_id``: the YAML section, then command-line flags, then ``key=value`` overrides."""
    values = {**yaml_settings(env_id, config_path), **(flags or {}), **parse_overrides(overrides), "env_id": env_id}
    return make_config(cls, values, what)


def check_resume_settings(
    path: str, saved: dict[str, Any], current: dict[str, Any], may_differ: Iterable[str] = ()
) -> None:
    """Refuse to resume a run whose stored settings differ from ``current``.

    Keys of :data:`RUNTIME_KEYS` and ``may_differ`` may differ.

    :raises ValueError: naming each differing key with its stored and its given value.
    """
    free = RUNTIME_KEYS | set(may_differ)
    keys = sorted((set(saved) | set(current)) - free)
    diffs = [
        f"{k}: stored {saved.get(k, '<absent>')!r}, given {current.get(k, '<absent>')!r}"
        for k in keys
        if saved.get(k) != current.get(k)
    ]
    if diffs:
        raise ValueError(
            f"{path} was written with other settings ({'; '.join(diffs)}); resume with the stored "
            f"settings, or start a new run (another --out, or --overwrite)"
        )


def with_defaults(config_class: type, stored: dict[str, Any]) -> dict[str, Any]:
    """Stored settings of a ``config_class`` run with the fields added since they were written
    set to their defaults (those fields did not exist, so the run used what their defaults do)."""
    fields = dataclasses.fields(config_class)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    return {**{k: v for k, v in defaults.items() if k not in stored}, **stored}
