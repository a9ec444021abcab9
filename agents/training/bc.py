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
import hashlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy

from agents.evaluation import VAL_SEED, evaluate_act_fn, held_out_episodes, policy_act_fn
from agents.planners import GPPN, VIN
from agents.policies import GPPNPolicy, VINPolicy
from agents.policies.baselines import CNNPolicy, FCNPolicy
from agents.training.checkpoints import load_state, prepare_run_dir, save_state
from agents.training.config import (
    BC_CONFIG,
    PACKAGE_PARENT,
    VINSettings,
    check_choice,
    check_device,
    check_positive,
    check_resume_settings,
    check_types,
    load_config,
    resolve_device,
    with_defaults,
)
from gridworld_env import env_size, env_spec
from gridworld_env.atomic import atomic_path
from gridworld_env.core import observation_images
from gridworld_env.expert import ExpertDataset, make_dataset, map_family

CHECKPOINT_FORMAT = "vingrid-bc-checkpoint-v1"


@dataclass
class BCConfig(VINSettings):
    """Behaviour-cloning settings (one YAML section per env id in ``hyperparams/bc.yml``); the VIN's
    planner and head settings come from :class:`agents.training.config.VINSettings`."""

    env_id: str = "VINGrid-16x16-v0"
    """Registered env whose maps and spaces are used."""
    policy: str = "vin"
    """``vin``, ``gppn`` (:mod:`agents.planners.gppn`), or the paper's reactive baselines ``cnn`` and
    ``fcn`` (:mod:`agents.policies.baselines`)."""
    n_maps: int = 5000
    """Training maps: env seeds ``[seed, seed + n_maps)`` (the paper used 5,000)."""
    trajectories_per_map: int | None = 7
    """Expert trajectories per map (the paper's 7), or ``None`` for every free cell."""
    dataset: str | None = None
    """Path of a data set from ``python -m train.make_dataset``; built in memory if ``None``."""
    init: str | None = None
    """SB3 zip or BC ``checkpoint.pt`` whose policy weights start training (the same architecture;
    a planner's weights fit every map size, so a run on large maps can start from one on small
    ones). Ignored when a run resumes: its checkpoint holds the weights."""
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
    """VIN: value-iteration steps; GPPN: iterations; default the paper's K for the map size."""
    ch_h: int = 150
    """VIN: hidden reward channels; GPPN: LSTM channels per cell; FCN: channels of its first two layers."""
    ch_q: int = 10
    """VIN: Q channels; FCN: channels of its last layer."""
    kernel_size: int = 3
    """VIN: value-iteration kernel; GPPN: the gather convolution's kernel."""
    k_min: int | None = None
    """VIN (tied) / GPPN: train each batch with K drawn uniformly from ``[k_min, k]`` (``None``:
    always ``k``), so that the planner meets more than one K in training, as a remedy for a
    recurrence that drifts when run past the K it was trained with."""
    tied: bool = True
    """VIN: one pair of VI kernels for all iterations; ``False`` unties them (one pair per iteration)."""
    plan_k: int | None = None
    """VIN: iterations when acting (validation, rollouts, ``predict``; saved with the model); default ``k``."""
    plan_tol: float | None = None
    """VIN: when acting, stop value iteration once no value changes by more than this (0: at its
    fixed point, so paths longer than ``k`` are planned); ``None``: always ``plan_k`` iterations."""
    val_maps: int = 200
    """Validation maps (env seeds from ``VAL_SEED``) for accuracy and success each epoch."""
    seed: int = 0
    """Seeds torch, the map order, and the first training map."""
    threads: int = 2
    """Torch CPU threads."""
    device: str = "cpu"
    """Torch device to train on: ``cpu``, ``cuda`` (``cuda:N``), or ``auto`` (CUDA when there is one)."""

    def __post_init__(self) -> None:
        check_types(self)
        self.check_vin_settings()
        check_choice("policy", self.policy, ("vin", "gppn", "cnn", "fcn"))
        check_choice("optimizer", self.optimizer, ("rmsprop", "adam"))
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_choice("loss", self.loss, ("expert", "optimal_set"))
        check_positive(self, ("n_maps", "epochs", "batch_size", "val_maps", "threads", "kernel_size", "ch_h", "ch_q"))
        check_positive(self, [n for n in ("trajectories_per_map", "k", "plan_k") if getattr(self, n) is not None])
        if self.k_min is not None:
            if self.policy not in ("vin", "gppn") or (self.policy == "vin" and not self.tied):
                raise ValueError(f"k_min={self.k_min} draws K per batch: it needs policy=vin (tied) or gppn")
            if self.k_min < 1 or (self.k is not None and self.k_min > self.k):
                raise ValueError(f"k_min must lie in [1, k={self.k}], got {self.k_min}")
        if self.plan_tol is not None and self.plan_tol < 0:
            raise ValueError(f"plan_tol must be >= 0 or None, got {self.plan_tol}")
        if (self.plan_k is not None or self.plan_tol is not None) and (self.policy != "vin" or not self.tied):
            raise ValueError("plan_k and plan_tol set a tied VIN's planning when acting: they need policy=vin, tied")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        check_device(self.device)
        if self.seed < 0 or self.seed + self.n_maps > VAL_SEED:
            raise ValueError(f"training seeds [{self.seed}, {self.seed + self.n_maps}) must lie in [0, {VAL_SEED})")


