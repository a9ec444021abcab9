"""PPO training: every policy runs, curriculum, BC initialisation, exact resume, clear errors."""

import dataclasses
import os

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from agents.training.bc import BCConfig, resolve_init_path, train_bc
from agents.training.ppo import (
    UPDATE_FIGURES,
    PPOConfig,
    build_ppo,
    curriculum_distance,
    init_policy,
    load_ppo_checkpoint,
    train_ppo,
)
from gridworld_env.vector import VINGridVecEnv

TINY = dict(
    env_id="VINGrid-8x8-v0",
    n_envs=4,
    n_steps=16,
    batch_size=32,
    n_epochs=2,
    ch_h=8,
    k=5,
    eval_freq=64,
    eval_episodes=8,
    checkpoint_freq=64,
    threads=1,
    max_steps=20,
)


def test_resume_equals_uninterrupted(tmp_path):
    straight, history = train_ppo(PPOConfig(total_timesteps=256, **TINY), str(tmp_path / "a"))
    train_ppo(PPOConfig(total_timesteps=128, **TINY), str(tmp_path / "b"))
    resumed, resumed_history = train_ppo(PPOConfig(total_timesteps=256, **TINY), str(tmp_path / "b"), resume=True)
    a, b = straight.policy.state_dict(), resumed.policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed_history == history and [h["timesteps"] for h in history] == [64, 128, 192, 256]
    # Each evaluation after the first update keeps that update's figures (why a run fails to learn).
    assert "value_loss" not in history[0] and all(set(UPDATE_FIGURES) <= set(h) for h in history[1:])
    assert history[1]["value_loss"] != history[2]["value_loss"]
    assert load_ppo_checkpoint(str(tmp_path / "b" / "checkpoint.pt"))["num_timesteps"] == 256


def test_resume_refuses_other_settings_and_foreign_files(tmp_path):
    train_ppo(PPOConfig(total_timesteps=64, **TINY), str(tmp_path))
    with pytest.raises(ValueError, match="other settings"):
        train_ppo(PPOConfig(total_timesteps=128, **{**TINY, "lr": 0.1}), str(tmp_path), resume=True)
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        train_ppo(PPOConfig(total_timesteps=128, **TINY), str(tmp_path), resume=True)


@pytest.mark.parametrize("policy, masked", [("vin", True), ("cnn", False), ("fcn", True), ("mlp", False)])
def test_every_policy_trains_and_round_trips(policy, masked, tmp_path):
    cfg = PPOConfig(total_timesteps=128, policy=policy, masked=masked, **TINY)
    model, history = train_ppo(cfg, str(tmp_path))
    assert type(model).__name__ == ("MaskablePPO" if masked else "PPO")
    assert [h["timesteps"] for h in history] == [64, 128]
    # Two updates moved the weights away from the (seeded) start.
    start = build_ppo(cfg, VINGridVecEnv(cfg.n_envs, size=8)).policy.state_dict()
    trained = model.policy.state_dict()
    assert any(not torch.equal(start[k], trained[k]) for k in start)
    # The saved zip acts as the trained model.
    loaded = type(model).load(tmp_path / "model.zip", device="cpu")
    obs = VINGridVecEnv(4, size=8, seed=7).reset()
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert (tmp_path / "best_model.zip").exists()


def test_a_bfloat16_cnn_trains_and_keeps_bfloat16_through_save_and_load(tmp_path):
    cfg = PPOConfig(total_timesteps=128, policy="cnn", bf16=True, **TINY)
    model, _ = train_ppo(cfg, str(tmp_path))
    assert model.policy.features_extractor.bf16
    start = build_ppo(cfg, VINGridVecEnv(cfg.n_envs, size=8)).policy.state_dict()
    assert any(not torch.equal(start[k], v) for k, v in model.policy.state_dict().items())
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.features_extractor.bf16
    obs = VINGridVecEnv(4, size=8, seed=7).reset()
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def test_init_from_bc_copies_the_policy(tmp_path):
    bc_cfg = BCConfig(env_id="VINGrid-8x8-v0", n_maps=20, epochs=1, ch_h=8, k=5, val_maps=5)
    bc, _ = train_bc(bc_cfg, str(tmp_path / "bc"))
    for source, masked in (("model.zip", False), ("checkpoint.pt", True)):
        cfg = PPOConfig(init=str(tmp_path / "bc" / source), masked=masked, **TINY)
        model = build_ppo(cfg, VINGridVecEnv(4, size=8))
        init_policy(model, cfg.init)
        a, b = bc.policy.state_dict(), model.policy.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="does not match"):
        train_ppo(
            PPOConfig(total_timesteps=64, init=str(tmp_path / "bc" / "model.zip"), **{**TINY, "k": 6, "ch_h": 9}),
            str(tmp_path / "bad"),
        )


