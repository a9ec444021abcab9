"""CEM planning speed with the planning oracle (PlaNet's planner, the env's rule as its model).

    python -m bench.planner_bench [--envs 64] [--repeats 3] [--model-envs 8]

Decisions per second with PlaNet's default CEM (H=12, I=10, J=1000, K=100) at 8x8 and 16x16:
``--envs`` planning problems solved in one batched call against the same problems planned one at
a time. Both ways use the same sampling code; the oracle (:class:`agents.planet.oracle.TrueModel`)
scores sequences with numpy, so these figures bound the planner's own cost, not a learned model's.

Then with the learned model, the spatial RSSM (:class:`agents.planet.conv_rssm.ConvRSSM`): the
shipped agent's model where ``agents/pretrained/planet_NxN.pt`` exists, else the default model
with untrained weights, from the filtered first frames of ``--model-envs`` held-out maps. With the
small CEM of ``hyperparams/planet.yml``: the prefix-tree imagination against the generic
candidate-by-candidate rollout (:meth:`agents.planet.rssm.LatentModel.imagine_returns`), both
batched; with PlaNet's default CEM: the problems batched against one at a time.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

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


def _planning_problems(size: int, envs: int) -> tuple[Any, Any, str]:
    """A model and its filtered states on the first frames of ``envs`` held-out maps: the shipped
    agent's model where one is shipped for ``size`` (its CEM belief concentrates as a trained model's
    does, which the tree imagination gains from), else the default model with untrained weights."""
    from agents.evaluation import held_out_episodes
    from agents.planet.agent import build_model, load_agent
    from agents.planet.config import PlaNetConfig
    from agents.planet.train import model_args
    from agents.worldmodels.frames import draw_frames
    from agents.zoo import PRETRAINED_DIR
    from gridworld_env.core import observation_images

    path = os.path.join(PRETRAINED_DIR, f"planet_{size}x{size}.pt")
    if os.path.exists(path):
        model, name = load_agent(path).model, f"shipped {os.path.basename(path)}"
    else:
        torch.manual_seed(0)
        model, name = build_model(**model_args(PlaNetConfig(env_id=f"VINGrid-{size}x{size}-v0"))), "untrained"
    ep = held_out_episodes(size, envs)
    images = torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32))
    frames = draw_frames(images, torch.from_numpy(ep.starts.astype(np.int64)))
    return model.eval(), model.update(None, None, frames), name


def model_decisions_per_second(model: Any, state: Any, cfg: object, batched: bool, tree: bool = True) -> float:
    """Decisions per second of CEM on a learned model from the filtered ``state`` of B problems:
    all in one call (``batched``) or one at a time; imagined as a prefix tree
    (:meth:`agents.planet.conv_rssm.ConvRSSM.imagine_returns`) or candidate by candidate
    (:meth:`agents.planet.rssm.LatentModel.imagine_returns`, the generic rollout)."""
    from agents.planet.cem import CEMConfig, cem_plan
    from agents.planet.rssm import LatentModel
    from gridworld_env.core import N_ACTIONS

    assert isinstance(cfg, CEMConfig)
    imagine = model.imagine_returns if tree else lambda st, s, d: LatentModel.imagine_returns(model, st, s, d)
    gen = torch.Generator().manual_seed(0)
    envs = state.h.shape[0]
    groups = [torch.arange(envs)] if batched else [torch.tensor([i]) for i in range(envs)]
    with torch.no_grad():  # warm-up: the first calls of the convolutions pick their kernels
        cem_plan(lambda s: imagine(state, s, 0.9), envs, N_ACTIONS, CEMConfig(cfg.horizon, 1, 50, 5), gen)
    t = time.perf_counter()
    with torch.no_grad():
        for g in groups:
            one = state.select(g)
            cem_plan(lambda s, one=one: imagine(one, s, 0.9), len(g), N_ACTIONS, cfg, gen)
    return envs / (time.perf_counter() - t)


#: The planner's settings before local imagination (the shipped agents' until then): CEM with
#: I=4, J=200, K=20 (and the agent's horizon and ``repeat``), imagining on the whole map.
REFERENCE_CEM = {"iterations": 4, "candidates": 200, "elites": 20}


def agent_rates(size: int, envs: int, repeats: int = 2) -> dict[str, dict[str, float]]:
    """Per decision of the shipped ``planet_NxN.pt`` agent, with its own planner settings and with
    the reference ones (CEM with :data:`REFERENCE_CEM` on the whole map), from the filtered first frames of
    ``envs`` held-out maps, timed back to back: ``latency`` (seconds for one env's decision, the
    mean over the maps one at a time, what an interactive user waits) and ``throughput`` (decisions
    per second with the ``envs`` maps in one call, as ``python -m eval`` plays them). Best of
    ``repeats`` rounds each."""
    from dataclasses import replace

    from agents.planet.agent import load_agent
    from agents.zoo import PRETRAINED_DIR

    path = os.path.join(PRETRAINED_DIR, f"planet_{size}x{size}.pt")
    own = load_agent(path)
    reference = load_agent(path, cem=replace(own.cem, **REFERENCE_CEM), window=None, search=None)
    _, state, _ = _planning_problems(size, envs)
    out: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for name, agent in (("reference", reference), ("own", own)):
            agent.plan(state.select(torch.arange(1)))  # warm-up
            latency, throughput = float("inf"), 0.0
            for _ in range(repeats):
                t = time.perf_counter()
                for i in range(envs):
                    agent.plan(state.select(torch.tensor([i])))
                latency = min(latency, (time.perf_counter() - t) / envs)
                t = time.perf_counter()
                agent.plan(state)
                throughput = max(throughput, envs / (time.perf_counter() - t))
            out[name] = {"latency": latency, "throughput": throughput}
    return out


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
    from agents.planet.agent import load_agent
    from agents.planet.cem import CEMConfig
    from agents.zoo import PRETRAINED_DIR

    small = {8: CEMConfig(8, 4, 200, 20), 16: CEMConfig(12, 4, 200, 20)}  # hyperparams/planet.yml
    print(f"CEM planning with the spatial RSSM, {args.model_envs} held-out maps' first decisions")
    for size in (8, 16):
        model, state, name = _planning_problems(size, args.model_envs)
        cfg = small[size]
        generic = model_decisions_per_second(model, state, cfg, True, tree=False)
        tree = model_decisions_per_second(model, state, cfg, True)
        print(
            f"  {size}x{size} ({name}), H={cfg.horizon}, I={cfg.iterations}, J={cfg.candidates}, "
            f"K={cfg.elites}, batched: candidate by candidate {generic:6.2f} decisions/s, prefix tree "
            f"{tree:6.2f} decisions/s: {tree / generic:.2f}x"
        )
        shipped = os.path.join(PRETRAINED_DIR, f"planet_{size}x{size}.pt")
        if os.path.exists(shipped):
            rates, own_agent = agent_rates(size, args.model_envs), load_agent(shipped)
            ref, own, c = rates["reference"], rates["own"], own_agent.cem
            planner = (
                f"CEM I={c.iterations}, J={c.candidates}, K={c.elites}"
                if own_agent.search is None
                else f"search to depth {own_agent.search}"
            )
            print(
                f"  {size}x{size} shipped agent, the reference planner (CEM on the whole map, I=4, J=200, K=20) "
                f"against its own ({planner}, window {own_agent.window}): one env "
                f"{ref['latency']:.3f} -> {own['latency']:.3f} s per decision "
                f"({ref['latency'] / own['latency']:.2f}x); {args.model_envs} batched {ref['throughput']:.2f} -> "
                f"{own['throughput']:.2f} decisions/s ({own['throughput'] / ref['throughput']:.2f}x)"
            )
        one = model_decisions_per_second(model, state, CEMConfig(), False)
        many = model_decisions_per_second(model, state, CEMConfig(), True)
        print(
            f"  {size}x{size} ({name}), PlaNet's defaults, prefix tree: one env at a time {one:6.3f} "
            f"decisions/s, {args.model_envs} batched {many:6.3f} decisions/s: {many / one:.2f}x"
        )


if __name__ == "__main__":
    main()