def build_model(cfg: BCConfig) -> PPO:
    """An SB3 PPO model holding the policy to clone into (saved and loaded as a PPO zip)."""
    policy_kwargs: dict[str, Any] = {}
    if cfg.policy == "vin":
        extractor, head = cfg.vin_kwargs()
        policy_kwargs["features_extractor_kwargs"] = {
            "k": cfg.k,
            "ch_h": cfg.ch_h,
            "ch_q": cfg.ch_q,
            "kernel_size": cfg.kernel_size,
            "tied": cfg.tied,
            "inference_k": cfg.plan_k,
            "inference_tol": cfg.plan_tol,
            **extractor,
        }
        policy_kwargs.update(head)
    elif cfg.policy == "gppn":
        policy_kwargs["features_extractor_kwargs"] = {"k": cfg.k, "ch_h": cfg.ch_h, "kernel_size": cfg.kernel_size}
    elif cfg.policy == "fcn":
        policy_kwargs["features_extractor_kwargs"] = {"ch_h": cfg.ch_h, "ch_q": cfg.ch_q}
    policies: dict[str, type[ActorCriticPolicy]] = {
        "vin": VINPolicy,
        "gppn": GPPNPolicy,
        "cnn": CNNPolicy,
        "fcn": FCNPolicy,
    }
    policy = policies[cfg.policy]
    device = resolve_device(cfg.device)
    return PPO(policy, gym.make(cfg.env_id), policy_kwargs=policy_kwargs, seed=cfg.seed, device=device, verbose=0)


@contextlib.contextmanager
def conv_backend(policy: str) -> Iterator[None]:
    """The convolution backend for training ``policy``: oneDNN (mkldnn) off for VIN.

    A VIN's convolutions are tiny (one map, one to ten channels) and oneDNN's per-call cost
    dominates them (BENCHMARKS.md: the shipped agents' epochs took 1.75 / 6.1 / 26.9 s with it
    off, 1.9 / 10.6 / 44 s in earlier runs with it on, under other load). The CNN and FCN
    baselines have large convolutions and keep it.
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


def bc_loss(
    policy: ActorCriticPolicy, obs: dict[str, torch.Tensor], actions: torch.Tensor, optimal: torch.Tensor, kind: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the policy's action distribution; returns (loss, tie-aware hits)."""
    # SB3's get_distribution, without torch's argument validation, so that a diverged network's
    # non-finite logits reach the divergence check instead of raising inside torch.
    features = policy.extract_features(obs, policy.pi_features_extractor)
    assert isinstance(features, torch.Tensor), "one features extractor gives one tensor"
    logits = policy.action_net(policy.mlp_extractor.forward_actor(features))
    log_probs = logits - logits.logsumexp(dim=-1, keepdim=True)  # as torch's Categorical normalises
    if kind == "expert":
        loss = -log_probs.gather(1, actions[:, None]).mean()
    else:
        loss = -torch.logsumexp(log_probs.masked_fill(~optimal, -math.inf), dim=1).mean()
    hits = optimal.gather(1, log_probs.argmax(dim=1, keepdim=True))[:, 0]
    return loss, hits


