"""The PPO-from-reward recipe: its VIN options (terminal goal, centred Q, planner head), the
learning-rate schedule, the composed reward conv, a short learning run, and ``eval.rl_table``."""

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from agents.planners import VIN
from agents.policies import CenteredQ, VINPolicy
from agents.training.ppo import LinearSchedule, PPOConfig, build_ppo, learning_rate
from gridworld_env.core import observation_images
from gridworld_env.maps import default_spec, sample_episodes
from gridworld_env.vector import VINGridVecEnv
from tests.test_ppo import TINY

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _episodes(size: int, n: int, seed: int = 0):
    rngs = [np.random.default_rng(seed + i) for i in range(n)]
    return sample_episodes(rngs, default_spec(size))


def _hand_reward_vin(size: int, terminal_goal: bool) -> VIN:
    """A VIN with the ``moves`` kernels and a hand-set reward: goal +1, free -0.1, obstacle -10."""
    vin = VIN(2, k=2 * size, ch_h=2, ch_q=8, n_actions=0, terminal_goal=terminal_goal)
    with torch.no_grad():
        vin.hidden.weight.zero_()
        vin.hidden.weight[0, 0, 1, 1] = 1.0  # hidden 0: the cell's obstacle channel, plus 0.1 / 9.9
        vin.hidden.weight[1, 1, 1, 1] = 1.0  # hidden 1: the cell's goal channel
        vin.hidden.bias.copy_(torch.tensor([0.1 / 9.9, 0.0]))
        vin.reward.weight[0, :, 0, 0] = torch.tensor([-9.9, 1.1])  # -9.9 obstacle + 1.1 goal - 0.1
    return vin


def test_terminal_goal_plans_shortest_paths():
    """With the goal terminal, greedy Q of a hand-set reward is an optimal move at every free cell."""
    ep = _episodes(16, 20)
    images = torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32))
    vin = _hand_reward_vin(16, terminal_goal=True)
    with torch.no_grad():
        q = vin.plan(images).numpy()
    from gridworld_env.core import optimal_action_masks

    masks = optimal_action_masks(ep.distances)  # (M, H, W, 8)
    reachable = (ep.distances > 0) & np.isfinite(ep.distances) & (ep.distances < 2 * 16)
    best = q.argmax(axis=1)  # (M, H, W)
    ok = np.take_along_axis(masks, best[..., None], axis=-1)[..., 0]
    assert ok[reachable].all(), f"{(~ok[reachable]).sum()} cells with a non-optimal greedy move"
    # The goal's value is 0 in every backup: Q of a move onto the goal is the goal's reward alone.
    g = ep.goals[0]
    neighbour = (g[0], g[1] + 1) if not ep.obstacles[0, g[0], g[1] + 1] else (g[0] + 1, g[1])
    west = 3  # N, S, E, W: from the cell east of the goal, W moves onto it
    if neighbour == (g[0], g[1] + 1):
        assert q[0, west, neighbour[0], neighbour[1]] == pytest.approx(1.0, abs=1e-5)


def _cheap_wall_vin(size: int, walls_block: bool) -> VIN:
    """The hand-set VIN with a wall that costs 3 free moves (free -0.1, obstacle -0.3)."""
    vin = VIN(2, k=2 * size, ch_h=2, ch_q=8, n_actions=0, terminal_goal=True, walls_block=walls_block)
    with torch.no_grad():
        vin.hidden.weight.zero_()
        vin.hidden.weight[0, 0, 1, 1] = 1.0
        vin.hidden.bias.copy_(torch.tensor([0.5, 0.0]))
        vin.reward.weight[0, :, 0, 0] = torch.tensor([-0.2, 0.0])  # -0.2 (obstacle + 0.5)
    return vin


