"""Play a VINGrid env with the keyboard.

    python -m gridworld_env.play --env VINGrid-16x16-v0 [--seed 0]

Keys: arrows or W/A/S/D... as laid out on the keyboard: Q W E / A D / Z X C for
NW N NE / W E / SW S SE; R starts a new map; Esc or closing the window quits.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

import gridworld_env  # noqa: F401  (registers the envs)
from gridworld_env.core import ACTION_NAMES

#: Key names (pygame.key.name) to action names.
KEYS = {
    "up": "N", "w": "N", "down": "S", "x": "S", "right": "E", "d": "E", "left": "W", "a": "W",
    "e": "NE", "q": "NW", "c": "SE", "z": "SW",
}


def key_to_action(key_name: str) -> int | None:
    """The action of a key (by ``pygame.key.name``), or ``None`` for other keys."""
    name = KEYS.get(key_name.lower())
    return None if name is None else ACTION_NAMES.index(name)


def play(env_id: str, seed: int | None = None, max_episodes: int | None = None) -> list[dict[str, Any]]:
    """Open a window and play until the window closes (or ``max_episodes`` end).

    :return: per finished episode, its length, return and success.
    """
    import pygame

    env = gym.make(env_id, render_mode="human")
    results: list[dict[str, Any]] = []
    env.reset(seed=seed)
    steps, ret = 0, 0.0
    try:
        while max_episodes is None or len(results) < max_episodes:
            event = pygame.event.wait()
            if event.type == pygame.QUIT:
                break
            if event.type != pygame.KEYDOWN:
                continue
            name = pygame.key.name(event.key)
            if name == "escape":
                break
            if name == "r":
                env.reset()
                steps, ret = 0, 0.0
                continue
            action = key_to_action(name)
            if action is None:
                continue
            _, reward, terminated, truncated, info = env.step(action)
            steps, ret = steps + 1, ret + float(reward)
            if terminated or truncated:
                results.append({"length": steps, "return": ret, "is_success": bool(info["is_success"])})
                print(f"episode {len(results)}: {'reached the goal' if info['is_success'] else 'time out'} "
                      f"in {steps} steps, return {ret:.2f}")
                env.reset()
                steps, ret = 0, 0.0
    finally:
        env.close()
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first map")
    args = parser.parse_args(argv)
    play(args.env, args.seed)


if __name__ == "__main__":
    main()
