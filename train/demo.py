"""The main job on a small default (``make demo``).

1. Renders one expert episode per registered size to ``out/expert_<size>.gif`` and prints
   the statistics of the map generator beside the paper's.
2. Trains a VIN by behaviour cloning on VINGrid-16x16-v0 from scratch (:data:`DEMO_BC`,
   a few minutes on 2 CPU cores), evaluates it on 1,000 held-out maps under the paper's
   protocol beside the paper's 99.3 % and the shipped agent, and writes
   ``out/vin16_episode.gif``: an episode of the trained agent next to its learned value map.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.utils.seeding import np_random

import gridworld_env
from agents.evaluation import EvalResult, evaluate_policy_on_maps
from agents.pictures import heat_image, policy_episode_frames, side_by_side, value_images
from agents.training.bc import BCConfig, train_bc
from agents.zoo import load_pretrained
from gridworld_env.maps import PAPER_DENSITY, MapSpec, default_spec, sample_episodes
from gridworld_env.mazes import MazeSpec
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


def path_statistics(spec: MapSpec | MazeSpec, n_maps: int, seed: int = 0) -> dict[str, float]:
    """Interior wall density and the mean and longest shortest path (moves, start to goal) over
    ``n_maps`` resets of an env drawing its maps from ``spec``."""
    ep = sample_episodes([np_random(seed + i)[0] for i in range(n_maps)], spec)
    moves = ep.distances[np.arange(n_maps), ep.starts[:, 0], ep.starts[:, 1]]
    return {"density": float(ep.obstacles[:, 1:-1, 1:-1].mean()), "mean": float(moves.mean()), "max": int(moves.max())}


#: The demo's BC run: dense labels (every free cell of each map), Adam, cosine decay.
DEMO_BC = {
    "env_id": "VINGrid-16x16-v0",
    "n_maps": 5000,
    "trajectories_per_map": None,
    "epochs": 10,
    "batch_size": 2048,
    "loss": "optimal_set",
    "optimizer": "adam",
    "lr": 0.003,
    "lr_schedule": "cosine",
    "max_grad_norm": 10.0,
    "val_maps": 200,
    "seed": 0,
}

#: The paper's success rates (Table 1, VIN).
PAPER_SUCCESS = {8: 0.996, 16: 0.993, 28: 0.970}


def episode_with_value_map(policy: torch.nn.Module, env_id: str, seed: int, path: str, cell_pixels: int = 16) -> bool:
    """Write a GIF of ``policy`` on one map beside its learned value map; return success."""
    frames, success = policy_episode_frames(policy, env_id, seed, cell_pixels)
    env = gym.make(env_id)
    env.reset(seed=seed)
    obstacles, goal = env.unwrapped.obstacles, tuple(env.unwrapped.goal_pos)
    _, values = value_images(policy, obstacles, goal)
    heat = heat_image(values[-1], obstacles, cell_pixels)
    save_gif([side_by_side(f, heat) for f in frames + [frames[-1]] * 4], path)
    return success


def vin_demo(out: str, episodes: int = 1000, progress: bool = True) -> tuple[EvalResult, EvalResult | None]:
    """Train the demo VIN, evaluate it and the shipped agent, write the episode GIF."""
    cfg = BCConfig(**DEMO_BC)
    run_dir = os.path.join(out, "vin16_bc")
    # A demo run already in the folder is continued (cut short) or reused (finished), never replaced.
    resume = os.path.exists(os.path.join(run_dir, "checkpoint.pt"))
    t0 = time.perf_counter()
    model, _ = train_bc(cfg, run_dir, resume=resume, progress=progress)
    minutes = (time.perf_counter() - t0) / 60
    ours = evaluate_policy_on_maps(model.policy, 16, episodes, progress=progress)
    try:
        shipped: EvalResult | None = evaluate_policy_on_maps(
            load_pretrained(cfg.env_id).policy, 16, episodes, progress=progress
        )
    except ValueError:
        shipped = None
    print(f"\nBC VIN on {cfg.env_id}: {cfg.n_maps} maps, {cfg.epochs} epochs, {minutes:.1f} min of training.")
    if resume:
        print(f"(The run in {run_dir} was continued or reused; delete that folder to train afresh.)")
    print(f"Success on {episodes} held-out maps (paper protocol):")
    print("| agent | success | collision-free | action accuracy |\n|---|---|---|---|")
    print(
        f"| trained now | {100 * ours.success_rate:.1f} % | {100 * ours.collision_free_success_rate:.1f} % "
        f"| {100 * ours.action_accuracy:.1f} % |"
    )
    if shipped is not None:
        print(
            f"| shipped (agents/pretrained) | {100 * shipped.success_rate:.1f} % "
            f"| {100 * shipped.collision_free_success_rate:.1f} % | {100 * shipped.action_accuracy:.1f} % |"
        )
    print(f"| VIN paper (Table 1) | {100 * PAPER_SUCCESS[16]:.1f} % | - | - |")
    gif = os.path.join(out, "vin16_episode.gif")
    episode_with_value_map(model.policy, cfg.env_id, seed=10**9, path=gif)
    print(f"Episode and learned value map: {gif}")
    return ours, shipped


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out", help="output folder (default: %(default)s)")
    parser.add_argument("--maps", type=int, default=2000, help="maps per size for the statistics")
    parser.add_argument("--no-vin", action="store_true", help="skip the VIN training part")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
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
    print()
    print("| maze | wall density | shortest path, moves: mean | max | GIF |")
    print("|---|---|---|---|---|")
    for env_id in gridworld_env.MAZE_ENV_IDS:
        size = gridworld_env.env_size(env_id)
        gif = os.path.join(args.out, f"expert_maze_{size}.gif")
        render_expert_episode(env_id, seed=0, path=gif, cell_pixels=16 if size <= 32 else 8)
        stats = path_statistics(gridworld_env.env_spec(env_id), args.maps)
        print(f"| {env_id} | {100 * stats['density']:.1f} % | {stats['mean']:.1f} | {stats['max']} | {gif} |")
    if not args.no_vin:
        vin_demo(args.out, progress=not args.no_progress)


if __name__ == "__main__":
    main()
