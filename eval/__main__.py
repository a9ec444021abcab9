"""Evaluate a saved SB3 model on held-out maps under the VIN paper's protocol.

    python -m eval --model runs/NAME/model.zip --env VINGrid-16x16-v0 [--episodes 1000] [--seed S]

Held-out maps are those of ``env.reset(seed=s)`` for ``s`` in ``[S, S + episodes)``;
the default ``S`` is 10^9, outside every training and validation seed (agents.evaluation).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from agents.evaluation import TEST_SEED

    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an SB3 .zip (PPO or MaskablePPO)")
    parser.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=1000, help="held-out maps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=TEST_SEED, help="first env seed (default: 10^9)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if not os.path.exists(args.model):
        parser.error(f"no model at {args.model}")
    from stable_baselines3 import PPO

    from agents.evaluation import evaluate_policy_on_maps
    from gridworld_env import env_size

    try:
        size = env_size(args.env)
        model = PPO.load(args.model, device="cpu")
    except ValueError as exc:
        parser.error(str(exc))
    result = evaluate_policy_on_maps(model.policy, size, args.episodes, args.seed)
    print(json.dumps({"env": args.env, "model": args.model, "seed": args.seed, **result.as_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
