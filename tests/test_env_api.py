"""The gymnasium / SB3 contract of every registered VINGrid env."""

import copy
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import gridworld_env
from gridworld_env import ACTIONS, VINGridEnv


def test_registered_ids():
    assert set(gridworld_env.ENV_IDS) == {f"VINGrid-{n}x{n}-v0" for n in (8, 16, 28, 32, 64)}


def test_make_with_module_prefix_in_fresh_interpreter():
    code = "import gymnasium as gym; e = gym.make('gridworld_env:VINGrid-16x16-v0'); print(e.reset(seed=0)[0]['image'].shape)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(2, 16, 16)"


def test_actions_public():
    assert len(ACTIONS) == 8 and len(set(ACTIONS)) == 8
    assert all(max(abs(dr), abs(dc)) == 1 for dr, dc in ACTIONS)


def test_gymnasium_check_env(env_id):
    gym_check_env(gym.make(env_id).unwrapped, skip_render_check=True)


def test_sb3_check_env(env_id):
    sb3_check_env(gym.make(env_id).unwrapped, warn=False)


def _rollout(env, seed, n=100):
    out = []
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out.append((obs["image"].copy(), obs["position"].copy(), info["shortest_path_length"]))
    for _ in range(n):
        obs, r, term, trunc, info = env.step(int(rng.integers(8)))
        out.append((obs["image"].copy(), obs["position"].copy(), r, term, trunc))
        if term or trunc:
            obs, info = env.reset()
            out.append((obs["image"].copy(), obs["position"].copy(), info["shortest_path_length"]))
    return out


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x) == len(y)
        for u, v in zip(x, y):
            assert np.array_equal(u, v)


def test_same_seed_same_episodes(env_id):
    a = _rollout(gym.make(env_id, max_steps=30), seed=7)
    b = _rollout(gym.make(env_id, max_steps=30), seed=7)
    _same(a, b)
    c = _rollout(gym.make(env_id, max_steps=30), seed=8)
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_pickle_and_deepcopy_round_trip(env_id):
    env = gym.make(env_id, max_steps=30)
    env.reset(seed=3)
    env.step(0)
    for clone in (pickle.loads(pickle.dumps(env)), copy.deepcopy(env)):
        rng = np.random.default_rng(0)
        actions = rng.integers(8, size=40).tolist()
        ref = copy.deepcopy(env)
        for a in actions:
            o1 = ref.step(a)
            o2 = clone.step(a)
            assert np.array_equal(o1[0]["position"], o2[0]["position"]) and o1[1:4] == o2[1:4]
            if o1[2] or o1[3]:
                assert np.array_equal(ref.reset()[0]["image"], clone.reset()[0]["image"])


def test_truncation_exact(env_id):
    env = gym.make(env_id, max_steps=5)
    env.reset(seed=0, options={"start": (1, 1)})  # north of (1, 1) is the wall border
    u = env.unwrapped
    blocked = [0]  # N
    for t in range(1, 6):
        _, r, term, trunc, info = env.step(blocked[0])
        assert r == u.collision_reward and not term and info["is_success"] is False
        assert trunc == (t == 5)


