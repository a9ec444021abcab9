"""C: a controller on [z, h] (or z alone), trained with CMA-ES from the ``cma`` package.

C is the paper's linear map from [z, h] to the 8 action logits, or (``hidden > 0``) a small MLP
with one tanh layer, as the World Models appendix's 40-unit controller. CMA-ES sees reward alone.

**Common random maps.** Each generation, every candidate plays the same ``rollouts`` fresh random
maps (training seeds, never the validation or test ones) under the paper's protocol (the goal
within twice the shortest path), so candidates are ranked on equal terms; ``common_maps=False``
gives each candidate maps of its own (the noisy ranking, kept to measure what this buys). A
candidate's fitness is its success rate there, plus a small term for how much of the start's
distance to the goal it covered, which ranks candidates that tie on success.

**Validation.** With ``val_maps > 0``, the generation's best candidate and the distribution's mean
are re-scored each generation on the same held-out validation maps; the candidate that scored
best there so far is the one the run returns (``val_maps=0``: the last distribution mean). Those
episodes count in the env steps a generation reports.

All candidates and maps run as one batch, one M step per move. V's code depends only on the map
and the agent's cell, so it is encoded once per map and cell visited, and looked up (:class:`CodeTable`).
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch

from agents.evaluation import VAL_SEED, held_out_episodes
from agents.worldmodels.agent import WorldModelAgent
from agents.worldmodels.frames import draw_frames
from agents.worldmodels.mdnrnn import MDNRNN
from agents.worldmodels.vae import ConvVAE
from gridworld_env.core import N_ACTIONS, move_batch, observation_images, pad_blocked
from gridworld_env.maps import Episodes

#: Env seeds of the controller's training maps start here (below the validation seeds, 10^9 - 10^6).
TRAIN_MAP_SEED = 10**8

#: Weight of the distance term in the fitness (success counts 1 per episode).
PROGRESS_WEIGHT = 0.1


def n_features(vae: ConvVAE, rnn: MDNRNN, inputs: str) -> int:
    return vae.z_dim + (rnn.hidden if inputs == "zh" else 0)


def n_params(features: int, hidden: int = 0) -> int:
    """Weights of C: linear (``hidden=0``) or one tanh layer of ``hidden`` units."""
    if hidden == 0:
        return N_ACTIONS * features + N_ACTIONS
    return hidden * features + hidden + N_ACTIONS * hidden + N_ACTIONS


def unflatten(theta: np.ndarray, features: int, hidden: int = 0) -> tuple[torch.Tensor, ...]:
    """A flat parameter vector -> (8, F) weight and (8,) bias (linear C), or the MLP's
    (8, hidden) weight, (8,) bias, (hidden, F) weight and (hidden,) bias."""
    t = torch.as_tensor(np.asarray(theta), dtype=torch.float32)
    if t.numel() != n_params(features, hidden):
        raise ValueError(
            f"a controller of {features} inputs and {hidden} hidden units has "
            f"{n_params(features, hidden)} weights, got {t.numel()}"
        )
    if hidden == 0:
        return t[: N_ACTIONS * features].view(N_ACTIONS, features), t[N_ACTIONS * features :]
    a = hidden * features
    w1, b1 = t[:a].view(hidden, features), t[a : a + hidden]
    w2 = t[a + hidden : a + hidden + N_ACTIONS * hidden].view(N_ACTIONS, hidden)
    return w2, t[a + hidden + N_ACTIONS * hidden :], w1, b1


def flatten(agent: WorldModelAgent) -> tuple[np.ndarray, int]:
    """An agent's C as the flat parameter vector of :func:`unflatten`, and its tanh units."""
    parts = [agent.weight.flatten(), agent.bias]
    if agent.hidden_layer is not None:
        parts = [agent.hidden_layer[0].flatten(), agent.hidden_layer[1], *parts]
    hidden = 0 if agent.hidden_layer is None else agent.hidden_layer[0].shape[0]
    return torch.cat(parts).numpy(), hidden


