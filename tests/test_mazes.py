"""The maze family (``VINGridMaze-*``, :mod:`gridworld_env.mazes`); the env API checks run over
every registered id in the other env tests."""

import gymnasium as gym
import numpy as np
import pytest

import gridworld_env
from gridworld_env import MAZE_ENV_IDS, MazeSpec, env_spec
from gridworld_env.expert import make_dataset
from gridworld_env.maps import sample_episodes
from gridworld_env.vector import VINGridVecEnv


def _mazes(size, n, open_walls=0.0, seed=0):
    return sample_episodes([np.random.default_rng([seed, i]) for i in range(n)], MazeSpec(size, open_walls))


def _edges_and_cells(free):
    """4-connected edges between free cells, and the free cells."""
    return int((free[1:] & free[:-1]).sum() + (free[:, 1:] & free[:, :-1]).sum()), int(free.sum())


@pytest.mark.parametrize("size", [5, 15, 28, 64])
def test_a_perfect_maze_is_a_tree_over_every_lattice_cell(size):
    ep = _mazes(size, 20)
    m = (size - 1) // 2
    for obstacles in ep.obstacles:
        free = ~obstacles
        edges, cells = _edges_and_cells(free)
        assert edges == cells - 1  # connected (below) and without a loop: one path between any two cells
        assert cells == m * m + (m * m - 1)  # the lattice cells and the walls carved between them
        assert free[1 : 2 * m : 2, 1 : 2 * m : 2].all() and not free[0::2, 0::2].any()  # cells free, pillars not
        assert obstacles[0].all() and obstacles[-1].all() and obstacles[:, 0].all() and obstacles[:, -1].all()
    reach = ep.distances >= 0
    assert np.array_equal(reach, ~ep.obstacles)  # every free cell reaches the goal


def test_open_walls_make_loops_and_shorter_paths():
    lengths = {}
    for p in (0.0, 0.2, 1.0):
        ep = _mazes(28, 100, p)
        lengths[p] = ep.distances[np.arange(100), ep.starts[:, 0], ep.starts[:, 1]].mean()
        if p == 1.0:  # every wall between lattice cells opened: only the pillars (and the border) remain
            m = 13
            free = ~ep.obstacles[:, 1 : 2 * m, 1 : 2 * m]
            pillars = np.zeros((2 * m - 1, 2 * m - 1), dtype=bool)
            pillars[1::2, 1::2] = True
            assert (free == ~pillars).all()
    assert lengths[0.0] > 1.5 * lengths[0.2] > 1.5 * lengths[1.0], lengths


def test_mazes_have_far_longer_paths_than_the_random_obstacle_maps_of_their_size():
    maze = gym.make("VINGridMaze-28x28-v0")
    plain = gym.make("VINGrid-28x28-v0")
    lengths = {
        name: np.mean([env.reset(seed=s)[1]["shortest_path_length"] for s in range(100)])
        for name, env in (("maze", maze), ("plain", plain))
    }
    assert lengths["maze"] > 3 * lengths["plain"], lengths


def test_the_batched_env_draws_and_plays_the_single_envs_mazes():
    n = 6
    vec = VINGridVecEnv(n, size=15, spec=env_spec("VINGridMaze-15x15-v0"), seed=11)
    obs = vec.reset()
    singles = [gym.make("VINGridMaze-15x15-v0").unwrapped for _ in range(n)]
    single_obs = [env.reset(seed=11 + i)[0] for i, env in enumerate(singles)]
    for i in range(n):
        assert np.array_equal(obs["image"][i], single_obs[i]["image"])
        assert np.array_equal(obs["position"][i], single_obs[i]["position"])
    rng = np.random.default_rng(0)
    for _ in range(30):  # the same moves, until an episode ends (the batched env then draws its own maze)
        actions = rng.integers(0, 8, size=n)
        obs, rewards, dones, _ = vec.step(actions)
        steps = [env.step(int(a)) for env, a in zip(singles, actions)]
        assert np.allclose(rewards, [r for _, r, *_ in steps])
        assert np.array_equal(dones, [term or trunc for _, _, term, trunc, _ in steps])
        if dones.any():
            break
        assert np.array_equal(obs["position"], np.stack([o["position"] for o, *_ in steps]))


def test_reset_options_on_a_maze():
    env = gym.make("VINGridMaze-15x15-v0")
    obs, info = env.reset(seed=0, options={"start": (1, 1), "goal": (13, 13)})
    assert tuple(obs["position"]) == (1, 1) and env.unwrapped.goal_pos == (13, 13)
    assert info["shortest_path_length"] >= 12
    with pytest.raises(ValueError, match=r"\(2, 2\).*wall in every 15x15 maze"):
        env.reset(seed=0, options={"start": (2, 2)})
    big = gym.make("VINGridMaze-28x28-v0")
    with pytest.raises(ValueError, match=r"\(26, 1\)"):  # an even size's last interior row is wall
        big.reset(seed=0, options={"goal": (26, 1)})
    # a passage cell is free in some mazes: the maze is drawn again until it is
    obs, _ = env.reset(seed=3, options={"start": (1, 2)})
    assert tuple(obs["position"]) == (1, 2) and not env.unwrapped.obstacles[1, 2]
    # a given map is a given map, whatever the family
    open_map = np.zeros((15, 15), dtype=bool)
    obs, info = env.reset(seed=0, options={"obstacles": open_map, "start": (0, 0), "goal": (14, 14)})
    assert info["shortest_path_length"] == 14


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"size": 4}, "size"), ({"size": 15, "open_walls": 1.5}, "open_walls"), ({"size": 15.0}, "size")],
)
def test_bad_maze_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MazeSpec(**kwargs)


def test_a_maze_env_refuses_another_generator():
    with pytest.raises(ValueError, match="open_walls, not spec"):
        gym.make("VINGridMaze-15x15-v0", spec=MazeSpec(15))


def test_env_spec_names_each_registered_envs_generator():
    assert set(MAZE_ENV_IDS) == {f"VINGridMaze-{n}x{n}-v0" for n in (15, 28, 32, 64)}
    for env_id in MAZE_ENV_IDS:
        assert env_spec(env_id) == gym.make(env_id).unwrapped.map_spec
    for env_id in gridworld_env.ENV_IDS:
        assert env_spec(env_id) == gym.make(env_id).unwrapped.map_spec
    assert gym.make("VINGridMaze-15x15-v0", open_walls=0.3).unwrapped.map_spec == MazeSpec(15, 0.3)


def test_the_expert_data_set_of_a_maze_env_is_labelled_on_its_mazes(tmp_path):
    data = make_dataset(15, 20, 3, seed=0, spec=env_spec("VINGridMaze-15x15-v0"))
    assert data.meta["spec"] == {"family": "maze", "size": 15, "open_walls": 0.0}
    env = gym.make("VINGridMaze-15x15-v0").unwrapped
    env.reset(seed=4)
    assert np.array_equal(data.obstacles[4], env.obstacles)
    from agents.training.bc import BCConfig, training_data

    make_dataset(28, 5, 1, spec=env_spec("VINGridMaze-28x28-v0")).save(str(tmp_path / "maze28.npz"))
    with pytest.raises(ValueError, match="holds maze maps"):  # a maze data set for a random-obstacle env
        training_data(BCConfig(env_id="VINGrid-28x28-v0", dataset=str(tmp_path / "maze28.npz")))
