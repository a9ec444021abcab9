"""Play a VINGrid env with the keyboard.

    python -m gridworld_env.play --env VINGrid-16x16-v0 [--seed 0]

Keys: the arrows or W A S D for N W S E; the keys around S for the diagonals, as laid out on
the keyboard (Q W E / A D / Z X C for NW N NE / W E / SW S SE, so X is S too); R starts a new
map; Esc or closing the window quits. The line under the map shows the steps, the shortest path
and the last move's outcome; an episode's last frame stays for a second.

It needs a display: with none (SDL's ``dummy`` or ``offscreen`` driver) it says so and exits.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from gridworld_env import env_size  # importing the package registers the envs
from gridworld_env.core import ACTION_NAMES

#: Key names (pygame.key.name) to action names.
KEYS = {
    "up": "N",
    "w": "N",
    "down": "S",
    "s": "S",
    "x": "S",
    "right": "E",
    "d": "E",
    "left": "W",
    "a": "W",
    "e": "NE",
    "q": "NW",
    "c": "SE",
    "z": "SW",
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
                print(
                    f"episode {len(results)}: {'reached the goal' if info['is_success'] else 'time out'} "
                    f"in {steps} steps, return {ret:.2f}"
                )
                env.reset()
                steps, ret = 0, 0.0
    finally:
        env.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gridworld_env.play", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first map (>= 0)")
    args = parser.parse_args(argv)
    try:
        env_size(args.env)
    except ValueError as exc:
        parser.error(str(exc))
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    from gridworld_env.rendering import has_display

    if not has_display():
        print(
            "error: no display to open a window on (SDL video driver 'dummy' or 'offscreen'); play needs one. "
            "Set DISPLAY (X11) or WAYLAND_DISPLAY, or watch agents with `python -m eval --render gif` instead.",
            file=sys.stderr,
        )
        return 2
    play(args.env, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
