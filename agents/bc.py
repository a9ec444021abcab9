"""Behaviour cloning of the BFS expert into an SB3 policy (VIN by default).

A short cross-entropy loop over the SB3 policy's action distribution: no ``imitation``
package (it pins old gymnasium and SB3). Batches are whole maps, so the VIN extractor
plans once per map and gathers Q at all of that map's labelled states.

Reproducible: the map order of epoch ``e`` comes from ``numpy.random.default_rng([seed, e])``
and torch is seeded once, so a run resumed from its checkpoint (model, optimiser, epoch,
history) equals an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

from agents.baselines import CNNPolicy, FCNPolicy
from agents.checkpoints import load_state, save_state
from agents.evaluation import VAL_SEED, evaluate_act_fn, held_out_episodes, policy_act_fn
from agents.policies import VINPolicy
from gridworld_env import env_size
from gridworld_env.atomic import atomic_path
from gridworld_env.core import observation_images
from gridworld_env.expert import ExpertDataset, make_dataset

CHECKPOINT_FORMAT = "vingrid-bc-checkpoint-v1"


@dataclass
class BCConfig:
    """Behaviour-cloning settings (one YAML section per env id in ``hyperparams/bc.yml``)."""

    env_id: str = "VINGrid-16x16-v0"
    """Registered env whose maps and spaces are used."""
    policy: str = "vin"
    """``vin``, or the paper's reactive baselines ``cnn`` and ``fcn`` (:mod:`agents.baselines`)."""
    n_maps: int = 5000
    """Training maps: env seeds ``[seed, seed + n_maps)`` (the paper used 5,000)."""
    trajectories_per_map: int | None = 7
    """Expert trajectories per map (the paper's 7), or ``None`` for every free cell."""
    dataset: str | None = None
    """Path of a data set from ``python -m train.make_dataset``; built in memory if ``None``."""
    epochs: int = 30
    """Passes over the training data."""
    batch_size: int = 128
    """Labelled states per batch, rounded to whole maps."""
    lr: float = 0.005
    """Learning rate."""
    optimizer: str = "rmsprop"
    """``rmsprop`` (the paper's, eps 1e-6) or ``adam``."""
    max_grad_norm: float | None = None
    """Clip the gradient norm of each batch to this (``None``: no clipping)."""
    lr_schedule: str = "constant"
    """``constant``, or ``cosine``: from ``lr`` down to 0 over the training batches."""
    loss: str = "expert"
    """``expert``: cross-entropy on the expert's action; ``optimal_set``: minus the log of the
    probability of the set of optimal actions (tie-aware)."""
    k: int | None = None
    """VIN: value-iteration steps; default the paper's K for the map size."""
    ch_h: int = 150
    """VIN: hidden reward channels; FCN: channels of its first two layers."""
    ch_q: int = 10
    """VIN: Q channels; FCN: channels of its last layer."""
    kernel_size: int = 3
    """VIN: value-iteration kernel."""
    tied: bool = True
    """VIN: one pair of VI kernels for all iterations; ``False`` unties them (one pair per iteration)."""
    kernel_init: str = "moves"
    """VIN: start of the VI kernels, ``moves`` (the true moves) or ``zero`` (see :class:`agents.vin.VIN`)."""
    val_maps: int = 200
    """Validation maps (env seeds from ``VAL_SEED``) for accuracy and success each epoch."""
    seed: int = 0
    """Seeds torch, the map order, and the first training map."""
    threads: int = 2
    """Torch CPU threads."""
    device: str = "cpu"
    """Torch device to train on: ``cpu``, ``cuda`` (``cuda:N``), or ``auto`` (CUDA when there is one)."""

    def __post_init__(self) -> None:
        if self.kernel_init not in ("moves", "zero"):
            raise ValueError(f"kernel_init must be 'moves' or 'zero', got {self.kernel_init!r}")
        if self.policy not in ("vin", "cnn", "fcn"):
            raise ValueError(f"policy must be 'vin', 'cnn' or 'fcn', got {self.policy!r}")
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.loss not in ("expert", "optimal_set"):
            raise ValueError(f"loss must be 'expert' or 'optimal_set', got {self.loss!r}")
        for name in ("n_maps", "epochs", "batch_size", "val_maps", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.device != "auto" and self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}")
        if self.seed < 0 or self.seed + self.n_maps > VAL_SEED:
            raise ValueError(f"training seeds [{self.seed}, {self.seed + self.n_maps}) must lie in [0, {VAL_SEED})")


