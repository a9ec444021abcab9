"""What a World Models run's features can carry: V's code, and the best controller on them.

:func:`vae_diagnostics` measures how well V's code holds the map. :func:`controller_ceiling`
asks what a linear C (or, to compare, an MLP) could do on the run's features: it fits C by
maximum likelihood to the BFS expert's optimal actions on the collected frames (supervised, with
the answers, which CMA-ES never sees) and plays it on held-out maps. A CMA-ES controller far
below the linear figure is an optimiser problem; a linear figure far below the target is a
feature problem, and the MLP's figure says whether the features or the linear read-out lack it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from agents.evaluation import TEST_SEED, VAL_SEED, evaluate_act_fn, evaluate_agent_on_maps, held_out_episodes
from agents.worldmodels.agent import WorldModelAgent
from agents.worldmodels.frames import as_float, encode_all
from agents.worldmodels.mdnrnn import MDNRNN
from agents.worldmodels.pipeline import episode_frames, load_mdnrnn, load_vae, run_episodes
from agents.worldmodels.vae import ConvVAE
from gridworld_env.core import ACTIONS, N_ACTIONS, distance_maps, optimal_action_masks, pad_blocked


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
    rec = torch.cat([vae.probabilities(vae.decode(mu[i : i + 2048])) for i in range(0, len(mu), 2048)])
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
    if vae.frame in ("map", "ego"):

        def peak(x: torch.Tensor, ch: int) -> torch.Tensor:
            return x[:, ch].flatten(1).argmax(1)

        if vae.frame == "map":  # an ego frame's agent is always at its centre
            report["agent_cell_decoded"] = float((peak(rec, 2) == peak(f, 2)).float().mean())
        report["goal_cell_decoded"] = float((peak(rec, 1) == peak(f, 1)).float().mean())
        report["obstacle_pixel_accuracy"] = float(((rec[:, 0] > 0.5) == (f[:, 0] > 0.5)).float().mean())
    return report


@torch.no_grad()
def linear_probe(logdir: str, episodes: int = 1000, held_out: float = 0.2) -> dict[str, float]:
    """How well V's mean code holds the facts the task needs, read by a linear probe.

    Least-squares read-outs from z (with a bias) are fitted on the frames of the first
    ``1 - held_out`` of ``episodes`` collected episodes and scored on the rest (other maps):

    * ``agent_cell_error``: mean absolute error, in cells, of the agent's row and column;
    * ``goal_offset_error``: the same for the goal's offset from the agent (``goal_offset_spread``
      is that offset's standard deviation: what a probe that knew nothing would err by);
    * ``neighbour_wall_accuracy``: the share of the agent's 8 neighbours (off the map counts as
      wall) whose blocked / free state the probe's sign gets right, beside ``neighbour_wall_majority``,
      the share that always answering the commoner state gets.
    """
    from gridworld_env.core import ACTIONS, pad_blocked

    if not 0 < held_out < 1 or episodes < 2:
        raise ValueError(f"held_out must be in (0, 1) and episodes >= 2, got {held_out}, {episodes}")
    vae = load_vae(logdir)
    data = {k: v[:episodes] for k, v in run_episodes(logdir).items()}
    e, t1 = data["positions"].shape[:2]
    keep = np.arange(t1)[None] <= data["lengths"][:, None]  # (E, T + 1) steps that happened
    f = episode_frames(data, vae.frame).flatten(0, 1)[torch.from_numpy(keep.reshape(-1))]
    z = encode_all(vae, f)[0]
    pos = data["positions"][keep]  # (N, 2)
    ep_of = np.repeat(np.arange(e), t1).reshape(e, t1)[keep]
    goal_offset = data["goals"][ep_of] - pos
    padded = pad_blocked(data["obstacles"])
    offsets = np.array(ACTIONS)
    walls = padded[ep_of[:, None], pos[:, None, 0] + offsets[:, 0] + 1, pos[:, None, 1] + offsets[:, 1] + 1]
    train = torch.from_numpy(ep_of < int(e * (1 - held_out)))
    x = torch.cat([z, torch.ones(len(z), 1)], 1)
    targets = torch.from_numpy(np.concatenate([pos, goal_offset, 2.0 * walls - 1.0], 1)).float()
    solution = torch.linalg.lstsq(x[train], targets[train]).solution
    fit, true = (x[~train] @ solution), targets[~train]
    wall_true = true[:, 4:] > 0
    share = wall_true.float().mean()
    return {
        "frames": float(len(z)),
        "agent_cell_error": float((fit[:, :2] - true[:, :2]).abs().mean()),
        "goal_offset_error": float((fit[:, 2:4] - true[:, 2:4]).abs().mean()),
        "goal_offset_spread": float(true[:, 2:4].std(0).mean()),
        "neighbour_wall_accuracy": float(((fit[:, 4:] > 0) == wall_true).float().mean()),
        "neighbour_wall_majority": float(max(share, 1 - share)),
    }


def controller_features(
    logdir: str, episodes: int, vae: ConvVAE | None = None, rnn: MDNRNN | None = None
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """C's inputs on the first ``episodes`` collected episodes, with the expert's answers.

    :return: z (N, z_dim) and h (N, hidden) of every frame before the episode's end (h as C sees
        it: M's state before the frame, after the collected actions), and (N, 8) masks of the
        optimal actions there; frames at the goal are left out.
    """
    vae = load_vae(logdir) if vae is None else vae
    rnn = load_mdnrnn(logdir) if rnn is None else rnn
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


#: Fewest Adam steps of a ceiling fit (small data sets get more epochs).
MIN_STEPS = 300


class _FittedAgent(WorldModelAgent):
    """A World Models agent whose C is any module on the scaled inputs (the ceiling's fit)."""

    def __init__(self, vae: ConvVAE, rnn: MDNRNN, head: torch.nn.Module, scale: torch.Tensor, inputs: str) -> None:
        features = vae.z_dim + (rnn.hidden if inputs == "zh" else 0)
        super().__init__(vae, rnn, torch.zeros(N_ACTIONS, features), torch.zeros(N_ACTIONS), inputs)
        self.head, self.scale = head.eval(), scale

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x / self.scale)


