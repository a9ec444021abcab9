"""Pictures of agents: episode frames, learned reward and value maps."""

import os

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO

from agents.policies import VINPolicy
from agents.visual import heat_image, policy_episode_frames, render_policy, side_by_side, value_images

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture(scope="module")
def policy():
    env = gym.make("VINGrid-8x8-v0")
    return PPO(VINPolicy, env, policy_kwargs={"features_extractor_kwargs": {"ch_h": 4, "k": 5}}, device="cpu").policy


def test_episode_frames_stop_at_the_paper_limit(policy):
    env = gym.make("VINGrid-8x8-v0")
    _, info = env.reset(seed=3)
    frames, success = policy_episode_frames(policy, "VINGrid-8x8-v0", seed=3, cell_pixels=4)
    assert 2 <= len(frames) <= 2 * info["shortest_path_length"] + 1 and frames[0].shape == (32, 32, 3)
    assert isinstance(success, bool)


def test_value_images_have_one_map_per_iteration(policy):
    obstacles = np.zeros((8, 8), dtype=bool)
    obstacles[[0, -1], :] = obstacles[:, [0, -1]] = True
    reward, values = value_images(policy, obstacles, (3, 3))
    assert reward.shape == (8, 8) and len(values) == 5 and values[0].shape == (8, 8)
    heat = heat_image(values[-1], obstacles, cell_pixels=3)
    assert heat.shape == (24, 24, 3) and (heat[:3, :3] == 0).all()  # a wall cell is black
    assert side_by_side(heat, heat, gap=2).shape == (24, 50, 3)
    with pytest.raises(ValueError, match="same height"):
        side_by_side(heat, heat[:10])


def test_render_policy_modes(policy, tmp_path):
    outcomes = render_policy(policy, "VINGrid-8x8-v0", [1, 2], "gif", str(tmp_path / "a.gif"))
    assert len(outcomes) == 2 and (tmp_path / "a.gif").exists()
    assert len(render_policy(policy, "VINGrid-8x8-v0", [1], "human", fps=1000)) == 1
    with pytest.raises(ValueError, match="render mode"):
        render_policy(policy, "VINGrid-8x8-v0", [1], "mp4")
