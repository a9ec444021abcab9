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
    row = next(line for line in table.read_text().splitlines() if line.startswith("| World Models (shipped)"))
    steps = int(row.split("|")[3].replace(",", ""))
    from agents.worldmodels.data import load_shards

    collected = int(load_shards(str(logdir / "data"))["lengths"].sum())
    # C played 2 generations x 4 candidates x 4 maps, and re-scored 2 controllers a generation on the
    # recipe's validation maps, each episode 1 to 2 x 63 moves (twice the shortest path)
    val_maps = json.loads((logdir / "config.json").read_text())["val_maps"]
    episodes = 2 * (4 * 4 + 2 * val_maps)
    assert collected + episodes <= steps <= collected + episodes * 2 * 63, (row, collected)
    seconds = load_agent(str(logdir / "agent.pt")).info["train_seconds"]
    assert seconds > 0 and row.split("|")[4].strip() == f"{seconds / 60:.1f}"  # the training's wall minutes
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
    from agents.training.checkpoints import load_state

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


def test_ego_frames_centre_the_agent_and_draw_off_map_cells_as_walls():
    from agents.evaluation import held_out_episodes
    from agents.worldmodels.frames import draw_frames, frame_shape
    from gridworld_env.core import observation_images

    ep = held_out_episodes(8, 20)
    images = torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32))
    frames = draw_frames(images, torch.from_numpy(ep.starts), "ego")
    assert tuple(frames.shape) == (20, 2, 15, 15) and frame_shape("ego", 8) == (2, 15)
    for i in range(20):
        r, c = ep.starts[i]
        for dr in range(-7, 8):
            for dc in range(-7, 8):
                rr, cc = r + dr, c + dc
                inside = 0 <= rr < 8 and 0 <= cc < 8
                assert frames[i, 0, 7 + dr, 7 + dc] == (ep.obstacles[i, rr, cc] if inside else 1.0)
        goal = frames[i, 1].flatten().argmax()
        assert frames[i, 1].sum() == 1 and divmod(int(goal), 15) == (ep.goals[i, 0] - r + 7, ep.goals[i, 1] - c + 7)


def test_ego_vae_scores_the_goal_as_one_pixel_and_weights_the_agents_neighbours():
    from agents.worldmodels.vae import reconstruction_nll

    x = torch.zeros(1, 2, 5, 5)
    x[0, 1, 0, 4] = 1.0
    flat = torch.zeros(1, 2, 5, 5)
    base = reconstruction_nll(x, flat, "ego")
    # 25 obstacle pixels at log 2 each, and a goal uniform over 25 pixels
    assert base.item() == pytest.approx(25 * np.log(2) + np.log(25), abs=1e-4)
    assert reconstruction_nll(x, flat, "ego", near_weight=3.0).item() == pytest.approx(
        base.item() + 2 * 9 * np.log(2), abs=1e-4
    )
    assert reconstruction_nll(x, flat, "ego", goal_weight=2.0).item() == pytest.approx(
        base.item() + np.log(25), abs=1e-4
    )
    vae = ConvVAE(2, 15, 4, "ego", 8, width=8)
    probs = vae.probabilities(vae.decode(torch.zeros(3, 4)))
    assert torch.allclose(probs[:, 1].flatten(1).sum(1), torch.ones(3))  # the goal is a distribution


def _mlp_theta(features, hidden, seed=0):
    from agents.worldmodels.controller import n_params

    return np.random.default_rng(seed).normal(size=n_params(features, hidden))


def test_common_random_maps_give_every_candidate_the_same_maps():
    vae, rnn = _RelativeGoal(), MDNRNN(z_dim=2, hidden=4, gaussians=1)
    same = np.stack([_mlp_theta(2, 4)] * 6)  # six copies of one controller
    scores, successes, _ = fitness(vae, rnn, same, "z", 8, 24, 10**8, hidden=4, common_maps=True)
    assert np.all(scores == scores[0]) and np.all(successes == successes[0]), scores
    own, _, _ = fitness(vae, rnn, same, "z", 8, 24, 10**8, hidden=4, common_maps=False)
    assert len(set(own.tolist())) > 1, own  # maps of their own: one controller, other scores


