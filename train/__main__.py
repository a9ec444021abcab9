"""Training front end.

    python -m train bc --env VINGrid-16x16-v0 [--config hyperparams/bc.yml] [key=value ...] [--out runs/NAME]
                       [--resume | --overwrite]
    python -m train ppo --env VINGrid-8x8-v0 --policy vin|cnn|fcn|mlp [--masked] [--curriculum] [--init MODEL]
                        [--config hyperparams/ppo.yml] [key=value ...] [--out runs/NAME] [--resume | --overwrite]
    python -m train worldmodels --env VINGrid-8x8-v0 --logdir DIR [--stage collect|vae|mdnrnn|controller|all]
                                [--noreload] [--config hyperparams/worldmodels.yml] [key=value ...]
    python -m train planet --env VINGrid-8x8-v0 --logdir DIR [--resume | --overwrite]
                           [--config hyperparams/planet.yml] [key=value ...]
    python -m train sweep SPEC.yml [--address HEAD:6379] [--resume | --overwrite] [--max-concurrent N]

A sweep (:mod:`agents.sweep.spec`, examples in ``hyperparams/sweeps/``) runs its trials on Ray
Tune: inside the command on this machine's cores, or on the cluster at ``--address`` (or
``RAY_ADDRESS``). ``--resume`` continues an interrupted sweep without redoing finished trials.

Settings are the fields of :class:`agents.training.bc.BCConfig` / :class:`agents.training.ppo.PPOConfig`: the
YAML section of the env id, then the flags, then ``key=value`` overrides (YAML syntax for
the value, e.g. ``epochs=5 loss=optimal_set``), anywhere among the flags. Each value is checked
against its field's type before any work.

A run folder that already holds a run is refused: ``--resume`` continues it (settings must match,
except threads and device), ``--overwrite`` replaces it. World Models works like its reference
code instead: an existing ``--logdir`` is continued (settings must match, except threads and the
controller's ``generations`` and ``target_return``), ``--noreload`` starts it afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from agents.training.bc import load_bc_config
from agents.training.config import BC_CONFIG, HYPERPARAMS, PPO_CONFIG, load_config
from agents.training.ppo import load_ppo_config

WM_CONFIG = os.path.join(HYPERPARAMS, "worldmodels.yml")
PLANET_CONFIG = os.path.join(HYPERPARAMS, "planet.yml")


def run_name(cfg: Any) -> str:
    """A reproducible run name: env, algorithm (and policy options) and seed."""
    from agents.training.ppo import PPOConfig

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
    sub.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run already in the run folder (without it, such a folder is refused)",
    )
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_argument("overrides", nargs="*", help="key=value settings (fields of the config dataclass)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("bc", help="behaviour cloning of the BFS expert"), BC_CONFIG)
    ppo = sub.add_parser("ppo", help="PPO or MaskablePPO on the batched env")
    _common(ppo, PPO_CONFIG)
    ppo.add_argument("--policy", choices=["vin", "cnn", "fcn", "mlp"], default=None, help="policy (default: vin)")
    ppo.add_argument("--masked", action="store_true", default=None, help="MaskablePPO with action masks")
    ppo.add_argument("--curriculum", action="store_true", default=None, help="start near the goal and widen")
    ppo.add_argument("--init", default=None, help="SB3 zip or BC checkpoint.pt to start from (BC then PPO)")
    wm = sub.add_parser("worldmodels", help="World Models: V (VAE), M (MDN-RNN), C (CMA-ES controller)")
    wm.add_argument("--env", default="VINGrid-8x8-v0", help="registered env id (default: %(default)s)")
    wm.add_argument(
        "--config", default=WM_CONFIG, help=f"YAML settings per env id (default: {os.path.relpath(WM_CONFIG)})"
    )
    wm.add_argument("--logdir", required=True, help="run folder: continued if it exists")
    wm.add_argument("--stage", default="all", choices=["collect", "vae", "mdnrnn", "controller", "all"])
    wm.add_argument("--noreload", action="store_true", help="start the logdir afresh (deletes its run files)")
    wm.add_argument(
        "--from",
        dest="source",
        metavar="LOGDIR",
        help="start a new logdir with this run's data, V and M, to train another C (e.g. controller_inputs=z)",
    )
    wm.add_argument("--no-progress", action="store_true", help="no progress bars")
    wm.add_argument("overrides", nargs="*", help="key=value settings (fields of WorldModelsConfig)")
    planet = sub.add_parser("planet", help="PlaNet: a latent dynamics model (RSSM) and CEM planning on it")
    planet.add_argument("--env", default="VINGrid-8x8-v0", help="registered env id (default: %(default)s)")
    planet.add_argument(
        "--config", default=PLANET_CONFIG, help=f"YAML settings per env id (default: {os.path.relpath(PLANET_CONFIG)})"
    )
    planet.add_argument("--logdir", required=True, help="run folder (a folder holding a run is refused)")
    planet.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    planet.add_argument("--overwrite", action="store_true", help="replace a run already in the run folder")
    planet.add_argument("--no-progress", action="store_true", help="no progress bar")
    planet.add_argument("overrides", nargs="*", help="key=value settings (fields of PlaNetConfig)")
    sweep = sub.add_parser("sweep", help="a sweep of BC / PPO trials on Ray Tune (local cores or a cluster)")
    sweep.add_argument("spec", help="sweep spec (YAML; see hyperparams/sweeps/)")
    sweep.add_argument("--address", default=None, help="Ray cluster address HEAD:6379 (default: RAY_ADDRESS or local)")
    sweep.add_argument("--resume", action="store_true", help="continue an interrupted sweep (finished trials kept)")
    sweep.add_argument("--overwrite", action="store_true", help="replace the experiment folder of a previous sweep")
    sweep.add_argument("--max-concurrent", type=int, default=None, help="at most N trials at once")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, Any]:
    """The parsed flags and the checked config (no training); exits with a usage error on bad input."""
    parser = build_parser()
    # key=value overrides may come before, between and after the flags.
    args, extra = parser.parse_known_args(argv)
    stray = [item for item in extra if item.startswith("-") or "=" not in item]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    args.overrides = [*getattr(args, "overrides", []), *extra]
    if getattr(args, "resume", False) and getattr(args, "overwrite", False):
        parser.error("--resume continues the run in the folder and --overwrite replaces it: give one")
    if args.command == "sweep":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.max_concurrent is not None and args.max_concurrent < 1:
            parser.error(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
        from agents.sweep.spec import load_spec

        try:
            return args, load_spec(args.spec)
        except (ValueError, FileNotFoundError) as exc:
            parser.error(str(exc))
    try:
        if args.command == "worldmodels":
            from agents.worldmodels.config import WorldModelsConfig

            return args, load_config(WorldModelsConfig, "World Models", args.env, args.config, None, args.overrides)
        if args.command == "planet":
            from agents.planet.config import PlaNetConfig

            return args, load_config(PlaNetConfig, "PlaNet", args.env, args.config, None, args.overrides)
        if args.command == "bc":
            cfg = load_bc_config(args.env, args.config, args.overrides)
        else:
            flags = {k: v for k in ("policy", "masked", "curriculum", "init") if (v := getattr(args, k)) is not None}
            cfg = load_ppo_config(args.env, args.config, flags, args.overrides)
    except (ValueError, TypeError, OSError, yaml.YAMLError) as exc:
        parser.error(str(exc))
    args.out = args.out or os.path.join("runs", run_name(cfg))
    return args, cfg


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = parse_args(argv)
    if args.command == "worldmodels":
        return _worldmodels(args, cfg)
    if args.command == "sweep":
        return _sweep(args, cfg)
    if args.command == "planet":
        return _planet(args, cfg)
    out = args.out
    if args.command == "bc":
        from agents.training.bc import train_bc as trainer
    else:
        from agents.training.ppo import train_ppo as trainer
    try:
        _, history = trainer(
            cfg,
            out,
            resume=args.resume,
            progress=not args.no_progress,
            log_dir=os.path.join(out, "tb"),
            overwrite=args.overwrite,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: continue with the same command and --resume (run folder {out})", file=sys.stderr)
        return 130
    print(json.dumps({"model": os.path.join(out, "model.zip"), **(history[-1] if history else {})}))
    return 0


def _worldmodels(args: argparse.Namespace, cfg: Any) -> int:
    from agents.worldmodels.pipeline import train_worldmodels

    try:
        agent = train_worldmodels(
            cfg, args.logdir, args.stage, args.noreload, progress=not args.no_progress, source=args.source
        )
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: run the same command again to continue (logdir {args.logdir})", file=sys.stderr)
        return 130
    done = agent is not None
    print(
        json.dumps(
            {
                "logdir": args.logdir,
                "stage": args.stage,
                "agent": os.path.join(args.logdir, "agent.pt") if done else None,
            }
        )
    )
    return 0


def _planet(args: argparse.Namespace, cfg: Any) -> int:
    from agents.planet.train import train_planet

    try:
        agent = train_planet(cfg, args.logdir, args.resume, args.overwrite, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: continue with the same command and --resume (logdir {args.logdir})", file=sys.stderr)
        return 130
    print(json.dumps({"agent": os.path.join(args.logdir, "model.pt"), **agent.info}))
    return 0


def _sweep(args: argparse.Namespace, spec: Any) -> int:
    from agents.sweep.runner import RunnerOptions, SweepInterrupted, run_sweep

    options = RunnerOptions(
        address=args.address,
        max_concurrent=args.max_concurrent,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    try:
        results = run_sweep(spec, options)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SweepInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"interrupted: continue with the same command and --resume ({spec.experiment_dir})", file=sys.stderr)
        return 130
    failed = [r for r in results if r["error"] is not None]
    for record in results:
        figures = {k: record["metrics"].get(k) for k in ("training_iteration", "val_success_rate")}
        print(
            json.dumps({"trial": record["config"].get("name", record["config"]), **figures, "error": record["error"]})
        )
    print(json.dumps({"experiment": spec.experiment_dir, "trials": len(results), "failed": len(failed)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
