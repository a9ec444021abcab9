"""The CEM planner over discrete action sequences and the planning oracle (``agents.planet``)."""

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.evaluation import evaluate_act_fn, held_out_episodes
from agents.planet.cem import CEMConfig, cem_plan, exhaustive_plan
from agents.planet.oracle import TrueModel, planner_act_fn


def additive(weights):
    """Returns of a toy model: the sum over steps of ``weights[b, h, action]``."""

    def returns_of(seq):
        b, j, h = seq.shape
        idx = torch.arange(b)[:, None, None], torch.arange(h)[None, None, :]
        return weights[idx[0], idx[1], seq].sum(-1)

    return returns_of


def test_cem_and_exhaustive_search_find_the_best_sequence_of_a_toy_reward():
    gen = torch.Generator().manual_seed(0)
    weights = torch.rand(5, 4, 8, generator=gen)  # 5 problems, H = 4, 8 actions
    best = weights.argmax(-1)  # additive: the best action at each step
    seq, ret = exhaustive_plan(additive(weights), 5, 8, 4)
    assert torch.equal(seq, best) and torch.allclose(ret, weights.max(-1).values.sum(-1))
    cem, cem_ret = cem_plan(additive(weights), 5, 8, CEMConfig(horizon=4), torch.Generator().manual_seed(1))
    assert torch.equal(cem, best) and torch.allclose(cem_ret, ret)


def test_exhaustive_search_equals_enumeration_on_a_non_additive_reward():
    def returns_of(seq):  # rewards the sum of the actions near 13 and an increasing first pair
        s = seq.sum(-1).float()
        return -(s - 13).abs() + (seq[..., 0] < seq[..., 1]).float() * 0.5 - 0.01 * seq[..., 2].float()

    seq, ret = exhaustive_plan(returns_of, 1, 8, 3, chunk=100)
    every = list(itertools.product(range(8), repeat=3))
    scores = returns_of(torch.tensor(every)[None])[0]
    assert seq[0].tolist() == list(every[int(scores.argmax())]) and float(ret[0]) == float(scores.max())


@pytest.mark.parametrize(
    "bad", [{"horizon": 0}, {"candidates": 10, "elites": 20}, {"iterations": 1.5}, {"elites": -1}, {"repeat": 1.0}]
)
def test_bad_cem_settings_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad)) if "candidates" not in bad else "elites"):
        CEMConfig(**bad)


def test_exhaustive_search_refuses_a_horizon_too_long_to_enumerate():
    with pytest.raises(ValueError, match="too many"):
        exhaustive_plan(lambda s: s.sum(-1).float(), 1, 8, 12)


def test_the_true_model_scores_a_sequence_as_the_env_rewards_it():
    env = gym.make("VINGrid-8x8-v0")
    rng = np.random.default_rng(0)
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        base = env.unwrapped
        obstacles, goal = base.obstacles.copy(), np.array([base.goal_pos])
        start = base.agent_pos
        actions = rng.integers(0, 8, size=10)
        total = 0.0
        for a in actions:
            _, reward, terminated, truncated, _ = env.step(int(a))
            total += reward
            if terminated or truncated:
                break
        model = TrueModel(obstacles[None], goal)
        got = model.returns(
            np.array([0]), np.array([start[0]]), np.array([start[1]]), torch.tensor(actions)[None, None]
        )
        assert got.shape == (1, 1) and got[0, 0].item() == pytest.approx(total, abs=1e-5), seed


def test_cem_on_the_true_model_solves_held_out_8x8_maps():
    """The planner apart from learning: with the env's own rule as its model, CEM (small settings)
    solves held-out 8x8 maps, where uniform random actions reach the goal in about 8 % of episodes."""
    ep = held_out_episodes(8, 100)
    planned = evaluate_act_fn(planner_act_fn(ep, CEMConfig(horizon=8, iterations=4, candidates=200, elites=20)), ep)
    rng = np.random.default_rng(0)
    chance = evaluate_act_fn(lambda m, r, c: rng.integers(0, 8, size=m.size), ep, accuracy=False).success_rate
    # 99 % here (100 % with PlaNet's defaults, H = 12, I = 10, J = 1000, K = 100, in 1.3 s)
    assert planned.success_rate >= 0.95 and planned.success_rate > chance + 0.5, (planned.success_rate, chance)
    assert planned.path_ratio < 1.05


def test_a_warm_start_and_repeated_first_samples_lift_cem_on_16x16_maps():
    """At 16x16 the goal is often farther than a random walk of H moves reaches: CEM from scratch
    with independent steps misses it; the last plan as a candidate (MPC's warm start) keeps a path
    once found, and samples that repeat their moves reach farther."""
    ep = held_out_episodes(16, 100)
    plain = CEMConfig(horizon=12, iterations=4, candidates=200, elites=20)
    scratch = evaluate_act_fn(planner_act_fn(ep, plain, warm_start=False), ep, accuracy=False).success_rate
    both = CEMConfig(horizon=12, iterations=4, candidates=200, elites=20, repeat=0.5)
    better = evaluate_act_fn(planner_act_fn(ep, both), ep, accuracy=False).success_rate
    assert better >= scratch + 0.1 and better >= 0.85, (scratch, better)


def test_the_warm_start_is_a_candidate_and_must_fit_the_batch():
    """A sequence the belief would almost never sample is kept when it is given as the warm start."""
    target = torch.tensor([[3, 1, 4, 1, 5, 0, 2, 6]])

    def only_target(seq):  # 1 for the target sequence, 0 for every other
        return (seq == target[:, None]).all(-1).float()

    cfg = CEMConfig(horizon=8, iterations=2, candidates=20, elites=2)
    seq, ret = cem_plan(only_target, 1, 8, cfg, torch.Generator().manual_seed(0), init=target)
    assert torch.equal(seq, target) and ret.item() == 1.0
    _, cold = cem_plan(only_target, 1, 8, cfg, torch.Generator().manual_seed(0))
    assert cold.item() == 0.0  # 40 samples of 8^8 sequences do not find it
    with pytest.raises(ValueError, match="init"):
        cem_plan(only_target, 2, 8, cfg, init=target)


def test_the_rssm_loss_falls_on_tiny_data():
    from agents.planet.data import random_chunks
    from agents.planet.rssm import RSSM, rssm_loss

    torch.manual_seed(0)
    data = random_chunks(8, 32, 10, seed=0)
    assert data["ends"].sum() > 0 and data["mask"][:, 0].all()  # some episodes reach the goal
    model = RSSM(3, 8, deter=64, stoch=16, hidden=64, embed=64)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(60):
        out = rssm_loss(model, data["frames"], data["actions"], data["rewards"], data["ends"], data["mask"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first or {k: float(v.detach()) for k, v in out.items()}
    last = {k: float(v.detach()) for k, v in out.items()}
    # here: loss 136.7 -> 24.3, reconstruction 132.6 -> 20.5, reward 0.45 -> 0.25 by step 50
    assert last["loss"] < 0.3 * first["loss"] and last["recon"] < 0.3 * first["recon"], (first, last)
    assert last["reward"] < first["reward"] and last["end"] < first["end"], (first, last)
    states, _, _ = model.observe(data["frames"][:4, :1], data["actions"][:4, :1])
    returns = model.imagine_returns(states[-1], torch.randint(0, 8, (4, 5, 12)))
    assert returns.shape == (4, 5) and torch.isfinite(returns).all()
