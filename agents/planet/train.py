"""PlaNet's training loop: seed episodes, then cycles of model training and planner collection.

1. ``seed_episodes`` episodes of uniform random actions fill the replay buffer.
2. Each cycle: ``train_steps`` gradient steps of :func:`agents.planet.rssm.rssm_loss` on chunks
   drawn from the buffer, then ``collect_episodes`` episodes played by the planner on the model
   (with probability ``explore`` a random action instead), added to the buffer. Every
   ``eval_every`` cycles the agent is scored on held-out validation maps.

After each cycle the run folder's ``checkpoint.pt`` is written atomically: model, optimiser,
buffer, every random generator and the history, so ``resume=True`` continues exactly where the
run stopped (the result equals an uninterrupted run's). TensorBoard scalars go to ``tb/``; the
finished agent is ``model.pt`` (:func:`agents.planet.agent.load_agent`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.evaluation import VAL_SEED, StatefulActor, evaluate_act_fn, held_out_episodes, predict_act_fn
from agents.planet.agent import PlaNetAgent, build_model
from agents.planet.config import PlaNetConfig
from agents.planet.data import ReplayBuffer, play_episodes, random_chooser, to_tensors, training_maps
from agents.planet.diagnostics import open_loop_check
from agents.planet.rssm import LatentModel, rssm_loss
from agents.training.checkpoints import load_state, prepare_run_dir, save_state
from agents.training.config import with_defaults
from gridworld_env.core import N_ACTIONS
from gridworld_env.maps import Episodes

#: Format name of a run's checkpoint (the agent's own is :data:`agents.planet.agent.AGENT_FORMAT`).
_RUN_FORMAT = "vingrid-planetrun-checkpoint-v1"

#: Settings a resumed run may change.
RESUMABLE = ("threads", "cycles", "eval_every", "eval_maps")
#: The planner's settings: a resumed run may change them too if it collects no episodes with the
#: planner (then the planner scores validation only and training never sees it).
PLANNER = ("horizon", "iterations", "candidates", "elites", "repeat", "discount", "window", "search")

#: ``on_cycle(cycle, record)`` after each cycle's checkpoint (raising stops the run there).
CycleHook = Callable[[int, dict[str, float]], None]


def model_args(cfg: PlaNetConfig) -> dict[str, Any]:
    return {
        "model": cfg.model,
        "size": cfg.size,
        "deter": cfg.deter,
        "stoch": cfg.stoch,
        "hidden": cfg.hidden,
        "embed": cfg.embed,
        "latent": cfg.latent,
        "classes": cfg.classes,
        "frame_posterior": cfg.frame_posterior,
        "frame": cfg.frame,
    }


def planner_chooser(agent: PlaNetAgent, ep: Episodes, explore: float, rng: np.random.Generator) -> Any:
    """A :data:`agents.planet.data.Chooser` that plays the agent as ``python -m eval`` does (through
    :meth:`PlaNetAgent.predict`, the model state carried from move to move), with ``explore``
    random actions in place of the planner's; the model state is updated with the action taken."""

    def taken(actions: np.ndarray, maps: np.ndarray) -> np.ndarray:
        noise = rng.random(maps.shape[0]) < explore
        return np.where(noise, rng.integers(0, N_ACTIONS, size=maps.shape[0]), actions)

    return StatefulActor(agent, ep, taken=taken, last_action_index=2)


def validation_success(agent: PlaNetAgent, size: int, maps: int) -> float:
    """Success rate of the agent on the first ``maps`` validation maps, played as ``python -m eval``
    plays the test maps: through :meth:`PlaNetAgent.predict`, which filters each episode's frames
    into the model's state step after step. (Planning from each frame filtered alone puts the model
    in states that training never gave it after the first step: the 8x8 agent scored 91.0 % so
    against 97.5 % by ``predict`` on the same 200 maps, docs/agents/planet.md.)"""
    ep = held_out_episodes(size, maps, seed=VAL_SEED)
    return evaluate_act_fn(predict_act_fn(agent, ep), ep, accuracy=False).success_rate