def build_model(cfg: BCConfig) -> PPO:
    """An SB3 PPO model holding the policy to clone into (saved and loaded as a PPO zip)."""
    policy_kwargs: dict[str, Any] = {}
    if cfg.policy == "vin":
        policy_kwargs["features_extractor_kwargs"] = {"k": cfg.k, "ch_h": cfg.ch_h, "ch_q": cfg.ch_q,
                                                      "kernel_size": cfg.kernel_size, "kernel_init": cfg.kernel_init,
                                                      "tied": cfg.tied}
    elif cfg.policy == "fcn":
        policy_kwargs["features_extractor_kwargs"] = {"ch_h": cfg.ch_h, "ch_q": cfg.ch_q}
    policy = {"vin": VINPolicy, "cnn": CNNPolicy, "fcn": FCNPolicy}[cfg.policy]
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    return PPO(policy, gym.make(cfg.env_id), policy_kwargs=policy_kwargs, seed=cfg.seed, device=device, verbose=0)


@contextlib.contextmanager
def conv_backend(policy: str) -> Iterator[None]:
    """The convolution backend for training ``policy``: oneDNN (mkldnn) off for VIN.

    A VIN's convolutions are tiny (one map, one to ten channels) and oneDNN's per-call cost
    dominates them: BC at 28x28 and batch 128 ran 6-21 % faster without it (three interleaved
    runs). The CNN and FCN baselines have large convolutions and keep it.
    """
    if policy != "vin":
        yield
        return
    with warnings.catch_warnings():  # torch warns about Intel-GPU TF32 whenever the flags are set
        warnings.simplefilter("ignore", UserWarning)
        flags = torch.backends.mkldnn.flags(enabled=False)
        flags.__enter__()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            flags.__exit__(None, None, None)