def test_walls_block_plans_round_a_cheap_wall_that_the_published_vin_walks_into():
    from gridworld_env.core import ACTIONS, distance_maps, optimal_action_masks
    from tests.test_pretrained import wall_between

    ep = _episodes(8, 20)
    obstacles = np.concatenate([wall_between(8)[None], ep.obstacles])
    goals = np.concatenate([np.array([[1, 6]]), ep.goals])
    images = torch.from_numpy(observation_images(obstacles, goals, np.float32))
    with torch.no_grad():
        published = _cheap_wall_vin(8, walls_block=False).plan(images).numpy()
        blocking = _cheap_wall_vin(8, walls_block=True).plan(images).numpy()

    def target(q: np.ndarray) -> tuple[int, int]:  # the cell that the greedy move at (1, 3) aims at
        dr, dc = ACTIONS[int(q[0, :, 1, 3].argmax())]
        return 1 + dr, 3 + dc

    assert obstacles[0][target(published)], "the published VIN steps into a wall beside the goal's side"
    assert not obstacles[0][target(blocking)]
    # With walls blocking, any negative step cost gives shortest paths, whatever the wall costs.
    distances = distance_maps(obstacles, goals)
    masks = optimal_action_masks(distances)
    reachable = distances > 0
    ok = np.take_along_axis(masks, blocking.argmax(axis=1)[..., None], axis=-1)[..., 0]
    assert ok[reachable].all(), f"{(~ok[reachable]).sum()} cells with a non-optimal greedy move"


def test_terminal_goal_off_is_the_published_vin():
    vin = _hand_reward_vin(8, terminal_goal=False)
    ep = _episodes(8, 4)
    images = torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32))
    with torch.no_grad():
        r = vin.reward_image(images)
        q_r = vin.q_from_reward(r)
        v = q_r.max(dim=1, keepdim=True).values
        for _ in range(vin.k - 1):
            v = (q_r + vin.q_from_value(v)).max(dim=1, keepdim=True).values
        assert torch.allclose(vin.plan(images), q_r + vin.q_from_value(v))


def test_composed_reward_conv_equals_hidden_then_reward_with_gradients():
    torch.manual_seed(0)
    vin = VIN(2, k=5, ch_h=150, ch_q=10, n_actions=0)
    x = (torch.rand(6, 2, 16, 16) > 0.7).float()
    composed = vin.reward_image(x)
    layered = vin.reward(vin.hidden(x))
    assert torch.allclose(composed, layered, atol=1e-5)
    g1 = torch.autograd.grad(composed.square().sum(), [vin.hidden.weight, vin.reward.weight])
    g2 = torch.autograd.grad(layered.square().sum(), [vin.hidden.weight, vin.reward.weight])
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_centred_q_ignores_a_shared_offset():
    q = torch.randn(5, 8)
    assert torch.allclose(CenteredQ()(q + 500.0), CenteredQ()(q), atol=1e-4)
    assert (CenteredQ()(q) <= 0).all()


def test_planner_head_starts_as_the_identity_and_options_round_trip(tmp_path):
    env = VINGridVecEnv(2, size=8)
    kwargs = dict(center_q=True, head_init="moves", features_extractor_kwargs={"ch_q": 8, "terminal_goal": True})
    model = PPO(VINPolicy, env, policy_kwargs=kwargs, n_steps=16, batch_size=32, device="cpu")
    linear = model.policy.action_net[1]
    assert torch.equal(linear.weight, torch.eye(8)) and not linear.bias.any()
    ids = {id(p) for group in model.policy.optimizer.param_groups for p in group["params"]}
    assert all(id(p) in ids for p in model.policy.parameters()), "the optimiser misses a parameter"
    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", device="cpu")
    assert loaded.policy.center_q and loaded.policy.head_init == "moves"
    assert loaded.policy.features_extractor.vin.terminal_goal
    obs = env.reset()
    with torch.no_grad():
        a, _ = model.predict(obs, deterministic=True)
        b, _ = loaded.predict(obs, deterministic=True)
    assert np.array_equal(a, b)


