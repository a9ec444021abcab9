"""CEM planning speed with the planning oracle (PlaNet's planner, the env's rule as its model).

    python -m bench.planner_bench [--envs 64] [--repeats 3]

Decisions per second with PlaNet's default CEM (H=12, I=10, J=1000, K=100) at 8x8 and 16x16:
``--envs`` planning problems solved in one batched call against the same problems planned one at
a time. Both ways use the same sampling code; the oracle (:class:`agents.planet.oracle.TrueModel`)
scores sequences with numpy, so these figures bound the planner's own cost, not a learned model's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
import torch

from bench.timing import machine


def decisions_per_second(size: int, envs: int, batched: bool, repeats: int) -> float:
    from agents.evaluation import held_out_episodes
    from agents.planet.cem import CEMConfig, cem_plan
    from agents.planet.oracle import TrueModel
    from gridworld_env.core import N_ACTIONS

    ep = held_out_episodes(size, envs)
    model = TrueModel(ep.obstacles, ep.goals)
    rows, cols, maps = ep.starts[:, 0], ep.starts[:, 1], np.arange(envs)
    gen = torch.Generator().manual_seed(0)
    cfg = CEMConfig()
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        if batched:
            cem_plan(lambda s: model.returns(maps, rows, cols, s), envs, N_ACTIONS, cfg, gen)
        else:
            for i in range(envs):
                one = maps[i : i + 1]
                cem_plan(lambda s, one=one: model.returns(one, rows[one], cols[one], s), 1, N_ACTIONS, cfg, gen)
        best = max(best, envs / (time.perf_counter() - t))
    return best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.planner_bench", description=__doc__)
    parser.add_argument("--envs", type=int, default=64, help="planning problems (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    print(f"CEM planning with the true model, PlaNet's defaults (H=12, I=10, J=1000, K=100); {machine()}")
    for size in (8, 16):
        one = decisions_per_second(size, args.envs, False, args.repeats)
        many = decisions_per_second(size, args.envs, True, args.repeats)
        print(
            f"  {size}x{size}: one env at a time {one:7.1f} decisions/s, {args.envs} batched {many:7.1f} "
            f"decisions/s: {many / one:.2f}x"
        )


if __name__ == "__main__":
    main()
