"""PlaNet's spatial RSSM, replay buffer, training loop and agent (``agents.planet``)."""

import json
import os

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Normal

from agents.planet.agent import PlaNetAgent, build_model, load_agent
from agents.planet.config import PlaNetConfig
from agents.planet.conv_rssm import ConvRSSM
from agents.planet.data import ReplayBuffer, play_episodes, random_chooser, random_chunks, training_maps
from agents.planet.diagnostics import open_loop_check
from agents.planet.rssm import LatentModel, RSSMState, rssm_loss
from agents.planet.train import train_planet

TINY = {
    "env_id": "VINGrid-8x8-v0",
    "seed_episodes": 40,
    "episode_steps": 8,
    "cycles": 2,
    "train_steps": 3,
    "collect_episodes": 4,
    "batch": 8,
    "chunk": 5,
    "horizon": 3,
    "iterations": 2,
    "candidates": 16,
    "elites": 4,
    "eval_every": 2,
    "eval_maps": 5,
    "threads": 1,
}


def test_played_episodes_follow_the_env():
    """Frames, actions, rewards and ends of played episodes equal the env's own steps."""
    ep = training_maps(8, 3, 0, 6)
    played = play_episodes(ep, random_chooser(np.random.default_rng(1)), 12)
    env = gym.make("VINGrid-8x8-v0")
    for i in range(6):
        env.reset(options={"obstacles": ep.obstacles[i], "start": tuple(ep.starts[i]), "goal": tuple(ep.goals[i])})
        for t in range(1, 12):
            if not played["mask"][i, t]:
                assert played["mask"][i, t:].sum() == 0
                break
            obs, reward, terminated, _, _ = env.step(int(played["actions"][i, t]))
            assert tuple(obs["position"]) == tuple(played["positions"][i, t])
            assert reward == pytest.approx(float(played["rewards"][i, t]))
            assert bool(played["ends"][i, t]) == terminated


def test_the_buffer_samples_masked_chunks_and_round_trips():
    ep = training_maps(8, 0, 0, 10)
    played = play_episodes(ep, random_chooser(np.random.default_rng(0)), 9)
    buffer = ReplayBuffer(8, 9)
    buffer.add(ep, played)
    assert len(buffer) == 10 and buffer.steps == int(played["mask"][:, 1:].sum())
    a = buffer.sample(np.random.default_rng(5), 16, 6)
    assert a["frames"].shape == (16, 6, 3, 8, 8) and a["mask"][:, 0].all()
    assert (a["frames"][:, :, 2].flatten(2).sum(-1) == 1).all()  # one agent in every frame
    other = ReplayBuffer(8, 9)
    other.load_state_dict(buffer.state_dict())
    b = other.sample(np.random.default_rng(5), 16, 6)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="frames"):
        ReplayBuffer(8, 12).load_state_dict(buffer.state_dict())
    with pytest.raises(ValueError, match="do not fit"):
        ReplayBuffer(8, 12).add(ep, played)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(8, 9).sample(np.random.default_rng(0), 2, 3)


