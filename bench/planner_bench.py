"""CEM planning speed with the planning oracle (PlaNet's planner, the env's rule as its model).

    python -m bench.planner_bench [--envs 64] [--repeats 3] [--model-envs 8]

Decisions per second with PlaNet's default CEM (H=12, I=10, J=1000, K=100) at 8x8 and 16x16:
``--envs`` planning problems solved in one batched call against the same problems planned one at
a time. Both ways use the same sampling code; the oracle (:class:`agents.planet.oracle.TrueModel`)
scores sequences with numpy, so these figures bound the planner's own cost, not a learned model's.

Then the same with the learned model, the spatial RSSM with the default settings of
:class:`agents.planet.config.PlaNetConfig`
(:class:`agents.planet.conv_rssm.ConvRSSM`; the cost does not depend on the weights, so they
are untrained here): ``--model-envs`` problems batched, with PlaNet's default CEM and with the
small settings of ``hyperparams/planet.yml``, the model's tensors in the default (NCHW) memory
layout against channels-last (what :class:`agents.planet.agent.PlaNetAgent` uses).
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


def model_decisions_per_second(size: int, envs: int, cfg: object, channels_last: bool) -> float:
    from agents.planet.cem import CEMConfig, cem_plan
    from agents.planet.config import PlaNetConfig
    from agents.planet.conv_rssm import ConvRSSM
    from gridworld_env.core import N_ACTIONS

    assert isinstance(cfg, CEMConfig)
    torch.manual_seed(0)
    c = PlaNetConfig()  # the default model's settings
    model = ConvRSSM(3, size, c.deter, c.stoch, c.hidden, c.embed, c.latent, c.classes, c.frame_posterior).eval()
    state = model.initial(envs)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        state.h, state.s = (x.contiguous(memory_format=torch.channels_last) for x in (state.h, state.s))
    gen = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    cem_plan(lambda s: model.imagine_returns(state, s), envs, N_ACTIONS, cfg, gen)
    return envs / (time.perf_counter() - t)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.planner_bench", description=__doc__)
    parser.add_argument("--envs", type=int, default=64, help="planning problems (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many rounds (default: %(default)s)")
    parser.add_argument(
        "--model-envs", type=int, default=8, help="problems for the learned model (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    print(f"CEM planning with the true model, PlaNet's defaults (H=12, I=10, J=1000, K=100); {machine()}")
    for size in (8, 16):
        one = decisions_per_second(size, args.envs, False, args.repeats)
        many = decisions_per_second(size, args.envs, True, args.repeats)
        print(
            f"  {size}x{size}: one env at a time {one:7.1f} decisions/s, {args.envs} batched {many:7.1f} "
            f"decisions/s: {many / one:.2f}x"
        )
    from agents.planet.cem import CEMConfig

    small = CEMConfig(horizon=8, iterations=4, candidates=200, elites=20)
    print(f"CEM planning with the spatial RSSM, {args.model_envs} problems batched, {torch.get_num_threads()} threads")
    for size, cfg, name in (
        (8, small, "H=8, I=4, J=200, K=20"),
        (8, CEMConfig(), "PlaNet's defaults"),
        (16, small, "H=8, I=4, J=200, K=20"),
    ):
        plain = model_decisions_per_second(size, args.model_envs, cfg, False)
        last = model_decisions_per_second(size, args.model_envs, cfg, True)
        print(
            f"  {size}x{size}, {name}: NCHW {plain:7.2f} decisions/s, channels-last {last:7.2f} decisions/s: "
            f"{last / plain:.2f}x"
        )


if __name__ == "__main__":
    main()
