"""The main job on a small default (``make demo``).

Renders one expert episode per registered size to ``out/expert_<size>.gif`` and prints
the statistics of the map generator beside the paper's.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium.utils.seeding import np_random

import gridworld_env
from gridworld_env.maps import PAPER_DENSITY, default_spec, sample_episodes
from gridworld_env.rendering import save_gif

#: Mean optimal path of the paper's test maps, in states (start and goal included).
PAPER_PATH_STATES = {8: 3.96, 16: 7.86, 28: 13.98}


def render_expert_episode(env_id: str, seed: int, path: str, cell_pixels: int = 16) -> int:
    """Roll the BFS expert on one map and write the frames as a GIF; return its length."""
    env = gym.make(env_id, render_mode="rgb_array", cell_pixels=cell_pixels)
    env.reset(seed=seed)
    frames = [env.render()]
    while True:
        _, _, terminated, truncated, _ = env.step(env.unwrapped.expert_action())
        frames.append(env.render())
        if terminated or truncated:
            break
    save_gif(frames + [frames[-1]] * 4, path)
    env.close()
    return len(frames) - 1


def map_statistics(size: int, n_maps: int, seed: int = 0) -> tuple[float, float]:
    """(mean interior obstacle density, mean optimal path in states) over ``n_maps`` resets."""
    ep = sample_episodes([np_random(seed + i)[0] for i in range(n_maps)], default_spec(size))
    lengths = ep.distances[np.arange(n_maps), ep.starts[:, 0], ep.starts[:, 1]]
    return float(ep.obstacles[:, 1:-1, 1:-1].mean()), float(lengths.mean() + 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out", help="output folder (default: %(default)s)")
    parser.add_argument("--maps", type=int, default=2000, help="maps per size for the statistics")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    print("| size | density (ours) | density (paper) | optimal path, states (ours) | (paper) | GIF |")
    print("|---|---|---|---|---|---|")
    for env_id in gridworld_env.ENV_IDS:
        size = int(gym.registry[env_id].kwargs["size"])
        gif = os.path.join(args.out, f"expert_{size}.gif")
        render_expert_episode(env_id, seed=0, path=gif, cell_pixels=16 if size <= 32 else 8)
        density, states = map_statistics(size, args.maps)
        paper_d = f"{100 * PAPER_DENSITY[size]:.1f} %" if size in PAPER_DENSITY else "-"
        paper_p = f"{PAPER_PATH_STATES[size]:.2f}" if size in PAPER_PATH_STATES else "-"
        print(f"| {size}x{size} | {100 * density:.1f} % | {paper_d} | {states:.2f} | {paper_p} | {gif} |")


if __name__ == "__main__":
    main()