@pytest.mark.parametrize(("latent", "pixels"), [("gaussian", 1), ("categorical", 1), ("categorical", 8)])
def test_the_spatial_rssms_fast_imagination_equals_the_generic_one(latent, pixels):
    """ConvRSSM.imagine_returns (action maps once, prior points from their statistics) gives
    LatentModel's figures, for map frames and for pictures (the agent read-out folded in)."""
    from agents.planet.rssm import point

    torch.manual_seed(0)
    model = ConvRSSM(3, 8, latent=latent, pixels=pixels).eval()
    h = torch.rand(3, model.width, 8, 8) * 2 - 1
    state = RSSMState(h, point(model.initial_prior(h)) if latent == "categorical" else torch.randn(3, 4, 8, 8))
    seq = torch.randint(0, 8, (3, 7, 5))
    fast, generic = model.imagine_returns(state, seq), LatentModel.imagine_returns(model, state, seq)
    assert fast.shape == (3, 7) and torch.allclose(fast, generic, atol=1e-5)
    assert fast.std() > 0  # the sequences are told apart
    discounted = model.imagine_returns(state, seq, 0.5)
    assert torch.allclose(discounted, LatentModel.imagine_returns(model, state, seq, 0.5), atol=1e-5)
    # only the first move's reward keeps its full weight
    first = model.imagine_returns(state, seq[:, :, :1])
    assert torch.allclose(model.imagine_returns(state, seq, 1e-6), first, atol=1e-4)
    assert not torch.allclose(discounted, fast)
    # shared prefixes (as CEM samples them) are imagined once, and groups of problems one by one
    shared = seq[:, :1].repeat(1, 7, 1)
    shared[:, 3:, 2:] = seq[:, 3:, 2:]
    model.IMAGINE_NODES = 7  # one problem at a time
    chunked = model.imagine_returns(state, shared, 0.9)
    assert torch.allclose(chunked, LatentModel.imagine_returns(model, state, shared, 0.9), atol=1e-5)
    assert torch.allclose(chunked[:, 0], chunked[:, 1]) and torch.allclose(chunked[:, 0], chunked[:, 2])


@pytest.mark.parametrize("pixels", [1, 8])
def test_local_imagination_is_exact_where_it_covers_the_map_and_refuses_bad_windows(pixels):
    """The windowed imagination's gather and write-back: a square that covers the whole map gives
    the exact figures through them, the first moves are always on the whole map, and a small square
    changes the figures (it is an approximation)."""
    torch.manual_seed(1)
    model = ConvRSSM(3, 8, latent="categorical", pixels=pixels).eval()
    h = torch.rand(3, model.width, 8, 8) * 2 - 1
    from agents.planet.rssm import point

    state = RSSMState(h, point(model.initial_prior(h)))
    seq = torch.randint(0, 8, (3, 9, 6))
    exact = model.imagine_returns(state, seq, 0.9)
    assert torch.allclose(model.imagine_returns(state, seq, 0.9, window=4), exact, atol=1e-5)  # 9x9 covers 8x8
    first = seq[:, :, : ConvRSSM.WHOLE_MAP_MOVES]
    assert torch.allclose(model.imagine_returns(state, first, 0.9, window=1), model.imagine_returns(state, first, 0.9))
    assert not torch.allclose(model.imagine_returns(state, seq, 0.9, window=1), exact, atol=1e-3)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="window"):
            model.imagine_returns(state, seq, 0.9, window=bad)


def test_local_imagination_keeps_the_shipped_16x16_agents_choices():
    """Checked against the exact planner on fixed states: the shipped 16x16 model's returns of 200
    correlated action sequences from the first frames of 4 held-out maps, imagined on the whole map
    and with the agent's window: where a sequence reaches the goal (an exact return above 0.3) the
    window picks the same best sequence, elsewhere one whose exact return is within 0.1 of the best
    (which of the goal-less walks looks best is the model's noise), and the 20 best (CEM's elites)
    are mostly the same."""
    from bench.planner_bench import _planning_problems

    model, state, _ = _planning_problems(16, 4)
    gen = torch.Generator().manual_seed(1)
    seq = torch.randint(0, 8, (4, 200, 12), generator=gen)
    again = torch.rand(4, 200, 12, generator=gen) < 0.7
    for t in range(1, 12):
        seq[:, :, t] = torch.where(again[:, :, t], seq[:, :, t - 1], seq[:, :, t])
    window = load_agent("agents/pretrained/planet_16x16.pt").window
    assert window is not None and 2 * window + 1 < 16, "the shipped agent imagines locally"
    exact, local = model.imagine_returns(state, seq, 0.9), model.imagine_returns(state, seq, 0.9, window)
    best, picked = exact.max(1).values, exact[torch.arange(4), local.argmax(1)]
    assert bool((picked >= best - 0.1).all()) and bool(best.max() > 0.3), (best, picked)
    assert torch.equal(picked[best > 0.3], best[best > 0.3])
    overlap = [
        len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact.topk(20, 1).indices, local.topk(20, 1).indices)
    ]
    assert sum(overlap) >= 0.9 * 80, overlap


