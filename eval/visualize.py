"""The planner at work: a VIN's learned reward and its value after each iteration.

    python -m eval.visualize --model agents/pretrained/bc_vin_16x16.zip --env VINGrid-16x16-v0 --seed 1000000000

Writes ``<out>/planner_<env>_<seed>.png`` (the map with the agent's path, the learned reward,
then the value image after each VI iteration, the path overlaid on each) and
``<out>/planner_<env>_<seed>.gif`` (the map beside the value image, one frame per iteration).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from agents.evaluation import TEST_SEED

    parser = argparse.ArgumentParser(
        prog="python -m eval.visualize", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="an SB3 .zip with a VIN policy")
    parser.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=TEST_SEED, help="env seed of the map (default: 10^9)")
    parser.add_argument("--out", default="results", help="output folder (default: %(default)s)")
    parser.add_argument("--cell-pixels", type=int, default=12, help="pixels per cell (default: %(default)s)")
    args = parser.parse_args(argv)
    if not os.path.exists(args.model):
        parser.error(f"no model at {args.model}")
    if args.cell_pixels < 2:
        parser.error(f"--cell-pixels must be >= 2, got {args.cell_pixels}")
    from agents.pictures import planner_pictures
    from agents.zoo import load_model
    from gridworld_env import env_size
    from gridworld_env.rendering import save_gif, save_png

    try:
        env_size(args.env)
        model = load_model(args.model)
        grid, frames, success = planner_pictures(model.policy, args.env, args.seed, args.cell_pixels)
    except ValueError as exc:
        parser.error(str(exc))
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"planner_{args.env}_{args.seed}")
    save_png(grid, stem + ".png")
    save_gif(frames + [frames[-1]] * 4, stem + ".gif", fps=4)
    print(json.dumps({"png": stem + ".png", "gif": stem + ".gif", "iterations": len(frames), "success": success}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
