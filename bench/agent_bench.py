"""Agent benchmarks: BC training throughput against a reference-style VIN, rollouts with and
without the plan cache, PPO + VIN env steps per second, and the cost of ``walls_block`` planning.

    python -m bench.agent_bench [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.evaluation import evaluate_act_fn, held_out_episodes, policy_act_fn
from agents.planners import PAPER_K, VIN
from agents.training.bc import BCConfig, bc_loss, build_model, conv_backend, map_batches
from agents.training.ppo import PPOConfig, train_ppo
from bench.reference_vin import ReferenceVIN
from bench.timing import machine
from gridworld_env.core import observation_images
from gridworld_env.expert import make_dataset
from gridworld_env.maps import default_spec, sample_episodes

#: Samples in one training epoch of the paper's data sets (6/7 of 5,000 maps x 7 trajectories).
PAPER_EPOCH = {8: 77_760, 16: 776_440, 28: 4_510_695}


def _timed(step: Callable[[], int], seconds: float) -> float:
    """Samples per second of ``step`` (returns its sample count) over ``seconds``."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += step()
    return n / (time.perf_counter() - t0)


def _best_interleaved(steps: list[Callable[[], int]], seconds: float, repeats: int = 3) -> list[float]:
    """Best rate of each step over ``repeats`` rounds, the steps taking turns in each round
    (so a slow spell of this shared machine hits both sides), after one warm-up call each."""
    for step in steps:
        step()
    best = [0.0] * len(steps)
    for _ in range(repeats):
        for i, step in enumerate(steps):
            best[i] = max(best[i], _timed(step, seconds / repeats))
    return best


