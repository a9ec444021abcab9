"""Training front end.

    python -m train bc --env VINGrid-16x16-v0 [--config hyperparams/bc.yml] [key=value ...] [--out runs/NAME] [--resume]

Settings are the fields of :class:`agents.bc.BCConfig`: the YAML section of the env id,
then ``key=value`` overrides (YAML syntax for the value, e.g. ``epochs=5 loss=optimal_set``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hyperparams", "bc.yml")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["epochs=5", "lr=0.01"]`` -> ``{"epochs": 5, "lr": 0.01}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        out[key] = yaml.safe_load(value)
    return out


def load_bc_config(env_id: str, config_path: str | None, overrides: Sequence[str]) -> Any:
    """The BC settings of ``env_id``: YAML section, then overrides."""
    from agents.bc import BCConfig

    values: dict[str, Any] = {}
    if config_path is not None:
        with open(config_path) as f:
            sections = yaml.safe_load(f) or {}
        if not isinstance(sections, dict):
            raise ValueError(f"{config_path} must map env ids to settings")
        values.update(sections.get(env_id) or {})
    values.update(parse_overrides(overrides))
    values["env_id"] = env_id
    return BCConfig.from_dict(values)


def run_name(cfg: Any) -> str:
    """A reproducible run name: env, algorithm and seed."""
    return f"{cfg.env_id}__bc__seed{cfg.seed}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bc = sub.add_parser("bc", help="behaviour cloning of the BFS expert")
    bc.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id (default: %(default)s)")
    bc.add_argument("--config", default=DEFAULT_CONFIG, help="YAML settings per env id (default: hyperparams/bc.yml)")
    bc.add_argument("--out", default=None, help="run folder (default: runs/<env>__bc__seed<seed>)")
    bc.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    bc.add_argument("--no-progress", action="store_true", help="no progress bar")
    bc.add_argument("overrides", nargs="*", help="key=value settings (fields of agents.bc.BCConfig)")
    args = parser.parse_args(argv)
    try:
        cfg = load_bc_config(args.env, args.config, args.overrides)
    except (ValueError, TypeError, OSError, yaml.YAMLError) as exc:
        parser.error(str(exc))
    from agents.bc import train_bc

    out = args.out or os.path.join("runs", run_name(cfg))
    try:
        _, history = train_bc(cfg, out, resume=args.resume, progress=not args.no_progress,
                              log_dir=os.path.join(out, "tb"))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"model": os.path.join(out, "model.zip"), **history[-1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
