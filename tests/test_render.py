"""Rendering works headless; the window and the keyboard player run on SDL's dummy driver."""

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame is imported anywhere

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from gridworld_env.core import ACTION_NAMES
from gridworld_env.play import KEYS, key_to_action, play
from gridworld_env.rendering import STATUS_HEIGHT, fit_cell_pixels, save_gif
from gridworld_env.wrappers import ImageObservation, PixelObservation


def test_rgb_array(env_id):
    env = gym.make(env_id, render_mode="rgb_array", cell_pixels=4)
    env.reset(seed=0)
    frame = env.render()
    n = env.unwrapped.size
    assert frame.dtype == np.uint8 and frame.shape == (n * 4, n * 4, 3)
    env.step(env.unwrapped.expert_action())
    assert not np.array_equal(frame, env.render())
    env.close()
    env.close()


def test_human_mode_headless_and_double_close():
    env = gym.make("VINGrid-8x8-v0", render_mode="human")
    env.reset(seed=0)
    env.step(0)
    assert env.render() is None
    env.close()
    env.close()


def test_render_without_mode_warns():
    env = gym.make("VINGrid-8x8-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.unwrapped.render() is None


def test_pygame_not_imported_for_rgb_array():
    code = (
        "import sys, gymnasium as gym; e = gym.make('gridworld_env:VINGrid-8x8-v0', render_mode='rgb_array');"
        "e.reset(seed=0); e.render(); print('pygame' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_wrappers():
    env = ImageObservation(gym.make("VINGrid-8x8-v0"))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 8, 8) and env.observation_space.contains(obs)
    u = env.unwrapped
    assert obs[2].sum() == 1 and obs[2][u.agent_pos] == 1 and obs[1][u.goal_pos] == 1
    pix = PixelObservation(gym.make("VINGrid-8x8-v0", render_mode="rgb_array", cell_pixels=3))
    obs, _ = pix.reset(seed=0)
    assert obs.shape == (24, 24, 3) and pix.observation_space.contains(obs)
    obs, *_ = pix.step(pix.unwrapped.expert_action())
    assert np.array_equal(obs, pix.render())  # the frame rgb_array rendering shows
    # Any render mode: the frame is drawn from the env's state.
    plain = PixelObservation(gym.make("VINGrid-8x8-v0"), cell_pixels=3)
    assert np.array_equal(plain.reset(seed=0)[0], pix.reset(seed=0)[0])
    with pytest.raises(ValueError, match="cell_pixels"):
        PixelObservation(gym.make("VINGrid-8x8-v0"), cell_pixels=1)
    with pytest.raises(ValueError, match="VINGrid env"):
        PixelObservation(gym.make("CartPole-v1"))


def test_save_gif(tmp_path):
    env = gym.make("VINGrid-8x8-v0", render_mode="rgb_array", cell_pixels=4)
    env.reset(seed=0)
    frames = [env.render()]
    frames.append(env.step(env.unwrapped.expert_action())[0] is not None and env.render())
    save_gif(frames, str(tmp_path / "ep.gif"))
    from PIL import Image

    with Image.open(tmp_path / "ep.gif") as im:
        assert im.n_frames == 2
    with pytest.raises(ValueError):
        save_gif([], str(tmp_path / "none.gif"))


def test_keys_cover_all_actions():
    assert sorted({key_to_action(k) for k in KEYS}) == list(range(8))
    assert key_to_action("p") is None


def test_play_with_posted_keys():
    import pygame

    pygame.init()
    pygame.display.set_mode((8, 8))
    env = gym.make("VINGrid-8x8-v0")
    env.reset(seed=5)
    u = env.unwrapped
    names = {a: k for k, a in ((k, key_to_action(k)) for k in ("w", "x", "d", "a", "e", "q", "c", "z"))}
    path = []
    while u.agent_pos != u.goal_pos:
        a = u.expert_action()
        path.append(a)
        env.step(a)
    for a in path:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.key.key_code(names[a])))
    results = play("VINGrid-8x8-v0", seed=5, max_episodes=1)
    assert results == [{"length": len(path), "return": pytest.approx(1.0 - 0.01 * (len(path) - 1)), "is_success": True}]


def test_play_help():
    out = subprocess.run([sys.executable, "-m", "gridworld_env.play", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--env" in out.stdout


def test_play_cli_refuses_without_a_display_instead_of_hanging():
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    out = subprocess.run(
        [sys.executable, "-m", "gridworld_env.play"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 2 and "no display" in out.stderr


@pytest.mark.parametrize(
    "args, message", [(["--env", "Foo-v0"], "unknown env 'Foo-v0'"), (["--seed", "-1"], "--seed must be >= 0")]
)
def test_play_cli_bad_arguments(args, message):
    out = subprocess.run(
        [sys.executable, "-m", "gridworld_env.play", *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_wasd_move_as_the_help_says():
    assert [key_to_action(k) for k in "wasd"] == [ACTION_NAMES.index(n) for n in ("N", "W", "S", "E")]


@pytest.mark.parametrize("screen", [(1920, 1080), (1024, 768), (1366, 768)])
def test_window_fits_the_screen_at_every_size(env_id, screen):
    size = gym.spec(env_id).kwargs["size"]
    px = fit_cell_pixels(size, 24, screen)
    assert 2 <= px <= 24
    assert size * px <= 0.9 * screen[0] and size * px + STATUS_HEIGHT <= 0.9 * screen[1]
    assert fit_cell_pixels(size, 24, None) == 24  # no screen known: as asked


def test_human_window_at_64x64_fits_the_dummy_display():
    import pygame

    env = gym.make("VINGrid-64x64-v0", render_mode="human")
    env.reset(seed=0)
    w, h = pygame.display.get_surface().get_size()
    sw, sh = pygame.display.get_desktop_sizes()[0]
    assert w <= sw and h <= sh and w < 64 * 24
    env.close()


def test_human_window_shows_status_and_pauses_on_the_last_frame(monkeypatch):
    from gridworld_env import rendering

    shown = []
    monkeypatch.setattr(rendering.Window, "show", lambda self, frame, status="", hold=0.0: shown.append((status, hold)))
    env = gym.make("VINGrid-8x8-v0", render_mode="human")
    env.reset(seed=5)
    u = env.unwrapped
    assert shown[-1] == (f"step 0/256   shortest path {u.distance_map()[u.agent_pos]}", 0.0)
    while True:
        *_, terminated, truncated, _ = env.step(u.expert_action())
        if terminated:
            break
        assert shown[-1][1] == 0.0
    status, hold = shown[-1]
    assert status.endswith("reached the goal") and hold == u.human_pause > 0
    env.reset(seed=6, options={"start": (1, 1)})
    env.step(3)  # west of (1, 1) is the wall
    assert shown[-1][0].endswith("collision")
    env.close()


@pytest.mark.parametrize("px", [2, 3, 4, 8, 16, 24])
def test_agent_on_the_goal_leaves_the_goal_visible(px):
    from gridworld_env.rendering import AGENT, GOAL, draw_frame

    obstacles = np.zeros((5, 5), bool)
    frame = draw_frame(obstacles, (2, 2), (2, 2), (), px)
    cell = frame[2 * px : 3 * px, 2 * px : 3 * px].reshape(-1, 3)
    goal = (cell == GOAL).all(axis=1).sum()
    agent = (cell == AGENT).all(axis=1).sum()
    assert agent >= 1 and goal >= agent
