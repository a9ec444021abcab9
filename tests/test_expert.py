"""Expert data sets: optimal labels, determinism, file round trip and corrupt files."""

import gymnasium as gym
import numpy as np
import pytest

from gridworld_env.core import ACTIONS
from gridworld_env.expert import ExpertDataset, make_dataset


def test_trajectories_follow_the_expert():
    data = make_dataset(16, n_maps=30, trajectories_per_map=3, seed=5)
    assert data.n_maps == 30 and len(data) > 30
    env = gym.make("VINGrid-16x16-v0").unwrapped
    for m in range(30):
        env.reset(seed=5 + m)  # map m is the map of reset(seed=seed + m)
        assert np.array_equal(env.obstacles, data.obstacles[m]) and env.goal_pos == tuple(data.goals[m])
        rows = data.map_index == m
        dist = env.distance_map()
        states, actions, optimal = data.states[rows], data.actions[rows], data.optimal[rows]
        for (r, c), a, mask in zip(states, actions, optimal):
            assert mask[a] and dist[r, c] > 0
            dr, dc = ACTIONS[a]
            assert dist[r + dr, c + dc] == dist[r, c] - 1
        # The first trajectory starts where the env starts, and has exactly its BFS length.
        # The first trajectory starts where the env starts, and is the expert's path: every one
        # of its BFS-length cells is labelled.
        labelled = [tuple(int(x) for x in s) for s in states]
        path = []
        while env.agent_pos != env.goal_pos:
            path.append(env.agent_pos)
            env.step(env.expert_action())
        assert labelled[0] == path[0] and len(path) == dist[path[0]] and set(path) <= set(labelled)
        assert (dist[tuple(states.T)] == 1).sum() == 3  # each trajectory passes one step from the goal


def test_every_cell_mode():
    data = make_dataset(8, n_maps=5, trajectories_per_map=None, seed=0)
    for m in range(5):
        env = gym.make("VINGrid-8x8-v0").unwrapped
        env.reset(seed=m)
        assert (data.map_index == m).sum() == (env.distance_map() > 0).sum()


def test_deterministic_and_round_trip(tmp_path):
    a = make_dataset(8, n_maps=20, seed=3)
    b = make_dataset(8, n_maps=20, seed=3, chunk=7)
    path = tmp_path / "d.npz"
    a.save(str(path))
    c = ExpertDataset.load(str(path))
    for x in (b, c):
        for key in ("obstacles", "goals", "map_index", "states", "actions", "optimal"):
            assert np.array_equal(getattr(a, key), getattr(x, key)), key
    assert c.meta == a.meta and c.meta["seed"] == 3
    assert not np.array_equal(make_dataset(8, n_maps=20, seed=4).obstacles, a.obstacles)
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "d.npz"
    make_dataset(8, n_maps=5).save(str(path))
    raw = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="vingrid expert data set"):
        ExpertDataset.load(str(tmp_path / "cut.npz"))
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a vingrid expert data set"):
        ExpertDataset.load(str(tmp_path / "foreign.npz"))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError):
        ExpertDataset.load(str(tmp_path / "text.npz"))
    with pytest.raises(FileNotFoundError):
        ExpertDataset.load(str(tmp_path / "missing.npz"))


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_dataset(8, n_maps=0)
    with pytest.raises(ValueError):
        make_dataset(8, n_maps=3, trajectories_per_map=0)
