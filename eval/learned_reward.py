"""Does a VIN's learned reward put high values at the goal and low ones at obstacles?

    python -m eval.learned_reward [--models agents/pretrained/bc_vin_8x8.zip ...] [--maps 200]

For each model, on held-out maps of its size: the mean learned reward at the goal, at free cells
and at obstacle cells, and the Pearson correlation of the learned reward image with the env's
reward for entering each cell (+1 goal, -1 obstacle or wall, -0.01 free). Writes
``results/learned_reward.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch

from agents.evaluation import TEST_SEED, held_out_episodes
from agents.policies import vin_of
from agents.zoo import load_model, pretrained_path
from eval.results import write_table
from gridworld_env.core import observation_images

DEFAULT_MODELS = [os.path.relpath(pretrained_path(f"VINGrid-{s}x{s}-v0")) for s in (8, 16, 28)]


def reward_statistics(model_path: str, maps: int) -> dict[str, float]:
    """Learned-reward figures of one VIN model on ``maps`` held-out maps of its size."""
    policy = load_model(model_path).policy
    vin, _ = vin_of(policy)
    size = policy.observation_space["image"].shape[-1]
    ep = held_out_episodes(size, maps, TEST_SEED)
    with torch.no_grad():
        learned = vin.reward_image(torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32)))[
            :, 0
        ].numpy()
    goal = np.zeros_like(ep.obstacles)
    goal[np.arange(maps), ep.goals[:, 0], ep.goals[:, 1]] = True
    free = ~ep.obstacles & ~goal
    true = np.where(goal, 1.0, np.where(ep.obstacles, -1.0, -0.01))
    return {
        "size": size,
        "goal": float(learned[goal].mean()),
        "free": float(learned[free].mean()),
        "obstacle": float(learned[ep.obstacles].mean()),
        "correlation": float(np.corrcoef(learned.ravel(), true.ravel())[0, 1]),
        "goal_above_all_free": float(
            (learned[goal] > np.array([learned[i][free[i]].max() for i in range(maps)])).mean()
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.learned_reward", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="VIN SB3 zips")
    parser.add_argument("--maps", type=int, default=200, help="held-out maps per model (default: %(default)s)")
    parser.add_argument("--out", default="results/learned_reward.md", help="markdown output (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.maps < 1:
        parser.error(f"--maps must be >= 1, got {args.maps}")
    for path in args.models:
        if not os.path.exists(path):
            parser.error(f"no model at {path}")
    rows = []
    for path in args.models:
        s = reward_statistics(path, args.maps)
        rows.append(
            [
                f"`{os.path.basename(path)}`",
                f"{s['size']}x{s['size']}",
                f"{s['goal']:.2f}",
                f"{s['free']:.2f}",
                f"{s['obstacle']:.2f}",
                f"{100 * s['goal_above_all_free']:.0f} %",
                f"{s['correlation']:.3f}",
            ]
        )
    print(
        write_table(
            args.out,
            "The learned reward",
            f"python -m eval.learned_reward --maps {args.maps} --models {' '.join(args.models)}",
            "Mean learned reward by cell type on held-out maps (env seeds from 10^9), the share of maps whose goal gets a "
            "higher learned reward than every free cell, and the Pearson correlation with the env's reward for entering "
            "a cell (+1 goal, -1 obstacle or wall, -0.01 free).",
            ["model", "size", "goal", "free", "obstacle", "goal above every free cell", "correlation"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
