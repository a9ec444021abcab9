"""Evaluate a saved SB3 model on held-out maps under the VIN paper's protocol.

    python -m eval --model runs/NAME/model.zip --env VINGrid-16x16-v0 [--episodes 1000] [--seed S]
                   [--render human|gif] [--render-episodes 3] [--render-out out/eval.gif] [--no-progress]

Held-out maps are those of ``env.reset(seed=s)`` for ``s`` in ``[S, S + episodes)``;
the default ``S`` is 10^9, outside every training and validation seed (agents.evaluation).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from agents.evaluation import TEST_SEED
    from eval.experiment import check_at_least

    parser = argparse.ArgumentParser(
        prog="python -m eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="an SB3 .zip (PPO or MaskablePPO)")
    parser.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=1000, help="held-out maps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=TEST_SEED, help="first env seed (default: 10^9)")
    parser.add_argument(
        "--render",
        choices=["human", "gif"],
        default=None,
        help="also show the first episodes in a window, or save them as a GIF",
    )
    parser.add_argument("--render-episodes", type=int, default=3, help="episodes to render (default: %(default)s)")
    parser.add_argument("--render-out", default="out/eval.gif", help="GIF path for --render gif (default: %(default)s)")
    parser.add_argument(
        "--plan-k", type=int, default=None, help="VIN / GPPN: planning iterations in place of the trained K"
    )
    parser.add_argument(
        "--plan-tol",
        type=float,
        default=None,
        help="VIN / GPPN: stop planning once no value changes by more than this (run to convergence)",
    )
    parser.add_argument(
        "--any-size",
        action="store_true",
        help="rebuild a convolutional planner (VIN, GPPN, FCN) for the env's map size (its weights fit any size)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    check_at_least(parser, args, {"episodes": 1, "seed": 0, "render_episodes": 1})
    if os.path.isdir(args.model):
        parser.error(f"{args.model} is a folder: give the model's .zip file (a run folder holds model.zip)")
    if not os.path.exists(args.model):
        parser.error(f"no model at {args.model}")
    from agents.evaluation import check_policy_size, evaluate_agent_on_maps, evaluate_policy_on_maps
    from agents.zoo import load_model
    from gridworld_env import env_size, env_spec

    try:
        size, spec = env_size(args.env), env_spec(args.env)
        model = load_model(args.model)
        if hasattr(model, "policy") and args.any_size:
            from agents.policies import resize_policy

            model.policy = resize_policy(model.policy, size)
        if hasattr(model, "policy"):
            check_policy_size(model.policy, size)
        elif model.size != size:
            raise ValueError(f"the agent was trained on {model.size}x{model.size} maps, not {size}x{size}")
    except ValueError as exc:
        parser.error(f"{args.model}: {exc}" if "trained on" in str(exc) else str(exc))
    if args.plan_k is not None or args.plan_tol is not None:
        from agents.planners import set_inference_planning

        try:
            if not hasattr(model, "policy"):
                raise ValueError("--plan-k and --plan-tol set a VIN's or GPPN's planning: this agent has neither")
            set_inference_planning(model.policy, args.plan_k, args.plan_tol)
        except ValueError as exc:
            parser.error(str(exc))
    if not hasattr(model, "policy"):  # an agent with memory (World Models): through its predict
        if args.render is not None:
            parser.error("--render draws SB3 policies only; this agent is scored without pictures")
        result = evaluate_agent_on_maps(model, size, args.episodes, args.seed, not args.no_progress, spec)
    else:
        result = evaluate_policy_on_maps(model.policy, size, args.episodes, args.seed, not args.no_progress, spec)
    figures = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.as_dict().items()}
    report = {"env": args.env, "model": args.model, "seed": args.seed, **figures}
    if args.plan_k is not None or args.plan_tol is not None:
        report.update(plan_k=args.plan_k, plan_tol=args.plan_tol)
    if args.render is not None:
        from agents.pictures import render_policy

        if args.render == "gif":
            os.makedirs(os.path.dirname(os.path.abspath(args.render_out)), exist_ok=True)
        seeds = list(range(args.seed, args.seed + args.render_episodes))
        outcomes = render_policy(model.policy, args.env, seeds, args.render, args.render_out)
        report["rendered"] = {
            "seeds": seeds,
            "success": outcomes,
            "gif": args.render_out if args.render == "gif" else None,
        }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
