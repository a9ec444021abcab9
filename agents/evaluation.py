"""Rollout evaluation of a policy on held-out maps, under the VIN paper's protocol.

Success (the paper's test script): from the start, the goal is reached within twice the
shortest-path length, counted in moves. We also report the collision-free success rate
(success without any move into an obstacle or wall), the tie-aware action accuracy along
the expert's path (the policy's action is one of the optimal ones), and the mean length of
successful paths over the optimal one (as a ratio, and as extra moves).

Held-out maps: the evaluation maps are those of ``env.reset(seed=s)`` for
``s in [seed, seed + episodes)``, with ``seed`` defaulting to :data:`TEST_SEED` (10^9).
Training data sets use env seeds ``[train_seed, train_seed + n_maps)``, and the BC trainer
refuses any that reach :data:`VAL_SEED` (10^9 - 10^6), where its validation maps start;
so training, validation and test seeds never overlap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.registration import registry
from gymnasium.utils.seeding import np_random
from stable_baselines3.common.policies import BasePolicy

from agents.policies import VINExtractor, vin_of
from gridworld_env.core import (
    first_true,
    move_batch,
    observation_images,
    optimal_action_masks,
    pad_blocked,
)
from gridworld_env.maps import Episodes, MapSpec, default_spec, sample_episodes
from gridworld_env.mazes import MazeSpec

TEST_SEED = 10**9
VAL_SEED = TEST_SEED - 10**6

#: act(map_index, rows, cols) -> actions, for agents on the maps of one evaluation.
ActFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class EvalResult:
    """Figures of one evaluation (rates in [0, 1])."""

    episodes: int
    success_rate: float
    collision_free_success_rate: float
    action_accuracy: float
    path_ratio: float
    """Mean (moves taken / optimal moves) over successful episodes."""
    extra_moves: float
    """Mean (moves taken - optimal moves) over successful episodes: the paper's trajectory difference."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def held_out_episodes(
    size: int, episodes: int, seed: int = TEST_SEED, spec: MapSpec | MazeSpec | None = None
) -> Episodes:
    """The maps, goals and starts of ``env.reset(seed=s)`` for ``s`` in ``[seed, seed + episodes)``
    (``spec``: the env's generator, :func:`gridworld_env.env_spec`; default the random-obstacle
    maps of ``size``)."""
    return sample_episodes([np_random(seed + i)[0] for i in range(episodes)], spec or default_spec(size))