def test_bad_policy_options_raise():
    env = VINGridVecEnv(2, size=8)
    with pytest.raises(ValueError, match="head_init must be one of"):
        PPO(VINPolicy, env, policy_kwargs={"head_init": "eye"}, device="cpu")
    with pytest.raises(ValueError, match="needs ch_q >= 8"):
        PPO(
            VINPolicy, env, policy_kwargs={"head_init": "moves", "features_extractor_kwargs": {"ch_q": 4}}, device="cpu"
        )
    with pytest.raises(ValueError, match="learn_head=False keeps the action head"):
        PPO(VINPolicy, env, policy_kwargs={"learn_head": False}, device="cpu")
    with pytest.raises(ValueError, match="lr_schedule"):
        PPOConfig(lr_schedule="cosine")
    with pytest.raises(ValueError, match="lr_final must be in"):
        PPOConfig(lr_schedule="linear", lr_final=2.0)


def test_linear_schedule_decays_to_its_final_fraction():
    schedule = learning_rate(PPOConfig(lr=0.001, lr_schedule="linear", lr_final=0.1))
    assert isinstance(schedule, LinearSchedule)
    assert schedule(1.0) == pytest.approx(0.001) and schedule(0.0) == pytest.approx(0.0001)
    assert schedule(0.5) == pytest.approx(0.00055)
    assert learning_rate(PPOConfig(lr=0.002)) == 0.002
    model = build_ppo(
        PPOConfig(env_id="VINGrid-8x8-v0", lr=0.001, lr_schedule="linear", n_envs=2), VINGridVecEnv(2, size=8)
    )
    assert model.lr_schedule(0.25) == pytest.approx(0.00025)


def test_the_recipe_learns_8x8_from_reward_in_under_a_minute(tmp_path):
    """``hyperparams/ppo.yml``'s 8x8 recipe, cut to 200,000 env steps (about 20 s here)."""
    from agents.evaluation import evaluate_act_fn, evaluate_policy_on_maps, held_out_episodes
    from agents.training.ppo import load_ppo_config, train_ppo

    cfg = load_ppo_config(
        "VINGrid-8x8-v0",
        flags={"policy": "vin"},
        overrides=["total_timesteps=200000", "eval_freq=1000000", "threads=2"],
    )
    model, _ = train_ppo(cfg, str(tmp_path))
    learned = evaluate_policy_on_maps(model.policy, 8, 200).success_rate
    ep = held_out_episodes(8, 200)
    rng = np.random.default_rng(0)
    chance = evaluate_act_fn(lambda m, r, c: rng.integers(0, 8, size=m.size), ep).success_rate
    # Seeds 0, 1 and 2 reached 100.0, 99.5 and 99.5 %; uniform random actions 8 % (paper protocol).
    assert learned >= 0.9 and learned > chance + 0.5, (learned, chance)


def test_rl_table_quick_builds_the_table_and_reuses_finished_runs(tmp_path):
    out, curves, runs = tmp_path / "t.md", tmp_path / "c.png", tmp_path / "runs"
    args = [sys.executable, "-m", "eval.rl_table", "--quick", "--episodes", "50", "--policies", "vin", "cnn"]
    args += ["--runs", str(runs), "--out", str(out), "--curves", str(curves), "--no-progress"]
    args += ["total_timesteps=8192", "eval_freq=4096", "n_epochs=2"]  # the CNN's own recipe has 10 epochs
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert (
        "| 8x8 | VIN | the image and the reward; the env's moves" in text
        and "| 8x8 | CNN | the image and the reward | 0 |" in text
    )
    assert curves.stat().st_size > 1000
    result = json.loads((runs / "8" / "vin" / "seed0" / "result.json").read_text())
    assert result["timesteps"] == 8192 and result["history"], result.keys()
    again = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert again.returncode == 0 and "success" not in again.stdout.split("# PPO")[0], again.stdout[:500]
    cached = subprocess.run(
        [*args, "--only-cached", "--seeds", "0", "1"], capture_output=True, text=True, timeout=600, cwd=REPO, env=env
    )
    assert cached.returncode == 0, cached.stderr[-2000:]
    assert "8x8 VIN seed 1, 8x8 CNN seed 1." in out.read_text() and not (runs / "8" / "vin" / "seed1").exists()
    # a narrower command must not silently drop the CNN row of the table already there
    before = out.read_text()
    narrow = subprocess.run(
        [*args, "--policies", "vin"], capture_output=True, text=True, timeout=600, cwd=REPO, env=env
    )
    assert narrow.returncode == 2 and "8x8 CNN" in narrow.stderr and "--overwrite" in narrow.stderr, narrow.stderr
    assert out.read_text() == before
    forced = subprocess.run(
        [*args, "--policies", "vin", "--overwrite"], capture_output=True, text=True, timeout=600, cwd=REPO, env=env
    )
    assert forced.returncode == 0 and "| 8x8 CNN |" not in out.read_text(), forced.stderr[-2000:]


