"""What one CMA-ES generation of the World Models controller costs, with V's codes encoded for every
cell of every map up front against encoded for the cells the episodes visit (:class:`CodeTable`).

    python -m bench.wm_bench [--agent agents/pretrained/wm_16x16.pt] [--popsize 64] [--rollouts 128]

The candidates are the shipped agent's controller with Gaussian noise (sigma 0.1, CMA-ES's first
step), each playing the same ``rollouts`` maps. Both ways play the same episodes (the codes are
equal, checked); one torch thread; the better of two runs each.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
import torch

from agents.evaluation import held_out_episodes
from agents.worldmodels.agent import load_agent
from agents.worldmodels.controller import TRAIN_MAP_SEED, CodeTable, flatten, play
from bench.timing import machine


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wm_bench", description=__doc__)
    parser.add_argument("--agent", default="agents/pretrained/wm_16x16.pt")
    parser.add_argument("--popsize", type=int, default=64)
    parser.add_argument("--rollouts", type=int, default=128)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    agent = load_agent(args.agent)
    theta, hidden = flatten(agent)
    rng = np.random.default_rng(0)
    thetas = theta[None] + 0.1 * rng.standard_normal((args.popsize, theta.size))
    ep = held_out_episodes(agent.size, args.rollouts, TRAIN_MAP_SEED)
    maps = np.tile(np.arange(args.rollouts), args.popsize)
    cand = np.repeat(np.arange(args.popsize), args.rollouts)
    m, h, w = ep.obstacles.shape
    every = (np.repeat(np.arange(m), h * w), np.tile(np.repeat(np.arange(h), w), m), np.tile(np.arange(w), m * h))
    print(f"World Models controller, one generation: {args.agent}, population {args.popsize} x {args.rollouts} maps")
    print(f"machine: {machine()}")
    results = {}
    for name, upfront in (("every cell up front", True), ("cells visited", False)):
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            table = CodeTable(agent.vae, ep)
            if upfront:
                table(*every)
            success, _, steps = play(agent.rnn, table, ep, thetas, maps, cand, agent.inputs, hidden)
            best = min(best, time.perf_counter() - start)
        encoded = int(table.known.sum())
        results[name] = (best, success.mean())
        print(
            f"  {name:>20}: {best:6.2f} s, {encoded:,} frames encoded, {steps:,} env steps, success {success.mean():.3f}"
        )
    up, lazy = results["every cell up front"], results["cells visited"]
    assert up[1] == lazy[1], "the two ways played different episodes"
    print(f"  speed-up: {up[0] / lazy[0]:.2f}x")


if __name__ == "__main__":
    main()
