"""Generalisation across sizes: a VIN trained on one map size, evaluated on larger maps.

    python -m eval.cross_size [--model agents/pretrained/bc_vin_16x16.zip] [--sizes 28 32] [--episodes 1000]

The VIN is convolutional, so its weights fit any map size; only K has to grow with the map.
Each target size is evaluated with the training K and with K scaled (the paper's K for the
size, else about 1.3 x size). Writes ``results/cross_size.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from agents.evaluation import EvalResult, evaluate_policy_on_maps
from agents.planners import default_k, set_inference_planning
from agents.policies import resize_policy, vin_of
from agents.zoo import load_model, pretrained_path
from eval.results import table_main


def transplant(model_path: str, size: int, k: int) -> object:
    """The policy of ``model_path`` rebuilt for ``size x size`` maps (every setting of its VIN
    kept: :func:`agents.policies.extractors.resize_policy`), planning with ``k`` iterations."""
    target = resize_policy(load_model(model_path).policy, size)
    set_inference_planning(target, k)
    return target


def cross_size(model_path: str, sizes: Sequence[int], episodes: int) -> list[tuple[int, int, EvalResult]]:
    """(size, K, result) for each size, at the training K and at the scaled K."""
    train_k = vin_of(load_model(model_path).policy)[0].k
    rows = []
    for size in sizes:
        for k in dict.fromkeys([train_k, default_k(size)]):
            rows.append((size, k, evaluate_policy_on_maps(transplant(model_path, size, k), size, episodes)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.cross_size", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        default=os.path.relpath(pretrained_path("VINGrid-16x16-v0")),
        help="a VIN SB3 zip (default: the shipped 16x16 BC agent)",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 32], help="target map sizes")
    parser.add_argument("--episodes", type=int, default=1000, help="held-out maps per size (default: %(default)s)")
    parser.add_argument("--out", default="results/cross_size.md", help="markdown output (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if not os.path.exists(args.model):
        parser.error(f"no model at {args.model}")

    def rows() -> list[list[str]]:
        return [
            [f"{size}x{size}", str(k)]
            + [f"{100 * v:.1f} %" for v in (r.success_rate, r.collision_free_success_rate, r.action_accuracy)]
            + [f"{r.path_ratio:.3f}"]
            for size, k, r in cross_size(args.model, args.sizes, args.episodes)
        ]

    command = f"python -m eval.cross_size --model {args.model} --sizes {' '.join(map(str, args.sizes))} --episodes {args.episodes}"
    description = f"Model: `{args.model}`, evaluated on {args.episodes} held-out maps per size (env seeds from 10^9), paper protocol."
    header = ["size", "K", "success", "collision-free", "action accuracy", "path / optimal"]
    return table_main(parser, rows, args.out, "Generalisation across sizes", command, description, header)


if __name__ == "__main__":
    sys.exit(main())