def _stacked(thetas: np.ndarray, features: int, hidden: int) -> list[torch.Tensor]:
    """Each :func:`unflatten` part of every candidate of ``thetas``, stacked over the candidates."""
    parts = [unflatten(t, features, hidden) for t in thetas]
    return [torch.stack([q[i] for q in parts]) for i in range(len(parts[0]))]


def agent_from_theta(
    vae: ConvVAE, rnn: MDNRNN, theta: np.ndarray, inputs: str, hidden: int = 0, info: dict | None = None
) -> WorldModelAgent:
    """The agent whose C has the flat parameters ``theta``."""
    parts = unflatten(theta, n_features(vae, rnn, inputs), hidden)
    layer = (parts[2], parts[3]) if hidden else None
    return WorldModelAgent(vae, rnn, parts[0].clone(), parts[1].clone(), inputs, info, hidden_layer=layer)


#: Fewest frames V encodes at once: torch picks another convolution path for a batch of one, whose
#: codes differ in the last bit; padded to this many, a frame's code is the same in any batch.
MIN_BATCH = 8


class CodeTable:
    """V's mean code for the agent at each cell of each map of ``ep``, encoded the first time an
    episode stands there (a generation visits about a quarter of the cells) and kept.

    :param vae: V.
    :param ep: the maps.
    """

    def __init__(self, vae: ConvVAE, ep: Episodes) -> None:
        m, h, w = ep.obstacles.shape
        self.vae = vae
        self.images = torch.from_numpy(observation_images(ep.obstacles, ep.goals, np.float32))
        self.codes = torch.zeros(m, h, w, vae.z_dim)
        self.known = torch.zeros(m, h, w, dtype=torch.bool)
        self.z_dim = vae.z_dim

    @torch.no_grad()
    def __call__(self, maps: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> torch.Tensor:
        """(N, z_dim) codes of the agents at ``(rows, cols)`` of ``maps``."""
        m, r, c = (torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in (maps, rows, cols))
        missing = ~self.known[m, r, c]
        if missing.any():
            h, w = self.known.shape[1:]
            keys = torch.unique((m[missing] * h + r[missing]) * w + c[missing])
            km, kr, kc = keys // (h * w), (keys // w) % h, keys % w
            for start in range(0, len(keys), 4096):
                sl = slice(start, start + 4096)
                n = len(keys[sl])
                pad = torch.zeros(max(MIN_BATCH - n, 0), dtype=torch.long)
                idx = torch.cat([km[sl], pad + km[sl][0]]), torch.cat([kr[sl], pad + kr[sl][0]])
                cells = torch.stack([idx[1], torch.cat([kc[sl], pad + kc[sl][0]])], 1)
                z = self.vae.encode(draw_frames(self.images[idx[0]], cells, self.vae.frame))[0][:n]
                self.codes[km[sl], kr[sl], kc[sl]] = z
            self.known[km, kr, kc] = True
        return self.codes[m, r, c]


@torch.no_grad()
def play(
    rnn: MDNRNN,
    table: CodeTable,
    ep: Episodes,
    thetas: np.ndarray,
    maps: np.ndarray,
    cand: np.ndarray,
    inputs: str,
    hidden: int = 0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Episode ``e`` plays map ``maps[e]`` of ``ep`` with candidate ``cand[e]`` of ``thetas``.

    :return: per episode, success and the share of the start's distance covered; env steps taken.
    """
    stacked = _stacked(thetas, table.z_dim + (rnn.hidden if inputs == "zh" else 0), hidden)
    n = maps.size
    padded = pad_blocked(ep.obstacles)
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
        z = table(maps[idx], rows[idx], cols[idx])
        x = torch.cat([z, h[0, idx]], dim=1) if inputs == "zh" else z
        actions = _controller_logits(x, stacked, torch.from_numpy(cand[idx]), hidden).argmax(dim=1)
        if inputs == "zh":
            _, _, _, _, _, _, (h_new, c_new) = rnn(z[:, None], actions[:, None], (h[:, idx], c[:, idx]))
            h[:, idx], c[:, idx] = h_new, c_new
        r, cc, _ = move_batch(padded, rows[idx], cols[idx], actions.numpy(), maps=maps[idx])
        rows[idx], cols[idx] = r, cc
        steps += 1
        at_goal = (r == ep.goals[maps[idx], 0]) & (cc == ep.goals[maps[idx], 1])
        success[idx[at_goal]] = True
        active[idx[at_goal | (steps >= limit[idx])]] = False
    progress = 1.0 - ep.distances[maps, rows, cols] / start_dist
    return success, progress, taken


def fitness(
    vae: ConvVAE,
    rnn: MDNRNN,
    thetas: np.ndarray,
    inputs: str,
    size: int,
    rollouts: int,
    map_seed: int,
    hidden: int = 0,
    common_maps: bool = True,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Play every candidate of ``thetas`` (P, n) on ``rollouts`` maps: the same ones for every
    candidate (``common_maps``), or ``rollouts`` maps of its own each.

    :return: per candidate, the fitness and the success rate; and the env steps taken in all.
    """
    p = thetas.shape[0]
    ep = held_out_episodes(size, rollouts if common_maps else p * rollouts, map_seed)
    table = CodeTable(vae, ep)
    cand = np.repeat(np.arange(p), rollouts)
    # episode e plays map e % rollouts (common maps) or map e (maps of its own)
    maps = np.tile(np.arange(rollouts), p) if common_maps else np.arange(p * rollouts)
    success, progress, taken = play(rnn, table, ep, thetas, maps, cand, inputs, hidden)
    score = success + PROGRESS_WEIGHT * progress
    return score.reshape(p, rollouts).mean(1), success.reshape(p, rollouts).mean(1), taken


def _controller_logits(x: torch.Tensor, stacked: list[torch.Tensor], k: torch.Tensor, hidden: int) -> torch.Tensor:
    """Logits of candidate ``k[b]`` of the stacked controllers (:func:`unflatten` parts) for input ``x[b]``."""
    if hidden:
        x = torch.tanh(torch.einsum("bf,bhf->bh", x, stacked[2][k]) + stacked[3][k])
    return torch.einsum("bf,baf->ba", x, stacked[0][k]) + stacked[1][k]


def _block_logits(x: torch.Tensor, stacked: list[torch.Tensor], hidden: int) -> torch.Tensor:
    """:func:`_controller_logits` for inputs laid out candidate by candidate in equal blocks
    (``x``: (P * R, F), rows ``[c R, (c + 1) R)`` for candidate ``c``), as batched matrix products."""
    p = stacked[0].shape[0]
    x = x.view(p, -1, x.shape[-1])
    if hidden:
        x = torch.tanh(torch.baddbmm(stacked[3][:, None], x, stacked[2].transpose(1, 2)))
    return torch.baddbmm(stacked[1][:, None], x, stacked[0].transpose(1, 2)).flatten(0, 1)


@torch.no_grad()
def dream_fitness(
    rnn: MDNRNN,
    thetas: np.ndarray,
    inputs: str,
    hidden: int,
    starts: torch.Tensor,
    horizon: int,
    temperature: float,
    seed: int,
) -> np.ndarray:
    """Mean return of each candidate in M's dream (Ha & Schmidhuber's DoomRNN experiment).

    Every candidate starts from the same real codes ``starts`` (R, z_dim) and sees the same random
    numbers (common random numbers: one generator seeded ``seed``); each step C acts on [z, h], M
    gives the next z (a mixture component drawn from its weights sharpened by 1 / temperature,
    then a Gaussian sample with its sigma scaled by sqrt(temperature)), the move's reward and
    whether the episode ends (a Bernoulli draw), for at most ``horizon`` moves. No env step is taken.
    """
    p, r = thetas.shape[0], starts.shape[0]
    stacked = _stacked(thetas, starts.shape[1] + (rnn.hidden if inputs == "zh" else 0), hidden)
    gen = torch.Generator().manual_seed(seed)
    n = p * r
    z = starts.repeat(p, 1)
    state = (torch.zeros(1, n, rnn.hidden), torch.zeros(1, n, rnn.hidden))
    alive = torch.ones(n, dtype=torch.bool)
    total = torch.zeros(n)
    for _ in range(horizon):
        # the same draws for every candidate: one per start, repeated over the candidates
        u_component, u_end = torch.rand(r, generator=gen).repeat(p), torch.rand(r, generator=gen).repeat(p)
        noise = torch.randn(r, starts.shape[1], generator=gen).repeat(p, 1)
        x = torch.cat([z, state[0][0]], 1) if inputs == "zh" else z
        actions = _block_logits(x, stacked, hidden).argmax(1)
        mu, log_sigma, log_pi, reward, end, _, state = rnn(z[:, None], actions[:, None], state)
        total += torch.where(alive, reward[:, 0], torch.zeros(()))
        cdf = torch.softmax(log_pi[:, 0] / temperature, -1).cumsum(-1)
        component = (u_component[:, None] > cdf).sum(1).clamp(max=rnn.gaussians - 1)
        rows = torch.arange(n)
        sigma = log_sigma[rows, 0, component].exp() * temperature**0.5
        z = mu[rows, 0, component] + sigma * noise
        alive &= u_end >= torch.sigmoid(end[:, 0])
        if not alive.any():
            break
    return total.view(p, r).mean(1).numpy()


def validation_success(
    rnn: MDNRNN, table: CodeTable, ep: Episodes, thetas: np.ndarray, inputs: str, hidden: int
) -> tuple[np.ndarray, int]:
    """Success rate of each of ``thetas`` on every map of ``ep`` (whose codes are ``table``), and
    the env steps taken."""
    m, p = len(ep.goals), thetas.shape[0]
    success, _, taken = play(
        rnn, table, ep, thetas, np.tile(np.arange(m), p), np.repeat(np.arange(p), m), inputs, hidden
    )
    return success.reshape(p, m).mean(1), taken


#: Format name of a C checkpoint.
CONTROLLER_FORMAT = "vingrid-controller-checkpoint-v1"


def _read_checkpoint(ckpt: str) -> dict[str, Any]:
    with open(ckpt, "rb") as f:
        try:
            state = pickle.load(f)
        except Exception as exc:
            raise ValueError(f"{ckpt} is not a readable controller checkpoint (truncated?): {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CONTROLLER_FORMAT:
        raise ValueError(f"{ckpt} is not a controller checkpoint")
    return state


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
    hidden: int = 0,
    val_maps: int = 0,
    common_maps: bool = True,
    diagonal: bool = True,
    dream_starts: torch.Tensor | None = None,
    temperature: float = 1.0,
) -> tuple[WorldModelAgent, list[dict[str, float]]]:
    """CMA-ES over the controller's parameters (ask / tell; it minimises minus the fitness).

    Checkpoints after every generation (the optimiser pickled with numpy's global random state,
    which ``cma`` samples from, and the best validated candidate), so a continued run equals an
    uninterrupted one. Stops after ``generations`` or once the best candidate's fitness reaches
    ``target_return``.

    :param hidden: C's tanh units (0: the paper's linear C).
    :param val_maps: validation maps to re-score the generation's best and the mean on (0: none).
    :param common_maps: every candidate of a generation plays the same maps.
    :param dream_starts: (N, z_dim) codes of real first frames: train C in M's dream
        (:func:`dream_fitness`, ``rollouts`` starts drawn from these each generation, at
        ``temperature``) instead of in the env; validation, if any, still plays the env.
    :param diagonal: separable CMA-ES (a diagonal covariance: cheap for thousands of weights);
        ``False``: the full covariance (better at correlated weights; its cost grows as n^2 to n^3).
    :return: the agent (the best validated candidate, or without validation the last
        distribution mean, CMA-ES's recommendation), and the per-generation history.
    """
    import cma

    size = vae.map_size
    dim = n_params(n_features(vae, rnn, inputs), hidden)
    history: list[dict[str, float]] = []
    best_theta: np.ndarray | None = None
    if os.path.exists(ckpt):
        state = _read_checkpoint(ckpt)
        es, history, best_theta = state["es"], state["history"], state.get("best_theta")
        if len(np.asarray(es.mean)) != dim:
            raise ValueError(f"{ckpt} holds a controller of {len(es.mean)} weights, not {dim}: other settings")
        np.random.set_state(state["numpy_random"])
    else:
        np.random.seed(seed)
        es = cma.CMAEvolutionStrategy(
            np.zeros(dim), sigma0, {"popsize": popsize, "seed": seed + 1, "verbose": -9, "CMA_diagonal": diagonal}
        )
    val_ep = held_out_episodes(size, val_maps, VAL_SEED) if val_maps else None
    val_table = CodeTable(vae, val_ep) if val_ep is not None else None
    bar: Any = None
    if progress and len(history) < generations:
        from tqdm import tqdm

        bar = tqdm(total=generations, initial=len(history), desc="controller", unit="gen")
    while len(history) < generations and not (
        target_return is not None and history and history[-1]["best_fitness"] >= target_return
    ):
        gen = len(history)
        candidates = np.asarray(es.ask())
        if dream_starts is None:
            map_seed = TRAIN_MAP_SEED + gen * rollouts * (1 if common_maps else popsize)
            scores, successes, taken = fitness(
                vae, rnn, candidates, inputs, size, rollouts, map_seed, hidden, common_maps
            )
        else:
            chosen = torch.randint(len(dream_starts), (rollouts,), generator=torch.Generator().manual_seed(seed + gen))
            horizon = 4 * size  # longer than twice any 8x8 or 16x16 test map's shortest path, mostly
            scores = dream_fitness(
                rnn, candidates, inputs, hidden, dream_starts[chosen], horizon, temperature, seed + gen
            )
            successes, taken = np.full(len(candidates), np.nan), 0
        es.tell(list(candidates), list(-scores))
        best = int(scores.argmax())
        record = {
            "generation": gen + 1,
            "mean_fitness": float(scores.mean()),
            "best_fitness": float(scores[best]),
            "mean_success": float(successes.mean()),
            "best_success": float(successes[best]),
            "env_steps": float(taken),
        }
        if val_ep is not None and val_table is not None:
            pair = np.stack([candidates[best], np.asarray(es.mean)])
            val, val_taken = validation_success(rnn, val_table, val_ep, pair, inputs, hidden)
            record["env_steps"] += val_taken  # validation episodes are env steps the learner used too
            pick = int(val.argmax())
            so_far = max((h["val_best_so_far"] for h in history), default=-1.0)
            if val[pick] > so_far:
                best_theta, so_far = pair[pick].copy(), float(val[pick])
            record.update(val_best=float(val[0]), val_mean=float(val[1]), val_best_so_far=so_far)
        history.append(record)
        from gridworld_env.atomic import atomic_path

        with atomic_path(ckpt) as tmp, open(tmp, "wb") as f:
            pickle.dump(
                {
                    "format": CONTROLLER_FORMAT,
                    "es": es,
                    "history": history,
                    "best_theta": best_theta,
                    "numpy_random": np.random.get_state(),
                },
                f,
            )
        if bar is not None:
            bar.update(1)
            post = {"success": f"{successes.mean():.2f}", "best": f"{successes[best]:.2f}"}
            if "val_best_so_far" in record:
                post["val"] = f"{record['val_best_so_far']:.2f}"
            bar.set_postfix(post)
    if bar is not None:
        bar.close()
    theta = best_theta if best_theta is not None else np.asarray(es.mean)
    return agent_from_theta(vae, rnn, theta, inputs, hidden), history
