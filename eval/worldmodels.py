"""Diagnostics of a World Models run.

    python -m eval.worldmodels --logdir runs/wm8 [--episodes 300]

Prints, as JSON, how well V's code holds the map (:func:`agents.worldmodels.pipeline.vae_diagnostics`)
and the controller's CMA-ES history (first and last generations).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.worldmodels", description=__doc__)
    parser.add_argument("--logdir", required=True, help="a World Models run folder")
    parser.add_argument("--episodes", type=int, default=300, help="collected episodes to diagnose V on")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    from agents.worldmodels.pipeline import vae_diagnostics

    try:
        report: dict = {"logdir": args.logdir, "vae": vae_diagnostics(args.logdir, args.episodes)}
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    path = os.path.join(args.logdir, "controller.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            history = pickle.load(f)["history"]
        report["controller"] = {"generations": len(history), "first": history[0], "last": history[-1]}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