def _save_checkpoint(
    path: str,
    model: PPO,
    opt: torch.optim.Optimizer,
    cfg: BCConfig,
    epoch: int,
    history: list[dict[str, float]],
    train_seconds: float,
) -> None:
    save_state(
        path,
        {
            "format": CHECKPOINT_FORMAT,
            "config": asdict(cfg),
            "epoch": epoch,
            "history": history,
            "train_seconds": train_seconds,
            "policy": model.policy.state_dict(),
            "optimizer": opt.state_dict(),
        },
    )


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read a BC checkpoint; ``ValueError`` for a corrupt or foreign file."""
    return load_state(path, CHECKPOINT_FORMAT, "BC")


def trained_seconds(path: str) -> float | None:
    """Wall seconds the run of the BC checkpoint at ``path`` has trained over all its calls (its
    epochs and their validation), or ``None`` for a checkpoint written before this was kept."""
    seconds = load_checkpoint(path).get("train_seconds")
    return None if seconds is None else float(seconds)


#: A batch loss above this (or not finite) stops BC. With 8 actions the first loss is about
#: ln 8 = 2.1; early spikes to a few hundred happen (the CNN under RMSprop) and recover, while a
#: run that diverged (the VIN at 64x64 under the defaults) reached 3e14 by its second batch.
MAX_LOSS = 1e4


_DIVERGENCE_HINT = "Try a lower lr, max_grad_norm, optimizer=adam, or the settings of hyperparams/bc.yml for {}."


def resolve_init_path(path: str) -> str:
    """``path`` as given when it exists; a relative path into the package (the settings files'
    ``init: agents/pretrained/<name>.zip``) found from any working directory.

    :raises FileNotFoundError: naming every place looked at.
    """
    if os.path.exists(path):
        return path
    tried = [path]
    if not os.path.isabs(path):
        beside_package = os.path.join(PACKAGE_PARENT, path)
        if os.path.exists(beside_package):
            return beside_package
        tried.append(beside_package)
    raise FileNotFoundError(f"no model to initialise from at {' or '.join(tried)}")


def init_sha256(path: str) -> str:
    """The SHA-256 (hex) of the model file an ``init`` setting names (found as
    :func:`resolve_init_path` finds it): what a run started from, whatever its path."""
    digest = hashlib.sha256()
    with open(resolve_init_path(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def init_policy(model: OnPolicyAlgorithm, path: str) -> None:
    """Copy the policy weights of an SB3 zip or a BC checkpoint into ``model`` (same architecture).

    A relative ``path`` missing from the working directory is looked up beside the ``agents``
    package, so the settings files' ``agents/pretrained/...`` starts work from anywhere.
    """
    path = resolve_init_path(path)
    if path.endswith(".pt"):
        state = load_checkpoint(path)["policy"]
    else:
        from agents.zoo import load_model

        state = load_model(path).policy.state_dict()
    try:
        model.policy.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(
            f"the policy in {path} does not match this run's policy (policy, k, ch_h, ch_q, "
            f"reward_kernel, center_q): {exc}"
        ) from exc


class DivergenceError(ValueError):
    """BC's loss became non-finite or exploded; the run stops and keeps its last good checkpoint."""


def training_data(cfg: BCConfig) -> ExpertDataset:
    """The expert data of ``cfg``: its ``dataset`` file, checked against the env and the held-out
    seeds, or a data set built in memory from env seeds ``[seed, seed + n_maps)``."""
    size, spec = env_size(cfg.env_id), env_spec(cfg.env_id)
    if cfg.dataset is None:
        data = make_dataset(size, cfg.n_maps, cfg.trajectories_per_map, cfg.seed, spec)
    else:
        data = ExpertDataset.load(cfg.dataset)
        if data.size != size:
            raise ValueError(
                f"data set {cfg.dataset} has {data.size}x{data.size} maps, env {cfg.env_id} has {size}x{size}"
            )
        family = data.meta.get("spec", {}).get("family", "obstacles")  # files from before mazes: obstacles
        if family != map_family(spec):
            raise ValueError(
                f"data set {cfg.dataset} holds {family} maps, env {cfg.env_id} has {map_family(spec)} maps"
            )
        hi = int(data.meta.get("seed", 0)) + data.n_maps
        if hi > VAL_SEED:
            raise ValueError(f"data set {cfg.dataset} uses env seeds up to {hi}, overlapping the validation seeds")
    if len(data) == 0:
        raise ValueError("the expert data set is empty")
    return data


def make_optimizer(cfg: BCConfig, policy: torch.nn.Module) -> torch.optim.Optimizer:
    """RMSprop (the paper's, eps 1e-6) or Adam over the policy's parameters."""
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(policy.parameters(), lr=cfg.lr, eps=1e-6)
    return torch.optim.Adam(policy.parameters(), lr=cfg.lr)