def map_batches(data: ExpertDataset, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """State indices of each batch: shuffled whole maps, about ``batch_size`` states each."""
    counts = np.bincount(data.map_index, minlength=data.n_maps)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_batch = max(1, round(batch_size / max(counts.mean(), 1e-9)))
    order = rng.permutation(data.n_maps)
    batches = []
    for i in range(0, order.size, per_batch):
        maps = order[i : i + per_batch]
        batches.append(np.concatenate([np.arange(starts[m], starts[m] + counts[m]) for m in maps]))
    return [b for b in batches if b.size]


def bc_loss(policy: torch.nn.Module, obs: dict[str, torch.Tensor], actions: torch.Tensor,
            optimal: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the policy's action distribution; returns (loss, tie-aware hits)."""
    log_probs = policy.get_distribution(obs).distribution.logits  # normalised log-probabilities
    if kind == "expert":
        loss = -log_probs.gather(1, actions[:, None]).mean()
    else:
        loss = -torch.logsumexp(log_probs.masked_fill(~optimal, -math.inf), dim=1).mean()
    hits = optimal.gather(1, log_probs.argmax(dim=1, keepdim=True))[:, 0]
    return loss, hits


def _save_checkpoint(path: str, model: PPO, opt: torch.optim.Optimizer, cfg: BCConfig, epoch: int,
                     history: list[dict[str, float]]) -> None:
    save_state(path, {"format": CHECKPOINT_FORMAT, "config": asdict(cfg), "epoch": epoch, "history": history,
                      "policy": model.policy.state_dict(), "optimizer": opt.state_dict()})


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read a BC checkpoint; ``ValueError`` for a corrupt or foreign file."""
    return load_state(path, CHECKPOINT_FORMAT, "BC")


def train_bc(
    cfg: BCConfig,
    out_dir: str,
    resume: bool = False,
    progress: bool = False,
    log_dir: str | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[PPO, list[dict[str, float]]]:
    """Train by behaviour cloning; write ``out_dir/checkpoint.pt`` each epoch and ``out_dir/model.zip``.

    :param cfg: settings.
    :param out_dir: run folder.
    :param resume: continue from ``out_dir/checkpoint.pt`` (its settings must equal ``cfg``).
    :param progress: show a progress bar.
    :param log_dir: TensorBoard folder (none if ``None``).
    :param on_epoch: called with (epoch, figures) after each epoch.
    :return: the model and the per-epoch history (loss, accuracy, validation figures).
    """
    size = env_size(cfg.env_id)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if cfg.dataset is not None:
        data = ExpertDataset.load(cfg.dataset)
        if data.size != size:
            raise ValueError(f"data set {cfg.dataset} has {data.size}x{data.size} maps, env {cfg.env_id} has {size}x{size}")
        hi = int(data.meta.get("seed", 0)) + data.n_maps
        if hi > VAL_SEED:
            raise ValueError(f"data set {cfg.dataset} uses env seeds up to {hi}, overlapping the validation seeds")
    else:
        data = make_dataset(size, cfg.n_maps, cfg.trajectories_per_map, cfg.seed)
    if len(data) == 0:
        raise ValueError("the expert data set is empty")
    model = build_model(cfg)
    policy = model.policy
    params = policy.parameters()
    opt: torch.optim.Optimizer = (torch.optim.RMSprop(params, lr=cfg.lr, eps=1e-6) if cfg.optimizer == "rmsprop"
                                  else torch.optim.Adam(params, lr=cfg.lr))
    os.makedirs(out_dir, exist_ok=True)
    ckpt_path = os.path.join(out_dir, "checkpoint.pt")
    history: list[dict[str, float]] = []
    start = 0
    if resume:
        state = load_checkpoint(ckpt_path)
        if state["config"] != asdict(cfg):
            raise ValueError(f"{ckpt_path} was written with other settings: {state['config']}")
        policy.load_state_dict(state["policy"])
        opt.load_state_dict(state["optimizer"])
        start, history = int(state["epoch"]), list(state["history"])

    images = torch.from_numpy(observation_images(data.obstacles, data.goals.astype(np.int64), np.float32))
    map_index = torch.from_numpy(data.map_index).long()
    positions = torch.from_numpy(data.states.astype(np.int64))
    actions = torch.from_numpy(data.actions.astype(np.int64))
    optimal = torch.from_numpy(data.optimal)
    val = held_out_episodes(size, cfg.val_maps, VAL_SEED)
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, initial=start, desc=f"BC {cfg.env_id}", unit="epoch")
    backend = contextlib.ExitStack()
    backend.enter_context(conv_backend(cfg.policy))
    for epoch in range(start, cfg.epochs):
        policy.train()
        total_loss = total_hits = n = 0.0
        batches = map_batches(data, cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
        for b, idx_np in enumerate(batches):
            if cfg.lr_schedule == "cosine":
                progress = (epoch + b / len(batches)) / cfg.epochs
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
            idx = torch.from_numpy(idx_np)
            dev = policy.device
            obs = {"image": images[map_index[idx]].to(dev), "position": positions[idx].float().to(dev)}
            loss, hits = bc_loss(policy, obs, actions[idx].to(dev), optimal[idx].to(dev), cfg.loss)
            opt.zero_grad()
            loss.backward()
            if cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            opt.step()
            total_loss += loss.item() * idx.numel()
            total_hits += float(hits.sum())
            n += idx.numel()
        result = evaluate_act_fn(policy_act_fn(policy, val), val)
        figures = {"epoch": epoch + 1, "loss": total_loss / n, "train_accuracy": total_hits / n,
                   "val_accuracy": result.action_accuracy, "val_success_rate": result.success_rate}
        history.append(figures)
        _save_checkpoint(ckpt_path, model, opt, cfg, epoch + 1, history)
        if writer is not None:
            for key, value in figures.items():
                if key != "epoch":
                    writer.add_scalar(f"bc/{key}", value, epoch + 1)
            if cfg.policy == "vin":  # the planner at work on the first validation map
                from agents.visual import planner_pictures

                grid, _, _ = planner_pictures(policy, cfg.env_id, VAL_SEED)
                writer.add_image("bc/planner_reward_then_values", grid, epoch + 1, dataformats="HWC")
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{figures['loss']:.3f}", acc=f"{figures['val_accuracy']:.3f}",
                            success=f"{figures['val_success_rate']:.3f}")
        if on_epoch is not None:
            on_epoch(epoch + 1, figures)
    backend.close()
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()
    with atomic_path(os.path.join(out_dir, "model.zip")) as tmp:
        model.save(tmp)
    return model, history
