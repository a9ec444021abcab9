"""vingrid: gridworld environments for learning to plan (Value Iteration Networks).

Importing this package registers the environments with gymnasium::

    import gymnasium as gym
    env = gym.make("gridworld_env:VINGrid-16x16-v0")  # imports and registers first
"""

from gymnasium.envs.registration import register, registry

from gridworld_env.core import ACTION_NAMES, ACTIONS, distance_maps, optimal_action_masks
from gridworld_env.maps import PAPER_SPECS, MapSpec, default_spec
from gridworld_env.mazes import MazeSpec
from gridworld_env.vingrid import VINGridEnv

__all__ = [
    "ACTIONS",
    "ACTION_NAMES",
    "ENV_IDS",
    "MAZE_ENV_IDS",
    "MapSpec",
    "MazeSpec",
    "PAPER_SPECS",
    "VINGridEnv",
    "distance_maps",
    "env_size",
    "env_spec",
    "optimal_action_masks",
]

#: Registered sizes, wall border included: the paper's 8 / 16 / 28, and 32 / 64 for scaling.
SIZES = (8, 16, 28, 32, 64)
#: The registered environment ids.
ENV_IDS = tuple(f"VINGrid-{n}x{n}-v0" for n in SIZES)

for _n, _id in zip(SIZES, ENV_IDS):
    if _id not in registry:
        register(id=_id, entry_point="gridworld_env.vingrid:VINGridEnv", kwargs={"size": _n})


#: Maze sizes: GPPN's 15 and 28, and 32 / 64 for long paths.
MAZE_SIZES = (15, 28, 32, 64)
#: The registered maze env ids (:class:`gridworld_env.vingrid_maze.VINGridMazeEnv`).
MAZE_ENV_IDS = tuple(f"VINGridMaze-{n}x{n}-v0" for n in MAZE_SIZES)
_MAZE_ENTRY = "gridworld_env.vingrid_maze:VINGridMazeEnv"

for _n, _id in zip(MAZE_SIZES, MAZE_ENV_IDS):
    if _id not in registry:
        register(id=_id, entry_point=_MAZE_ENTRY, kwargs={"size": _n})


def env_spec(env_id: str) -> MapSpec | MazeSpec:
    """The map generator of a registered VINGrid env id: its :class:`MapSpec`, or for a maze env
    its :class:`MazeSpec` (what ``gym.make(env_id)`` draws its maps from).

    :raises ValueError: for an id that is not a registered VINGrid env.
    """
    from gymnasium import registry as _registry

    size = env_size(env_id)
    entry = _registry[env_id]
    if entry.entry_point == _MAZE_ENTRY:
        return MazeSpec(size, float(entry.kwargs.get("open_walls", 0.0)))
    return default_spec(size)


def env_size(env_id: str) -> int:
    """Map size of a registered VINGrid env id.

    :raises ValueError: for an id that is not a registered VINGrid env.
    """
    from gymnasium import registry as _registry

    if env_id not in _registry or not env_id.startswith("VINGrid"):
        ids = sorted(i for i in _registry if i.startswith("VINGrid"))
        raise ValueError(f"unknown env {env_id!r}; registered VINGrid envs: {', '.join(ids)}")
    return int(_registry[env_id].kwargs["size"])