def restore_checkpoint(
    path: str, cfg: BCConfig, model: PPO, opt: torch.optim.Optimizer
) -> tuple[int, list[dict[str, float]], float]:
    """Load a BC checkpoint into ``model`` and ``opt``; return (epochs done, history, wall seconds
    trained so far: 0 for a checkpoint written before they were kept).

    :raises ValueError: a foreign checkpoint, or one written with other settings (naming them).
    """
    state = load_checkpoint(path)
    check_resume_settings(path, with_defaults(BCConfig, state["config"]), asdict(cfg))
    model.policy.load_state_dict(state["policy"])
    opt.load_state_dict(state["optimizer"])
    return int(state["epoch"]), list(state["history"]), float(state.get("train_seconds") or 0.0)


class _Tensors:
    """The data set as torch tensors (images once per map, states, labels)."""

    def __init__(self, data: ExpertDataset) -> None:
        self.images = torch.from_numpy(observation_images(data.obstacles, data.goals.astype(np.int64), np.float32))
        self.map_index = torch.from_numpy(data.map_index).long()
        self.positions = torch.from_numpy(data.states.astype(np.int64))
        self.actions = torch.from_numpy(data.actions.astype(np.int64))
        self.optimal = torch.from_numpy(data.optimal)


def train_epoch(
    cfg: BCConfig,
    epoch: int,
    policy: Any,
    opt: torch.optim.Optimizer,
    data: ExpertDataset,
    tensors: _Tensors,
    bar: Any = None,
) -> tuple[float, float]:
    """One pass over the data in the seeded map order of ``epoch``; return (mean loss, accuracy).

    :raises DivergenceError: a batch loss that is not finite or above :data:`MAX_LOSS`.
    """
    policy.train()
    total_loss = total_hits = n = 0.0
    batches = map_batches(data, cfg.batch_size, np.random.default_rng([cfg.seed, epoch]))
    with random_k(policy, cfg.k_min, np.random.default_rng([cfg.seed, epoch, 1])) as draw_k:
        for b, idx_np in enumerate(batches):
            draw_k()
            loss, hits = _train_batch(cfg, epoch, b, len(batches), policy, opt, tensors, idx_np)
            total_loss += loss * idx_np.size
            total_hits += hits
            n += idx_np.size
            if bar is not None:
                bar.update(1)
    return total_loss / n, total_hits / n


@contextlib.contextmanager
def random_k(policy: Any, k_min: int | None, rng: np.random.Generator) -> Iterator[Callable[[], None]]:
    """Yield a function that gives every planner (tied VIN, GPPN) of ``policy`` a K drawn uniformly
    from ``[k_min, its K]``, for the next batch; each planner's K is restored on exit. With
    ``k_min=None`` the function does nothing."""
    planners = [(m, m.k) for m in policy.modules() if isinstance(m, VIN | GPPN)] if k_min is not None else []

    def draw() -> None:
        for planner, k in planners:
            planner.k = int(rng.integers(k_min or 1, k + 1))

    try:
        yield draw
    finally:
        for planner, k in planners:
            planner.k = k


def _train_batch(
    cfg: BCConfig,
    epoch: int,
    b: int,
    n_batches: int,
    policy: Any,
    opt: torch.optim.Optimizer,
    tensors: _Tensors,
    idx_np: np.ndarray,
) -> tuple[float, float]:
    """One optimiser step on the states ``idx_np`` (batch ``b`` of ``n_batches`` of ``epoch``);
    returns (loss, tie-aware hits).

    :raises DivergenceError: a loss that is not finite or above :data:`MAX_LOSS`, or weights that
        became non-finite.
    """
    if cfg.lr_schedule == "cosine":
        done = (epoch + b / n_batches) / cfg.epochs
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * done))
    dev = policy.device
    idx = torch.from_numpy(idx_np)
    obs = {
        "image": tensors.images[tensors.map_index[idx]].to(dev),
        "position": tensors.positions[idx].float().to(dev),
    }
    loss, hits = bc_loss(policy, obs, tensors.actions[idx].to(dev), tensors.optimal[idx].to(dev), cfg.loss)
    value = loss.item()
    if not math.isfinite(value) or value > MAX_LOSS:
        raise DivergenceError(
            f"BC diverged at epoch {epoch + 1}, batch {b + 1}: loss {value:.4g} (not finite or above {MAX_LOSS}). "
            f"Nothing of this epoch was saved. {_DIVERGENCE_HINT.format(cfg.env_id)}"
        )
    opt.zero_grad()
    loss.backward()
    if cfg.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
    opt.step()
    if not bool(torch.isfinite(torch.cat([p.detach().flatten() for p in policy.parameters()])).all()):
        raise DivergenceError(
            f"BC diverged at epoch {epoch + 1}, batch {b + 1}: the weights became non-finite (loss {value:.4g}). "
            f"Nothing of this epoch was saved. {_DIVERGENCE_HINT.format(cfg.env_id)}"
        )
    return value, float(hits.sum())