@pytest.mark.parametrize("window", [None, 3])
def test_the_search_returns_a_path_whose_imagined_return_is_the_one_it_reports(window):
    """Checked against the reference planner's arithmetic, with the shipped 16x16 model from 6 test
    maps' first frames: the best path the search reports is scored by
    :meth:`ConvRSSM.imagine_returns` (the exact tree, or the same window) at the return the search
    gives it; searching in groups gives the same paths; at depth 1 the search picks the best single
    move."""
    from bench.planner_bench import _planning_problems

    model, state, _ = _planning_problems(16, 6)
    path, length, ret = model.search(state, 32, 0.9, window)
    assert path.shape == (6, 32) and bool((length >= 1).all()) and int(length.max()) >= 8, length
    for i in range(6):
        one = RSSMState(state.h[i : i + 1], state.s[i : i + 1])
        again = model.imagine_returns(one, path[i : i + 1, None, : int(length[i])], 0.9, window)
        assert float(again) == pytest.approx(float(ret[i]), abs=1e-5)
        assert bool((path[i, int(length[i]) :] == 0).all())
    model.SEARCH_PROBLEMS = 4  # in groups of 4 and 2
    grouped = model.search(state, 32, 0.9, window)
    assert torch.equal(grouped[0], path) and torch.equal(grouped[1], length) and torch.allclose(grouped[2], ret)
    first, _, best = model.search(state, 1, 0.9)
    single = model.imagine_returns(state, torch.arange(8).view(1, 8, 1).expand(6, 8, 1), 0.9)
    assert torch.equal(first[:, 0], single.argmax(1)) and torch.allclose(best, single.max(1).values)
    for bad in (0, -1, 2.5, None):
        with pytest.raises(ValueError, match="search depth"):
            model.search(state, bad)


def test_the_search_on_the_shipped_8x8_model_solves_held_out_maps():
    """A learning check of the search planner: the shipped 8x8 model with the search solves most of 50
    held-out maps, far above the random policy on the same maps."""
    from agents.evaluation import evaluate_act_fn, evaluate_agent_on_maps, held_out_episodes

    torch.set_num_threads(1)
    agent = load_agent("agents/pretrained/planet_8x8.pt", search=16, window=2)
    result = evaluate_agent_on_maps(agent, 8, 50)
    ep = held_out_episodes(8, 50)
    rng = np.random.default_rng(0)
    random = evaluate_act_fn(lambda m, r, c: rng.integers(0, 8, m.size), ep, accuracy=False).success_rate
    assert result.success_rate >= 0.9 and result.success_rate > random + 0.5, (result.success_rate, random)


def test_an_agent_that_searches_round_trips_and_refuses_bad_depths(tmp_path):
    args = {"model": "conv", "size": 8, "deter": 16, "stoch": 4, "hidden": 32, "embed": 16}
    agent = PlaNetAgent(build_model(**args), args, PlaNetConfig().cem(), search=9, window=2)
    agent.save(str(tmp_path / "a.pt"))
    loaded = load_agent(str(tmp_path / "a.pt"))
    assert (loaded.search, loaded.window, loaded.plan_length) == (9, 2, 9)
    assert load_agent(str(tmp_path / "a.pt"), search=None).plan_length == PlaNetConfig().horizon
    obs = {"image": np.zeros((3, 2, 8, 8), np.uint8), "position": np.array([[1, 1], [2, 2], [3, 3]])}
    obs["image"][:, 1, 5, 5] = 1
    actions, state = loaded.predict(obs)
    assert actions.shape == (3,) and state[3].shape == (3, 9)
    again, _ = loaded.predict(obs, state, np.array([False, True, False]))
    assert again.shape == (3,)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="search depth"):
            PlaNetAgent(build_model(**args), args, PlaNetConfig().cem(), search=bad)
    flat = {**args, "model": "flat"}
    with pytest.raises(ValueError, match="search=4 needs the spatial model"):
        PlaNetAgent(build_model(**flat), flat, PlaNetConfig().cem(), search=4)


