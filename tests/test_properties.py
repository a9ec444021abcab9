"""Hypothesis properties over seeds and sizes."""

import gymnasium as gym
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import gridworld_env
from gridworld_env.core import ACTIONS

SIZES = [int(i.split("-")[1].split("x")[0]) for i in gridworld_env.ENV_IDS]
ENVS = {n: gym.make(f"VINGrid-{n}x{n}-v0", max_steps=10_000).unwrapped for n in SIZES}


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from(SIZES), seed=st.integers(0, 2**31 - 1))
def test_layout_properties(size, seed):
    env = ENVS[size]
    _, info = env.reset(seed=seed)
    o = env.obstacles
    assert o[0].all() and o[-1].all() and o[:, 0].all() and o[:, -1].all()
    assert env.agent_pos != env.goal_pos
    assert not o[env.agent_pos] and not o[env.goal_pos]
    dist = env.distance_map()
    assert dist[env.agent_pos] == info["shortest_path_length"] > 0
    steps = 0
    while True:  # the expert reaches the goal in exactly the BFS distance
        _, reward, terminated, truncated, _ = env.step(env.expert_action())
        steps += 1
        assert reward != env.collision_reward
        if terminated:
            break
    assert steps == info["shortest_path_length"]


@settings(max_examples=60, deadline=None)
@given(
    size=st.sampled_from(SIZES),
    seed=st.integers(0, 2**31 - 1),
    actions=st.lists(st.integers(0, 7), min_size=1, max_size=60),
)
def test_no_action_sequence_enters_a_wall(size, seed, actions):
    env = ENVS[size]
    env.reset(seed=seed)
    for a in actions:
        before = env.agent_pos
        _, reward, terminated, _, info = env.step(a)
        assert not env.obstacles[env.agent_pos]
        moved = env.agent_pos != before
        assert moved == (not info["collision"])
        if moved:
            assert env.agent_pos == (before[0] + ACTIONS[a][0], before[1] + ACTIONS[a][1])
        if terminated:
            break


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6))
def test_batched_reset_matches_single(seed, n):
    from gridworld_env.vector import VINGridVecEnv

    batched = VINGridVecEnv(n, size=8, seed=seed)
    obs = batched.reset()
    for i in range(n):
        o, _ = ENVS[8].reset(seed=seed + i)
        assert np.array_equal(o["image"], obs["image"][i]) and np.array_equal(o["position"], obs["position"][i])