def test_resume_refuses_a_run_whose_start_model_file_changed(tmp_path):
    """A run that started from ``init`` resumes only from that same file (a replaced start model
    would make the run's record claim weights it never started from)."""
    import shutil

    train_ppo(PPOConfig(total_timesteps=64, **TINY), str(tmp_path / "a"))
    train_ppo(PPOConfig(total_timesteps=64, **{**TINY, "seed": 1}), str(tmp_path / "b"))
    start = tmp_path / "start.zip"
    shutil.copy(tmp_path / "a" / "model.zip", start)
    cfg = PPOConfig(total_timesteps=64, init=str(start), **TINY)
    train_ppo(cfg, str(tmp_path / "run"))
    train_ppo(dataclasses.replace(cfg, total_timesteps=128), str(tmp_path / "run"), resume=True)
    shutil.copy(tmp_path / "b" / "model.zip", start)
    with pytest.raises(ValueError, match="started from another .*start.zip"):
        train_ppo(dataclasses.replace(cfg, total_timesteps=192), str(tmp_path / "run"), resume=True)


def test_a_settings_files_init_path_into_the_package_works_from_any_directory(tmp_path, monkeypatch):
    """``hyperparams/ppo_vinscratch.yml`` starts 16x16 from ``agents/pretrained/...``: found from elsewhere."""
    monkeypatch.chdir(tmp_path)
    found = resolve_init_path("agents/pretrained/ppo_vinscratch_8x8.zip")
    assert os.path.isabs(found) and os.path.isfile(found)
    (tmp_path / "mine.zip").write_bytes(b"")
    assert resolve_init_path("mine.zip") == "mine.zip"  # the working directory comes first
    with pytest.raises(FileNotFoundError, match="no model to initialise from at agents/missing.zip or /"):
        resolve_init_path("agents/missing.zip")


def test_curriculum_widens_then_ends():
    cfg = PPOConfig(env_id="VINGrid-16x16-v0", total_timesteps=1000, curriculum=True, curriculum_fraction=0.5)
    d = [curriculum_distance(cfg, t) for t in (0, 250, 499, 500, 999)]
    assert d[0] == 1 and d[1] < d[2] <= 32 and d[3] is None and d[4] is None
    assert curriculum_distance(PPOConfig(), 0) is None


def test_curriculum_limits_start_distance():
    env = VINGridVecEnv(64, size=16, seed=3)
    env.set_max_start_distance(2)
    obs = env.reset()
    rows = np.arange(64)
    for _ in range(30):
        dist = env.distances[rows, obs["position"][:, 0], obs["position"][:, 1]]
        fresh = env.steps == 0
        assert (dist[fresh] >= 1).all() and (dist[fresh] <= 2).all()
        obs, *_ = env.step(env.expert_actions())
    with pytest.raises(ValueError, match="max start distance"):
        env.set_max_start_distance(0)