@pytest.mark.parametrize("bad", [8, -1, 1.5, "up", np.array([1, 2]), True, None])
def test_bad_actions_raise(bad):
    env = gym.make("VINGrid-8x8-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.unwrapped.step(bad)


@pytest.mark.parametrize("good", [np.int64(3), np.int8(0), np.array(2), 7])
def test_numpy_integer_actions_accepted(good):
    env, same = gym.make("VINGrid-8x8-v0"), gym.make("VINGrid-8x8-v0")
    env.reset(seed=0)
    same.reset(seed=0)
    obs, reward, *_ = env.step(good)
    expected, expected_reward, *_ = same.step(int(good))
    assert np.array_equal(obs["position"], expected["position"]) and reward == expected_reward


def test_step_before_reset_raises():
    env = VINGridEnv(size=8)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_step_after_episode_end_raises():
    env = VINGridEnv(size=8, max_steps=1)
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_rewards_and_success(env_id):
    env = gym.make(env_id)
    _, info = env.reset(seed=1)
    u = env.unwrapped
    for _ in range(info["shortest_path_length"] - 1):
        _, r, term, trunc, info = env.step(u.expert_action())
        assert r in (u.step_reward,) and not term and not trunc and info["is_success"] is False
    _, r, term, trunc, info = env.step(u.expert_action())
    assert term and not trunc and info["is_success"] is True and r == 1.0
    assert u.agent_pos == u.goal_pos


def test_public_attributes(env_id):
    env = gym.make(env_id)
    env.reset(seed=2)
    u = env.unwrapped
    n = u.size
    assert u.obstacles.dtype == bool and u.obstacles.shape == (n, n)
    assert isinstance(u.agent_pos, tuple) and all(type(v) is int for v in u.agent_pos)
    assert isinstance(u.goal_pos, tuple) and all(type(v) is int for v in u.goal_pos)
    d = u.distance_map()
    assert d.shape == (n, n) and d[u.goal_pos] == 0 and (d[u.obstacles] == -1).all()
    mask = u.action_masks()
    assert mask.dtype == bool and mask.shape == (8,)
    r, c = u.agent_pos
    for a, (dr, dc) in enumerate(ACTIONS):
        assert mask[a] == (not u.obstacles[r + dr, c + dc])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"obstacles": np.zeros((5, 5), bool)}, "shape"),
        ({"start": (0, 99)}, "out of bounds"),
        ({"goal": (-1, 2)}, "out of bounds"),
        ({"start": (3, 3), "goal": (3, 3)}, "same cell"),
        ({"obstacles": np.eye(8, dtype=bool), "start": (2, 2)}, "obstacle"),
        ({"start": (0, 3)}, "wall border"),
        ({"colour": "red"}, "unknown"),
        ({"start": (1.5, 2)}, "pair of ints"),
        ({"obstacles": np.full((8, 8), 2)}, "bool"),
    ],
)
def test_bad_reset_options_raise(options, message):
    env = VINGridEnv(size=8)
    with pytest.raises(ValueError, match=message):
        env.reset(seed=0, options=options)


def test_unreachable_goal_raises():
    obstacles = np.zeros((8, 8), bool)
    obstacles[:, 4] = True  # a wall splitting the map in two
    env = VINGridEnv(size=8)
    with pytest.raises(ValueError, match="cannot be reached"):
        env.reset(seed=0, options={"obstacles": obstacles, "start": (1, 1), "goal": (1, 6)})
    isolated = np.ones((8, 8), bool)
    isolated[3, 3] = False
    with pytest.raises(ValueError, match="can reach no other cell"):
        env.reset(seed=0, options={"obstacles": isolated, "start": (3, 3)})


def test_reset_options_any_subset():
    env = VINGridEnv(size=8)
    obstacles = np.zeros((8, 8), bool)
    obstacles[0], obstacles[-1], obstacles[:, 0], obstacles[:, -1] = True, True, True, True
    obs, info = env.reset(seed=0, options={"obstacles": obstacles, "start": (1, 1), "goal": (6, 6)})
    assert env.agent_pos == (1, 1) and env.goal_pos == (6, 6) and info["shortest_path_length"] == 5
    assert np.array_equal(obs["image"][0], obstacles)
    for seed in range(20):
        env.reset(seed=seed, options={"goal": (3, 4)})
        assert env.goal_pos == (3, 4) and env.agent_pos != (3, 4)
        env.reset(seed=seed, options={"start": (2, 2)})
        assert env.agent_pos == (2, 2) and env.distance_map()[2, 2] > 0
        env.reset(seed=seed, options={"obstacles": obstacles})
        assert np.array_equal(env.obstacles, obstacles) and not obstacles[env.goal_pos]
        env.reset(seed=seed, options={"obstacles": obstacles, "start": (6, 1)})
        assert env.agent_pos == (6, 1) and env.goal_pos != (6, 1)


def test_expert_action_at_goal_and_before_reset():
    env = VINGridEnv(size=8)
    with pytest.raises(RuntimeError, match="reset"):
        env.expert_action()
    obstacles = np.ones((8, 8), bool)
    obstacles[1:7, 1:7] = False
    env.reset(options={"obstacles": obstacles, "start": (1, 1), "goal": (1, 2)})
    env.step(env.expert_action())
    with pytest.raises(RuntimeError, match="at the goal"):
        env.expert_action()


@pytest.mark.parametrize("kwargs", [{"size": 2}, {"size": 8, "max_steps": 0}, {"size": 8, "render_mode": "ansi"}])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        VINGridEnv(**kwargs)