def test_rl_table_shows_each_rows_last_update_and_leaves_old_runs_blank(tmp_path):
    from eval.rl_table import plot_curves, render, summarise

    def run(seed: int, value_loss: float | None) -> dict[str, Any]:
        update = {} if value_loss is None else {"value_loss": value_loss, "explained_variance": -0.1 * seed}
        update = {**update, "entropy_loss": -2.0, "approx_kl": 0.01, "clip_fraction": 0.1} if update else {}
        history = [{"timesteps": 1000, "paper_success_rate": 0.1}, {"timesteps": 2000, "paper_success_rate": 0.2}]
        history[1].update(update)  # the first evaluation came before any update
        test = {"success_rate": 0.5, "extra_moves": 0.0, "action_accuracy": 0.5}
        return {"settings": {"seed": seed}, "history": history, "test": test, "timesteps": 2000, "train_minutes": 1.0}

    summary = summarise({(8, "cnn"): [run(0, 4.0), run(1, 6.0)], (8, "vin"): [run(0, None)]})
    assert summary[(8, "cnn")]["update"]["value_loss"][1] == 5.0
    assert np.isnan(summary[(8, "cnn")]["update"]["value_loss"][0])
    text = render(summary, "cmd", 10, "c.png")
    assert "| size | policy | value loss | explained variance | entropy loss | approx. KL |" in text
    assert "| 8x8 | CNN | 5 | -0.05 | -2 | 0.01 |" in text and "| 8x8 | VIN | - | - | - | - |" in text
    plot_curves(summary, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_rl_table_refuses_bad_settings_before_training(tmp_path):
    args = [sys.executable, "-m", "eval.rl_table", "--quick", "--runs", str(tmp_path), "lr_schedule=cosine"]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}
    )
    assert done.returncode == 2 and "lr_schedule" in done.stderr
    assert not any(tmp_path.iterdir())


def test_fixed_vi_kernels_stay_at_the_moves_and_the_reward_still_learns(tmp_path):
    from agents.training.ppo import train_ppo

    cfg = PPOConfig(
        **{**TINY, "ch_q": 8, "total_timesteps": 128},
        learn_vi_kernels=False,
        reward_kernel=1,
        head_init="moves",
        learn_head=False,
        center_q=True,
        walls_block=True,
    )
    model, _ = train_ppo(cfg, str(tmp_path))
    head = model.policy.action_net[1]
    assert torch.equal(head.weight, torch.eye(8)) and not head.bias.any(), "the fixed head moved"
    vin = model.policy.features_extractor.vin
    fresh = VIN(2, k=10, ch_h=8, ch_q=8, n_actions=0)
    assert torch.equal(vin.q_from_value.weight, fresh.q_from_value.weight)
    assert torch.equal(vin.q_from_reward.weight, fresh.q_from_reward.weight)
    assert vin.hidden.weight.shape[-1] == 1
    start = build_ppo(cfg, VINGridVecEnv(4, size=8, seed=0)).policy.features_extractor.vin
    assert not torch.equal(vin.reward.weight, start.reward.weight), "the reward did not train"
    loaded = PPO.load(tmp_path / "model.zip", device="cpu").policy.features_extractor
    assert not loaded.learn_vi_kernels and not loaded.vin.q_from_value.weight.requires_grad
    assert loaded.vin.walls_block
    assert not PPO.load(tmp_path / "model.zip", device="cpu").policy.learn_head