def test_env_state_dict_round_trip():
    env = VINGridVecEnv(8, size=8, seed=1)
    env.reset()
    state = env.state_dict()
    actions = np.random.default_rng(0).integers(0, 8, size=(40, 8))
    first = [env.step(a)[:3] for a in actions]
    other = VINGridVecEnv(8, size=8)
    other.load_state_dict(state)
    again = [other.step(a)[:3] for a in actions]
    for (o1, r1, d1), (o2, r2, d2) in zip(first, again):
        assert np.array_equal(o1["image"], o2["image"]) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
    with pytest.raises(ValueError, match="other settings"):
        VINGridVecEnv(4, size=8).load_state_dict(state)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"policy": "rnn"}, "policy"),
        ({"n_envs": 0}, "n_envs"),
        ({"curriculum_fraction": 0}, "curriculum_fraction"),
        ({"env_id": "Nope-v0"}, "unknown env"),
        ({"max_steps": 0}, "max_steps"),
        ({"kernel_init": "random"}, "kernel_init"),
        ({"head_init": "zero"}, "head_init"),
        ({"kernel_init": "zero", "learn_vi_kernels": False, "walls_block": False}, "needs kernel_init='moves'"),
        ({"bf16": True, "policy": "vin"}, "bf16=True runs the CNN's convolutions in bfloat16: it needs policy='cnn'"),
    ],
)
def test_bad_settings_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        PPOConfig(**bad)


def test_saved_model_loads_with_plain_ppo(tmp_path):
    train_ppo(PPOConfig(total_timesteps=64, **TINY), str(tmp_path))
    model = PPO.load(tmp_path / "model.zip", device="cpu")
    assert model.policy.features_extractor.vin.k == 5


def test_resume_partway_through_the_curriculum_equals_uninterrupted(tmp_path, monkeypatch):
    import shutil

    import agents.training.ppo as ppo

    cfg = PPOConfig(total_timesteps=256, curriculum=True, curriculum_fraction=1.0, **TINY)
    saved = ppo.save_checkpoint

    def keep_the_one_at_128(path, model, cfg_, extra):
        saved(path, model, cfg_, extra)
        if model.num_timesteps == 128:
            shutil.copy(path, tmp_path / "at128.pt")

    monkeypatch.setattr(ppo, "save_checkpoint", keep_the_one_at_128)
    straight, history = train_ppo(cfg, str(tmp_path / "a"))
    monkeypatch.setattr(ppo, "save_checkpoint", saved)
    state = load_ppo_checkpoint(str(tmp_path / "at128.pt"))
    assert state["num_timesteps"] == 128 and state["env"]["max_start_distance"] is not None  # mid-curriculum
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "at128.pt", tmp_path / "b" / "checkpoint.pt")
    resumed, resumed_history = train_ppo(cfg, str(tmp_path / "b"), resume=True)
    a, b = straight.policy.state_dict(), resumed.policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and resumed_history == history


def test_map_grouped_buffer_yields_exactly_what_sb3s_buffer_holds():
    """Our buffer re-implements SB3's private ``get``: if SB3 changes what its buffer holds or how
    it flattens it, this fails (the grouped buffer must then be updated or dropped)."""
    from stable_baselines3.common.buffers import DictRolloutBuffer

    from agents.training.ppo import MapGroupedDictRolloutBuffer

    env = VINGridVecEnv(2, size=8, seed=0)
    buffers = [
        cls(8, env.observation_space, env.action_space, n_envs=2)
        for cls in (DictRolloutBuffer, MapGroupedDictRolloutBuffer)
    ]
    rng = np.random.default_rng(0)
    obs = env.reset()
    for step in range(8):
        actions = rng.integers(0, 8, size=(2, 1))
        values, log_probs = torch.as_tensor(rng.normal(size=(2, 1))), torch.as_tensor(rng.normal(size=2))
        starts = rng.random(2) < 0.3
        for buf in buffers:
            buf.add(
                {k: v.copy() for k, v in obs.items()}, actions, np.full(2, step, np.float32), starts, values, log_probs
            )
        obs, *_ = env.step(actions[:, 0])
    for buf in buffers:
        buf.compute_returns_and_advantage(torch.zeros(2), np.zeros(2, dtype=bool))
    ours, theirs = (next(buf.get(None)) for buf in buffers[::-1])
    assert set(ours._fields) == set(theirs._fields)

    def rows(sample):  # every sample as one row of numbers, in a canonical order
        parts = [sample.observations[k].reshape(16, -1) for k in sorted(sample.observations)]
        parts += [getattr(sample, f).reshape(16, -1) for f in sample._fields if f != "observations"]
        return sorted(map(tuple, torch.cat([p.double() for p in parts], dim=1).tolist()))

    assert rows(ours) == rows(theirs)
