"""World Models agent: data collection, and each component on tiny data."""

import json
import os

import numpy as np
import pytest

from agents.worldmodels.data import CollectConfig, collect, collect_shard, load_shards
from agents.worldmodels.frames import episode_frames
from gridworld_env.core import ACTIONS


def _cfg(**kwargs):
    return CollectConfig(**{"episodes": 60, "shard_episodes": 20, "episode_steps": 12, **kwargs})


def test_shards_replay_the_env_exactly():
    """Each stored move is what the env's move rule gives: the next cell, or the same cell when
    the target is an obstacle; rewards and the goal's end match too."""
    s = collect_shard(_cfg(), 0)
    e, t = s["actions"].shape
    assert s["positions"].shape == (e, t + 1, 2)
    for i in range(e):
        r, c = s["positions"][i, 0]
        for k in range(s["lengths"][i]):
            dr, dc = ACTIONS[s["actions"][i, k]]
            blocked = s["obstacles"][i, r + dr, c + dc]
            if not blocked:
                r, c = r + dr, c + dc
            assert tuple(s["positions"][i, k + 1]) == (r, c)
            at_goal = (r, c) == tuple(s["goals"][i])
            assert s["dones"][i, k] == at_goal
            assert s["rewards"][i, k] == pytest.approx(1.0 if at_goal else (-1.0 if blocked else -0.01))
        assert (s["positions"][i, s["lengths"][i] :] == (r, c)).all(), "the agent stays put after the end"
        assert not s["dones"][i, s["lengths"][i] :].any() and not s["rewards"][i, s["lengths"][i] :].any()


def test_frames_hold_obstacles_goal_and_agent():
    s = collect_shard(_cfg(), 1)
    f = episode_frames(s["obstacles"], s["goals"], s["positions"], "map").numpy()
    assert f.shape == (20, 13, 3, 8, 8) and set(np.unique(f)) <= {0.0, 1.0}
    assert (f[:, :, 0] == s["obstacles"][:, None]).all()
    assert (f[:, :, 1].sum(axis=(2, 3)) == 1).all() and (f[:, :, 2].sum(axis=(2, 3)) == 1).all()
    i, k = 3, 5
    assert f[i, k, 2, s["positions"][i, k, 0], s["positions"][i, k, 1]] == 1


def test_brownian_rollouts_repeat_actions():
    runs = collect_shard(_cfg(repeat_prob=0.9), 0)["actions"]
    uniform = collect_shard(_cfg(repeat_prob=0.0), 0)["actions"]
    repeats = lambda a: (a[:, 1:] == a[:, :-1]).mean()  # noqa: E731
    assert repeats(runs) > 0.5 > 0.25 > repeats(uniform)


def test_collection_resumes_to_the_same_data_and_refuses_other_settings(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    collect(_cfg(), str(whole))
    collect(_cfg(episodes=20), str(cut))  # one shard, as if interrupted
    assert len(os.listdir(cut)) == 2  # collect.json and one shard
    collect(_cfg(), str(cut))
    a, b = load_shards(str(whole)), load_shards(str(cut))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert a["actions"].shape[0] == 60
    assert json.loads((whole / "collect.json").read_text())["repeat_prob"] == 0.75
    with pytest.raises(ValueError, match="collected with other settings"):
        collect(_cfg(repeat_prob=0.5), str(whole))


def test_missing_or_damaged_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the collect stage first"):
        load_shards(str(tmp_path))
    collect(_cfg(episodes=20), str(tmp_path))
    (tmp_path / "shard_00000.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="shard_00000.npz"):
        load_shards(str(tmp_path))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"repeat_prob": 1.0}, "repeat_prob"),
        ({"episode_steps": 0}, "episode_steps"),
        ({"env_id": "VINGrid-9x9-v0"}, "VINGrid-9x9-v0"),
        ({"episodes": "many"}, "episodes"),
    ],
)
def test_bad_collect_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CollectConfig(**kwargs)


# ---------------------------------------------------------------- V, M, C and the agent
import subprocess  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402

