"""Training front end.

    python -m train bc --env VINGrid-16x16-v0 [--config hyperparams/bc.yml] [key=value ...] [--out runs/NAME] [--resume]
    python -m train ppo --env VINGrid-8x8-v0 --policy vin|cnn|fcn|mlp [--masked] [--curriculum] [--init MODEL]
                        [--config hyperparams/ppo.yml] [key=value ...] [--out runs/NAME] [--resume]

Settings are the fields of :class:`agents.bc.BCConfig` / :class:`agents.ppo.PPOConfig`: the
YAML section of the env id, then the flags, then ``key=value`` overrides (YAML syntax for
the value, e.g. ``epochs=5 loss=optimal_set``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml

HYPERPARAMS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hyperparams")
DEFAULT_CONFIG = os.path.join(HYPERPARAMS, "bc.yml")
DEFAULT_PPO_CONFIG = os.path.join(HYPERPARAMS, "ppo.yml")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["epochs=5", "lr=0.01"]`` -> ``{"epochs": 5, "lr": 0.01}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        out[key] = yaml.safe_load(value)
    return out


def make_config(cls: Any, values: dict[str, Any], what: str) -> Any:
    """``cls(**values)`` for a config dataclass, with a clear error for unknown keys."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return cls(**values)


def load_bc_config(env_id: str, config_path: str | None, overrides: Sequence[str]) -> Any:
    """The BC settings of ``env_id``: YAML section, then overrides."""
    from agents.bc import BCConfig

    return make_config(BCConfig, _settings(env_id, config_path, {}, overrides), "BC")


def load_ppo_config(env_id: str, config_path: str | None, flags: dict[str, Any], overrides: Sequence[str]) -> Any:
    """The PPO settings of ``env_id``: YAML section, then command-line flags, then overrides."""
    from agents.ppo import PPOConfig

    return make_config(PPOConfig, _settings(env_id, config_path, flags, overrides), "PPO")


def _settings(env_id: str, config_path: str | None, flags: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if config_path is not None:
        with open(config_path) as f:
            sections = yaml.safe_load(f) or {}
        if not isinstance(sections, dict):
            raise ValueError(f"{config_path} must map env ids to settings")
        values.update(sections.get(env_id) or {})
    values.update(flags)
    values.update(parse_overrides(overrides))
    values["env_id"] = env_id
    return values


def run_name(cfg: Any) -> str:
    """A reproducible run name: env, algorithm (and policy options) and seed."""
    from agents.ppo import PPOConfig

    if isinstance(cfg, PPOConfig):
        algo = "ppo-" + cfg.policy + ("-masked" if cfg.masked else "") + ("-curriculum" if cfg.curriculum else "")
        algo += "-init" if cfg.init else ""
    else:
        algo = "bc" if getattr(cfg, "policy", "vin") == "vin" else f"bc-{cfg.policy}"
    return f"{cfg.env_id}__{algo}__seed{cfg.seed}"


def _common(sub: Any, config: str) -> None:
    sub.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id (default: %(default)s)")
    sub.add_argument("--config", default=config, help=f"YAML settings per env id (default: {os.path.relpath(config)})")
    sub.add_argument("--out", default=None, help="run folder (default: runs/<env>__<algo>__seed<seed>)")
    sub.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_argument("overrides", nargs="*", help="key=value settings (fields of the config dataclass)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("bc", help="behaviour cloning of the BFS expert"), DEFAULT_CONFIG)
    ppo = sub.add_parser("ppo", help="PPO or MaskablePPO on the batched env")
    _common(ppo, DEFAULT_PPO_CONFIG)
    ppo.add_argument("--policy", choices=["vin", "cnn", "fcn", "mlp"], default=None, help="policy (default: vin)")
    ppo.add_argument("--masked", action="store_true", default=None, help="MaskablePPO with action masks")
    ppo.add_argument("--curriculum", action="store_true", default=None, help="start near the goal and widen")
    ppo.add_argument("--init", default=None, help="SB3 zip or BC checkpoint.pt to start from (BC then PPO)")
    args = parser.parse_args(argv)
    try:
        if args.command == "bc":
            cfg = load_bc_config(args.env, args.config, args.overrides)
        else:
            flags = {k: v for k in ("policy", "masked", "curriculum", "init") if (v := getattr(args, k)) is not None}
            cfg = load_ppo_config(args.env, args.config, flags, args.overrides)
    except (ValueError, TypeError, OSError, yaml.YAMLError) as exc:
        parser.error(str(exc))
    out = args.out or os.path.join("runs", run_name(cfg))
    try:
        if args.command == "bc":
            from agents.bc import train_bc

            _, history = train_bc(cfg, out, resume=args.resume, progress=not args.no_progress,
                                  log_dir=os.path.join(out, "tb"))
        else:
            from agents.ppo import train_ppo

            _, history = train_ppo(cfg, out, resume=args.resume, progress=not args.no_progress,
                                   log_dir=os.path.join(out, "tb"))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"model": os.path.join(out, "model.zip"), **(history[-1] if history else {})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