def bc_rates(
    size: int,
    seconds: float,
    batch: int = 128,
    channels_last: bool = False,
    compiled: bool = False,
    plan_once: bool = True,
) -> tuple[float, float]:
    """(ours, reference) BC training samples/s at ``batch`` labelled states per batch, RMSprop.

    The variants change ours only: ``channels_last`` memory format, ``torch.compile`` of the
    loss, and ``plan_once=False`` (one value iteration per sample, the hoisting kept).
    """
    data = make_dataset(size, 300, 7, seed=0)
    images = torch.from_numpy(observation_images(data.obstacles, data.goals.astype(np.int64), np.float32))
    map_index = torch.from_numpy(data.map_index).long()
    pos = torch.from_numpy(data.states.astype(np.int64))
    actions = torch.from_numpy(data.actions.astype(np.int64))
    optimal = torch.from_numpy(data.optimal)
    cfg = BCConfig(env_id=f"VINGrid-{size}x{size}-v0", batch_size=batch, n_maps=300)
    policy = build_model(cfg).policy
    policy.features_extractor.plan_once_per_map = plan_once
    if channels_last:
        policy = policy.to(memory_format=torch.channels_last)
    opt = torch.optim.RMSprop(policy.parameters(), lr=0.002, eps=1e-6)
    loss_fn: Callable = torch.compile(bc_loss) if compiled else bc_loss
    batches = map_batches(data, batch, np.random.default_rng(0))
    it = iter(range(10**9))

    def ours() -> int:
        with conv_backend("vin"):
            return ours_step()

    def ours_step() -> int:
        idx = torch.from_numpy(batches[next(it) % len(batches)])
        image = images[map_index[idx]]
        if channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        loss, _ = loss_fn(
            policy, {"image": image, "position": pos[idx].float()}, actions[idx], optimal[idx], "optimal_set"
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        return int(idx.numel())

    ref = ReferenceVIN(k=PAPER_K[size])
    ref_opt = torch.optim.RMSprop(ref.parameters(), lr=0.002, eps=1e-6)
    rng = np.random.default_rng(0)

    def reference() -> int:
        idx = torch.from_numpy(rng.integers(0, len(data), batch))
        logits = ref(images[map_index[idx]], pos[idx, 0], pos[idx, 1])
        loss = torch.nn.functional.cross_entropy(logits, actions[idx])
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
        return batch

    rate_ours, rate_reference = _best_interleaved([ours, reference], seconds)
    return rate_ours, rate_reference


def rollout_rates(size: int, episodes: int) -> tuple[float, float]:
    """(with plan cache, without) rollout steps/s of a VIN policy on held-out maps.

    With the cache each map is planned once per evaluation; without it, every step of every
    episode runs the policy (and its value iteration) on that step's observation.
    """
    policy = build_model(BCConfig(env_id=f"VINGrid-{size}x{size}-v0")).policy
    ep = held_out_episodes(size, episodes)
    rates = []
    for cache in (True, False):
        counted = {"n": 0}
        policy.features_extractor.plan_cache = cache  # off: every step plans its map again
        act = policy_act_fn(policy, ep, plan_cache=cache)

        def counting(
            m: np.ndarray, r: np.ndarray, c: np.ndarray, act: Callable = act, counted: dict[str, int] = counted
        ) -> np.ndarray:
            counted["n"] += m.size
            return act(m, r, c)

        t0 = time.perf_counter()
        evaluate_act_fn(counting, ep)
        rates.append(counted["n"] / (time.perf_counter() - t0))
    return rates[0], rates[1]


#: The PPO recipe at 16x16 before the RL-from-reward work (session 4's ``hyperparams/ppo.yml``).
OLD_PPO_RECIPE: dict[str, Any] = {"n_envs": 16, "n_steps": 64, "batch_size": 256, "n_epochs": 4}


def ppo_settings(size: int, recipe: str) -> Any:
    """PPO + VIN settings for a timing: ``old`` (:data:`OLD_PPO_RECIPE`) or ``yml`` (today's
    ``hyperparams/ppo.yml`` section), evaluation and checkpoints off, the episode limit of the yml."""
    from agents.training.ppo import load_ppo_config

    env_id = f"VINGrid-{size}x{size}-v0"
    cfg = load_ppo_config(env_id, flags={"policy": "vin"})
    fields = {"eval_freq": 10**9, "checkpoint_freq": 10**9, "threads": torch.get_num_threads()}
    if recipe == "old":
        return PPOConfig(env_id=env_id, max_steps=cfg.max_steps, **OLD_PPO_RECIPE, **fields)
    return dataclasses.replace(cfg, **fields)


def ppo_rate(size: int, timesteps: int, recipe: str = "old", repeats: int = 3) -> float:
    """Env steps/s of PPO + VIN on the batched env (rollouts and updates, no evaluation), best of
    ``repeats`` runs of ``timesteps`` steps each, with the settings of :func:`ppo_settings`."""
    cfg = dataclasses.replace(ppo_settings(size, recipe), total_timesteps=timesteps)
    best = 0.0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            train_ppo(cfg, out)
            best = max(best, timesteps / (time.perf_counter() - t0))
    return best


def main(argv: list[str] | None = None) -> None:
    torch.set_num_threads(2)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short timings (a smoke run, not for the record)")
    args = parser.parse_args(argv)
    seconds = 2.0 if args.quick else 20.0
    print(f"Machine: {machine()}")
    print("\nBC training, batch 128 labelled states, RMSprop, paper K:")
    print("| size | K | ours (samples/s) | reference-style (samples/s) | ratio | paper epoch, ours | reference |")
    print("|---|---|---|---|---|---|---|")
    for size in (8, 16, 28):
        ours, ref = bc_rates(size, seconds)
        n = PAPER_EPOCH[size]
        print(
            f"| {size}x{size} | {PAPER_K[size]} | {ours:,.0f} | {ref:,.0f} | {ours / ref:.1f}x "
            f"| {n / ours:,.1f} s | {n / ref:,.0f} s |",
            flush=True,
        )
    print("\nVariants of ours at 28x28, batch 128 (same run):")
    base, _ = bc_rates(28, seconds)
    for name, kwargs in (
        ("one value iteration per sample (hoisting kept)", {"plan_once": False}),
        ("channels-last", {"channels_last": True}),
        ("torch.compile", {"compiled": True}),
    ):
        try:
            rate, _ = bc_rates(28, seconds, **kwargs)
            print(f"- {name}: {rate:,.0f} samples/s against {base:,.0f} eager channels-first ({rate / base:.2f}x)")
        except Exception as exc:  # a compiler missing on this machine is a result, not a crash
            print(f"- {name}: failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
    print("\nRollouts of a VIN policy (paper protocol, held-out maps):")
    for size in (16, 28):
        cached, plain = rollout_rates(size, 200 if args.quick else 1000)
        print(
            f"- {size}x{size}: {cached:,.0f} steps/s with the plan cache, {plain:,.0f} without ({cached / plain:.1f}x)"
        )
    ppo_comparison(8192 if args.quick else 65536)
    walls_block_comparison(seconds)
    cnn_memory_format_comparison(seconds)
    ppo_cnn_bf16_comparison(8192 if args.quick else 16384)


def cnn_memory_format_comparison(seconds: float, batch: int = 1024) -> dict[int, tuple[float, float, float]]:
    """The CNN baseline's forward and backward on ``batch`` observations (one PPO minibatch):
    channels-first, channels-last, and channels-last in bfloat16 (``bf16=True``), interleaved in
    one run at 16x16 and 28x28. Prints and returns samples/s per size."""
    from gymnasium import spaces

    from agents.policies.baselines import CNNExtractor

    print(f"\nCNN baseline, forward and backward of a batch of {batch:,} (same run):")
    rates = {}
    for size in (16, 28):
        space = spaces.Dict(
            {
                "image": spaces.Box(0, 1, (2, size, size), np.float32),
                "position": spaces.Box(0, size - 1, (2,), np.int64),
            }
        )
        gen = torch.Generator().manual_seed(0)
        obs = {
            "image": (torch.rand(batch, 2, size, size, generator=gen) < 0.2).float(),
            "position": torch.randint(1, size - 1, (batch, 2), generator=gen),
        }
        first, last = CNNExtractor(space, channels_last=False), CNNExtractor(space, channels_last=True)
        half = CNNExtractor(space, bf16=True)
        last.load_state_dict(first.state_dict())
        half.load_state_dict(first.state_dict())
        if not torch.allclose(first(obs), last(obs), atol=1e-5):
            raise AssertionError("channels-first and channels-last CNNs disagree")

        def timed(net: CNNExtractor, obs: dict[str, torch.Tensor] = obs) -> Callable[[], int]:
            def step() -> int:
                net(obs).sum().backward()
                return batch

            return step

        cf, cl, bf = _best_interleaved([timed(first), timed(last), timed(half)], seconds)
        rates[size] = (cf, cl, bf)
        print(
            f"- {size}x{size}: channels-first {cf:,.0f} samples/s, channels-last {cl:,.0f} ({cl / cf:.2f}x), "
            f"channels-last bfloat16 {bf:,.0f} ({bf / cl:.2f}x channels-last)"
        )
    return rates


def ppo_cnn_bf16_comparison(timesteps: int, size: int = 16, repeats: int = 2) -> tuple[float, float]:
    """Env steps/s of PPO with the CNN under its own recipe (``hyperparams/ppo_cnn.yml``, no
    evaluation), float32 against ``bf16=True``, runs taking turns, best of ``repeats`` each."""
    from agents.training.ppo import load_ppo_config

    env_id = f"VINGrid-{size}x{size}-v0"
    cfg = load_ppo_config(env_id, "hyperparams/ppo_cnn.yml", flags={"policy": "cnn"})
    cfg = dataclasses.replace(
        cfg, total_timesteps=timesteps, eval_freq=10**9, checkpoint_freq=10**9, threads=torch.get_num_threads()
    )
    best = {False: 0.0, True: 0.0}
    for _ in range(repeats):
        for bf16 in (False, True):
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                train_ppo(dataclasses.replace(cfg, bf16=bf16), out)
                best[bf16] = max(best[bf16], timesteps / (time.perf_counter() - t0))
    print(
        f"\nPPO-CNN, its own recipe at {size}x{size} (n_epochs {cfg.n_epochs}, batch {cfg.batch_size}), "
        f"{timesteps:,} env steps, rollouts and updates (same run): float32 {best[False]:,.0f} env steps/s, "
        f"bfloat16 {best[True]:,.0f} ({best[True] / best[False]:.2f}x)"
    )
    return best[False], best[True]


def _select_form_plan(vin: VIN, image: torch.Tensor) -> torch.Tensor:
    """``walls_block`` value iteration written the direct way, a select over every Q channel at
    every iteration (what :meth:`agents.planners.vin.VIN.plan` computed first; the same Q)."""
    q_r = vin.q_from_reward(vin.reward_image(image))
    blocked, not_goal = vin.blocked_moves(image), 1.0 - image[:, 1:2]
    v = q_r.max(dim=1, keepdim=True).values * not_goal
    for _ in range(vin.k - 1):
        v = (q_r + torch.where(blocked, v, vin.q_from_value(v))).max(dim=1, keepdim=True).values * not_goal
    return q_r + torch.where(blocked, v, vin.q_from_value(v))


def walls_block_comparison(seconds: float, size: int = 28, maps: int = 64) -> list[float]:
    """Value iterations of the PPO recipe's VIN (K of the paper, 8 Q channels, terminal goal) on
    ``maps`` maps, forward and backward: without ``walls_block``, with it, and with it in the
    select form; interleaved in one run. Prints and returns the three rates (maps/s)."""
    episodes = sample_episodes([np.random.default_rng(i) for i in range(maps)], default_spec(size))
    image = torch.from_numpy(observation_images(episodes.obstacles, episodes.goals, np.float32))
    plain = VIN(2, k=PAPER_K[size], ch_q=8, terminal_goal=True, reward_kernel=1)
    walls = VIN(2, k=PAPER_K[size], ch_q=8, terminal_goal=True, reward_kernel=1, walls_block=True)
    walls.load_state_dict(plain.state_dict())
    if not torch.equal(_select_form_plan(walls, image), walls.plan(image)):
        raise AssertionError("the select form and VIN.plan disagree")

    def timed(plan: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], int]:
        def step() -> int:
            plan(image).sum().backward()
            return maps

        return step

    rates = _best_interleaved(
        [timed(plain.plan), timed(walls.plan), timed(lambda x: _select_form_plan(walls, x))], seconds
    )
    print(f"\nValue iteration at {size}x{size}, K = {PAPER_K[size]}, {maps} maps, forward and backward (same run):")
    print(f"- published (an obstacle is a cell to enter): {rates[0]:,.0f} maps/s")
    print(f"- walls_block, as VIN.plan runs it: {rates[1]:,.0f} maps/s ({rates[1] / rates[0]:.2f}x)")
    print(f"- walls_block, select form: {rates[2]:,.0f} maps/s ({rates[2] / rates[0]:.2f}x)")
    return rates


def ppo_comparison(steps: int) -> tuple[float, float]:
    """The PPO + VIN loop at 16x16, before and now, side by side in one run; prints and returns both rates."""
    print(f"\nPPO + VIN at 16x16, the whole loop (rollouts and updates), best of 3 runs of {steps:,} steps, same run:")
    old = ppo_rate(16, steps, "old")
    new = ppo_rate(16, steps, "yml")
    print(f"- before (16 envs x 64 steps, batch 256, 4 epochs): {old:,.0f} env steps/s")
    print(
        f"- hyperparams/ppo.yml (128 envs x 64 steps, batch 1024, 4 epochs): {new:,.0f} env steps/s ({new / old:.2f}x)"
    )
    return old, new


if __name__ == "__main__":
    main()