def _loss_data(chunks):
    """The chunks' arrays that :func:`rssm_loss` takes (all but the agent's cells)."""
    return {k: v for k, v in chunks.items() if k != "cells"}


@pytest.mark.parametrize("latent", ["gaussian", "categorical"])
def test_the_spatial_rssm_loss_falls_on_tiny_data_with_its_open_loop_terms(latent):
    torch.manual_seed(0)
    data = random_chunks(8, 32, 8, seed=0)
    model = ConvRSSM(3, 8, latent=latent)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    outs = []
    for _ in range(40):
        out = rssm_loss(model, **_loss_data(data), kl_scale=0.1, kl_balance=0.8, open_loop=1.0, reward_scale=10.0)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        outs.append({k: float(v.detach()) for k, v in out.items()})
    first, last = outs[0], outs[-1]
    assert last["loss"] < 0.3 * first["loss"], (first, last)
    assert last["open_recon"] < 0.3 * first["open_recon"] and last["recon"] < 0.3 * first["recon"], (first, last)


def test_the_picture_models_agent_read_out_finds_the_agent_in_every_true_picture():
    """The fixed read-out of a decoded patch, applied to a true picture's logits, picks the agent's
    cell in every frame (on the goal too, where the renderer draws a smaller disc)."""
    data = random_chunks(8, 32, 10, seed=1, frame="pixels")
    assert data["frames"].shape[2:] == (3, 64, 64) and data["frames"].dtype == torch.float32
    model = ConvRSSM(3, 8, pixels=8)
    frames = data["frames"].flatten(0, 1)
    logits = torch.logit(frames.clamp(0.02, 0.98))
    patches = torch.nn.functional.pixel_unshuffle(logits, 8)  # what the decoder's last layer gives
    readout = torch.nn.functional.conv2d(patches, model.agent_template[None, :, None, None]).flatten(1)
    assert torch.equal(readout.argmax(-1), data["cells"].flatten())
    assert (readout.softmax(-1).max(-1).values > 0.99).all()  # the attention is on that cell alone
    ended = data["ends"].flatten() > 0  # the episode ended on the goal: the agent's disc is smaller there
    assert ended.any()


def test_a_picture_model_learns_to_decode_pictures_and_the_reward():
    """On 64x64 RGB pictures (PlaNet's frame term summed over pixels, the reward weighed up as
    the pixel recipe does), the decoded picture and the reward get close to the truth."""
    torch.manual_seed(0)
    data = random_chunks(8, 32, 6, seed=0, frame="pixels")
    model = build_model("conv", 8, 16, 4, 32, 16, "categorical", 4, True, "pixels")
    opt = torch.optim.Adam(model.parameters(), 3e-3)

    def picture_error():
        feats = model.update(None, None, data["frames"][:, 0]).features()
        return (torch.sigmoid(model.decode(feats)) - data["frames"][:, 0]).abs().mean().item()

    before, rewards = picture_error(), []
    for _ in range(90):
        out = rssm_loss(model, **_loss_data(data), kl_balance=0.95, reward_scale=640.0, free_nats=0.0)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        rewards.append(float(out["reward"].detach()))
    model.eval()
    assert picture_error() < 0.1 < 0.3 < before, before
    assert np.mean(rewards[-10:]) < 0.7 * np.mean(rewards[:10]), rewards


def _cfg(**kw):
    return PlaNetConfig(**{**TINY, **kw})


