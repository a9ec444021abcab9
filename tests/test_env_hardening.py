"""Bad input to the envs gets a clear error and never sticks; wrappers pass both env checkers;
the batched env answers get_attr / env_method with true values or a named refusal."""

import os
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from gridworld_env import VINGridEnv
from gridworld_env.vector import VINGridVecEnv
from gridworld_env.wrappers import ImageObservation, PixelObservation

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # the gymnasium checker opens a human window
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


# ---------------------------------------------------------------- reset options and constructor
@pytest.mark.parametrize("options", [0, [], (), "", np.zeros(3), 1.5])
def test_reset_options_that_are_not_a_dict_raise(options):
    env = VINGridEnv(size=8)
    with pytest.raises(ValueError, match="dict or None"):
        env.reset(seed=0, options=options)


def test_empty_dict_and_none_are_no_options():
    env = VINGridEnv(size=8)
    a, _ = env.reset(seed=3, options={})
    b, _ = env.reset(seed=3, options=None)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["position"], b["position"])


def test_messages_show_plain_cells_not_placeholders():
    env = VINGridEnv(size=8)
    with pytest.raises(ValueError, match="no free cell") as info:
        env.reset(seed=0, options={"obstacles": np.ones((8, 8), bool)})
    assert "-1" not in str(info.value)
    wall = np.zeros((8, 8), bool)
    wall[:, 4] = True
    with pytest.raises(ValueError) as info:
        env.reset(seed=0, options={"obstacles": wall, "start": (2, 2), "goal": (2, 6)})
    assert str(info.value) == "the goal (2, 6) cannot be reached from the start (2, 2) on the given obstacles"
    lonely = np.ones((8, 8), bool)
    lonely[3, 3] = False
    with pytest.raises(ValueError, match=r"obstacles \(8x8 map, 63 blocked\)"):
        env.reset(seed=0, options={"obstacles": lonely})


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"max_steps": True}, "max_steps"),
        ({"max_steps": 2.0}, "max_steps"),
        ({"cell_pixels": 0}, "cell_pixels"),
        ({"cell_pixels": 1}, "cell_pixels"),
        ({"cell_pixels": True}, "cell_pixels"),
        ({"size": True}, "size"),
        ({"goal_reward": "1"}, "goal_reward"),
        ({"step_reward": None}, "step_reward"),
    ],
)
def test_bad_constructor_values_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        VINGridEnv(**{"size": 8, **kwargs})


# ---------------------------------------------------------------- checkers on every id, wrapped or not
WRAPPERS = {"none": lambda e: e, "image": ImageObservation, "pixels": lambda e: PixelObservation(e, cell_pixels=2)}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_both_checkers_pass_with_and_without_wrappers(env_id, wrapper):
    env = WRAPPERS[wrapper](gym.make(env_id, render_mode="rgb_array"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checkers' advice (bounds of 0/1 images, small images)
        gym_check_env(env)  # render check included: it makes the env again from env.spec
        sb3_check_env(env, warn=False)
    again = gym.make(env.spec)  # the wrapper is recorded in the spec
    assert type(again) is type(env) and again.observation_space == env.observation_space


# ---------------------------------------------------------------- batched env: options never stick
def test_bad_vec_options_rejected_when_given():
    venv = VINGridVecEnv(4, size=8, seed=0)
    with pytest.raises(ValueError, match="wall border"):
        venv.set_options({"start": (0, 0)})
    with pytest.raises(ValueError, match="list of 4"):
        venv.set_options([{}, {}])
    venv.reset()  # nothing stuck
    venv.reset()


def test_options_that_fail_at_reset_do_not_stick():
    wall = np.zeros((8, 8), bool)
    wall[:, 4] = True
    venv = VINGridVecEnv(2, size=8, seed=0)
    venv.set_options({"obstacles": wall, "start": (2, 2), "goal": (2, 6)})  # valid cells, no path
    with pytest.raises(ValueError, match="cannot be reached"):
        venv.reset()
    first = venv.reset()  # the failed options are gone; the seeds still hold
    again = VINGridVecEnv(2, size=8, seed=0).reset()
    assert np.array_equal(first["image"], again["image"])


def test_vec_options_serve_one_reset():
    venv = VINGridVecEnv(2, size=8, seed=0)
    venv.set_options({"start": (1, 1), "goal": (6, 6)})
    venv.reset()
    assert venv.get_attr("agent_pos") == [(1, 1), (1, 1)] and venv.get_attr("goal_pos") == [(6, 6), (6, 6)]
    venv.reset()
    assert venv.get_attr("goal_pos") != [(6, 6), (6, 6)]


# ---------------------------------------------------------------- batched env: attributes
def batch_and_singles(n):
    """A reset batch of ``n`` 8x8 envs and the ``n`` single envs it equals (seeds 0 .. n - 1)."""
    venv = VINGridVecEnv(n, size=8, seed=0)
    venv.reset()
    singles = [gym.make("VINGrid-8x8-v0").unwrapped for _ in range(n)]
    for i, env in enumerate(singles):
        env.reset(seed=i)
    return venv, singles


def test_get_attr_gives_true_per_env_values():
    venv, singles = batch_and_singles(4)
    assert venv.get_attr("agent_pos") == [env.agent_pos for env in singles]
    assert venv.get_attr("goal_pos") == [env.goal_pos for env in singles]
    assert all(np.array_equal(a, env.obstacles) for a, env in zip(venv.get_attr("obstacles"), singles))
    assert venv.get_attr("agent_pos", indices=[2]) == [singles[2].agent_pos]
    assert venv.get_attr("max_steps") == [256] * 4 and venv.get_attr("size", 1) == [8]
    # After steps the values follow the agents.
    venv.step(np.array([env.expert_action() for env in singles]))
    for env in singles:
        env.step(env.expert_action())
    assert venv.get_attr("agent_pos") == [env.agent_pos for env in singles]


def test_env_method_and_has_attr():
    venv, singles = batch_and_singles(3)
    assert venv.env_method("expert_action") == [env.expert_action() for env in singles]
    assert all(np.array_equal(a, env.action_masks()) for a, env in zip(venv.env_method("action_masks"), singles))
    assert all(np.array_equal(a, env.distance_map()) for a, env in zip(venv.env_method("distance_map"), singles))
    assert [f() for f in venv.get_attr("expert_action")] == venv.env_method("expert_action")
    assert venv.has_attr("agent_pos") and venv.has_attr("action_masks")
    assert not venv.has_attr("trail") and not venv.has_attr("np_random")


@pytest.mark.parametrize("name", ["trail", "np_random", "_steps", "nonsense"])
def test_unsupported_attributes_are_named_not_faked(name):
    venv = VINGridVecEnv(2, size=8, seed=0)
    venv.reset()
    with pytest.raises(AttributeError, match=name):
        venv.get_attr(name)
    with pytest.raises(AttributeError, match=name):
        venv.env_method(name)
    with pytest.raises(AttributeError, match=name):
        venv.set_attr(name, 1)


def test_vec_attribute_errors():
    venv = VINGridVecEnv(2, size=8, seed=0)
    with pytest.raises(AttributeError, match="before reset"):
        venv.get_attr("agent_pos")
    venv.reset()
    with pytest.raises(IndexError, match="out of range"):
        venv.get_attr("agent_pos", indices=[5])
    with pytest.raises(AttributeError, match="set_attr"):
        venv.set_attr("max_steps", 3)
