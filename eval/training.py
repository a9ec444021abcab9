"""What the ``eval`` experiment scripts train: a BC run scored on held-out maps."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from typing import Any


def train_and_score(size: int, overrides: Sequence[str], episodes: int) -> tuple[Any, Any, float]:
    """BC with ``hyperparams/bc.yml`` for ``VINGrid-<size>`` plus ``key=value`` overrides, in a
    temporary folder, then the paper-protocol evaluation on ``episodes`` held-out maps.

    :return: (model, :class:`agents.evaluation.EvalResult`, training minutes).
    """
    from agents.evaluation import evaluate_policy_on_maps
    from agents.training.bc import load_bc_config, train_bc
    from agents.training.config import BC_CONFIG

    cfg = load_bc_config(f"VINGrid-{size}x{size}-v0", BC_CONFIG, overrides)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        model, _ = train_bc(cfg, run_dir)
    minutes = (time.perf_counter() - t0) / 60
    return model, evaluate_policy_on_maps(model.policy, size, episodes), minutes


def budget_parser(prog: str, description: str | None, out: str, threads: bool = False) -> argparse.ArgumentParser:
    """The parser of a one-table script that trains by BC: ``--sizes``, the budget and ``--out``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16], help="map sizes")
    add_budget_arguments(parser, threads)
    parser.add_argument("--out", default=out, help="markdown output (default: %(default)s)")
    return parser


def add_budget_arguments(parser: argparse.ArgumentParser, threads: bool = False) -> None:
    """``--maps --epochs --episodes`` (and ``--threads``) of a script that trains by BC."""
    parser.add_argument("--maps", type=int, default=2000, help="training maps (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="BC epochs (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=1000, help="held-out maps (default: %(default)s)")
    if threads:
        parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")


def parse_budget(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``, refusing a budget flag below 1."""
    args = parser.parse_args(argv)
    check_budget(parser, args)
    return args


def budget_text(args: argparse.Namespace) -> str:
    """The training budget, as a results page states it."""
    return f"BC with `hyperparams/bc.yml` on {args.maps} maps for {args.epochs} epochs"


def check_budget(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The parser's error for a budget flag below 1."""
    from eval.experiment import check_at_least

    check_at_least(parser, args, {name: 1 for name in ("maps", "epochs", "episodes", "threads") if hasattr(args, name)})


def scored_run(
    size: int, settings: dict[str, Any], args: argparse.Namespace, seed: int, label: str
) -> tuple[Any, Any, float]:
    """:func:`train_and_score` with ``settings`` on the budget of ``args`` (:func:`add_budget_arguments`),
    printing one line named ``label``."""
    budget = {"n_maps": args.maps, "epochs": args.epochs, "seed": seed, "threads": getattr(args, "threads", 1)}
    overrides = [f"{key}={value}" for key, value in {**settings, **budget}.items()]
    model, result, minutes = train_and_score(size, overrides, args.episodes)
    line = f"size {size} {label}: success {result.success_rate:.3f}, accuracy {result.action_accuracy:.3f}"
    print(f"{line}, {minutes:.1f} min", flush=True)
    return model, result, minutes
