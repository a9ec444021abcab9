"""The pretrained agents shipped in ``agents/pretrained/`` (SB3 zips, ``PPO.load``-able).

    from agents.zoo import load_pretrained
    model = load_pretrained("VINGrid-16x16-v0")          # the BC-trained VIN
    cnn = load_pretrained("VINGrid-16x16-v0", policy="cnn")  # the paper's CNN baseline (Table 1)
    action, _ = model.predict(obs, deterministic=True)

How each was trained, and its measured figures, are in README.md (Agents) and docs/agents/vin-gppn.md.
"""

from __future__ import annotations

import os
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from gridworld_env import env_size

PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")

#: Training methods with shipped agents.
ALGOS = ("bc", "ppo")
#: Policies with shipped agents: the VIN, the VIN with learned kernels (``vinlearned``, PPO: the
#: paper's VIN from reward, kernels started at the env's moves; ``vinscratch``: the same from
#: kernels at zero), and the paper's CNN and FCN baselines (BC, from Table 1).
POLICIES = ("vin", "vinlearned", "vinscratch", "cnn", "fcn")


def pretrained_path(env_id: str, algo: str = "bc", policy: str = "vin") -> str:
    """Path of the shipped ``policy`` agent for ``env_id`` trained by ``algo`` (``bc`` or ``ppo``).

    :raises ValueError: unknown env id, algorithm or policy, or no agent shipped for them.
    """
    size = env_size(env_id)
    if algo not in ALGOS:
        raise ValueError(f"algo must be one of {ALGOS}, got {algo!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    family = "maze" if env_id.startswith("VINGridMaze") else ""
    path = os.path.join(PRETRAINED_DIR, f"{algo}_{policy}_{family}{size}x{size}.zip")
    if not os.path.exists(path):
        shipped = (
            sorted(f for f in os.listdir(PRETRAINED_DIR) if f.endswith(".zip")) if os.path.isdir(PRETRAINED_DIR) else []
        )
        raise ValueError(f"no {algo} {policy} agent is shipped for {env_id}; shipped: {shipped}")
    return path


def load_pretrained(env_id: str, algo: str = "bc", policy: str = "vin") -> PPO:
    """Load a shipped agent on the CPU."""
    return PPO.load(pretrained_path(env_id, algo, policy), device="cpu")


def load_model(path: str) -> Any:
    """Load an agent on the CPU: an SB3 zip written by PPO or by sb3-contrib's MaskablePPO, a
    World Models agent (:func:`agents.worldmodels.agent.load_agent`) or a PlaNet agent
    (:func:`agents.planet.agent.load_agent`). Each acts through
    ``predict(obs, state, episode_start, deterministic)``.

    :raises ValueError: the file is none of them.
    """
    from sb3_contrib import MaskablePPO

    from agents.planet.agent import AGENT_FORMAT as PLANET_FORMAT
    from agents.planet.agent import load_agent as load_planet
    from agents.training.checkpoints import stored_format
    from agents.worldmodels.agent import AGENT_FORMAT, load_agent

    fmt = stored_format(path)
    if fmt == AGENT_FORMAT:
        return load_agent(path)
    if fmt == PLANET_FORMAT:
        return load_planet(path)

    errors = []
    algo: type[OnPolicyAlgorithm]
    for algo in (PPO, MaskablePPO):
        try:
            return algo.load(path, device="cpu")
        except (TypeError, KeyError, ValueError, RuntimeError) as exc:
            errors.append(f"{algo.__name__}: {exc}")
    raise ValueError(f"{path} is not a PPO or MaskablePPO zip ({'; '.join(errors)})")