def test_a_run_trains_saves_and_its_agent_acts_through_predict(tmp_path):
    agent = train_planet(_cfg(discount=0.9, window=2), str(tmp_path / "run"), progress=False)
    assert os.path.exists(tmp_path / "run" / "model.pt") and os.path.isdir(tmp_path / "run" / "tb")
    assert agent.info["env_steps"] > 0 and agent.info["episodes"] == 40 + 2 * 4
    loaded = load_agent(str(tmp_path / "run" / "model.pt"))
    assert loaded.cem == agent.cem and loaded.cem.repeat == PlaNetConfig().repeat  # the planner round-trips
    assert loaded.discount == 0.9 and load_agent(str(tmp_path / "run" / "model.pt"), discount=1.0).discount == 1.0
    assert loaded.window == 2 and load_agent(str(tmp_path / "run" / "model.pt"), window=None).window is None
    with pytest.raises(ValueError, match="window"):
        PlaNetAgent(loaded.model, loaded.model_args, loaded.cem, window=0)
    from agents.zoo import load_model

    zoo = load_model(str(tmp_path / "run" / "model.pt"))
    assert isinstance(zoo, PlaNetAgent)
    for a, b in zip(agent.model.state_dict().values(), loaded.model.state_dict().values()):
        assert torch.equal(a, b)
    env = gym.make("VINGrid-8x8-v0")
    obs, _ = env.reset(seed=3)
    # same seed, same calls: the loaded agent repeats the saved one's actions
    fresh = load_agent(str(tmp_path / "run" / "model.pt"))
    action, state = loaded.predict(obs)
    again, _ = fresh.predict(obs)
    assert action.shape == () and int(action) == int(again)
    # the state carries the filtered model state and the action taken
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    actions, state = loaded.predict(batch)
    assert state[0].shape[0] == 2 and np.array_equal(state[2], actions)
    assert state[3].shape == (2, loaded.cem.horizon) and np.array_equal(state[3][:, 0], actions)  # the plans
    actions2, state2 = loaded.predict(batch, state, np.array([False, True]))
    assert actions2.shape == (2,) and not np.array_equal(state2[0][0], state[0][0])
    with pytest.raises(ValueError, match="8x8"):
        loaded.predict({"image": np.zeros((2, 16, 16), np.uint8), "position": np.zeros(2, np.int64)})
    # a state of other episodes than the observations' is refused, not broadcast
    three = {k: np.stack([v, v, v]) for k, v in obs.items()}
    with pytest.raises(ValueError, match="same 3 episodes"):
        loaded.predict(three, state)
    with pytest.raises(ValueError, match="episode_start"):
        loaded.predict(batch, state, np.array([True]))


def test_a_picture_run_saves_an_agent_that_sees_pictures(tmp_path):
    agent = train_planet(_cfg(frame="pixels", recon_scale=1 / 64, cycles=1), str(tmp_path / "run"), progress=False)
    loaded = load_agent(str(tmp_path / "run" / "model.pt"))
    assert loaded.frame == "pixels" and loaded.model_args["frame"] == "pixels"
    assert isinstance(loaded.model, ConvRSSM) and loaded.model.pixels == 8
    env = gym.make("VINGrid-8x8-v0")
    obs, _ = env.reset(seed=3)
    action, state = loaded.predict(obs)
    again, _ = agent.predict(obs)
    assert 0 <= int(action) < 8 and state[0].shape[-2:] == (8, 8)
    # agent files from before pictures have no frame setting: map frames
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert saved["model_args"]["frame"] == "pixels"
    assert load_agent(os.path.join(os.path.dirname(__file__), "..", "agents/pretrained/planet_8x8.pt")).frame == "map"