def test_an_mlp_controller_learns_validates_and_resumes_exactly(tmp_path):
    vae, rnn = _RelativeGoal(), MDNRNN(z_dim=2, hidden=4, gaussians=1)
    args = dict(hidden=4, val_maps=30)
    a, ha = train_controller(vae, rnn, "zh", 8, 16, 6, 0.5, None, 0, str(tmp_path / "a.pkl"), **args)
    train_controller(vae, rnn, "zh", 8, 16, 3, 0.5, None, 0, str(tmp_path / "b.pkl"), **args)
    b, hb = train_controller(vae, rnn, "zh", 8, 16, 6, 0.5, None, 0, str(tmp_path / "b.pkl"), **args)
    assert ha == hb and a.hidden_layer is not None and b.hidden_layer is not None
    assert torch.equal(a.weight, b.weight) and torch.equal(a.hidden_layer[0], b.hidden_layer[0])
    # the agent is the best candidate seen on the validation maps, and scores that there again
    best = max(h["val_best_so_far"] for h in ha)
    assert ha[-1]["val_best_so_far"] == best and {"val_best", "val_mean"} <= set(ha[0])
    from agents.evaluation import VAL_SEED, evaluate_agent_on_maps

    assert evaluate_agent_on_maps(a, 8, 30, VAL_SEED).success_rate == pytest.approx(best)
    with pytest.raises(ValueError, match="weights, not"):
        train_controller(vae, rnn, "zh", 8, 16, 7, 0.5, None, 0, str(tmp_path / "b.pkl"), hidden=2, val_maps=30)
    a.save(str(tmp_path / "agent.pt"))
    loaded = load_agent(str(tmp_path / "agent.pt"))
    assert loaded.hidden_layer is not None and torch.equal(loaded.hidden_layer[1], a.hidden_layer[1])
    from agents.worldmodels.controller import agent_from_theta, flatten

    theta, units = flatten(a)
    again = agent_from_theta(vae, rnn, theta, "zh", units)
    assert units == 4 and torch.equal(again.hidden_layer[0], a.hidden_layer[0]) and torch.equal(again.weight, a.weight)


def test_the_shipped_recipe_learns_to_reach_goals_on_held_out_maps(tmp_path):
    """The shipped 8x8 recipe (agent-centred V, MLP C on [z, h], common random maps, validation),
    on a reduced budget (a third of the data, a narrower V, 80 generations; about a minute on one
    thread): it must reach goals far more often than uniform random actions (8 % at 8x8)."""
    import dataclasses

    from agents.evaluation import evaluate_agent_on_maps
    from agents.training.config import load_config

    shipped = load_config(
        WorldModelsConfig, "World Models", "VINGrid-8x8-v0", os.path.join(REPO, "hyperparams", "worldmodels.yml")
    )
    assert shipped.frame == "ego" and shipped.controller_hidden > 0 and shipped.val_maps > 0
    recipe = dataclasses.asdict(shipped)
    reduced = dict(episodes=1000, shard_episodes=500, vae_width=16, vae_epochs=6, vae_batch=128, vae_lr=3e-3)
    reduced.update(hidden=32, rnn_epochs=3, popsize=32, rollouts=64, generations=80, val_maps=100, threads=1)
    agent = train_worldmodels(WorldModelsConfig(**{**recipe, **reduced}), str(tmp_path))
    assert agent is not None and agent.hidden_layer is not None
    random = 0.08
    assert evaluate_agent_on_maps(agent, 8, 300).success_rate > random + 0.25


def _lone_goal_accuracy(goal_blob: bool, steps: int = 300) -> float:
    """Train an ego V on frames that hold one goal pixel and nothing else; the share of 500 new
    frames whose decoded goal peaks at the true pixel."""
    torch.manual_seed(0)
    side = 15
    vae = ConvVAE(2, side, 4, "ego", 8, width=8, goal_blob=goal_blob)
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-3)

    def frames(n):
        x = torch.zeros(n, 2, side, side)
        where = torch.randint(0, side * side, (n,))
        x[:, 1].view(n, -1)[torch.arange(n), where] = 1.0
        return x, where

    from agents.worldmodels.vae import vae_loss

    for _ in range(steps):
        x, _ = frames(64)
        logits, mu, logvar = vae(x)
        loss = vae_loss(x, logits, mu, logvar, 0.5, "ego", goal_weight=10.0)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x, where = frames(500)
    with torch.no_grad():
        decoded = vae.decode(vae.encode(x)[0])[:, 1].flatten(1).argmax(1)
    return float((decoded == where).float().mean())


def test_the_goal_blob_learns_where_a_lone_goal_pixel_is():
    blob, plain = _lone_goal_accuracy(True), _lone_goal_accuracy(False)
    # 225 places (chance 0.4 %): the plain convolutional V has not found the goal after 300 steps
    assert blob > 0.7 and blob > plain + 0.5, (blob, plain)
    with pytest.raises(ValueError, match="goal_blob=True is for ego frames"):
        ConvVAE(3, 8, 4, "map", goal_blob=True)
    with pytest.raises(ValueError, match="goal_blob=true needs frame=ego"):
        WorldModelsConfig(goal_blob=True)