def train_bc(
    cfg: BCConfig,
    out_dir: str,
    resume: bool = False,
    progress: bool = False,
    log_dir: str | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    overwrite: bool = False,
) -> tuple[PPO, list[dict[str, float]]]:
    """Train by behaviour cloning; write ``out_dir/checkpoint.pt`` each epoch and ``out_dir/model.zip``.

    :param cfg: settings.
    :param out_dir: run folder.
    :param resume: continue from ``out_dir/checkpoint.pt`` (its settings must equal ``cfg``
        but for :data:`agents.training.config.RUNTIME_KEYS`).
    :param progress: show a progress bar (one step per batch).
    :param log_dir: TensorBoard folder (none if ``None``).
    :param on_epoch: called with (epoch, figures) after each epoch.
    :param overwrite: replace a run already in ``out_dir`` (without it, such a folder is refused).
    :return: the model and the per-epoch history (loss, accuracy, validation figures).
    :raises DivergenceError: the loss exploded (the last epoch's checkpoint stays).
    """
    ckpt_path = prepare_run_dir(out_dir, resume, overwrite)
    size = env_size(cfg.env_id)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    data = training_data(cfg)
    model = build_model(cfg)
    policy = model.policy
    opt = make_optimizer(cfg, policy)
    history: list[dict[str, float]] = []
    start, earlier = 0, 0.0
    if resume:
        start, history, earlier = restore_checkpoint(ckpt_path, cfg, model, opt)
    elif cfg.init is not None:
        init_policy(model, cfg.init)
    tensors = _Tensors(data)
    val = held_out_episodes(size, cfg.val_maps, VAL_SEED, env_spec(cfg.env_id))
    with contextlib.ExitStack() as stack:
        writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            writer = stack.enter_context(SummaryWriter(log_dir))
        bar = None
        if progress:
            from tqdm import tqdm

            per_epoch = len(map_batches(data, cfg.batch_size, np.random.default_rng([cfg.seed, 0])))  # same each epoch
            bar = stack.enter_context(
                tqdm(total=cfg.epochs * per_epoch, initial=start * per_epoch, desc=f"BC {cfg.env_id}", unit="batch")
            )
        stack.enter_context(conv_backend(cfg.policy))
        t0 = time.perf_counter()
        for epoch in range(start, cfg.epochs):
            loss, accuracy = train_epoch(cfg, epoch, policy, opt, data, tensors, bar)
            result = evaluate_act_fn(policy_act_fn(policy, val), val)
            figures = {
                "epoch": epoch + 1,
                "loss": loss,
                "train_accuracy": accuracy,
                "val_accuracy": result.action_accuracy,
                "val_success_rate": result.success_rate,
            }
            history.append(figures)
            _save_checkpoint(ckpt_path, model, opt, cfg, epoch + 1, history, earlier + time.perf_counter() - t0)
            if writer is not None:
                _log_epoch(writer, cfg, policy, figures)
            if bar is not None:
                bar.set_postfix(
                    epoch=epoch + 1,
                    loss=f"{loss:.3f}",
                    acc=f"{result.action_accuracy:.3f}",
                    success=f"{result.success_rate:.3f}",
                )
            if on_epoch is not None:
                on_epoch(epoch + 1, figures)
    with atomic_path(os.path.join(out_dir, "model.zip")) as tmp:
        model.save(tmp)
    return model, history


def _log_epoch(writer: Any, cfg: BCConfig, policy: Any, figures: dict[str, float]) -> None:
    """TensorBoard scalars of an epoch, and for a VIN the planner at work on the first validation map."""
    epoch = int(figures["epoch"])
    for key, value in figures.items():
        if key != "epoch":
            writer.add_scalar(f"bc/{key}", value, epoch)
    if cfg.policy == "vin":
        from agents.pictures import planner_pictures

        grid, _, _ = planner_pictures(policy, cfg.env_id, VAL_SEED)
        writer.add_image("bc/planner_reward_then_values", grid, epoch, dataformats="HWC")


def load_bc_config(env_id: str, config_path: str | None = BC_CONFIG, overrides: Sequence[str] = ()) -> Any:
    """The BC settings of ``env_id`` (:class:`agents.training.bc.BCConfig`): YAML section, then overrides."""
    return load_config(BCConfig, "BC", env_id, config_path, None, overrides)
