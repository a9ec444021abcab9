"""PPO and MaskablePPO on the batched VINGrid env, with a start-distance curriculum,
initialisation from a BC model, success-rate evaluation and exact resume.

* Training envs: one :class:`~gridworld_env.vector.VINGridVecEnv` of ``n_envs`` envs
  seeded ``seed + i``. Evaluation: SB3's ``EvalCallback`` (``eval/success_rate``) on the
  validation maps (env seeds from :data:`~agents.evaluation.VAL_SEED`, the same maps at
  every evaluation), plus ``eval/paper_success_rate`` under the paper's protocol.
* Curriculum (``curriculum=True``): episodes start at most ``d`` moves from the goal, with
  ``d`` growing linearly from 1 to ``2 * size`` over the first ``curriculum_fraction`` of
  training; after that starts are drawn as usual.
* Checkpoints: ``out_dir/checkpoint.pt`` holds the SB3 model (policy, optimiser, step
  counter), the env state, the last observation and the numpy / torch / python RNG states,
  written atomically at rollout boundaries. ``resume=True`` continues from it, and equals
  an uninterrupted run (a resumed run may raise ``total_timesteps``).
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.buffers import MaskableDictRolloutBuffer
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from agents.evaluation import VAL_SEED, evaluate_act_fn, held_out_episodes, policy_act_fn
from agents.policies import GPPNPolicy, MaskableGPPNPolicy, MaskableVINPolicy, VINPolicy
from agents.policies.baselines import CNNPolicy, FCNPolicy, MaskableCNNPolicy, MaskableFCNPolicy
from agents.training.bc import init_policy, init_sha256
from agents.training.checkpoints import load_state, prepare_run_dir, save_state
from agents.training.config import (
    PPO_CONFIG,
    VINSettings,
    check_choice,
    check_device,
    check_positive,
    check_resume_settings,
    check_types,
    load_config,
    resolve_device,
)
from agents.training.config import with_defaults as config_with_defaults
from gridworld_env import env_size, env_spec
from gridworld_env.atomic import atomic_path
from gridworld_env.vector import VINGridVecEnv

CHECKPOINT_FORMAT = "vingrid-ppo-checkpoint-v1"

#: (policy name, masked) -> SB3 policy class or name.
POLICIES: dict[tuple[str, bool], Any] = {
    ("vin", False): VINPolicy,
    ("vin", True): MaskableVINPolicy,
    ("gppn", False): GPPNPolicy,
    ("gppn", True): MaskableGPPNPolicy,
    ("cnn", False): CNNPolicy,
    ("cnn", True): MaskableCNNPolicy,
    ("fcn", False): FCNPolicy,
    ("fcn", True): MaskableFCNPolicy,
    ("mlp", False): "MultiInputPolicy",
    ("mlp", True): "MultiInputPolicy",
}


@dataclass
class PPOConfig(VINSettings):
    """PPO settings (one YAML section per env id in ``hyperparams/ppo.yml``); the VIN's planner and
    head settings come from :class:`agents.training.config.VINSettings`."""

    env_id: str = "VINGrid-16x16-v0"
    """Registered env whose maps are used."""
    policy: str = "vin"
    """``vin``, ``cnn`` (the paper's CNN), ``fcn`` (the paper's FCN) or ``mlp``."""
    masked: bool = False
    """MaskablePPO with the env's ``action_masks`` (no moves into obstacles) instead of PPO."""
    curriculum: bool = False
    """Start episodes near the goal and widen (see the module docstring)."""
    curriculum_fraction: float = 0.5
    """Fraction of ``total_timesteps`` over which the curriculum widens."""
    init: str | None = None
    """SB3 zip (e.g. a BC model) or BC ``checkpoint.pt`` whose policy weights start training."""
    total_timesteps: int = 200_000
    """Env steps of training."""
    n_envs: int = 16
    """Parallel envs in the batched env."""
    max_steps: int | None = None
    """Episode step limit; ``None`` for the env's default (4 x size^2)."""
    n_steps: int = 64
    """Steps per env per rollout."""
    batch_size: int = 256
    """PPO minibatch size."""
    n_epochs: int = 4
    """PPO epochs per rollout."""
    lr: float = 3e-4
    """Adam learning rate (at the start, under ``lr_schedule``)."""
    lr_schedule: str = "constant"
    """``constant``, or ``linear``: from ``lr`` down to ``lr * lr_final`` at ``total_timesteps``."""
    lr_final: float = 0.0
    """Fraction of ``lr`` that a ``linear`` schedule ends at."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO clip range."""
    ent_coef: float = 0.01
    """Entropy bonus."""
    value_gradients: bool = True
    """VIN: let the critic's loss train the VIN too (``False``: the value head reads the VIN's
    features without training it; see :class:`agents.policies.vin.VINPolicy`)."""
    center_q: bool = False
    """VIN: the action head reads Q minus its largest entry (see :class:`agents.policies.vin.CenteredQ`)."""
    group_minibatches: bool = True
    """Minibatches of whole episodes rather than single steps, so the steps of a map share
    one value iteration (VIN and FCN plan once per distinct map in a minibatch)."""
    k: int | None = None
    """VIN value-iteration steps or GPPN iterations (default: the paper's K for the size)."""
    ch_h: int = 150
    """VIN hidden reward channels, or GPPN LSTM channels per cell."""
    ch_q: int = 10
    """VIN Q channels; VIN only."""
    bf16: bool = False
    """CNN: run its convolutions in bfloat16 (see :class:`agents.policies.baselines.CNNExtractor`);
    about 2x faster updates on CPUs with AVX-512 BF16; CNN only."""
    eval_freq: int = 20_000
    """Env steps between evaluations."""
    eval_episodes: int = 200
    """Validation maps per evaluation."""
    checkpoint_freq: int = 20_000
    """Env steps between checkpoints (one is always written at the end)."""
    seed: int = 0
    """Seeds torch, numpy, the training envs (``seed + i``) and PPO."""
    threads: int = 2
    """Torch CPU threads."""
    device: str = "cpu"
    """Torch device for the model: ``cpu``, ``cuda`` (``cuda:N``), or ``auto`` (CUDA when there is one)."""

    def __post_init__(self) -> None:
        check_types(self)
        check_choice("policy", self.policy, sorted({p for p, _ in POLICIES}))
        check_choice("lr_schedule", self.lr_schedule, ["constant", "linear"])
        self.check_vin_settings()
        if not 0 <= self.lr_final <= 1:
            raise ValueError(f"lr_final must be in [0, 1], got {self.lr_final}")
        check_positive(
            self,
            (
                "total_timesteps",
                "n_envs",
                "n_steps",
                "batch_size",
                "n_epochs",
                "eval_freq",
                "eval_episodes",
                "checkpoint_freq",
                "threads",
                "ch_h",
                "ch_q",
            ),
        )
        if self.k is not None:
            check_positive(self, ("k",))
        if self.bf16 and self.policy != "cnn":
            raise ValueError(
                f"bf16=True runs the CNN's convolutions in bfloat16: it needs policy='cnn', got {self.policy!r}"
            )
        check_device(self.device)
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.curriculum_fraction <= 1:
            raise ValueError(f"curriculum_fraction must be in (0, 1], got {self.curriculum_fraction}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        env_size(self.env_id)


#: Settings that reach only the VIN policy (the CNN and FCN ignore them).
VIN_ONLY_KEYS = (
    *(f.name for f in dataclasses.fields(VINSettings)),
    "center_q",
    "value_gradients",
    "ch_q",
    "ch_h",
    "k",
)


#: The settings of :data:`VIN_ONLY_KEYS` that the GPPN reads too (iterations, channels per cell).
GPPN_KEYS = ("k", "ch_h")


def effective_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as the policy sees them: without :data:`VIN_ONLY_KEYS` unless the policy is the VIN,
    so that a CNN run is the same run whatever those keys say."""
    if settings.get("policy") == "vin":
        return dict(settings)
    keep = GPPN_KEYS if settings.get("policy") == "gppn" else ()
    return {k: v for k, v in settings.items() if k not in VIN_ONLY_KEYS or k in keep}


def with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored PPO settings with the fields added since they were written set to their defaults."""
    return config_with_defaults(PPOConfig, stored)


def batched_env(env: VecEnv) -> VINGridVecEnv:
    """The :class:`VINGridVecEnv` under SB3's VecEnv wrappers."""
    inner = env.unwrapped
    if not isinstance(inner, VINGridVecEnv):
        raise ValueError(f"expected a VINGridVecEnv under the wrappers, got {type(inner).__name__}")
    return inner


def curriculum_distance(cfg: PPOConfig, timesteps: int) -> int | None:
    """The start-distance limit after ``timesteps`` env steps (``None``: no limit)."""
    span = cfg.curriculum_fraction * cfg.total_timesteps
    if not cfg.curriculum or timesteps >= span:
        return None
    return 1 + int((2 * env_size(cfg.env_id) - 1) * timesteps / span)


class LinearSchedule:
    """SB3 learning-rate schedule: ``start`` at the beginning of training, ``start * final`` at its end.

    A class rather than a closure, so a saved model's schedule is pickled by reference.
    """

    def __init__(self, start: float, final: float) -> None:
        self.start, self.final = start, final

    def __call__(self, progress_remaining: float) -> float:
        return self.start * (self.final + (1.0 - self.final) * progress_remaining)


def learning_rate(cfg: PPOConfig) -> float | LinearSchedule:
    """The ``learning_rate`` argument of SB3 for ``cfg`` (a float, or a schedule)."""
    return cfg.lr if cfg.lr_schedule == "constant" else LinearSchedule(cfg.lr, cfg.lr_final)


def build_ppo(cfg: PPOConfig, env: Any) -> OnPolicyAlgorithm:
    """A fresh PPO or MaskablePPO model on ``env`` with the configured policy."""
    kwargs: dict[str, Any] = {}
    if cfg.policy == "vin":
        extractor, head = cfg.vin_kwargs()
        kwargs["features_extractor_kwargs"] = {"k": cfg.k, "ch_h": cfg.ch_h, "ch_q": cfg.ch_q, **extractor}
        kwargs["value_gradients"] = cfg.value_gradients
        kwargs["center_q"] = cfg.center_q
        kwargs.update(head)
    elif cfg.policy == "gppn":
        kwargs["features_extractor_kwargs"] = {"k": cfg.k, "ch_h": cfg.ch_h}
    elif cfg.bf16:
        kwargs["features_extractor_kwargs"] = {"bf16": True}
    algo = MaskablePPO if cfg.masked else PPO
    buffer = None
    if cfg.group_minibatches:
        buffer = MaskableMapGroupedDictRolloutBuffer if cfg.masked else MapGroupedDictRolloutBuffer
    return algo(
        POLICIES[cfg.policy, cfg.masked],
        env,
        rollout_buffer_class=buffer,
        learning_rate=learning_rate(cfg),
        n_steps=cfg.n_steps,
        batch_size=cfg.batch_size,
        n_epochs=cfg.n_epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef,
        policy_kwargs=kwargs,
        seed=cfg.seed,
        device=resolve_device(cfg.device),
        verbose=0,
    )


def map_grouped_order(episode_starts: np.ndarray) -> np.ndarray:
    """A minibatch order that shuffles whole episodes instead of single steps.

    :param episode_starts: (n_steps, n_envs) flags of a rollout buffer.
    :return: indices into the env-major flattened buffer: the steps of each episode segment
        stay together (so they share one map and one value iteration), segments in random
        order (numpy's global generator, as SB3's own shuffle).
    """
    n_steps, n_envs = episode_starts.shape
    starts = episode_starts.T.reshape(-1) > 0
    starts[::n_steps] = True
    segment = np.cumsum(starts) - 1
    rank = np.random.permutation(int(segment[-1]) + 1)
    return np.argsort(rank[segment], kind="stable")


class _MapGroupedGet:
    """Rollout-buffer mixin: minibatches of whole episodes (see :func:`map_grouped_order`).

    It re-implements SB3's ``RolloutBuffer.get`` (a private method) with another order.
    ``tests/test_ppo.py::test_map_grouped_buffer_yields_exactly_what_sb3s_buffer_holds`` fails if
    SB3 changes what its buffer holds or how it flattens it.
    """

    _tensor_names: tuple[str, ...] = ("actions", "values", "log_probs", "advantages", "returns")
    full: bool
    generator_ready: bool
    episode_starts: np.ndarray
    observations: dict[str, np.ndarray]
    buffer_size: int
    n_envs: int
    swap_and_flatten: Any
    _get_samples: Any

    def get(self, batch_size: int | None = None) -> Any:
        assert self.full, "the rollout buffer is not full"
        order = map_grouped_order(self.episode_starts)
        if not self.generator_ready:
            for key, obs in self.observations.items():
                self.observations[key] = self.swap_and_flatten(obs)
            for name in self._tensor_names:
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True
        total = self.buffer_size * self.n_envs
        batch_size = batch_size or total
        for start in range(0, total, batch_size):
            yield self._get_samples(order[start : start + batch_size])


class MapGroupedDictRolloutBuffer(_MapGroupedGet, DictRolloutBuffer):  # type: ignore[misc]
    """SB3's ``DictRolloutBuffer`` with episode-grouped minibatches."""


class MaskableMapGroupedDictRolloutBuffer(_MapGroupedGet, MaskableDictRolloutBuffer):  # type: ignore[misc]
    """sb3-contrib's ``MaskableDictRolloutBuffer`` with episode-grouped minibatches."""

    _tensor_names = (*_MapGroupedGet._tensor_names, "action_masks")


#: PPO's update figures kept with each evaluation in a run's history (SB3's ``train/`` keys of the
#: last update before it): why a run that does not learn fails.
UPDATE_FIGURES = ("value_loss", "explained_variance", "entropy_loss", "approx_kl", "clip_fraction")


class _Checkpoint(BaseCallback):
    """Curriculum updates and checkpoints at rollout boundaries."""

    def __init__(self, cfg: PPOConfig, path: str, extra: dict[str, Any], evaluation: EvalCallback) -> None:
        super().__init__()
        self.cfg, self.path, self.extra, self.evaluation = cfg, path, extra, evaluation
        self.next_save = (extra.get("last_save", 0) // cfg.checkpoint_freq + 1) * cfg.checkpoint_freq

    def keep_last_update(self) -> None:
        """Keep the figures of the update that just ended (SB3 records them after the iteration's
        log dump) for each evaluation of the next rollout and in the checkpoint, so a resumed run
        logs what an uninterrupted one does."""
        figures = self.model.logger.name_to_value
        self.extra["last_update"].update(
            {k: float(figures[f"train/{k}"]) for k in UPDATE_FIGURES if f"train/{k}" in figures}
        )

    def _on_rollout_start(self) -> None:
        self.keep_last_update()
        batched_env(self.training_env).set_max_start_distance(curriculum_distance(self.cfg, self.num_timesteps))
        if self.num_timesteps >= self.next_save:
            self.extra["best_mean_reward"] = float(self.evaluation.best_mean_reward)
            save_checkpoint(self.path, typing.cast(OnPolicyAlgorithm, self.model), self.cfg, self.extra)
            self.next_save = (self.num_timesteps // self.cfg.checkpoint_freq + 1) * self.cfg.checkpoint_freq

    def _on_step(self) -> bool:
        return True


def _eval_callback(
    cfg: PPOConfig,
    out_dir: str,
    history: list[dict[str, float]],
    on_eval: Callable[[dict[str, float]], None] | None,
    last_update: dict[str, float],
) -> EvalCallback:
    size = env_size(cfg.env_id)
    n_eval_envs = min(cfg.eval_episodes, 50)
    spec = env_spec(cfg.env_id)
    eval_env = VecMonitor(VINGridVecEnv(n_eval_envs, size=size, max_steps=cfg.max_steps, spec=spec))
    paper_maps = held_out_episodes(size, cfg.eval_episodes, VAL_SEED, spec)
    base = MaskableEvalCallback if cfg.masked else EvalCallback

    class SuccessEval(base):  # type: ignore[valid-type, misc]
        """EvalCallback on the same validation maps each time, plus the paper-protocol success."""

        def _on_step(self) -> bool:
            due = self.eval_freq > 0 and self.n_calls % self.eval_freq == 0
            if due:
                self.eval_env.seed(VAL_SEED)
            keep_going = super()._on_step()
            if due:
                paper = evaluate_act_fn(policy_act_fn(self.model.policy, paper_maps), paper_maps)
                self.logger.record("eval/paper_success_rate", paper.success_rate)
                history.append(
                    {
                        "timesteps": self.num_timesteps,
                        "success_rate": float(np.mean(self._is_success_buffer)),
                        "mean_reward": float(self.last_mean_reward),
                        "paper_success_rate": paper.success_rate,
                        **last_update,
                    }
                )
                if on_eval is not None:
                    on_eval(dict(history[-1]))
            return keep_going

    return SuccessEval(
        eval_env,
        n_eval_episodes=cfg.eval_episodes,
        eval_freq=max(1, cfg.eval_freq // cfg.n_envs),
        best_model_save_path=out_dir,
        deterministic=True,
        verbose=0,
    )


def _rng_state() -> dict[str, Any]:
    return {"numpy": np.random.get_state(), "torch": torch.get_rng_state(), "python": random.getstate()}


def save_checkpoint(path: str, model: OnPolicyAlgorithm, cfg: PPOConfig, extra: dict[str, Any]) -> None:
    """Write the whole training state atomically (see the module docstring)."""
    buffer = io.BytesIO()
    model.save(buffer)
    env = model.get_env()
    assert env is not None, "the model has no env: checkpoints are written during training"
    extra["last_save"] = model.num_timesteps
    if "_clock" in extra:  # wall time of training, summed over the sessions of a resumed run
        start, before = extra["_clock"]
        extra["train_seconds"] = before + time.perf_counter() - start
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": asdict(cfg),
        "model": buffer.getvalue(),
        "env": batched_env(env).state_dict(),
        "last_obs": model._last_obs,
        "last_episode_starts": model._last_episode_starts,
        "num_timesteps": model.num_timesteps,
        "episode_num": model._episode_num,
        "rng": _rng_state(),
        "extra": extra,
    }
    save_state(path, state)


def load_ppo_checkpoint(path: str) -> dict[str, Any]:
    """Read a PPO checkpoint; ``ValueError`` for a corrupt or foreign file."""
    return load_state(path, CHECKPOINT_FORMAT, "PPO", weights_only=False)


def train_ppo(
    cfg: PPOConfig,
    out_dir: str,
    resume: bool = False,
    progress: bool = False,
    log_dir: str | None = None,
    overwrite: bool = False,
    on_eval: Callable[[dict[str, float]], None] | None = None,
) -> tuple[OnPolicyAlgorithm, list[dict[str, float]]]:
    """Train with PPO / MaskablePPO; write ``out_dir/checkpoint.pt`` and ``out_dir/model.zip``.

    :param cfg: settings.
    :param out_dir: run folder (also receives EvalCallback's ``best_model.zip``).
    :param resume: continue from ``out_dir/checkpoint.pt`` (same settings but ``total_timesteps``
        and :data:`agents.training.config.RUNTIME_KEYS`).
    :param progress: show SB3's progress bar.
    :param log_dir: TensorBoard folder (none if ``None``).
    :param overwrite: replace a run already in ``out_dir`` (without it, such a folder is refused).
    :param on_eval: called with the figures of each evaluation (an entry of the history), e.g. to
        report them to a sweep runner.
    :return: the model and the evaluation history (timesteps, success rates, mean reward).
    """
    ckpt = prepare_run_dir(out_dir, resume, overwrite)
    torch.set_num_threads(cfg.threads)
    size = env_size(cfg.env_id)
    env = VecMonitor(
        VINGridVecEnv(cfg.n_envs, size=size, max_steps=cfg.max_steps, seed=cfg.seed, spec=env_spec(cfg.env_id))
    )
    extra: dict[str, Any] = {"history": []}
    if resume:
        state = load_ppo_checkpoint(ckpt)
        check_resume_settings(
            ckpt,
            effective_settings(with_defaults(state["config"])),
            effective_settings(asdict(cfg)),
            may_differ=("total_timesteps",),
        )
        algo = MaskablePPO if cfg.masked else PPO
        model: OnPolicyAlgorithm = algo.load(io.BytesIO(state["model"]), env=env, device=resolve_device(cfg.device))
        batched_env(env).load_state_dict(state["env"])
        model._last_obs = state["last_obs"]
        model._last_episode_starts = state["last_episode_starts"]
        model.num_timesteps = state["num_timesteps"]
        model._episode_num = state["episode_num"]
        extra = state["extra"]
        started_from = extra.get("init_sha256")
        if cfg.init is not None and started_from is not None and started_from != init_sha256(cfg.init):
            raise ValueError(
                f"{ckpt} started from another {cfg.init} than the file there now (its SHA-256 changed): "
                "put the run's start model back, or start a new run (another --out, or --overwrite)"
            )
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
    else:
        model = build_ppo(cfg, env)
        if cfg.init is not None:
            init_policy(model, cfg.init)
            extra["init_sha256"] = init_sha256(cfg.init)
    if log_dir is not None:
        from stable_baselines3.common.logger import configure

        model.set_logger(configure(log_dir, ["tensorboard"]))
    extra["_clock"] = (time.perf_counter(), float(extra.get("train_seconds", 0.0)))
    history: list[dict[str, float]] = extra["history"]
    evaluation = _eval_callback(cfg, out_dir, history, on_eval, extra.setdefault("last_update", {}))
    evaluation.n_calls = model.num_timesteps // cfg.n_envs
    evaluation.best_mean_reward = extra.get("best_mean_reward", -np.inf)
    checkpoint = _Checkpoint(cfg, ckpt, extra, evaluation)
    if not resume:
        batched_env(env).set_max_start_distance(curriculum_distance(cfg, 0))
    remaining = cfg.total_timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(
            remaining,
            callback=CallbackList([checkpoint, evaluation]),
            reset_num_timesteps=not resume,
            progress_bar=progress,
        )
        checkpoint.keep_last_update()
    extra["best_mean_reward"] = float(evaluation.best_mean_reward)
    save_checkpoint(ckpt, model, cfg, extra)
    with atomic_path(os.path.join(out_dir, "model.zip")) as tmp:
        model.save(tmp)
    return model, history


def load_ppo_config(
    env_id: str,
    config_path: str | None = PPO_CONFIG,
    flags: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> Any:
    """The PPO settings of ``env_id`` (:class:`agents.training.ppo.PPOConfig`): YAML section, flags, overrides."""
    return load_config(PPOConfig, "PPO", env_id, config_path, flags, overrides)
