"""What planning on mazes costs: the shipped long-horizon agent (``bc_vin_maze15x15.zip``, value
iteration to its fixed point) and the learned VIN and GPPN of ``python -m eval.mazes`` with the
K, kernel and channels they are trained with at 28x28 (:mod:`eval.mazes`), on held-out mazes.

    python -m bench.maze_bench [--maps 20] [--sizes 28 64]

Per size: milliseconds to plan one maze (once per map, as the agents do), the iterations value
iteration ran to converge, the read-out per decision, and the cost per decision over an episode
(the plan spread over the mean shortest path, plus the read-out); then what a BC pass of the GPPN
costs with GPPN's own 150 LSTM channels against the 32 it trains with here. One torch thread.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
import torch

from agents.evaluation import held_out_episodes
from agents.planners import GPPN, VIN
from agents.policies import resize_policy
from agents.zoo import load_pretrained
from eval.mazes import COMMON, PLANNER_SETTINGS, SIZE_SETTINGS
from gridworld_env import env_spec
from gridworld_env.core import observation_images


def learned_planners() -> list[tuple[str, torch.nn.Module]]:
    """The learned VIN and GPPN as ``eval.mazes`` trains them at 28x28 (untrained: the cost does
    not depend on the weights)."""
    k, f = SIZE_SETTINGS[28]["k"], COMMON["kernel_size"]
    ch = PLANNER_SETTINGS["gppn"]["ch_h"]
    return [
        (f"VIN, learned, K {k}, F {f}", VIN(2, k=k, kernel_size=f)),
        (f"GPPN, K {k}, F {f}, ch_h {ch}", GPPN(2, k=k, ch_h=ch, kernel_size=f)),
    ]


def plan_costs(planner: torch.nn.Module, images: torch.Tensor) -> tuple[float, list[int]]:
    """(ms per map, iterations per map) planning each map alone, without gradients."""
    iterations = []
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(images.shape[0]):
            planner.plan(images[i : i + 1])  # type: ignore[operator]
            iterations.append(int(planner.last_iterations))  # type: ignore[arg-type]
    return (time.perf_counter() - start) / images.shape[0] * 1000, iterations


def training_pass_ms(ch_h: int, seconds: float = 4.0) -> float:
    """Milliseconds per forward and backward pass of a GPPN with ``ch_h`` LSTM channels on a batch of
    4 15x15 inputs at 15x15's K and kernel (the cost of BC per batch of about four mazes)."""
    planner = GPPN(2, k=SIZE_SETTINGS[15]["k"], ch_h=ch_h, kernel_size=COMMON["kernel_size"])
    x = torch.rand(4, 2, 15, 15)
    planner.plan(x).square().mean().backward()  # the first pass allocates
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        planner.plan(x).square().mean().backward()
        n += 1
    return (time.perf_counter() - start) / n * 1000


def channel_costs() -> None:
    """GPPN's own 150 LSTM channels against the 32 ``eval.mazes`` trains with, side by side."""
    ours = PLANNER_SETTINGS["gppn"]["ch_h"]
    print(f"\n| GPPN channels, 15x15, K {SIZE_SETTINGS[15]['k']} | ms per forward and backward pass (4 mazes) |")
    print("|---|---|")
    costs = {ch: training_pass_ms(ch) for ch in (ours, 150)}
    for ch, ms in costs.items():
        print(f"| {ch} | {ms:.1f} |")
    print(f"150 / {ours}: {costs[150] / costs[ours]:.1f}x")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.maze_bench", description=__doc__)
    parser.add_argument("--maps", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    base = load_pretrained("VINGridMaze-15x15-v0")
    print(
        "| maze | planner | plan, ms per map | iterations (mean / max) | read-out, us | per decision over an episode, us |"
    )
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        ep = held_out_episodes(n, args.maps, spec=env_spec(f"VINGridMaze-{n}x{n}-v0"))
        images = torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32))
        moves = float(ep.distances[np.arange(args.maps), ep.starts[:, 0], ep.starts[:, 1]].mean())
        vin = resize_policy(base.policy, n).features_extractor.vin
        for name, planner in [("VIN to its fixed point (shipped)", vin), *learned_planners()]:
            ms, its = plan_costs(planner, images)
            plans = planner.plan(images[:1]).detach()  # type: ignore[operator]
            index, cell = torch.zeros(1, dtype=torch.long), torch.tensor([1])
            start = time.perf_counter()
            for _ in range(2000):
                planner.act(plans, index, cell, cell)  # type: ignore[operator]
            read_us = (time.perf_counter() - start) / 2000 * 1e6
            per = ms * 1000 / moves + read_us
            print(f"| {n}x{n} | {name} | {ms:.1f} | {np.mean(its):.0f} / {max(its)} | {read_us:.0f} | {per:.0f} |")
    channel_costs()


if __name__ == "__main__":
    main()
