"""Diagnostics and pictures of a World Models run.

    python -m eval.worldmodels --logdir runs/wm8 [--episodes 300] [--ceiling]
                               [--pictures results/ [--overwrite]]

Prints, as JSON, how well V's code holds the map (:func:`agents.worldmodels.diagnostics.vae_diagnostics`),
what a linear probe reads from it on held-out frames: the agent's cell, the goal's offset and the
8 neighbouring walls (:func:`agents.worldmodels.diagnostics.linear_probe`, ``probe``), the
controller's CMA-ES history (first and last generations) and, with ``--ceiling``, what a
linear C and a 256-unit MLP on the run's features reach when fitted to the expert's actions
(:func:`agents.worldmodels.diagnostics.controller_ceiling`, for both C inputs), beside the greedy
policies a linear C could at best express (:func:`agents.worldmodels.diagnostics.greedy_success`). With ``--pictures DIR`` it writes
``wm_<H>x<W>_reconstructions.png`` (inputs above V's reconstructions), ``wm_<H>x<W>_dream.gif``
(a collected rollout beside M's dream of it, decoded by V) and ``wm_<H>x<W>_cmaes.png`` (the
CMA-ES curve) there; existing pictures are kept unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from collections.abc import Sequence


def write_pictures(logdir: str, out: str, overwrite: bool = False, temperature: float = 1.0) -> list[str]:
    """Write the three pictures of the run in ``logdir`` into ``out``; return their paths.

    :raises FileExistsError: a picture is already there and ``overwrite`` is off.
    """
    import torch

    from agents.worldmodels import pictures
    from agents.worldmodels.frames import as_float
    from agents.worldmodels.pipeline import episode_frames, load_mdnrnn, load_vae, run_episodes

    vae, rnn = load_vae(logdir), load_mdnrnn(logdir)
    size = vae.map_size
    prefix = os.path.join(out, f"wm_{size}x{size}" + ("_pixels" if vae.frame == "pixels" else ""))
    paths = [f"{prefix}_reconstructions.png", f"{prefix}_dream.gif", f"{prefix}_cmaes.png"]
    controller = os.path.join(logdir, "controller.pkl")
    if not os.path.exists(controller):
        paths = paths[:2]
    taken = [p for p in paths if os.path.exists(p)]
    if taken and not overwrite:
        raise FileExistsError(f"{', '.join(taken)} already exist: pass --overwrite to replace them")
    data = {k: v[:16] for k, v in run_episodes(logdir).items()}
    frames = as_float(episode_frames(data, vae.frame))  # (E, T + 1, 3, S, S)
    longest = int(data["lengths"].argmax())
    steps = int(data["lengths"][longest])
    pictures.save_png(paths[0], pictures.reconstructions(vae, frames[:8, 0]))
    actions = torch.from_numpy(data["actions"][longest, :steps])
    pictures.save_gif(paths[1], pictures.dream(vae, rnn, frames[longest, : steps + 1], actions, temperature))
    if len(paths) == 3:
        with open(controller, "rb") as f:
            history = pickle.load(f)["history"]
        pictures.cmaes_curve(
            paths[2], history, f"World Models controller, {size}x{size}, {vae.frame} frames ({logdir})"
        )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.worldmodels", description=__doc__)
    parser.add_argument("--logdir", required=True, help="a World Models run folder")
    parser.add_argument("--episodes", type=int, default=300, help="collected episodes to diagnose V on")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="fit linear and MLP controllers to the expert (1,000 episodes) and play them",
    )
    parser.add_argument("--pictures", metavar="DIR", help="write the run's pictures into DIR (e.g. results)")
    parser.add_argument("--overwrite", action="store_true", help="replace pictures already in DIR")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    from agents.worldmodels.diagnostics import controller_ceiling, greedy_success, linear_probe, vae_diagnostics
    from agents.worldmodels.pipeline import load_vae

    try:
        report: dict = {
            "logdir": args.logdir,
            "vae": vae_diagnostics(args.logdir, args.episodes),
            "probe": linear_probe(args.logdir),
        }
        if args.ceiling:
            size = load_vae(args.logdir).map_size
            report["greedy_test_success"] = {
                "towards_goal": greedy_success(size, avoid_walls=False),
                "towards_goal_round_walls": greedy_success(size, avoid_walls=True),
            }
            report["ceiling"] = {
                f"{'linear' if hidden == 0 else f'mlp{hidden}'}_{inputs}": controller_ceiling(
                    args.logdir, inputs, hidden
                )
                for hidden in (0, 256)
                for inputs in ("z", "zh")
            }
        if args.pictures:
            report["pictures"] = write_pictures(args.logdir, args.pictures, args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
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
