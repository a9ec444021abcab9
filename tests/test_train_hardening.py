"""Trainers never lose a finished run, check settings before any work, name what differs on
resume and what a foreign checkpoint is, and stop a diverging run."""

import os
import subprocess
import sys

import gymnasium as gym
import pytest
import yaml

import gridworld_env
from agents.training.bc import BCConfig, DivergenceError, load_bc_config, train_bc
from agents.training.config import BC_CONFIG
from agents.training.ppo import PPOConfig, train_ppo
from train.__main__ import parse_args

BC_TINY = dict(env_id="VINGrid-8x8-v0", n_maps=10, epochs=1, ch_h=4, k=3, val_maps=5, threads=1)
PPO_TINY = dict(
    env_id="VINGrid-8x8-v0",
    n_envs=4,
    n_steps=16,
    batch_size=32,
    n_epochs=1,
    ch_h=4,
    k=3,
    eval_freq=64,
    eval_episodes=4,
    checkpoint_freq=64,
    threads=1,
    max_steps=16,
)


# ---------------------------------------------------------------- 1. no silent overwrite
def test_finished_bc_run_is_refused_then_replaced_only_on_request(tmp_path):
    train_bc(BCConfig(**BC_TINY), str(tmp_path))
    model = (tmp_path / "model.zip").read_bytes()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="--resume.*--overwrite"):
        train_bc(BCConfig(**{**BC_TINY, "seed": 1}), str(tmp_path))
    assert (tmp_path / "model.zip").read_bytes() == model  # untouched
    train_bc(BCConfig(**{**BC_TINY, "seed": 1}), str(tmp_path), overwrite=True)
    assert (tmp_path / "model.zip").read_bytes() != model
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the run's own files go
    with pytest.raises(ValueError, match="exclude each other"):
        train_bc(BCConfig(**BC_TINY), str(tmp_path), resume=True, overwrite=True)


def test_ppo_overwrite_leaves_no_best_model_of_the_old_run(tmp_path):
    train_ppo(PPOConfig(total_timesteps=64, **PPO_TINY), str(tmp_path))
    assert (tmp_path / "best_model.zip").exists()
    with pytest.raises(ValueError, match="already holds a run"):
        train_ppo(PPOConfig(total_timesteps=64, **PPO_TINY), str(tmp_path))
    # The new run evaluates after its last step only: no best model of its own.
    train_ppo(PPOConfig(total_timesteps=64, **{**PPO_TINY, "eval_freq": 1000}), str(tmp_path), overwrite=True)
    assert not (tmp_path / "best_model.zip").exists() and (tmp_path / "model.zip").exists()


def test_cli_refuses_an_existing_run_and_overwrites_with_the_flag(tmp_path):
    args = [
        sys.executable,
        "-m",
        "train",
        "bc",
        "--env",
        "VINGrid-8x8-v0",
        "--out",
        str(tmp_path),
        "--no-progress",
        "n_maps=5",
        "epochs=1",
        "ch_h=4",
        "k=3",
        "val_maps=3",
    ]
    assert subprocess.run(args, capture_output=True, text=True).returncode == 0
    stamp = os.path.getmtime(tmp_path / "model.zip")
    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode != 0 and "--overwrite" in again.stderr and "--resume" in again.stderr
    assert os.path.getmtime(tmp_path / "model.zip") == stamp
    assert subprocess.run([*args, "--overwrite"], capture_output=True, text=True).returncode == 0
    assert not list((tmp_path / "tb").iterdir())[1:]  # one TensorBoard file: the old one went


# ---------------------------------------------------------------- 4. divergence and every id's settings
def test_a_diverging_run_stops_without_saving_a_model(tmp_path):
    cfg = BCConfig(**{**BC_TINY, "lr": 1e4, "epochs": 2})
    with pytest.raises(DivergenceError, match="BC diverged at epoch 1"):
        train_bc(cfg, str(tmp_path))
    assert not (tmp_path / "model.zip").exists()


def test_every_registered_id_has_bc_settings():
    with open(BC_CONFIG) as f:
        sections = yaml.safe_load(f)
    assert set(gridworld_env.ENV_IDS) <= set(sections)


def test_bc_at_64x64_with_its_settings_does_not_diverge(tmp_path):
    cfg = load_bc_config("VINGrid-64x64-v0", BC_CONFIG, ["n_maps=10", "val_maps=5", "epochs=1"])
    _, history = train_bc(cfg, str(tmp_path))
    assert history[0]["loss"] < 3.0  # the first loss is about ln 8 = 2.1; the defaults reached 3e14