def test_bad_vin_options_raise():
    with pytest.raises(ValueError, match="reward_kernel must be odd"):
        VIN(2, reward_kernel=2)
    with pytest.raises(ValueError, match="walls_block reads Q channel a as move a: it needs kernel_init"):
        VIN(2, walls_block=True, kernel_init="zero")
    with pytest.raises(ValueError, match="walls_block=true needs learn_vi_kernels=false"):
        PPOConfig(walls_block=True)
    env = VINGridVecEnv(2, size=8)
    kwargs = {"features_extractor_kwargs": {"learn_vi_kernels": False, "kernel_init": "zero"}}
    with pytest.raises(ValueError, match="needs kernel_init='moves'"):
        PPO(VINPolicy, env, policy_kwargs=kwargs, device="cpu")


def test_vin_only_settings_do_not_make_a_cnn_run_another_run():
    """The RL table reuses a finished CNN run whatever the VIN-only keys say (they never reach it)."""
    from dataclasses import asdict

    from agents.training.ppo import VIN_ONLY_KEYS, effective_settings

    cnn = asdict(PPOConfig(policy="cnn"))
    assert effective_settings({**cnn, "walls_block": True, "learn_vi_kernels": False, "ch_q": 8}) == (
        effective_settings(cnn)
    )
    vin = asdict(PPOConfig(policy="vin"))
    assert effective_settings({**vin, "ch_q": 8}) != effective_settings(vin)
    assert set(VIN_ONLY_KEYS) <= set(vin), "every VIN-only key is a PPOConfig field"
    assert effective_settings({**cnn, "lr": 0.5}) != effective_settings(cnn)


def _policy_loss_grads(config_path: str) -> dict[str, Any]:
    """Gradients of one PPO-style policy loss on a few steps of the 8x8 env, by parameter name."""
    import numpy as np
    import torch

    from agents.training.ppo import build_ppo, load_ppo_config
    from gridworld_env.vector import VINGridVecEnv

    cfg = load_ppo_config("VINGrid-8x8-v0", config_path, {"policy": "vin"}, ["n_envs=4", "threads=1"])
    env = VINGridVecEnv(4, size=8, seed=0)
    model = build_ppo(cfg, env)
    obs = env.reset()
    obs_t, _ = model.policy.obs_to_tensor(obs)
    actions = torch.as_tensor(np.array([env.expert_actions()]).reshape(-1))
    _, log_prob, _ = model.policy.evaluate_actions(obs_t, actions)
    model.policy.zero_grad()
    (-log_prob.mean()).backward()
    return {name: p.grad for name, p in model.policy.named_parameters()}


@pytest.mark.parametrize("recipe", ["ppo_vinlearned.yml", "ppo_vinscratch.yml"])
def test_the_learned_kernel_vin_trains_its_value_iteration_kernels_and_head(recipe):
    """The paper's VIN from reward (``hyperparams/ppo_vinlearned.yml``, kernels started at the env's
    moves, and ``ppo_vinscratch.yml``, kernels started at zero): the policy loss reaches the
    value-iteration kernels and the action head; the fixed-moves recipe keeps them frozen."""
    learned = _policy_loss_grads(os.path.join(REPO, "hyperparams", recipe))
    kernels = [n for n in learned if "q_from_reward" in n or "q_from_value" in n]
    assert kernels, "the VIN has value-iteration kernels"
    for name in [*kernels, "action_net.1.weight"]:
        grad = learned[name]
        assert grad is not None and grad.abs().sum() > 0, f"{name} receives no gradient"
    fixed = _policy_loss_grads(os.path.join(REPO, "hyperparams", "ppo.yml"))
    for name in kernels:
        assert fixed[name] is None, f"{name} learns in the fixed-moves recipe"


