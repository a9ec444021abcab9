"""Env benchmarks: single env against MiniGrid, the batched env, the BFS expert.

python -m bench.env_bench
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.seeding import np_random

import gridworld_env  # noqa: F401
from bench.timing import best_rate, machine
from gridworld_env.core import distance_maps
from gridworld_env.expert import make_dataset
from gridworld_env.maps import PAPER_SPECS, sample_episodes
from gridworld_env.vector import VINGridVecEnv


def single_env_rate(env_id: str, steps: int) -> float:
    """Random-action steps per second of one ``gym.make`` env (resets included)."""
    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, steps).tolist()

    def run() -> int:
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        return steps

    return best_rate(run)


def batched_rate(num_envs: int, size: int, steps: int) -> float:
    """Env steps per second of :class:`VINGridVecEnv` (observations and auto-resets included)."""
    env = VINGridVecEnv(num_envs, size=size, seed=0)
    env.reset()
    actions = np.random.default_rng(0).integers(0, 8, (steps, num_envs))
    for a in actions[:5]:
        env.step(a)

    def run() -> int:
        for a in actions:
            env.step(a)
        return steps * num_envs

    return best_rate(run)


def bfs_rate(size: int, n: int = 4096) -> float:
    """Distance maps per second (one core), batched BFS."""
    ep = sample_episodes([np_random(i)[0] for i in range(n)], PAPER_SPECS[size])
    distance_maps(ep.obstacles[:2], ep.goals[:2])  # compile / load the kernel
    return best_rate(lambda: (distance_maps(ep.obstacles, ep.goals), n)[1])


def dataset_rate(size: int, n_maps: int = 2000) -> tuple[float, float]:
    """Expert data: (maps per second, labelled samples per second), 7 trajectories per map."""
    make_dataset(size, n_maps=4)
    counts = []

    def run() -> int:
        counts.append(len(make_dataset(size, n_maps=n_maps, trajectories_per_map=7)))
        return n_maps

    maps = best_rate(run)
    return maps, maps * counts[-1] / n_maps


def main() -> None:
    print(f"machine: {machine()}")
    print("\n| single env, random actions | steps/s |")
    print("|---|---|")
    vin = single_env_rate("VINGrid-16x16-v0", 100_000)
    import minigrid  # noqa: F401  (registers MiniGrid envs)

    mini = single_env_rate("MiniGrid-Empty-16x16-v0", 20_000)
    print(
        f"| VINGrid-16x16-v0 | {vin:,.0f} |\n| MiniGrid-Empty-16x16-v0 | {mini:,.0f} |\n| ratio | {vin / mini:.1f}x |"
    )
    print("\n| batched env, 16x16, observations included | env steps/s |")
    print("|---|---|")
    for n, steps in ((1, 20_000), (64, 2_000), (4096, 300)):
        print(f"| N = {n} | {batched_rate(n, 16, steps):,.0f} |")
    print("\n| expert | 16x16 | 28x28 |")
    print("|---|---|---|")
    print(f"| BFS distance maps/s (batch 4,096) | {bfs_rate(16):,.0f} | {bfs_rate(28):,.0f} |")
    r16, r28 = dataset_rate(16), dataset_rate(28)
    print(f"| data set maps/s (7 trajectories) | {r16[0]:,.0f} | {r28[0]:,.0f} |")
    print(f"| data set labelled samples/s | {r16[1]:,.0f} | {r28[1]:,.0f} |")


if __name__ == "__main__":
    main()