def test_a_run_without_collection_learns_from_its_seed_episodes_alone(tmp_path):
    agent = train_planet(_cfg(collect_episodes=0, cycles=1, eval_every=5), str(tmp_path / "r"), progress=False)
    assert agent.info["episodes"] == TINY["seed_episodes"] and agent.info["cycles"] == 1
    # the planner only scores such a run, so a resumed one may plan otherwise
    more = _cfg(collect_episodes=0, cycles=2, eval_every=5, search=6, window=2, horizon=4)
    resumed = train_planet(more, str(tmp_path / "r"), resume=True, progress=False)
    assert (resumed.search, resumed.window, resumed.info["cycles"]) == (6, 2, 2)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    whole = train_planet(_cfg(cycles=3, eval_every=1), str(tmp_path / "whole"), progress=False)

    class Stop(Exception):
        pass

    def stop_after_first(cycle, record):
        if cycle == 1:
            raise Stop

    with pytest.raises(Stop):
        train_planet(_cfg(cycles=3, eval_every=1), str(tmp_path / "cut"), progress=False, on_cycle=stop_after_first)
    with pytest.raises(ValueError, match="already holds a run"):
        train_planet(_cfg(cycles=3, eval_every=1), str(tmp_path / "cut"), progress=False)
    with pytest.raises(ValueError, match="batch"):
        train_planet(_cfg(cycles=3, eval_every=1, batch=9), str(tmp_path / "cut"), resume=True, progress=False)
    with pytest.raises(ValueError, match="search"):  # this run collects with the planner: it stays
        train_planet(_cfg(cycles=3, eval_every=1, search=8), str(tmp_path / "cut"), resume=True, progress=False)
    resumed = train_planet(_cfg(cycles=3, eval_every=1), str(tmp_path / "cut"), resume=True, progress=False)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    # the same run, but for its wall time (each session's added up)
    assert {**whole.info, "train_seconds": 0} == {**resumed.info, "train_seconds": 0}
    assert whole.info["train_seconds"] > 0 and resumed.info["train_seconds"] > 0
    hist_a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["history"]
    hist_b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["history"]
    assert json.loads(hist_a) == json.loads(hist_b)
    # every cycle records how well the model imagines (the open-loop check on validation maps)
    assert {"open_agent", "open_agent_last", "open_reward_mse"} <= set(json.loads(hist_a)[0])


def test_corrupt_or_mismatched_files_are_clear_errors(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        load_agent(str(path))
    with pytest.raises(FileNotFoundError):
        load_agent(str(tmp_path / "missing.pt"))
    agent = PlaNetAgent(
        build_model("conv", 8, 16, 4, 32, 16),
        {"model": "conv", "size": 8, "deter": 16, "stoch": 4, "hidden": 32, "embed": 16},
        PlaNetConfig().cem(),
    )
    agent.save(str(tmp_path / "a.pt"))
    state = torch.load(tmp_path / "a.pt", weights_only=True)
    state["model_args"]["deter"] = 8
    torch.save(state, tmp_path / "b.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_agent(str(tmp_path / "b.pt"))
    torch.save({"format": "vingrid-bc-checkpoint-v1"}, tmp_path / "c.pt")
    with pytest.raises(ValueError):
        load_agent(str(tmp_path / "c.pt"))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"model": "lstm"}, "model"),
        ({"explore": 1.5}, "explore"),
        ({"kl_balance": 1.0}, "kl_balance"),
        ({"elites": 2000}, "elites"),
        ({"cycles": 0}, "cycles"),
        ({"env_id": "CartPole-v1"}, "CartPole"),
        ({"lr": 0.0}, "lr"),
        ({"latent": "beta"}, "latent"),
        ({"model": "flat", "latent": "categorical"}, "flat model"),
        ({"classes": 1}, "classes"),
        ({"collect_episodes": -1}, "collect_episodes"),
        ({"discount": 0.0}, "discount"),
        ({"frame": "rgb"}, "frame"),
        ({"model": "flat", "latent": "gaussian", "frame_posterior": False, "frame": "pixels"}, "map frames"),
        ({"recon_scale": 0.0}, "recon_scale"),
        ({"window": 0}, "window"),
        ({"model": "flat", "latent": "gaussian", "frame_posterior": False, "window": 2}, "window"),
        ({"search": 0}, "search depth"),
        ({"model": "flat", "latent": "gaussian", "frame_posterior": False, "search": 8}, "search=8"),
    ],
)
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        PlaNetConfig(**kw)