from agents.worldmodels.agent import WorldModelAgent, load_agent  # noqa: E402
from agents.worldmodels.config import WorldModelsConfig  # noqa: E402
from agents.worldmodels.controller import fitness, train_controller  # noqa: E402
from agents.worldmodels.mdnrnn import MDNRNN, mdnrnn_loss  # noqa: E402
from agents.worldmodels.pipeline import train_worldmodels  # noqa: E402
from agents.worldmodels.vae import ConvVAE, train_vae  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _frames_tensor(episodes=40):
    s = collect_shard(_cfg(episodes=episodes, shard_episodes=episodes), 0)
    return episode_frames(s["obstacles"], s["goals"], s["positions"], "map").flatten(0, 1)


@pytest.mark.parametrize("side", [8, 16, 28, 64])
def test_vae_shapes_follow_the_frame(side):
    vae = ConvVAE(3, side, z_dim=6)
    logits, mu, logvar = vae(torch.rand(2, 3, side, side))
    assert logits.shape == (2, 3, side, side) and mu.shape == logvar.shape == (2, 6)


def test_vae_loss_falls_and_a_continued_run_equals_an_uninterrupted_one(tmp_path):
    x = _frames_tensor()
    args = dict(z_dim=8, batch=64, lr=1e-3, kl_tolerance=0.5, seed=0)
    straight, history = train_vae(x, epochs=4, ckpt=str(tmp_path / "a.pt"), **args)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"], history
    train_vae(x, epochs=2, ckpt=str(tmp_path / "b.pt"), **args)
    resumed, _ = train_vae(x, epochs=4, ckpt=str(tmp_path / "b.pt"), **args)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_mdnrnn_learns_a_deterministic_toy_world():
    """z_{t+1} is a fixed vector per action: the mixture NLL must fall far below that of a unit
    Gaussian (3.7 nats over 4 dimensions), and the reward and end heads must beat their base rates
    (reward variance 0.08; end cross-entropy 0.38 for a constant 1/8)."""
    torch.manual_seed(0)
    codes = torch.randn(8, 4)
    actions = torch.randint(0, 8, (64, 10))
    z = torch.cat([torch.zeros(64, 1, 4), codes[actions]], dim=1)
    rewards = actions.float() / 8
    ends = actions == 7
    lengths = torch.full((64,), 10)
    model = MDNRNN(z_dim=4, hidden=32, gaussians=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss, parts = mdnrnn_loss(model, z, actions, rewards, ends, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert parts["gmm"] < -4.0 and parts["reward_mse"] < 0.01 and parts["end_bce"] < 0.3, parts


class _RelativeGoal(ConvVAE):
    """A stand-in V whose code is the goal's offset from the agent (what a perfect V would expose)."""

    def __init__(self) -> None:
        super().__init__(3, 8, z_dim=2)

    def encode(self, x):
        def cell(ch):
            flat = x[:, ch].flatten(1).argmax(1)
            return torch.stack([flat // 8, flat % 8], dim=1).float()

        return cell(1) - cell(2), torch.zeros(x.shape[0], 2)


def test_cma_es_learns_a_controller_far_above_chance(tmp_path):
    vae, rnn = _RelativeGoal(), MDNRNN(z_dim=2, hidden=4, gaussians=1)
    agent, history = train_controller(vae, rnn, "z", 16, 32, 12, 0.5, None, 0, str(tmp_path / "c.pkl"))
    assert history[-1]["mean_success"] > history[0]["mean_success"] + 0.2, history
    assert all(h["env_steps"] >= 16 * 32 for h in history)  # every episode of the generation moved
    # the greedy move towards the goal, the best a linear C on this code can do, scores 81.5 % on the test maps
    _, success, _ = fitness(vae, rnn, np.concatenate([agent.weight.flatten(), agent.bias])[None], "z", 8, 200, 10**9)
    assert success[0] > 0.6, success


def test_controller_resumes_exactly(tmp_path):
    vae, rnn = _RelativeGoal(), MDNRNN(z_dim=2, hidden=4, gaussians=1)
    a, _ = train_controller(vae, rnn, "z", 8, 8, 4, 0.5, None, 0, str(tmp_path / "a.pkl"))
    train_controller(vae, rnn, "z", 8, 8, 2, 0.5, None, 0, str(tmp_path / "b.pkl"))
    b, history = train_controller(vae, rnn, "z", 8, 8, 4, 0.5, None, 0, str(tmp_path / "b.pkl"))
    assert len(history) == 4 and torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    (tmp_path / "b.pkl").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable controller checkpoint"):
        train_controller(vae, rnn, "z", 8, 8, 5, 0.5, None, 0, str(tmp_path / "b.pkl"))


def _agent() -> WorldModelAgent:
    torch.manual_seed(0)
    vae, rnn = ConvVAE(3, 8, 6), MDNRNN(6, 16, 2)
    return WorldModelAgent(vae, rnn, torch.randn(8, 22), torch.randn(8))


def test_agent_predict_carries_the_rnn_state_and_round_trips(tmp_path):
    import gymnasium as gym

    agent = _agent()
    env = gym.make("VINGrid-8x8-v0")
    obs, _ = env.reset(seed=0)
    action, state = agent.predict(obs, deterministic=True)
    assert action.shape == () and 0 <= int(action) < 8 and state[0].shape == (1, 16)
    assert state[0].any(), "M stepped"
    _, again = agent.predict(obs, state, np.array([True]), deterministic=True)
    assert np.allclose(again[0], state[0]), "episode_start resets the state"
    batch = {"image": np.stack([obs["image"]] * 3), "position": np.stack([obs["position"]] * 3)}
    actions, _ = agent.predict(batch, deterministic=True)
    assert actions.shape == (3,) and (actions == action).all()
    agent.info = {"env_id": "VINGrid-8x8-v0", "env_steps": 1234}
    agent.save(str(tmp_path / "agent.pt"))
    loaded = load_agent(str(tmp_path / "agent.pt"))
    assert (loaded.predict(batch, deterministic=True)[0] == actions).all()
    assert loaded.info == agent.info
    from agents.zoo import load_model

    assert isinstance(load_model(str(tmp_path / "agent.pt")), WorldModelAgent)
    with pytest.raises(ValueError, match="trained on 8x8"):
        agent.predict({"image": np.zeros((2, 16, 16), np.uint8), "position": np.array([1, 1])})


def test_stages_need_their_earlier_stage_and_logdirs_keep_their_settings(tmp_path):
    cfg = WorldModelsConfig(episodes=20, shard_episodes=10, episode_steps=8, vae_epochs=1, rnn_epochs=1)
    with pytest.raises(FileNotFoundError, match="run the collect stage first"):
        train_worldmodels(cfg, str(tmp_path), "vae")
    with pytest.raises(FileNotFoundError, match="run the vae stage first"):
        train_worldmodels(cfg, str(tmp_path), "mdnrnn")
    with pytest.raises(ValueError, match="other settings \\(z_dim\\)"):
        train_worldmodels(WorldModelsConfig(**{**cfg.__dict__, "z_dim": 4}), str(tmp_path), "collect")
    train_worldmodels(WorldModelsConfig(**{**cfg.__dict__, "z_dim": 4}), str(tmp_path), "collect", noreload=True)
    (tmp_path / "vae.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="vae.pt"):
        train_worldmodels(WorldModelsConfig(**{**cfg.__dict__, "z_dim": 4}), str(tmp_path), "mdnrnn")
    # a run made before a setting existed holds that setting's default
    from agents.worldmodels.pipeline import prepare_logdir

    four = WorldModelsConfig(**{**cfg.__dict__, "z_dim": 4})
    stored = json.loads((tmp_path / "config.json").read_text())
    del stored["frame"]
    (tmp_path / "config.json").write_text(json.dumps(stored))
    prepare_logdir(four, str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="other settings \\(frame\\)"):
        prepare_logdir(WorldModelsConfig(**{**four.__dict__, "frame": "pixels"}), str(tmp_path))


def test_cli_runs_every_stage_and_eval_scores_the_agent(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}
    logdir = tmp_path / "wm"
    args = [sys.executable, "-m", "train", "worldmodels", "--env", "VINGrid-8x8-v0", "--logdir", str(logdir)]
    args += ["--no-progress", "episodes=40", "shard_episodes=20", "episode_steps=8", "vae_epochs=1", "rnn_epochs=1"]
    args += ["hidden=16", "z_dim=8", "popsize=4", "rollouts=4", "generations=2", "threads=1"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["agent"] == str(logdir / "agent.pt")
    scored = subprocess.run(
        [sys.executable, "-m", "eval", "--model", str(logdir / "agent.pt"), "--env", "VINGrid-8x8-v0"]
        + ["--episodes", "20", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    report = json.loads(scored.stdout.strip().splitlines()[-1])
    assert report["episodes"] == 20 and report["action_accuracy"] is None
    bad = subprocess.run([*args, "z_dim=zero"], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert bad.returncode == 2 and "z_dim" in bad.stderr

    # the model-based table scores the agent beside the shipped VINs and counts its env steps
    table = tmp_path / "mb.md"
    mb = [sys.executable, "-m", "eval.model_based", "--wm", f"8={logdir}", "--episodes", "20", "--out", str(table)]
    made = subprocess.run([*mb, "--no-progress"], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert made.returncode == 0, made.stderr[-2000:]
    row = next(line for line in table.read_text().splitlines() if line.startswith("| World Models: V + M"))
    steps = int(row.split("|")[3].replace(",", ""))
    from agents.worldmodels.data import load_shards

    collected = int(load_shards(str(logdir / "data"))["lengths"].sum())
    # C played 2 generations x 4 candidates x 4 maps, each episode 1 to 2 x 63 moves (twice the shortest path)
    assert collected + 2 * 4 * 4 <= steps <= collected + 2 * 4 * 4 * 2 * 63, (row, collected)
    assert "| VIN, PPO from reward | " in table.read_text()
    again = subprocess.run(mb, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert again.returncode == 2 and "--overwrite" in again.stderr

    # the linear-controller ceiling: fitted to the expert, it picks optimal actions far above chance
    from agents.worldmodels.diagnostics import controller_ceiling, controller_features

    _, _, masks = controller_features(str(logdir), 40)
    chance = masks.mean()  # share of optimal actions among the 8: a uniform choice's agreement
    ceiling = controller_ceiling(str(logdir), "zh", episodes=40, maps=20)
    assert ceiling["optimal_action_share"] > chance + 0.2, (ceiling, chance)

    # the pictures, and no silent overwrite of them
    pics = tmp_path / "pics"
    show = [sys.executable, "-m", "eval.worldmodels", "--logdir", str(logdir), "--pictures", str(pics)]
    drawn = subprocess.run(show, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    names = {p.name for p in pics.iterdir()}
    assert names == {"wm_8x8_reconstructions.png", "wm_8x8_dream.gif", "wm_8x8_cmaes.png"}, names
    from PIL import Image

    with Image.open(pics / "wm_8x8_dream.gif") as gif:
        assert gif.n_frames > 1 and gif.size[0] > 2 * gif.size[1] - 10  # real and dream side by side
    assert (pics / "wm_8x8_cmaes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stamp = (pics / "wm_8x8_dream.gif").stat().st_mtime_ns
    again = subprocess.run(show, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert (pics / "wm_8x8_dream.gif").stat().st_mtime_ns == stamp


def test_eval_worldmodels_reports_the_vae_and_names_a_missing_stage(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}
    cfg = WorldModelsConfig(episodes=20, shard_episodes=20, episode_steps=6, vae_epochs=1, z_dim=4)
    train_worldmodels(cfg, str(tmp_path), "collect")
    args = [sys.executable, "-m", "eval.worldmodels", "--logdir", str(tmp_path), "--episodes", "5"]
    missing = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert missing.returncode == 2 and "run the vae stage first" in missing.stderr
    train_worldmodels(cfg, str(tmp_path), "vae")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)["vae"]
    assert report["frames"] == 35 and report["position_spread_cells"] > 0  # 5 episodes x 7 frames
    assert set(report) >= {"agent_cell_decoded", "goal_cell_decoded", "linear_readout_error_cells"}


@pytest.mark.parametrize("size", [8, 16])
def test_pixel_frames_are_the_envs_rendered_frame(size):
    from agents.evaluation import held_out_episodes
    from agents.worldmodels.frames import cell_pixels, draw_frames, frame_shape
    from gridworld_env.rendering import draw_frame

    ep = held_out_episodes(size, 12)
    images = np.zeros((12, 2, size, size), np.float32)
    images[:, 0] = ep.obstacles
    images[np.arange(12), 1, ep.goals[:, 0], ep.goals[:, 1]] = 1
    cells = ep.starts.copy()
    cells[:3] = ep.goals[:3]  # the agent on the goal is drawn smaller
    frames = draw_frames(torch.from_numpy(images), torch.from_numpy(cells), "pixels")
    assert tuple(frames.shape[1:]) == (3, 64, 64) and frame_shape("pixels", size) == (3, 64)
    for i in range(12):
        ref = draw_frame(ep.obstacles[i], tuple(ep.goals[i]), tuple(cells[i]), (), cell_pixels(size))
        assert np.array_equal((frames[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), ref)
    with pytest.raises(ValueError, match="frame must be one of"):
        draw_frames(torch.from_numpy(images), torch.from_numpy(cells), "rgb")


def test_a_pixel_run_trains_every_stage_and_its_agent_draws_its_own_frames(tmp_path):
    import gymnasium as gym

    cfg = WorldModelsConfig(
        frame="pixels", episodes=20, shard_episodes=20, episode_steps=6, vae_epochs=2, z_dim=4, rnn_epochs=1,
        hidden=8, popsize=4, rollouts=4, generations=1, threads=1,
    )  # fmt: skip
    agent = train_worldmodels(cfg, str(tmp_path))
    assert agent is not None and agent.vae.frame == "pixels" and agent.vae.side == 64 and agent.size == 8
    from agents.checkpoints import load_state

    history = load_state(str(tmp_path / "vae.pt"), "vingrid-vae-checkpoint-v1", "V")["history"]
    assert history[1]["reconstruction"] < history[0]["reconstruction"], history
    obs, _ = gym.make("VINGrid-8x8-v0").reset(seed=0)
    action, _ = agent.predict(obs, deterministic=True)
    loaded = load_agent(str(tmp_path / "agent.pt"))
    assert loaded.vae.frame == "pixels" and loaded.predict(obs, deterministic=True)[0] == action
    assert loaded.info["env_steps"] > 0
    with pytest.raises(ValueError, match="frame"):
        WorldModelsConfig(frame="rgb")


def test_greedy_policies_bound_what_a_linear_controller_can_do():
    from agents.worldmodels.diagnostics import greedy_success

    towards, round_walls = greedy_success(8, False, 200), greedy_success(8, True, 200)
    # uniform random actions: 8 % at 8x8; walking round walls needs the map, and pays
    assert 0.5 < towards < round_walls and round_walls > 0.9, (towards, round_walls)


def test_a_run_started_from_another_trains_a_new_controller_on_its_v_and_m(tmp_path):
    base = dict(episodes=20, shard_episodes=20, episode_steps=6, vae_epochs=1, z_dim=4, rnn_epochs=1, hidden=8)
    base.update(popsize=4, rollouts=4, generations=1, threads=1)
    src, dst = tmp_path / "src", tmp_path / "dst"
    with pytest.raises(FileNotFoundError, match="train its collect, vae and mdnrnn stages first"):
        train_worldmodels(WorldModelsConfig(**base), str(dst), source=str(src))
    first = train_worldmodels(WorldModelsConfig(**base), str(src))
    ablation = WorldModelsConfig(**{**base, "controller_inputs": "z", "generations": 2})
    with pytest.raises(ValueError, match="other settings of data, V or M \\(z_dim\\)"):
        train_worldmodels(WorldModelsConfig(**{**base, "z_dim": 6}), str(dst), source=str(src))
    agent = train_worldmodels(ablation, str(dst), source=str(src))
    assert first is not None and agent is not None and agent.inputs == "z" and first.inputs == "zh"
    for a, b in zip(first.vae.state_dict().values(), agent.vae.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    from agents.worldmodels.data import load_shards

    copied, original = load_shards(str(dst / "data")), load_shards(str(src / "data"))
    assert all(np.array_equal(copied[k], original[k]) for k in original)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train_worldmodels(ablation, str(dst), source=str(src))