# ---------------------------------------------------------------- 5. types checked before any work
@pytest.mark.parametrize(
    "key, value",
    [
        ("epochs", 1.5),
        ("epochs", "abc"),
        ("epochs", True),
        ("lr", "fast"),
        ("trajectories_per_map", 7.0),
        ("tied", 1),
        ("k", [3]),
    ],
)
def test_bc_setting_types(key, value):
    with pytest.raises(ValueError, match=f"setting '{key}' must be of type"):
        BCConfig(**{key: value})


@pytest.mark.parametrize("key, value", [("masked", "yes"), ("n_envs", 4.0), ("total_timesteps", False)])
def test_ppo_setting_types(key, value):
    with pytest.raises(ValueError, match=f"setting '{key}' must be of type"):
        PPOConfig(**{key: value})


@pytest.mark.parametrize("config_class", [BCConfig, PPOConfig])
@pytest.mark.parametrize(
    "settings, named",
    [
        ({"kernel_init": "eye"}, "kernel_init must be one of"),
        ({"head_init": "eye"}, "head_init must be one of"),
        ({"learn_vi_kernels": False, "kernel_init": "zero"}, "learn_vi_kernels=false keeps the kernels"),
        ({"walls_block": True}, "walls_block=true needs learn_vi_kernels=false"),
        ({"learn_head": False}, "learn_head=false keeps the action head"),
    ],
)
def test_bc_and_ppo_refuse_the_same_vin_settings(config_class, settings, named):
    with pytest.raises(ValueError, match=named):
        config_class(**settings)


def test_int_for_float_is_taken_as_float():
    assert BCConfig(lr=1).lr == 1.0 and isinstance(BCConfig(lr=1).lr, float)
    assert BCConfig(trajectories_per_map=None).trajectories_per_map is None


@pytest.mark.parametrize("override", ["epochs=1.5", "epochs=abc", "epochs=true"])
def test_cli_refuses_bad_types_at_once(override):
    out = subprocess.run(
        [sys.executable, "-m", "train", "bc", "--env", "VINGrid-8x8-v0", override],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "setting 'epochs' must be of type int" in out.stderr


# ---------------------------------------------------------------- 6. overrides anywhere
def test_overrides_before_between_and_after_flags():
    args, cfg = parse_args(["bc", "epochs=1", "--out", "/tmp/x", "n_maps=10", "--env", "VINGrid-8x8-v0", "lr=0.1"])
    assert (cfg.epochs, cfg.n_maps, cfg.lr, cfg.env_id, args.out) == (1, 10, 0.1, "VINGrid-8x8-v0", "/tmp/x")


@pytest.mark.parametrize("argv", [["bc", "--bogus"], ["bc", "epochs=1", "stray"], ["bc", "--resume", "--overwrite"]])
def test_stray_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        parse_args(argv)


# ---------------------------------------------------------------- 7. resume names what differs
def test_resume_names_the_differing_key_and_allows_runtime_keys(tmp_path):
    train_bc(BCConfig(**BC_TINY), str(tmp_path))
    with pytest.raises(ValueError) as info:
        train_bc(BCConfig(**{**BC_TINY, "lr": 0.01, "epochs": 2}), str(tmp_path), resume=True)
    message = str(info.value)
    assert "lr: stored 0.005, given 0.01" in message and "epochs: stored 1, given 2" in message
    assert "n_maps" not in message
    _, history = train_bc(BCConfig(**{**BC_TINY, "threads": 2, "device": "auto"}), str(tmp_path), resume=True)
    assert len(history) == 1  # nothing left to train, and no refusal


# ---------------------------------------------------------------- 8. checkpoints of the other trainer
def test_resume_on_the_other_trainers_checkpoint_is_named(tmp_path):
    train_ppo(PPOConfig(total_timesteps=64, **PPO_TINY), str(tmp_path / "ppo"))
    train_bc(BCConfig(**BC_TINY), str(tmp_path / "bc"))
    with pytest.raises(ValueError, match=r"checkpoint of the PPO trainer.*python -m train ppo --resume") as info:
        train_bc(BCConfig(**BC_TINY), str(tmp_path / "ppo"), resume=True)
    assert "unpickl" not in str(info.value).lower() and len(str(info.value)) < 300
    with pytest.raises(ValueError, match="checkpoint of the BC trainer"):
        train_ppo(PPOConfig(total_timesteps=64, **PPO_TINY), str(tmp_path / "bc"), resume=True)


def test_registered_ids_match_the_package():
    registered = {i for i in gym.registry if i.startswith("VINGrid")}
    assert set(gridworld_env.ENV_IDS) | set(gridworld_env.MAZE_ENV_IDS) == registered
