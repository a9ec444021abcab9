"""The maze env: VINGrid's task on depth-first-search mazes (long corridors, long paths)."""

from __future__ import annotations

from gridworld_env.mazes import MazeSpec
from gridworld_env.vingrid import VINGridEnv


class VINGridMazeEnv(VINGridEnv):
    """Navigate from a start cell to a goal through a maze (GPPN's maze family, Lee et al. 2018).

    ## Description
    A square map, wall border included, carved by a randomised depth-first search into one-cell
    corridors (a *perfect* maze: one path between any two cells), after which each remaining
    wall between two corridor cells is opened with probability ``open_walls``
    (:mod:`gridworld_env.mazes`). Each reset draws a new maze, a goal uniform over the free cells
    and a start uniform over the other free cells. The shortest paths are far longer than on the
    random-obstacle maps of the same size (``make demo`` prints the statistics): planning over
    long horizons is the point.

    ## Action Space
    As :class:`gridworld_env.VINGridEnv`: ``Discrete(8)``, a diagonal move needs only its target
    cell free (in a maze it cuts a corridor's corner, never a wall).

    ## Observation
    As :class:`gridworld_env.VINGridEnv`: ``image`` (obstacles, goal) and ``position``.

    ## Rewards
    As :class:`gridworld_env.VINGridEnv`: +1 at the goal, -1 for a collision, -0.01 otherwise.

    ## Starting State
    Random, or fixed through ``reset(options={"obstacles", "start", "goal"})`` as for
    :class:`gridworld_env.VINGridEnv`; a start or goal given without a map must be a cell a maze
    can have free (not a pillar between four corridor cells), else ``ValueError``.

    ## Episode End
    Terminated at the goal; truncated after ``max_steps`` steps (default ``4 * size * size``).

    ## Registered Configurations
    ``VINGridMaze-15x15-v0`` and ``VINGridMaze-28x28-v0`` (GPPN's maze sizes),
    ``VINGridMaze-32x32-v0`` and ``VINGridMaze-64x64-v0``, all perfect mazes (``open_walls=0``;
    ``gym.make(id, open_walls=0.2)`` opens walls).

    :param size: side of the map in cells, wall border included (at least 5).
    :param open_walls: probability of opening each wall the search left between corridor cells.
    :param kwargs: the other settings of :class:`gridworld_env.VINGridEnv` (not ``spec``).
    """

    def __init__(self, size: int = 15, open_walls: float = 0.0, **kwargs: object) -> None:
        if "spec" in kwargs:
            raise ValueError("a maze env draws its maps from its own generator: give open_walls, not spec")
        self.open_walls = float(open_walls)
        super().__init__(size=size, spec=MazeSpec(int(size), self.open_walls), **kwargs)  # type: ignore[arg-type]