def test_dreams_give_every_candidate_the_same_starts_and_draws(tmp_path):
    from agents.worldmodels.controller import dream_fitness

    torch.manual_seed(0)
    rnn = MDNRNN(z_dim=3, hidden=8, gaussians=2)
    starts = torch.randn(10, 3)
    same = np.stack([_mlp_theta(11, 4)] * 4)
    scores = dream_fitness(rnn, same, "zh", 4, starts, 12, 1.15, seed=3)
    assert np.all(scores == scores[0]), scores
    other = np.stack([_mlp_theta(11, 4, seed) for seed in range(4)])
    assert len(set(dream_fitness(rnn, other, "zh", 4, starts, 12, 1.15, seed=3).tolist())) > 1
    # a colder dream draws other next codes: the returns change with the temperature
    assert not np.array_equal(dream_fitness(rnn, other, "zh", 4, starts, 12, 0.1, seed=3),
                              dream_fitness(rnn, other, "zh", 4, starts, 12, 1.15, seed=3))  # fmt: skip
    vae = _RelativeGoal()
    agent, history = train_controller(
        vae, MDNRNN(z_dim=2, hidden=4, gaussians=1), "zh", 6, 8, 2, 0.5, None, 0, str(tmp_path / "d.pkl"),
        hidden=4, dream_starts=torch.randn(20, 2),
    )  # fmt: skip
    assert all(h["env_steps"] == 0 for h in history)  # learning in the dream takes no env step


def test_the_code_table_holds_vs_code_of_every_cell_it_was_asked_for():
    from agents.evaluation import held_out_episodes
    from agents.worldmodels.controller import CodeTable
    from agents.worldmodels.frames import draw_frames
    from gridworld_env.core import observation_images

    torch.manual_seed(0)
    vae = ConvVAE(2, 15, 6, "ego", 8, width=8, goal_blob=True).eval()
    ep = held_out_episodes(8, 5)
    table = CodeTable(vae, ep)
    rng = np.random.default_rng(0)
    for n in (1, 3, 40):  # batches of one and of many give the same codes
        maps, rows, cols = rng.integers(0, 5, n), rng.integers(0, 8, n), rng.integers(0, 8, n)
        images = torch.from_numpy(observation_images(ep.obstacles[maps], ep.goals[maps], np.float32))
        cells = torch.from_numpy(np.stack([rows, cols], 1))
        with torch.no_grad():
            direct = vae.encode(draw_frames(images, cells, "ego"))[0]
        assert torch.allclose(table(maps, rows, cols), direct, atol=1e-6)
    assert table.known.sum() < table.known.numel()  # only the cells asked for were encoded


def test_the_model_based_page_keeps_its_efficiency_sections_and_names_their_commands(tmp_path):
    from eval.model_based import carried_efficiency, main

    page = tmp_path / "mb.md"
    page.write_text(
        "# T\n\nCommand: `python -m eval.model_based --curve-ppo VIN=runs/v`\n\n| a |\n|---|\n| 1 |\n\n"
        "## Data efficiency at 8x8\n\nSuccess ...\n\n- World Models ([z, h]): 643.9k: 5.0\n"
    )
    (kept,) = carried_efficiency(str(page))
    assert kept.startswith("## Data efficiency at 8x8\n\nSection made by: `python -m eval.model_based --curve-ppo")
    assert "World Models, the paper's recipe" in kept and "Success ..." in kept
    assert carried_efficiency(str(page)) == [kept]
    # a page with two sizes keeps both, each under its own command, or all but the one made anew
    page.write_text(
        "# T\n\nCommand: `python -m eval.model_based --x`\n\n| a |\n|---|\n| 1 |\n\n"
        + kept
        + "\n## Data efficiency at 16x16\n\nSixteen ...\n"
    )
    eight, sixteen = carried_efficiency(str(page))
    assert eight == kept
    assert sixteen.startswith("## Data efficiency at 16x16\n\nSection made by: `python -m eval.model_based --x`")
    assert carried_efficiency(str(page), remade=16) == [kept]
    assert carried_efficiency(str(page), remade=8) == [sixteen]
    bare = tmp_path / "bare.md"
    bare.write_text("# T\n\nCommand: `x`\n")
    with pytest.raises(ValueError, match="has no"):
        carried_efficiency(str(bare))
    with pytest.raises(ValueError, match="there is no"):
        carried_efficiency(str(tmp_path / "missing.md"))
    with pytest.raises(SystemExit):
        main(["--wm-row", "a label only", "--out", str(tmp_path / "x.md")])