def test_the_cli_trains_refuses_a_used_logdir_and_eval_scores_the_agent(tmp_path, capsys):
    from eval.__main__ import main as eval_main
    from train.__main__ import main as train_main

    logdir = str(tmp_path / "p")
    flags = [f"{k}={v}" for k, v in TINY.items() if k != "env_id"]
    assert train_main(["planet", "--env", "VINGrid-8x8-v0", "--logdir", logdir, "--no-progress", *flags]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["agent"] == os.path.join(logdir, "model.pt") and report["env_steps"] > 0
    assert train_main(["planet", "--env", "VINGrid-8x8-v0", "--logdir", logdir, "--no-progress", *flags]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert eval_main(["--model", report["agent"], "--env", "VINGrid-8x8-v0", "--episodes", "5", "--no-progress"]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["episodes"] == 5 and scored["action_accuracy"] is None
    with pytest.raises(SystemExit):
        train_main(["planet", "--env", "VINGrid-8x8-v0", "--logdir", logdir, "horizon=0"])

    # the open-loop picture: truth beside imagination, one GIF frame per episode frame
    from PIL import Image

    from eval.planet import main as planet_main

    gif = str(tmp_path / "ol.gif")
    assert planet_main(["--model", report["agent"], "--gif", gif, "--maps", "2", "--frames", "5"]) == 0
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(shown["agent_cell_right"]) == 4 and Image.open(gif).n_frames == 5
    with pytest.raises(SystemExit):  # kept without --overwrite
        planet_main(["--model", report["agent"], "--gif", gif])
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        planet_main(["--model", report["agent"], "--frames", "5", "--context", "5"])


def test_the_data_efficiency_section_reads_runs_and_tells_when_80_and_95_percent_were_reached(tmp_path):
    from eval.data_efficiency import Curve, agent_points, efficiency_section, plot_efficiency

    ppo = Curve("PPO-VIN", [8192, 16384, 24576], [0.3, 0.85, 0.96], [10.0, 20.0, 30.0], "validation")
    late = Curve("PPO-CNN", [8192, 16384], [0.05, 0.06], [], "validation")
    assert ppo.reached() == (16384, 20.0) and ppo.reached(0.95) == (24576, 30.0) and late.reached() is None
    agent = train_planet(_cfg(collect_episodes=0, cycles=1), str(tmp_path / "r"), progress=False)
    points = agent_points("PlaNet", [str(tmp_path / "r")], 8, 3)
    assert points.steps == [agent.info["env_steps"]] and points.seconds == [agent.info["train_seconds"]]
    png = str(tmp_path / "eff.png")
    plot_efficiency([ppo, late, points], 0.08, png, size=16)
    text = efficiency_section([ppo, late, points], 0.08, png, size=16)
    assert os.path.getsize(png) > 0 and text.startswith("## Data efficiency at 16x16\n")
    assert "| PPO-VIN | validation | 16,384 | 0.3 | 24,576 | 0.5 | 96.0 | 24,576 |" in text
    assert "| PPO-CNN | validation | not reached | - | not reached | - | 6.0 | 16,384 |" in text
    early = Curve("PlaNet", [11352, 22988], [0.96, 0.97], [60.0, 120.0], "test")  # no smaller budget measured
    assert "| PlaNet | test | ≤ 11,352 | ≤ 1.0 | ≤ 11,352 | ≤ 1.0 | 97.0 | 22,988 |" in efficiency_section(
        [early], 0.0, png, size=16
    )
    with pytest.raises(ValueError, match="16x16"):
        agent_points("PlaNet", [str(tmp_path / "r")], 16, 3)


class _PerfectModel(LatentModel):
    """A hand-built model that imagines exactly the env's rule: ``h`` is the frame plus planes of
    the last reward and of the episode's end; ``s`` is empty (nothing is uncertain)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Identity()

    def initial(self, batch: int) -> RSSMState:
        return RSSMState(torch.zeros(batch, 5, 8, 8), torch.zeros(batch, 0, 8, 8))

    def posterior(self, h: torch.Tensor, embed: torch.Tensor) -> Normal:
        return Normal(torch.zeros(embed.shape[0], 0, 8, 8), torch.ones(embed.shape[0], 0, 8, 8))

    def update(self, state, action, frame):  # type: ignore[no-untyped-def]
        return RSSMState(torch.cat([frame, torch.zeros_like(frame[:, :2])], 1), torch.zeros(frame.shape[0], 0, 8, 8))

    def transition(self, state: RSSMState, action: torch.Tensor) -> tuple[torch.Tensor, Normal]:
        from gridworld_env.core import ACTIONS

        frame = state.h[:, :3].clone()
        b = frame.shape[0]
        cell = frame[:, 2].flatten(1).argmax(-1)
        row, col = cell // 8, cell % 8
        delta = torch.tensor(ACTIONS)[action]
        nr, nc = row + delta[:, 0], col + delta[:, 1]
        inside = (nr >= 0) & (nr < 8) & (nc >= 0) & (nc < 8)
        idx = torch.arange(b)
        hit = ~inside | (frame[idx, 0, nr.clamp(0, 7), nc.clamp(0, 7)] > 0)
        nr, nc = torch.where(hit, row, nr), torch.where(hit, col, nc)
        goal = frame[idx, 1, nr, nc] > 0
        frame[:, 2] = 0
        frame[idx, 2, nr, nc] = 1
        reward = torch.where(hit, -1.0, torch.where(goal, 1.0, -0.01))
        planes = torch.stack([reward, goal.float()], 1)[:, :, None, None].expand(b, 2, 8, 8)
        return torch.cat([frame, planes], 1), self.posterior(frame, frame)

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        return feats[:, :3] * 20 - 10

    def reward(self, feats: torch.Tensor) -> torch.Tensor:
        return feats[:, 3].mean((1, 2))

    def end_logit(self, feats: torch.Tensor) -> torch.Tensor:
        return feats[:, 4].mean((1, 2)) * 20 - 10


def test_the_open_loop_check_scores_a_perfect_model_perfectly_and_an_untrained_one_poorly():
    data = random_chunks(8, 64, 8, seed=3)
    perfect = open_loop_check(_PerfectModel(), data)
    assert len(perfect["agent"]) == 7
    assert min(perfect["agent"]) == 1.0 and max(perfect["reward_mse"]) < 1e-10 and max(perfect["end_error"]) == 0.0
    torch.manual_seed(0)
    untrained = open_loop_check(ConvRSSM(3, 8, latent="categorical"), data)
    assert max(untrained["agent"]) < 0.5 and min(untrained["reward_mse"]) > 0.01


def test_a_stateful_actor_carries_each_episodes_state_and_the_action_taken():
    """The evaluation's actor keeps each episode's ``predict`` state between calls, starts an episode
    it has not seen afresh, and with exploration writes the action actually taken into the state
    (so PlaNet's data collection filters its frames with the moves that were made)."""
    from agents.evaluation import StatefulActor, held_out_episodes

    class Recorder:
        def __init__(self):
            self.calls = []

        def predict(self, obs, state, episode_start, deterministic):
            n = obs["position"].shape[0]
            self.calls.append((None if state is None else [np.array(p) for p in state], episode_start.copy()))
            count = np.zeros(n) if state is None else np.where(episode_start, 0, state[0] + 1)
            return np.full(n, 3), (count, np.full(n, 3))

    ep = held_out_episodes(8, 3)
    agent = Recorder()
    flip = StatefulActor(agent, ep, taken=lambda a, m: np.where(m == 1, 5, a), last_action_index=1)
    assert flip(np.arange(3), ep.starts[:, 0], ep.starts[:, 1]).tolist() == [3, 5, 3]
    flip(np.array([1, 2]), ep.starts[1:, 0], ep.starts[1:, 1])
    state, start = agent.calls[-1]
    assert start.tolist() == [False, False] and state[0].tolist() == [0, 0] and state[1].tolist() == [5, 3]
    with pytest.raises(ValueError, match="last_action_index"):
        StatefulActor(agent, ep, taken=lambda a, m: a)