def controller_ceiling(
    logdir: str,
    inputs: str = "zh",
    hidden: int = 0,
    episodes: int = 1000,
    maps: int = 1000,
    epochs: int = 15,
    seed: int = 0,
) -> dict[str, float]:
    """Fit C to the expert's optimal actions (maximum likelihood of the optimal set, Adam on
    minibatches of 512 frames) and play it, deterministically, on ``maps`` validation maps.

    :param epochs: passes over the frames (more when needed to take :data:`MIN_STEPS` steps).
    :param hidden: 0 for the paper's linear C; otherwise an MLP with two ReLU layers of ``hidden``
        units, to tell what V and M's features hold from what a linear read-out can take.
    :return: the share of training frames where C's action is optimal, and its success rate.
    """
    if inputs not in ("zh", "z"):
        raise ValueError(f"inputs must be 'zh' or 'z', got {inputs!r}")
    if min(episodes, maps, epochs) < 1 or hidden < 0:
        raise ValueError(
            f"episodes, maps, epochs must be >= 1 and hidden >= 0, got {episodes}, {maps}, {epochs}, {hidden}"
        )
    vae, rnn = load_vae(logdir), load_mdnrnn(logdir)
    z, h, masks = controller_features(logdir, episodes, vae, rnn)
    x = torch.cat([z, h], 1) if inputs == "zh" else z
    scale = x.std(0).clamp_min(1e-6)
    target = torch.from_numpy(masks)
    torch.manual_seed(seed)
    f, a = x.shape[1], target.shape[1]
    head: torch.nn.Module = (
        torch.nn.Linear(f, a)
        if hidden == 0
        else torch.nn.Sequential(
            torch.nn.Linear(f, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, a),
        )
    )
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    batches = math.ceil(len(x) / 512)
    for _ in range(max(epochs, math.ceil(MIN_STEPS / batches))):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 512):
            b = order[start : start + 512]
            logp = torch.log_softmax(head(x[b] / scale), 1)
            loss = -torch.logsumexp(logp.masked_fill(~target[b], -1e9), 1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        chosen = head(x / scale).argmax(1)
        agreement = float(target[torch.arange(len(chosen)), chosen].float().mean())
    result = evaluate_agent_on_maps(_FittedAgent(vae, rnn, head, scale, inputs), vae.map_size, maps, VAL_SEED)
    return {"frames": float(len(x)), "optimal_action_share": agreement, "success": result.success_rate}


def greedy_success(size: int, avoid_walls: bool, episodes: int = 1000, seed: int = TEST_SEED) -> float:
    """Success of the greedy policy a linear C could at best express, on the test maps.

    It knows the goal's offset exactly and takes the move whose target cell is nearest the goal
    (Euclidean). With ``avoid_walls`` it skips moves into obstacles or out of the map (a feature
    of the agent's cell and the map together); without, it may walk into a wall and stay there.
    """
    ep = held_out_episodes(size, episodes, seed)
    offsets = np.array(ACTIONS)
    padded = pad_blocked(ep.obstacles)

    def act(m: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        target = np.stack([r, c], 1)[:, None] + offsets[None]  # (B, 8, 2)
        dist = np.linalg.norm(target - ep.goals[m][:, None], axis=-1)
        if avoid_walls:
            blocked = padded[m[:, None], target[..., 0] + 1, target[..., 1] + 1]
            dist = np.where(blocked, np.inf, dist)
        return dist.argmin(1)

    return evaluate_act_fn(act, ep, accuracy=False).success_rate