def test_kernel_init_zero_starts_the_ppo_vin_kernels_at_zero():
    """``kernel_init=zero`` (the public ports' start) reaches the VIN that PPO trains; the default
    starts at the env's moves."""
    from agents.training.ppo import build_ppo
    from gridworld_env.vector import VINGridVecEnv

    env = VINGridVecEnv(2, size=8, seed=0)
    zero = build_ppo(PPOConfig(env_id="VINGrid-8x8-v0", kernel_init="zero", n_envs=2, k=4), env)
    moves = build_ppo(PPOConfig(env_id="VINGrid-8x8-v0", n_envs=2, k=4), env)
    assert zero.policy.features_extractor.vin.q_from_value.weight.abs().sum() == 0
    assert moves.policy.features_extractor.vin.q_from_value.weight.abs().sum() > 0


def _rl_table_rows() -> list[str]:
    from eval.rl_table import ROWS

    return sorted(ROWS)


@pytest.mark.parametrize("row", _rl_table_rows())
def test_every_rl_table_row_has_settings_for_every_size(row):
    """Each row's settings file loads at 8, 16 and 28 with the row's policy (a missing section or a
    bad key would only show hours into ``python -m eval.rl_table``)."""
    from eval.rl_table import ROWS, RLTableConfig, ppo_config

    for size in (8, 16, 28):
        cfg = ppo_config(RLTableConfig(), size, row, 0)
        assert cfg.env_id == f"VINGrid-{size}x{size}-v0" and cfg.policy == ROWS[row][0]
    if row == "vinscratch":
        assert (cfg.kernel_init, cfg.head_init, cfg.learn_vi_kernels) == ("zero", "orthogonal", True)


def test_the_from_zero_recipe_is_the_moves_start_recipe_but_for_its_start_budget_discount_and_k():
    """``ppo_vinscratch.yml`` copies ``ppo_vinlearned.yml`` (YAML cannot include another file): at
    every size the two may differ only in where the planner starts and how long it trains, and past
    8x8 in the discount and the value-iteration steps (see the from-zero recipe's header)."""
    from agents.training.config import yaml_settings

    for size in (8, 16, 28):
        may_differ = {"kernel_init", "head_init", "init", "total_timesteps", "eval_freq"}
        may_differ |= {"gamma", "k"} if size > 8 else set()
        env_id = f"VINGrid-{size}x{size}-v0"
        scratch, moves = (
            yaml_settings(env_id, os.path.join(REPO, "hyperparams", f"ppo_{row}.yml"))
            for row in ("vinscratch", "vinlearned")
        )
        assert scratch["kernel_init"] == "zero" and scratch["head_init"] == "orthogonal"
        assert {k: v for k, v in scratch.items() if k not in may_differ} == {
            k: v for k, v in moves.items() if k not in may_differ
        }, env_id


def test_a_cached_result_is_not_reused_once_its_start_model_file_changes(tmp_path):
    """Results of runs that start from a model (``init``) are tied to that file's bytes, not its path."""
    from eval.experiment import Run, save_result
    from eval.rl_table import RLTable, RLTableConfig

    start = tmp_path / "start.zip"
    start.write_bytes(b"the first start model")
    cfg = RLTableConfig(
        sizes=[16], policies=["vinscratch"], runs_dir=str(tmp_path / "runs"), overrides=[f"init={start}"]
    )
    table, run = RLTable(cfg), Run(16, "vinscratch", 0)
    settings = table.settings(run)
    assert settings["init"] == str(start) and len(settings["init_sha256"]) == 64
    save_result(table.result_path(run), {"settings": settings})
    assert table.is_cached(run)
    start.write_bytes(b"a replaced start model")
    assert not table.is_cached(run), "a result made from the old start model was reused"
    old = {k: v for k, v in settings.items() if k != "init_sha256"}  # written before the hash was recorded
    save_result(table.result_path(run), {"settings": old})
    assert not table.is_cached(run)
    start.unlink()  # a start model that an earlier run of the table has yet to make
    assert table.settings(run)["init_sha256"] is None and not table.is_cached(run)