def imagination_scores(
    model: LatentModel, size: int, chunks: int = 200, length: int = 9, frame: str = "map"
) -> dict[str, float]:
    """:func:`agents.planet.diagnostics.open_loop_check` on random-action chunks of held-out
    validation maps, averaged over the imagined steps: ``open_agent`` (share of agent cells
    imagined right), ``open_agent_last`` (the same after ``length - 1`` moves) and
    ``open_reward_mse``. A model that plans well scores ``open_agent`` near 1."""
    ep = held_out_episodes(size, chunks, seed=VAL_SEED)
    played = play_episodes(ep, random_chooser(np.random.default_rng(VAL_SEED)), length)
    check = open_loop_check(model, to_tensors(ep, played, frame))
    return {
        "open_agent": float(np.mean(check["agent"])),
        "open_agent_last": check["agent"][-1],
        "open_reward_mse": float(np.mean(check["reward_mse"])),
    }


class _Run:
    """Everything a checkpoint holds."""

    def __init__(self, cfg: PlaNetConfig) -> None:
        torch.manual_seed(cfg.seed)
        self.model = build_model(**model_args(cfg))
        self.optim = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.buffer = ReplayBuffer(cfg.size, cfg.episode_steps + 1)
        self.rng = np.random.default_rng(cfg.seed)
        self.planner_gen = torch.Generator().manual_seed(cfg.seed)
        self.maps_used = 0
        self.cycle = 0
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0  # wall time of every session of the run

    def state(self, cfg: PlaNetConfig) -> dict[str, Any]:
        return {
            "format": _RUN_FORMAT,
            "config": dataclasses.asdict(cfg),
            "model": self.model.state_dict(),
            "optim": self.optim.state_dict(),
            "buffer": self.buffer.state_dict(),
            "rng": json.dumps(self.rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
            "planner_rng": self.planner_gen.get_state(),
            "maps_used": self.maps_used,
            "cycle": self.cycle,
            "history": json.dumps(self.history),
            "seconds": self.seconds,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.buffer.load_state_dict(state["buffer"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.planner_gen.set_state(state["planner_rng"])
        self.maps_used, self.cycle = int(state["maps_used"]), int(state["cycle"])
        self.history = json.loads(state["history"])
        self.seconds = float(state.get("seconds", 0.0))  # runs before it was recorded: 0

    def agent(self, cfg: PlaNetConfig) -> PlaNetAgent:
        agent = PlaNetAgent(
            self.model, model_args(cfg), cfg.cem(), cfg.seed, self.info(cfg), cfg.discount, cfg.window, cfg.search
        )
        agent.generator = self.planner_gen
        return agent

    def info(self, cfg: PlaNetConfig) -> dict[str, Any]:
        return {
            "env_id": cfg.env_id,
            "env_steps": self.buffer.steps,
            "episodes": len(self.buffer),
            "cycles": self.cycle,
            "train_seconds": round(self.seconds, 1),
        }

    def collect(self, cfg: PlaNetConfig, episodes: int, planner: bool) -> None:
        ep = training_maps(cfg.size, cfg.seed, self.maps_used, episodes)
        self.maps_used += episodes
        if planner:
            self.model.eval()
            choose = planner_chooser(self.agent(cfg), ep, cfg.explore, self.rng)
        else:
            choose = random_chooser(self.rng)
        self.buffer.add(ep, play_episodes(ep, choose, cfg.episode_steps + 1))

    def train(self, cfg: PlaNetConfig, steps: int, bar: Any) -> dict[str, float]:
        self.model.train()
        sums: dict[str, float] = {}
        for _ in range(steps):
            batch = self.buffer.sample(self.rng, cfg.batch, cfg.chunk, cfg.frame)
            out = rssm_loss(
                self.model,
                batch["frames"],
                batch["actions"],
                batch["rewards"],
                batch["ends"],
                batch["mask"],
                free_nats=cfg.free_nats,
                kl_scale=cfg.kl_scale,
                kl_balance=cfg.kl_balance,
                open_loop=cfg.open_loop,
                reward_scale=cfg.reward_scale,
                recon_scale=cfg.recon_scale,
            )
            self.optim.zero_grad()
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optim.step()
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            if bar is not None:
                bar.update(1)
        self.model.eval()
        return {k: v / steps for k, v in sums.items()}


def check_resume(stored: dict[str, Any], cfg: PlaNetConfig) -> None:
    """``ValueError`` naming the settings that differ from the stored run's (but :data:`RESUMABLE`,
    and :data:`PLANNER` for a run that collects no episodes with the planner)."""
    now, stored = dataclasses.asdict(cfg), with_defaults(PlaNetConfig, stored)  # added settings had their defaults
    free = RESUMABLE + (PLANNER if cfg.collect_episodes == 0 == stored.get("collect_episodes") else ())
    changed = [k for k in now if k not in free and stored.get(k) != now[k]]
    if changed:
        raise ValueError(
            "--resume needs the stored run's settings; changed: "
            + ", ".join(f"{k} ({stored.get(k)!r} -> {now[k]!r})" for k in changed)
        )


def train_planet(
    cfg: PlaNetConfig,
    out_dir: str,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    on_cycle: CycleHook | None = None,
) -> PlaNetAgent:
    """Train (or continue) a PlaNet run in ``out_dir``; return the agent (also saved as ``model.pt``).

    :raises ValueError: ``out_dir`` holds a run and neither ``resume`` nor ``overwrite`` is given;
        ``resume`` with changed settings, or a checkpoint that is not this kind of run.
    """
    from torch.utils.tensorboard import SummaryWriter

    prepare_run_dir(out_dir, resume, overwrite)
    torch.set_num_threads(cfg.threads)
    run = _Run(cfg)
    ckpt = os.path.join(out_dir, "checkpoint.pt")
    if resume and os.path.exists(ckpt):
        stored = load_state(ckpt, _RUN_FORMAT, "PlaNet run")
        check_resume(stored["config"], cfg)
        try:
            run.load(stored)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ValueError(f"{ckpt} does not hold a run of these settings ({exc})") from exc
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=1)

    with contextlib.ExitStack() as stack:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = stack.enter_context(
                tqdm(
                    total=cfg.cycles * cfg.train_steps, initial=run.cycle * cfg.train_steps, desc="planet", unit="step"
                )
            )
        writer = stack.enter_context(SummaryWriter(os.path.join(out_dir, "tb")))
        clock = time.perf_counter()
        if len(run.buffer) == 0:
            run.collect(cfg, cfg.seed_episodes, planner=False)
            run.seconds += time.perf_counter() - clock
            save_state(ckpt, run.state(cfg))
        while run.cycle < cfg.cycles:
            clock = time.perf_counter()
            record = run.train(cfg, cfg.train_steps, bar)
            if cfg.collect_episodes > 0:
                run.collect(cfg, cfg.collect_episodes, planner=True)
            run.cycle += 1
            record.update(cycle=run.cycle, env_steps=run.buffer.steps, episodes=len(run.buffer))
            record.update(imagination_scores(run.model, cfg.size, frame=cfg.frame))
            if run.cycle % cfg.eval_every == 0 or run.cycle == cfg.cycles:
                record["val_success"] = validation_success(run.agent(cfg), cfg.size, cfg.eval_maps)
            run.history.append(record)
            for key, value in record.items():
                writer.add_scalar(f"planet/{key}", value, run.buffer.steps)
            if bar is not None:
                shown = ("reward", "recon", "open_agent", "val_success")
                bar.set_postfix({k: round(v, 3) for k, v in record.items() if k in shown})
            run.seconds += time.perf_counter() - clock
            save_state(ckpt, run.state(cfg))
            if on_cycle is not None:
                on_cycle(run.cycle, record)
    agent = run.agent(cfg)
    agent.generator = torch.Generator().manual_seed(cfg.seed)
    agent.save(os.path.join(out_dir, "model.pt"))
    return agent
