"""What a World Models run's features can carry: V's code, and the best linear controller on them.

:func:`vae_diagnostics` measures how well V's code holds the map. :func:`controller_ceiling`
asks what *any* linear C could do on the run's features: it fits C by multinomial logistic
regression to the BFS expert's optimal actions on the collected frames (supervised, with the
answers, which CMA-ES never sees) and plays it on held-out maps. A CMA-ES controller far below
this figure is an optimiser problem; a ceiling far below the target is a feature problem.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.evaluation import VAL_SEED, evaluate_agent_on_maps
from agents.worldmodels.agent import WorldModelAgent
from agents.worldmodels.frames import as_float, encode_all
from agents.worldmodels.pipeline import episode_frames, load_mdnrnn, load_vae, run_episodes
from gridworld_env.core import distance_maps, optimal_action_masks


@torch.no_grad()
def vae_diagnostics(logdir: str, episodes: int = 300) -> dict[str, float]:
    """How well V's code holds the map, on the first ``episodes`` collected episodes.

    :return: the mean error (in cells) of a least-squares linear read-out of the agent's and the
        goal's row and column from V's mean code, beside their spread; the mean absolute pixel
        error of the reconstructions; and, for map frames, the share of frames whose decoded
        agent / goal channel peaks at the true cell and the obstacle pixel accuracy.
    """
    vae = load_vae(logdir)
    data = {k: v[:episodes] for k, v in run_episodes(logdir).items()}
    e, t1 = data["positions"].shape[:2]
    keep = torch.from_numpy((np.arange(t1)[None] <= data["lengths"][:, None]).reshape(-1))
    f = as_float(episode_frames(data, vae.frame).flatten(0, 1)[keep])
    mu, _ = encode_all(vae, f)
    rec = torch.cat([torch.sigmoid(vae.decode(mu[i : i + 2048])) for i in range(0, len(mu), 2048)])
    goals = np.repeat(data["goals"][:, None], t1, axis=1)
    coords = torch.from_numpy(np.concatenate([data["positions"], goals], -1).reshape(-1, 4)[keep.numpy()]).float()
    x = torch.cat([mu, torch.ones(len(mu), 1)], 1)
    fit = x @ torch.linalg.lstsq(x, coords).solution
    report = {
        "frames": float(len(f)),
        "pixel_mean_abs_error": float((rec - f).abs().mean()),
        "linear_readout_error_cells": float((fit - coords).abs().mean()),
        "position_spread_cells": float(coords.std(0).mean()),
    }
    if vae.frame == "map":

        def peak(x: torch.Tensor, ch: int) -> torch.Tensor:
            return x[:, ch].flatten(1).argmax(1)

        report["agent_cell_decoded"] = float((peak(rec, 2) == peak(f, 2)).float().mean())
        report["goal_cell_decoded"] = float((peak(rec, 1) == peak(f, 1)).float().mean())
        report["obstacle_pixel_accuracy"] = float(((rec[:, 0] > 0.5) == (f[:, 0] > 0.5)).float().mean())
    return report


def controller_features(logdir: str, episodes: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """C's inputs on the first ``episodes`` collected episodes, with the expert's answers.

    :return: z (N, z_dim) and h (N, hidden) of every frame before the episode's end (h as C sees
        it: M's state before the frame, after the collected actions), and (N, 8) masks of the
        optimal actions there; frames at the goal are left out.
    """
    vae, rnn = load_vae(logdir), load_mdnrnn(logdir)
    data = {k: v[:episodes] for k, v in run_episodes(logdir).items()}
    f = episode_frames(data, vae.frame)
    e, t1 = f.shape[:2]
    z = encode_all(vae, f.flatten(0, 1))[0].view(e, t1, -1)
    with torch.no_grad():
        hs = rnn(z[:, :-1], torch.from_numpy(data["actions"]))[5]
    h = torch.cat([torch.zeros(e, 1, rnn.hidden), hs], dim=1)  # state before each frame
    pos = data["positions"]
    masks = optimal_action_masks(distance_maps(data["obstacles"], data["goals"]))  # (E, H, W, 8)
    step_masks = masks[np.arange(e)[:, None], pos[..., 0], pos[..., 1]]  # (E, T + 1, 8)
    keep = (np.arange(t1)[None] <= data["lengths"][:, None]) & step_masks.any(-1)
    keep_t = torch.from_numpy(keep)
    return z[keep_t], h[keep_t], step_masks[keep]


def controller_ceiling(
    logdir: str, inputs: str = "zh", episodes: int = 1000, maps: int = 1000, iterations: int = 500, seed: int = 0
) -> dict[str, float]:
    """Fit a linear C to the expert's optimal actions (logistic regression on the likelihood of the
    optimal set) and play it, deterministically, on ``maps`` validation maps.

    :return: the share of training frames where C's action is optimal, and its success rate.
    """
    if inputs not in ("zh", "z"):
        raise ValueError(f"inputs must be 'zh' or 'z', got {inputs!r}")
    if min(episodes, maps, iterations) < 1:
        raise ValueError(f"episodes, maps and iterations must be >= 1, got {episodes}, {maps}, {iterations}")
    z, h, masks = controller_features(logdir, episodes)
    x = torch.cat([z, h], 1) if inputs == "zh" else z
    scale = x.std(0).clamp_min(1e-6)
    target = torch.from_numpy(masks)
    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.shape[1], target.shape[1])
    optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2)
    for _ in range(iterations):
        logp = torch.log_softmax(linear(x / scale), 1)
        loss = -torch.logsumexp(logp.masked_fill(~target, -1e9), 1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        chosen = linear(x / scale).argmax(1)
        agreement = float(target[torch.arange(len(chosen)), chosen].float().mean())
        weight, bias = linear.weight / scale, linear.bias
    vae, rnn = load_vae(logdir), load_mdnrnn(logdir)
    agent = WorldModelAgent(vae, rnn, weight.detach(), bias.detach(), inputs)
    result = evaluate_agent_on_maps(agent, vae.map_size, maps, VAL_SEED)
    return {"frames": float(len(x)), "optimal_action_share": agreement, "success": result.success_rate}
