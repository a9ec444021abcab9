"""Pictures of agents: episode frames, learned reward and value maps."""

import os

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO

from agents.pictures import heat_image, policy_episode_frames, render_policy, side_by_side, value_images
from agents.policies import VINPolicy

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
    # The same rollout by hand: as many moves, and success exactly when it reached the goal in time.
    obs, moves, reached = env.reset(seed=3)[0], 0, False
    while moves < 2 * info["shortest_path_length"] and not reached:
        obs, _, reached, _, _ = env.step(int(policy.predict(obs, deterministic=True)[0]))
        moves += 1
    assert len(frames) == moves + 1 and success == reached


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


def test_planner_grid_has_titled_panels_and_a_colour_scale_in_place_of_blank_slots(policy):
    from agents.pictures import RAMP, grid_of, planner_pictures, titled

    grid, frames, _ = planner_pictures(policy, "VINGrid-8x8-v0", seed=3, cell_pixels=6)
    panel = titled(np.zeros((48, 48, 3), np.uint8), "x", "y")
    h, w = panel.shape[:2]
    # map, reward and K = 5 values: 7 panels in a 6-column grid, the colour scale across 5 slots.
    assert grid.shape == (2 * h + 4, 6 * w + 5 * 4, 3) and len(frames) == 5
    legend = grid[h + 4 :, w + 4 :]
    ramp_colours = {tuple(c) for c in RAMP.astype(np.uint8)}
    assert ramp_colours & {tuple(p) for p in legend.reshape(-1, 3)}  # the ramp is drawn there
    titles = grid[:18, : 2 * w]
    assert (titles < 128).any()  # dark title text above the panels
    # With a full last row the scale gets a row of its own.
    six = grid_of([panel] * 6, filler=lambda width, height: np.zeros((height, width, 3), np.uint8))
    assert six.shape[0] == 2 * h + 4 and (six[h + 4 :] == 0).all()


def test_error_bars_stay_in_range_and_ticks_do_not_crowd():
    from eval.plots import clipped_errors, spaced_ticks

    below, above = clipped_errors([95.2, 50.0, 2.0], [7.1, 3.0, 5.0])
    assert above == pytest.approx([4.8, 3.0, 5.0]) and below == pytest.approx([7.1, 3.0, 2.0])
    assert spaced_ticks([1, 2, 5, 10, 20, 30, 36]) == [1, 2, 5, 10, 20, 36]


def test_a_table1_success_cell_is_read_or_named():
    from eval.plots import _mean_spread_paper

    assert _mean_spread_paper("99.5 ± 0.2 (99.6)", "t.md") == (99.5, 0.2, 99.6)
    mean, spread, paper = _mean_spread_paper("97.0 ± 1.5", "t.md")
    assert (mean, spread) == (97.0, 1.5) and paper != paper  # no paper figure: NaN
    with pytest.raises(ValueError, match="t.md: success cell '-'"):
        _mean_spread_paper("-", "t.md")


def test_render_policy_window_fits_the_screen_and_says_how_each_episode_ended(monkeypatch):
    from gridworld_env import rendering

    shown = []
    monkeypatch.setattr(
        rendering.Window, "show", lambda self, frame, status="", hold=0.0: shown.append((frame.shape, status, hold))
    )
    env = gym.make("VINGrid-64x64-v0")
    big = PPO(VINPolicy, env, policy_kwargs={"features_extractor_kwargs": {"ch_h": 4, "k": 5}}, device="cpu").policy
    sw, sh = rendering.screen_size()
    (success,) = render_policy(big, "VINGrid-64x64-v0", [4], "human")
    assert all(shape[0] <= 0.9 * sh and shape[1] <= 0.9 * sw for shape, _, _ in shown)
    assert shown[-1][1].endswith("reached the goal" if success else "failed") and shown[-1][2] > 0
    assert all(hold == 0.0 for _, _, hold in shown[:-1])
