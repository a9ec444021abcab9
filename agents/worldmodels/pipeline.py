"""The World Models run: four stages in one logdir, each resumable.

    logdir/config.json      the settings (a continued run must keep them)
    logdir/data/            collect: npz shards
    logdir/vae.pt           V's checkpoint (after every epoch)
    logdir/mdnrnn.pt        M's checkpoint (after every epoch)
    logdir/controller.pkl   C's CMA-ES state (after every generation)
    logdir/agent.pt         the agent (V + M + C), written when C finishes
    logdir/timings.json     wall seconds spent in each stage, over every call that ran it

Like the reference's ``--logdir``, an existing logdir is continued and ``noreload`` starts afresh;
a stage whose earlier stage has not run says which to run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any

import numpy as np
import torch

from agents.worldmodels.agent import WorldModelAgent, load_agent
from agents.worldmodels.config import STAGES, WorldModelsConfig
from agents.worldmodels.data import collect, load_shards
from agents.worldmodels.frames import encode_all
from agents.worldmodels.frames import episode_frames as draw_episode_frames
from agents.worldmodels.mdnrnn import MDNRNN, MDNRNN_FORMAT, train_mdnrnn
from agents.worldmodels.vae import VAE_FORMAT, ConvVAE, train_vae
from gridworld_env.atomic import atomic_path

#: Settings that a continued run may change: how long C trains, and the threads.
MAY_DIFFER = ("threads", "generations", "target_return")

#: Settings of C alone: a run started ``from`` another one may set them afresh.
CONTROLLER_ONLY = (
    "popsize",
    "rollouts",
    "generations",
    "sigma0",
    "target_return",
    "controller_inputs",
    "controller_hidden",
    "val_maps",
    "common_maps",
    "cma_diagonal",
    "dream",
    "temperature",
    "threads",
)

#: Files of a run (``noreload`` removes them).
RUN_FILES = ("config.json", "data", "vae.pt", "mdnrnn.pt", "controller.pkl", "agent.pt", "timings.json")


def stage_seconds(logdir: str) -> dict[str, float]:
    """Wall seconds spent so far in each stage of the run in ``logdir`` (``timings.json``)."""
    path = os.path.join(logdir, "timings.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {k: float(v) for k, v in json.load(f).items()}


def add_seconds(logdir: str, stage: str, seconds: float) -> dict[str, float]:
    """Add ``seconds`` to ``stage``'s wall time in ``logdir/timings.json``; return every stage's."""
    timings = stage_seconds(logdir)
    timings[stage] = timings.get(stage, 0.0) + seconds
    with atomic_path(os.path.join(logdir, "timings.json")) as tmp, open(tmp, "w") as f:
        json.dump(timings, f, indent=1)
    return timings


def prepare_logdir(cfg: WorldModelsConfig, logdir: str, noreload: bool = False) -> None:
    """Create or check ``logdir``: its stored settings must equal ``cfg`` but :data:`MAY_DIFFER`."""
    if noreload:
        for name in RUN_FILES:
            path = os.path.join(logdir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, "config.json")
    settings = dataclasses.asdict(cfg)
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
        # a setting added after the run was made counts as its default there
        defaults = {f.name: f.default for f in dataclasses.fields(cfg) if f.default is not dataclasses.MISSING}
        stored = {**{k: v for k, v in defaults.items() if k not in stored}, **stored}
        keys = (set(stored) | set(settings)) - set(MAY_DIFFER)
        changed = sorted(k for k in keys if stored.get(k) != settings.get(k))
        if changed:
            raise ValueError(
                f"{logdir} holds a run with other settings ({', '.join(changed)}): continue it with its "
                "own settings, start it afresh with --noreload, or choose another --logdir"
            )
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(settings, f, indent=1)


def start_from(cfg: WorldModelsConfig, logdir: str, source: str) -> None:
    """Start ``logdir`` with the data, V and M of the run in ``source`` (copied), to train another
    C on them (the paper's z-only ablation, another population ...).

    :raises FileExistsError: ``logdir`` already holds run files.
    :raises FileNotFoundError: ``source`` lacks its settings, data, V or M (train it first).
    :raises ValueError: ``cfg`` differs from ``source``'s settings in more than :data:`CONTROLLER_ONLY`.
    """
    taken = [n for n in RUN_FILES if os.path.exists(os.path.join(logdir, n))]
    if taken:
        raise FileExistsError(f"{logdir} already holds a run ({', '.join(taken)}): --from starts a new logdir")
    for name in ("config.json", "data", "vae.pt", "mdnrnn.pt"):
        if not os.path.exists(os.path.join(source, name)):
            raise FileNotFoundError(f"{source} has no {name}: train its collect, vae and mdnrnn stages first")
    with open(os.path.join(source, "config.json")) as f:
        stored = json.load(f)
    defaults = {f.name: f.default for f in dataclasses.fields(cfg) if f.default is not dataclasses.MISSING}
    stored = {**defaults, **stored}
    settings = dataclasses.asdict(cfg)
    changed = sorted(k for k in settings if k not in CONTROLLER_ONLY and stored.get(k) != settings[k])
    if changed:
        raise ValueError(
            f"{source} was trained with other settings of data, V or M ({', '.join(changed)}): "
            "--from may change only C's settings"
        )
    os.makedirs(logdir, exist_ok=True)
    for stage, seconds in stage_seconds(source).items():  # the shared stages' cost counts for this run too
        if stage != "controller":
            add_seconds(logdir, stage, seconds)
    shutil.copytree(os.path.join(source, "data"), os.path.join(logdir, "data"))
    for name in ("vae.pt", "mdnrnn.pt"):
        shutil.copy2(os.path.join(source, name), os.path.join(logdir, name))


def run_episodes(logdir: str) -> dict[str, np.ndarray]:
    """Every episode collected in ``logdir`` (see :func:`~agents.worldmodels.data.load_shards`)."""
    return load_shards(os.path.join(logdir, "data"))


def episode_frames(data: dict[str, np.ndarray], kind: str = "map") -> torch.Tensor:
    """(E, T + 1, 3, S, S) frames of every collected step (see :func:`agents.worldmodels.frames.episode_frames`)."""
    return draw_episode_frames(data["obstacles"], data["goals"], data["positions"], kind)


def load_vae(logdir: str) -> ConvVAE:
    from agents.training.checkpoints import load_state

    path = os.path.join(logdir, "vae.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no V in {logdir}: run the vae stage first (--stage vae)")
    state = load_state(path, VAE_FORMAT, "V (VAE)")
    c, _, side = state["shape"]
    vae = ConvVAE(
        c,
        side,
        state["z_dim"],
        state.get("frame", "map"),
        state.get("map_size"),
        state.get("width", 32),
        state.get("goal_blob", False),
    )
    vae.load_state_dict(state["model"])
    return vae.eval()


def load_mdnrnn(logdir: str) -> MDNRNN:
    from agents.training.checkpoints import load_state

    path = os.path.join(logdir, "mdnrnn.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no M in {logdir}: run the mdnrnn stage first (--stage mdnrnn)")
    state = load_state(path, MDNRNN_FORMAT, "M (MDN-RNN)")
    rnn = MDNRNN(state["z_dim"], state["hidden"], state["gaussians"])
    rnn.load_state_dict(state["model"])
    return rnn.eval()


def run_stage(cfg: WorldModelsConfig, logdir: str, stage: str, progress: bool = False) -> dict[str, Any]:
    """Run (or finish) one stage; return what it reports (its history, or the shard paths).
    Its wall time is added to ``logdir/timings.json``."""
    import time

    start = time.perf_counter()
    report = _run_stage(cfg, logdir, stage, progress, start)
    if stage != "controller":  # the controller stage records its own time before saving the agent
        add_seconds(logdir, stage, time.perf_counter() - start)
    return report


def _run_stage(cfg: WorldModelsConfig, logdir: str, stage: str, progress: bool, start: float) -> dict[str, Any]:
    import time

    from agents.worldmodels.controller import train_controller

    torch.set_num_threads(cfg.threads)
    if stage == "collect":
        paths = collect(cfg, os.path.join(logdir, "data"), progress)
        return {"shards": len(paths)}
    if stage == "vae":
        data = run_episodes(logdir)
        f = episode_frames(data, cfg.frame).flatten(0, 1)
        _, history = train_vae(
            f,
            cfg.z_dim,
            cfg.vae_epochs,
            cfg.vae_batch,
            cfg.vae_lr,
            cfg.kl_tolerance,
            cfg.seed,
            os.path.join(logdir, "vae.pt"),
            progress,
            cfg.frame,
            int(data["obstacles"].shape[1]),
            cfg.vae_width,
            cfg.near_weight,
            cfg.goal_weight,
            cfg.goal_blob,
        )
        return {"history": history}
    if stage == "mdnrnn":
        vae = load_vae(logdir)
        data = run_episodes(logdir)
        f = episode_frames(data, vae.frame)
        mu, logvar = (t.view(*f.shape[:2], -1) for t in encode_all(vae, f.flatten(0, 1)))
        episodes = {k: torch.from_numpy(data[k]) for k in ("actions", "rewards", "dones", "lengths")}
        _, history = train_mdnrnn(
            mu,
            logvar,
            episodes,
            cfg.hidden,
            cfg.gaussians,
            cfg.rnn_epochs,
            cfg.rnn_batch,
            cfg.rnn_lr,
            cfg.seed,
            os.path.join(logdir, "mdnrnn.pt"),
            progress,
        )
        return {"history": history}
    if stage == "controller":
        vae, rnn = load_vae(logdir), load_mdnrnn(logdir)
        starts = None
        if cfg.dream:  # C dreams from the first frames of the collected episodes
            data = run_episodes(logdir)
            first = {**data, "positions": data["positions"][:, :1]}
            starts = encode_all(vae, episode_frames(first, vae.frame).flatten(0, 1))[0]
        agent, history = train_controller(
            vae,
            rnn,
            cfg.controller_inputs,
            cfg.popsize,
            cfg.rollouts,
            cfg.generations,
            cfg.sigma0,
            cfg.target_return,
            cfg.seed,
            os.path.join(logdir, "controller.pkl"),
            progress,
            hidden=cfg.controller_hidden,
            val_maps=cfg.val_maps,
            common_maps=cfg.common_maps,
            diagonal=cfg.cma_diagonal,
            dream_starts=starts,
            temperature=cfg.temperature,
        )
        collected = int(run_episodes(logdir)["lengths"].sum())
        timings = add_seconds(logdir, "controller", time.perf_counter() - start)
        agent.info = {
            "env_id": cfg.env_id,
            "env_steps": collected + int(sum(h["env_steps"] for h in history)),
            "train_seconds": round(sum(timings.values()), 1),
            "stage_seconds": {k: round(v, 1) for k, v in timings.items()},
        }
        agent.save(os.path.join(logdir, "agent.pt"))
        return {"history": history}
    raise ValueError(f"stage must be one of {STAGES} or 'all', got {stage!r}")


def train_worldmodels(
    cfg: WorldModelsConfig,
    logdir: str,
    stage: str = "all",
    noreload: bool = False,
    progress: bool = False,
    source: str | None = None,
) -> WorldModelAgent | None:
    """Run ``stage`` (or all four in order) in ``logdir``; return the agent once C has trained.

    :param source: start ``logdir`` from this run's data, V and M (:func:`start_from`).
    """
    if stage != "all" and stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES} or 'all', got {stage!r}")
    if source is not None:
        if noreload:
            raise ValueError("--from starts a new logdir: it does not go with --noreload")
        start_from(cfg, logdir, source)
    prepare_logdir(cfg, logdir, noreload)
    for name in STAGES if stage == "all" else (stage,):
        run_stage(cfg, logdir, name, progress)
    path = os.path.join(logdir, "agent.pt")
    return load_agent(path) if os.path.exists(path) else None
