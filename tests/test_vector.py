"""The batched env equals a loop of single envs (SB3's DummyVecEnv) with the same seeds."""

import copy

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from gridworld_env.vector import EMPTY_INFO, VINGridVecEnv


@pytest.mark.parametrize("size, n, max_steps", [(8, 5, 12), (16, 3, 40), (28, 2, 30)])
def test_batched_equals_loop(size, n, max_steps):
    batched = VINGridVecEnv(n, size=size, max_steps=max_steps)
    loop = DummyVecEnv([lambda: gym.make(f"VINGrid-{size}x{size}-v0", max_steps=max_steps) for _ in range(n)])
    batched.seed(11)
    loop.seed(11)
    o1, o2 = batched.reset(), loop.reset()
    for k in o1:
        assert np.array_equal(o1[k], o2[k]) and o1[k].dtype == o2[k].dtype
    assert batched.reset_infos == [{"shortest_path_length": i["shortest_path_length"]} for i in loop.reset_infos]
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(400):
        # Mix random and expert moves so that episodes both succeed and time out.
        actions = rng.integers(0, 8, n)
        expert = batched.expert_actions()
        use = rng.random(n) < 0.5
        actions[use] = expert[use]
        (a_obs, a_rew, a_done, a_info), (b_obs, b_rew, b_done, b_info) = batched.step(actions), loop.step(actions)
        for k in a_obs:
            assert np.array_equal(a_obs[k], b_obs[k]), (t, k)
        assert np.array_equal(a_rew, b_rew) and np.array_equal(a_done, b_done)
        for done, ia, ib in zip(a_done, a_info, b_info):
            if not done:
                assert ia is EMPTY_INFO and not ib["is_success"] and not ib["TimeLimit.truncated"]
                continue
            ends += 1
            assert set(ia) == set(ib)
            for key in ia:
                if key == "terminal_observation":
                    assert all(np.array_equal(ia[key][q], ib[key][q]) for q in ia[key])
                else:
                    assert ia[key] == ib[key]
        assert batched.reset_infos == [{"shortest_path_length": i["shortest_path_length"]} for i in loop.reset_infos]
        assert np.array_equal(batched.action_masks(), np.stack(loop.env_method("action_masks")))
    assert ends > 10


def test_expert_actions_match_single_env():
    batched = VINGridVecEnv(6, size=16, seed=3)
    batched.reset()
    singles = [gym.make("VINGrid-16x16-v0").unwrapped for _ in range(6)]
    for i, env in enumerate(singles):
        env.reset(seed=3 + i)
    assert list(batched.expert_actions()) == [env.expert_action() for env in singles]


def test_empty_info_is_read_only_and_copyable():
    with pytest.raises(TypeError, match="read-only"):
        EMPTY_INFO["x"] = 1
    with pytest.raises(TypeError):
        EMPTY_INFO.update(a=1)
    assert dict(EMPTY_INFO) == {} and copy.deepcopy(EMPTY_INFO) == {} and EMPTY_INFO.get("is_success") is None
    assert len(EMPTY_INFO) == 0


def test_works_under_vec_monitor():
    env = VecMonitor(VINGridVecEnv(4, size=8, max_steps=10, seed=0))
    env.reset()
    episodes = 0
    for _ in range(30):
        _, _, dones, infos = env.step(np.zeros(4, dtype=np.int64))
        episodes += sum("episode" in info for info in infos)
    assert episodes >= 8


@pytest.mark.parametrize("bad", [np.zeros(3, int), np.full(4, 8), np.full(4, -1), np.full(4, 1.5)])
def test_bad_batched_actions(bad):
    env = VINGridVecEnv(4, size=8, seed=0)
    env.reset()
    with pytest.raises(ValueError, match="actions"):
        env.step(bad)


def test_step_before_reset_and_bad_args():
    env = VINGridVecEnv(2, size=8)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, int))
    with pytest.raises(ValueError):
        VINGridVecEnv(0)
    with pytest.raises(ValueError):
        VINGridVecEnv(2, render_mode="human")


def test_options_and_images():
    env = VINGridVecEnv(2, size=8, render_mode="rgb_array", seed=0)
    env.set_options({"start": (1, 1), "goal": (6, 6)})
    obs = env.reset()
    assert obs["position"].tolist() == [[1, 1], [1, 1]] and env.goals.tolist() == [[6, 6], [6, 6]]
    frames = env.get_images()
    assert len(frames) == 2 and frames[0].dtype == np.uint8
