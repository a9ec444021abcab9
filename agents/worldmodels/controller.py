"""C: a linear controller on [z, h] (or z alone), trained with CMA-ES from the ``cma`` package.

Each generation, every candidate plays the same ``rollouts`` fresh random maps (training seeds,
never the validation or test ones) under the paper's protocol (the goal within twice the
shortest path); its fitness is the success rate there, plus a small term for how much of the
start's distance to the goal it covered, which ranks candidates that tie on success. All
candidates and maps run as one batch: one V encoding and one M step per move.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch

from agents.evaluation import held_out_episodes
from agents.worldmodels.agent import WorldModelAgent
from agents.worldmodels.frames import draw_frames
from agents.worldmodels.mdnrnn import MDNRNN
from agents.worldmodels.vae import ConvVAE
from gridworld_env.core import N_ACTIONS, move_batch, observation_images, pad_blocked

#: Env seeds of the controller's training maps start here (below the validation seeds, 10^9 - 10^6).
TRAIN_MAP_SEED = 10**8

#: Weight of the distance term in the fitness (success counts 1 per episode).
PROGRESS_WEIGHT = 0.1


def n_features(vae: ConvVAE, rnn: MDNRNN, inputs: str) -> int:
    return vae.z_dim + (rnn.hidden if inputs == "zh" else 0)


def unflatten(theta: np.ndarray, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A flat parameter vector -> (8, features) weight and (8,) bias."""
    w = torch.as_tensor(theta[: N_ACTIONS * features], dtype=torch.float32).view(N_ACTIONS, features)
    b = torch.as_tensor(theta[N_ACTIONS * features :], dtype=torch.float32)
    return w, b


@torch.no_grad()
def fitness(
    vae: ConvVAE, rnn: MDNRNN, thetas: np.ndarray, inputs: str, size: int, rollouts: int, map_seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Play every candidate of ``thetas`` (P, n) on the same ``rollouts`` maps.

    :return: per candidate, the fitness and the success rate; and the env steps taken in all.
    """
    p = thetas.shape[0]
    ep = held_out_episodes(size, rollouts, map_seed)
    features = n_features(vae, rnn, inputs)
    weights = torch.stack([unflatten(t, features)[0] for t in thetas])  # (P, 8, F)
    biases = torch.stack([unflatten(t, features)[1] for t in thetas])  # (P, 8)
    maps = np.tile(np.arange(rollouts), p)  # episode e plays map e % rollouts for candidate e // rollouts
    cand = np.repeat(np.arange(p), rollouts)
    n = maps.size
    padded = pad_blocked(ep.obstacles)
    images = torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32))
    rows, cols = ep.starts[maps, 0].copy(), ep.starts[maps, 1].copy()
    start_dist = ep.distances[maps, rows, cols].astype(np.float64)
    limit = 2 * start_dist
    h = torch.zeros(1, n, rnn.hidden)
    c = torch.zeros(1, n, rnn.hidden)
    active = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    steps = taken = 0
    while active.any():
        idx = np.flatnonzero(active)
        taken += idx.size
        pos = torch.from_numpy(np.stack([rows[idx], cols[idx]], axis=1))
        z, _ = vae.encode(draw_frames(images[maps[idx]], pos, vae.frame))
        x = torch.cat([z, h[0, idx]], dim=1) if inputs == "zh" else z
        logits = torch.einsum("bf,baf->ba", x, weights[cand[idx]]) + biases[cand[idx]]
        actions = logits.argmax(dim=1)
        _, _, _, _, _, _, (h_new, c_new) = rnn(z[:, None], actions[:, None], (h[:, idx], c[:, idx]))
        h[:, idx], c[:, idx] = h_new, c_new
        r, cc, _ = move_batch(padded, rows[idx], cols[idx], actions.numpy(), maps=maps[idx])
        rows[idx], cols[idx] = r, cc
        steps += 1
        at_goal = (r == ep.goals[maps[idx], 0]) & (cc == ep.goals[maps[idx], 1])
        success[idx[at_goal]] = True
        active[idx[at_goal | (steps >= limit[idx])]] = False
    progress = 1.0 - ep.distances[maps, rows, cols] / start_dist
    score = success + PROGRESS_WEIGHT * progress
    return score.reshape(p, rollouts).mean(1), success.reshape(p, rollouts).mean(1), taken


#: Format name of a C checkpoint.
CONTROLLER_FORMAT = "vingrid-controller-checkpoint-v1"


def train_controller(
    vae: ConvVAE,
    rnn: MDNRNN,
    inputs: str,
    popsize: int,
    rollouts: int,
    generations: int,
    sigma0: float,
    target_return: float | None,
    seed: int,
    ckpt: str,
    progress: bool = False,
) -> tuple[WorldModelAgent, list[dict[str, float]]]:
    """CMA-ES over the controller's parameters (ask / tell; it minimises minus the fitness).

    Checkpoints after every generation (the optimiser pickled with numpy's global random state,
    which ``cma`` samples from), so a continued run equals an uninterrupted one. Stops after
    ``generations`` or once the best candidate's fitness reaches ``target_return``.

    :return: the agent with the best candidate seen (its mean of the last generation's
        distribution, CMA-ES's recommendation), and the per-generation history.
    """
    import cma

    size = vae.map_size
    features = n_features(vae, rnn, inputs)
    dim = N_ACTIONS * features + N_ACTIONS
    history: list[dict[str, float]] = []
    if os.path.exists(ckpt):
        with open(ckpt, "rb") as f:
            try:
                state = pickle.load(f)
            except Exception as exc:
                raise ValueError(f"{ckpt} is not a readable controller checkpoint (truncated?): {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != CONTROLLER_FORMAT:
            raise ValueError(f"{ckpt} is not a controller checkpoint")
        es, history = state["es"], state["history"]
        np.random.set_state(state["numpy_random"])
    else:
        np.random.seed(seed)
        es = cma.CMAEvolutionStrategy(
            np.zeros(dim), sigma0, {"popsize": popsize, "seed": seed + 1, "verbose": -9, "CMA_diagonal": True}
        )
    bar: Any = None
    if progress and len(history) < generations:
        from tqdm import tqdm

        bar = tqdm(total=generations, initial=len(history), desc="controller", unit="gen")
    while len(history) < generations and not (
        target_return is not None and history and history[-1]["best_fitness"] >= target_return
    ):
        gen = len(history)
        candidates = np.asarray(es.ask())
        scores, successes, taken = fitness(
            vae, rnn, candidates, inputs, size, rollouts, TRAIN_MAP_SEED + gen * rollouts
        )
        es.tell(list(candidates), list(-scores))
        best = int(scores.argmax())
        history.append(
            {
                "generation": gen + 1,
                "mean_fitness": float(scores.mean()),
                "best_fitness": float(scores[best]),
                "mean_success": float(successes.mean()),
                "best_success": float(successes[best]),
                "env_steps": float(taken),
            }
        )
        from gridworld_env.atomic import atomic_path

        with atomic_path(ckpt) as tmp, open(tmp, "wb") as f:
            pickle.dump(
                {
                    "format": CONTROLLER_FORMAT,
                    "es": es,
                    "history": history,
                    "numpy_random": np.random.get_state(),
                },
                f,
            )
        if bar is not None:
            bar.update(1)
            bar.set_postfix(success=f"{successes.mean():.2f}", best=f"{successes[best]:.2f}")
    if bar is not None:
        bar.close()
    weight, bias = unflatten(np.asarray(es.mean), features)
    return WorldModelAgent(vae, rnn, weight, bias, inputs), history