def policy_act_fn(policy: BasePolicy, ep: Episodes, chunk: int = 256, plan_cache: bool = True) -> ActFn:
    """An :data:`ActFn` for an SB3 policy on the maps of ``ep`` (deterministic actions).

    A VIN policy plans each map once and caches Q (the plan of an episode serves all its
    steps); any other policy, or ``plan_cache=False``, runs on the observations of each step.
    """
    policy.eval()
    device = policy.device
    images = observation_images(ep.obstacles, ep.goals, np.float32)
    extractor = getattr(policy, "features_extractor", None)
    if plan_cache and isinstance(extractor, VINExtractor):
        _, head = vin_of(policy)
        with torch.no_grad():
            q = torch.cat(
                [
                    extractor.vin.plan(torch.from_numpy(images[i : i + chunk]).to(device))
                    for i in range(0, len(images), chunk)
                ]
            )

        def act_vin(m: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                idx = [torch.as_tensor(a, device=device) for a in (m, r, c)]
                logits = head(extractor.vin.act(q, *idx))
            return logits.argmax(dim=1).cpu().numpy()

        return act_vin

    def act_generic(m: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        obs = {"image": images[m].astype(np.uint8), "position": np.stack([r, c], axis=1).astype(np.int64)}
        actions, _ = policy.predict(obs, deterministic=True)
        return np.asarray(actions)

    return act_generic


def evaluate_act_fn(act: ActFn, ep: Episodes, progress: bool = False, accuracy: bool = True) -> EvalResult:
    """Roll ``act`` on every episode of ``ep`` at once and score it (see the module docstring).

    :param progress: show a progress bar (episodes rolled out, then expert paths scored).
    :param accuracy: also score the actions along the expert's paths; ``False`` for an agent
        with memory (its state belongs to its own rollout), whose accuracy is then NaN.
    """
    with contextlib.ExitStack() as stack:
        bar = None
        if progress:
            from tqdm import tqdm

            total = (2 if accuracy else 1) * ep.goals.shape[0]
            bar = stack.enter_context(tqdm(total=total, desc="eval", unit="episode"))
        return _evaluate(act, ep, bar, accuracy)


def _evaluate(act: ActFn, ep: Episodes, bar: Any, accuracy: bool = True) -> EvalResult:
    n = ep.goals.shape[0]
    idx = np.arange(n)
    optimal_len = ep.distances[idx, ep.starts[:, 0], ep.starts[:, 1]].astype(np.int64)
    limit = 2 * optimal_len
    rows, cols = ep.starts[:, 0].copy(), ep.starts[:, 1].copy()
    padded = pad_blocked(ep.obstacles)
    steps = np.zeros(n, dtype=np.int64)
    success = np.zeros(n, dtype=bool)
    collided = np.zeros(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    while active.any():
        a_idx = np.flatnonzero(active)
        actions = act(a_idx, rows[a_idx], cols[a_idx])
        r, c, hit = move_batch(padded, rows[a_idx], cols[a_idx], actions, maps=a_idx)
        rows[a_idx], cols[a_idx] = r, c
        collided[a_idx] |= hit
        steps[a_idx] += 1
        at_goal = (r == ep.goals[a_idx, 0]) & (c == ep.goals[a_idx, 1])
        success[a_idx[at_goal]] = True
        ended = at_goal | (steps[a_idx] >= limit[a_idx])
        active[a_idx[ended]] = False
        if bar is not None:
            bar.update(int(ended.sum()))

    # Tie-aware accuracy along the expert's own path from each start.
    masks = optimal_action_masks(ep.distances)
    m, r, c = idx.copy(), ep.starts[:, 0].copy(), ep.starts[:, 1].copy()
    correct, total = 0, 0 if accuracy else -1
    while accuracy and m.size:
        ok = masks[m, r, c]
        chosen = act(m, r, c)
        correct += int(ok[np.arange(m.size), chosen].sum())
        total += m.size
        expert = first_true(ok)
        r, c, _ = move_batch(padded, r, c, expert, maps=m)
        keep = ep.distances[m, r, c] > 0
        if bar is not None:
            bar.update(int((~keep).sum()))
        m, r, c = m[keep], r[keep], c[keep]
    return EvalResult(
        episodes=n,
        success_rate=float(success.mean()),
        collision_free_success_rate=float((success & ~collided).mean()),
        action_accuracy=correct / max(total, 1) if accuracy else float("nan"),
        path_ratio=float((steps[success] / optimal_len[success]).mean()) if success.any() else float("nan"),
        extra_moves=float((steps[success] - optimal_len[success]).mean()) if success.any() else float("nan"),
    )


@dataclass
class CellScores:
    """GPPN's figures (Lee et al. 2018, its ``Runner``): a deterministic policy followed from
    *every* free cell that can reach the goal, not from one start per map (rates in [0, 1])."""

    cells: int
    """Start cells scored (over all maps)."""
    optimal: float
    """%Opt: the share of cells whose path under the policy reaches the goal in the shortest number of moves."""
    success: float
    """%Suc: the share of cells whose path reaches the goal at all (no step limit: a deterministic
    policy that has not arrived after as many moves as the map has free cells is in a cycle)."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def evaluate_all_cells(act: ActFn, ep: Episodes, maps_per_chunk: int = 64) -> CellScores:
    """Score ``act`` from every free cell of every map of ``ep`` (:class:`CellScores`).

    Each cell's action is asked once; the policy's successor of every cell then forms a graph
    whose paths are followed all at once until each reaches the goal or has run as many moves as
    its map has free cells. ``maps_per_chunk`` bounds the memory of one call to ``act``.
    """
    n, height, width = ep.distances.shape
    area = height * width
    padded = pad_blocked(ep.obstacles)
    cells = optimal = arrived = 0
    for lo in range(0, n, maps_per_chunk):
        maps = np.arange(lo, min(n, lo + maps_per_chunk))
        dist = ep.distances[maps]
        m, r, c = np.nonzero(dist > 0)
        actions = act(maps[m], r, c)
        nr, nc, _ = move_batch(padded, r, c, actions, maps=maps[m])
        start = m * area + r * width + c
        successor = np.arange(maps.size * area)  # walls and goals lead to themselves
        successor[start] = m * area + nr * width + nc
        goal = dist.reshape(-1) == 0
        position = start
        moves = np.full(m.size, -1, dtype=np.int64)
        for t in range(1, int((dist > 0).sum(axis=(1, 2)).max()) + 1):
            position = successor[position]
            new = (moves < 0) & goal[position]
            moves[new] = t
            if (moves >= 0).all():
                break
        cells += m.size
        arrived += int((moves >= 0).sum())
        optimal += int((moves == dist[m, r, c]).sum())
    return CellScores(cells=cells, optimal=optimal / max(cells, 1), success=arrived / max(cells, 1))


def batch_observation(observation: dict[str, Any], size: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """A ``predict`` call's observation as a batch: ``(images (n, 2, H, W), positions (n, 2),
    single)``, ``single`` when one observation was given (``image`` (2, H, W), ``position`` (2,)).

    :raises ValueError: the maps are not ``size x size`` (the agent was trained on that size).
    """
    image = np.asarray(observation["image"])
    position = np.asarray(observation["position"])
    single = image.ndim == 3
    if single:
        image, position = image[None], position[None]
    if image.shape[-2:] != (size, size):
        raise ValueError(f"the agent was trained on {size}x{size} maps, got {image.shape[-2:]}")
    return image, position, single


def predict_act_fn(model: Any, ep: Episodes, deterministic: bool = True) -> ActFn:
    """An :data:`ActFn` for any agent with SB3's ``predict(obs, state, episode_start, deterministic)``,
    carrying each episode's state (an RNN's, for one) from step to step: for agents with memory,
    scored with ``evaluate_act_fn(..., accuracy=False)``."""
    return StatefulActor(model, ep, deterministic)


class StatefulActor:
    """:func:`predict_act_fn`'s :data:`ActFn`: it keeps each episode's ``predict`` state between calls.

    :param taken: maps the agent's actions and the episodes' indices to the actions the caller
        will take, and writes those into each episode's state with :attr:`last_action_index`
        (for exploration noise; ``None``: the agent's actions are taken).
    """

    def __init__(
        self,
        model: Any,
        ep: Episodes,
        deterministic: bool = True,
        taken: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        last_action_index: int | None = None,
    ) -> None:
        if taken is not None and last_action_index is None:
            raise ValueError("taken actions need last_action_index: where the agent's state keeps its last action")
        self.model, self.deterministic = model, deterministic
        self.taken, self.last_action_index = taken, last_action_index
        self.images = observation_images(ep.obstacles, ep.goals)
        self.states: dict[int, Any] = {}

    def __call__(self, m: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        states = self.states
        obs = {"image": self.images[m], "position": np.stack([r, c], axis=1).astype(np.int64)}
        known = [int(i) in states for i in m]
        if any(known):
            template = next(states[int(i)] for i in m if int(i) in states)
            state = tuple(
                np.stack([states[int(i)][k] if int(i) in states else np.zeros_like(template[k]) for i in m])
                for k in range(len(template))
            )
        else:
            state = None
        actions, new = self.model.predict(obs, state, np.array([not k for k in known]), self.deterministic)
        actions = np.asarray(actions)
        if self.taken is not None:
            actions = self.taken(actions, m)
        if new is not None:
            for j, i in enumerate(m.tolist()):
                parts = [part[j] for part in new]
                if self.taken is not None:
                    assert self.last_action_index is not None
                    parts[self.last_action_index] = np.asarray(
                        actions[j], dtype=np.asarray(parts[self.last_action_index]).dtype
                    )
                states[i] = tuple(parts)
        return actions


def evaluate_policy_on_maps(
    policy: BasePolicy,
    size: int,
    episodes: int = 1000,
    seed: int = TEST_SEED,
    progress: bool = False,
    spec: MapSpec | MazeSpec | None = None,
) -> EvalResult:
    """Evaluate an SB3 policy on ``episodes`` held-out maps of the given size (``spec``: their
    generator, :func:`gridworld_env.env_spec`; default the random-obstacle maps).

    :raises ValueError: ``episodes < 1``, a negative ``seed``, or a policy made for another map size.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    check_policy_size(policy, size)
    ep = held_out_episodes(size, episodes, seed, spec)
    return evaluate_act_fn(policy_act_fn(policy, ep), ep, progress)


def evaluate_agent_on_maps(
    model: Any,
    size: int,
    episodes: int = 1000,
    seed: int = TEST_SEED,
    progress: bool = False,
    spec: MapSpec | MazeSpec | None = None,
) -> EvalResult:
    """Evaluate any agent with SB3's ``predict`` (with memory: a World Models agent) on held-out maps,
    through :func:`predict_act_fn`; the action accuracy is NaN (see :func:`evaluate_act_fn`)."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    ep = held_out_episodes(size, episodes, seed, spec)
    return evaluate_act_fn(predict_act_fn(model, ep), ep, progress, accuracy=False)


def check_policy_size(policy: BasePolicy, size: int) -> None:
    """``ValueError`` naming the map size an SB3 policy was made for, if it is not ``size``."""
    space = policy.observation_space
    image = space.spaces.get("image") if isinstance(space, spaces.Dict) else None
    if image is None or image.shape is None or len(image.shape) != 3:
        raise ValueError(f"the policy's observation space {space} is not a VINGrid one (image and position)")
    shape = tuple(image.shape)
    if shape[-2:] != (size, size):
        h, w = shape[-2:]
        envs = [f"VINGrid{family}-{h}x{w}-v0" for family in ("", "Maze")]
        envs = [e for e in envs if e in registry] or envs[:1]
        raise ValueError(
            f"the model was trained on {h}x{w} maps, not {size}x{size}: evaluate it with "
            f"--env {' or --env '.join(envs)} (a planner at other sizes: --any-size, or python -m eval.cross_size)"
        )
