"""PlaNet's open-loop video prediction, and how well the model imagines, for a saved agent.

    python -m eval.planet --model agents/pretrained/planet_8x8.pt [--gif results/planet_8x8_open_loop.gif]
                          [--maps 4] [--frames 10] [--context 1] [--overwrite]

On held-out test maps (env seeds from 10^9) the agent plays uniform random actions for
``--frames`` frames; the model filters the first ``--context`` frames and imagines the rest from
those actions alone (:func:`agents.planet.pictures.open_loop_frames`). Prints, as JSON, the
open-loop check on those episodes (:func:`agents.planet.diagnostics.open_loop_check`: the share of
imagined agent cells that are right, and the reward error, per imagined step); with ``--gif`` it
also writes the truth beside the imagination as a GIF (an existing file is kept unless
``--overwrite`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from eval.experiment import check_at_least


def open_loop_report(model_path: str, maps: int, frames: int, context: int, gif: str | None = None) -> dict[str, Any]:
    """The open-loop check of the agent at ``model_path`` on ``maps`` test maps (and the GIF)."""
    import numpy as np

    from agents.evaluation import held_out_episodes
    from agents.planet.agent import load_agent
    from agents.planet.data import play_episodes, random_chooser, to_tensors
    from agents.planet.diagnostics import open_loop_check
    from agents.planet.pictures import open_loop_frames
    from agents.worldmodels.pictures import save_gif

    agent = load_agent(model_path)
    ep = held_out_episodes(agent.size, maps)
    chunks = to_tensors(ep, play_episodes(ep, random_chooser(np.random.default_rng(0)), frames), agent.frame)
    pictures = open_loop_frames(agent.model, chunks, context, agent.frame)  # checks context against frames
    check = open_loop_check(agent.model, chunks)
    if gif is not None:
        os.makedirs(os.path.dirname(os.path.abspath(gif)), exist_ok=True)
        save_gif(gif, pictures, ms_per_frame=600)
    return {
        "model": model_path,
        "maps": maps,
        "frames": frames,
        "context": context,
        "agent_cell_right": [round(x, 3) for x in check["agent"]],
        "reward_mse": [round(x, 4) for x in check["reward_mse"]],
        "gif": gif,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.planet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a PlaNet agent file (model.pt)")
    parser.add_argument("--gif", default=None, help="write the open-loop GIF here")
    parser.add_argument("--maps", type=int, default=4, help="held-out maps (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=10, help="frames per episode (default: %(default)s)")
    parser.add_argument("--context", type=int, default=1, help="frames the model sees (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing GIF")
    args = parser.parse_args(argv)
    check_at_least(parser, args, {"maps": 1, "frames": 2})
    if not 1 <= args.context < args.frames:
        parser.error(f"--context must be in [1, --frames), got {args.context}")
    if not os.path.isfile(args.model):
        parser.error(f"no agent file at {args.model}")
    if args.gif is not None and os.path.exists(args.gif) and not args.overwrite:
        parser.error(f"{args.gif} already exists: pass --overwrite to replace it")
    try:
        report = open_loop_report(args.model, args.maps, args.frames, args.context, args.gif)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
