"""The World Models agent: V encodes the map image, C acts on [z, h], M carries h forward.

It acts through the SB3 interface, ``predict(observation, state, episode_start, deterministic)``,
with the LSTM state as ``state``, so code written for SB3 models (``python -m eval``,
``evaluate_policy``-style loops) scores it unchanged. One file holds it all (:meth:`save`,
:func:`load_agent`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from agents.evaluation import batch_observation
from agents.worldmodels.frames import draw_frames
from agents.worldmodels.mdnrnn import MDNRNN
from agents.worldmodels.vae import ConvVAE
from gridworld_env.core import N_ACTIONS

#: Format name of a saved agent.
AGENT_FORMAT = "vingrid-worldmodels-checkpoint-v1"

State = tuple[np.ndarray, np.ndarray]


class WorldModelAgent:
    """V + M + a controller C: linear (the paper's), or one tanh layer then linear.

    :param vae: the trained V.
    :param rnn: the trained M.
    :param weight: (8, F) controller weights, F = z_dim + hidden (``inputs="zh"``) or z_dim; with
        ``hidden_layer``, (8, U) weights on its U units.
    :param bias: (8,) controller bias.
    :param inputs: ``zh`` (the paper's C) or ``z`` (the ablation without M's state).
    :param info: facts about its training kept with it (``env_steps``: the env steps it used to
        learn, random rollouts and controller episodes together; ``env_id``).
    :param hidden_layer: (U, F) weights and (U,) bias of C's tanh layer (``None``: linear C).
    """

    def __init__(
        self,
        vae: ConvVAE,
        rnn: MDNRNN,
        weight: torch.Tensor,
        bias: torch.Tensor,
        inputs: str = "zh",
        info: dict[str, Any] | None = None,
        hidden_layer: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        features = vae.z_dim + (rnn.hidden if inputs == "zh" else 0)
        if inputs not in ("zh", "z"):
            raise ValueError(f"inputs must be 'zh' or 'z', got {inputs!r}")
        if hidden_layer is not None:
            units = hidden_layer[0].shape[0]
            if tuple(hidden_layer[0].shape) != (units, features) or tuple(hidden_layer[1].shape) != (units,):
                raise ValueError(
                    f"C's hidden layer must be (U, {features}) and (U,), got {tuple(hidden_layer[0].shape)}"
                    f" and {tuple(hidden_layer[1].shape)}"
                )
            features = units
        if tuple(weight.shape) != (N_ACTIONS, features) or tuple(bias.shape) != (N_ACTIONS,):
            raise ValueError(f"controller must be ({N_ACTIONS}, {features}) and ({N_ACTIONS},), got {weight.shape}")
        self.vae, self.rnn = vae.eval(), rnn.eval()
        self.weight, self.bias, self.inputs = weight.float(), bias.float(), inputs
        self.hidden_layer = None if hidden_layer is None else (hidden_layer[0].float(), hidden_layer[1].float())
        self.size = vae.map_size
        self.info: dict[str, Any] = dict(info or {})

    def initial_state(self, n: int) -> State:
        """Zero LSTM state for ``n`` episodes: (h, c), each (n, hidden)."""
        zeros = np.zeros((n, self.rnn.hidden), dtype=np.float32)
        return zeros, zeros.copy()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """C: (B, F) inputs ([z, h] or z) -> (B, 8) action logits."""
        if self.hidden_layer is not None:
            x = torch.tanh(x @ self.hidden_layer[0].T + self.hidden_layer[1])
        return x @ self.weight.T + self.bias

    @torch.no_grad()
    def act(
        self, images: torch.Tensor, positions: torch.Tensor, state: State, deterministic: bool = True
    ) -> tuple[np.ndarray, State]:
        """Actions for a batch of observations and the LSTM state after them."""
        z, _ = self.vae.encode(draw_frames(images, positions, self.vae.frame))
        h, c = (torch.from_numpy(s) for s in state)
        logits = self.logits(torch.cat([z, h], dim=1) if self.inputs == "zh" else z)
        if deterministic:
            actions = logits.argmax(dim=1)
        else:
            actions = torch.distributions.Categorical(logits=logits).sample()
        _, _, _, _, _, _, (h2, c2) = self.rnn(z[:, None], actions[:, None], (h[None], c[None]))
        return actions.numpy(), (h2[0].numpy(), c2[0].numpy())

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, State]:
        """SB3's ``predict``: one observation (``image`` (2, H, W), ``position`` (2,)) or a batch.

        :param state: the LSTM state returned by the previous call (``None``: a new episode).
        :param episode_start: (n,) flags; where set, that episode's state starts afresh.
        :return: the action (an int array: shape () for one observation, (n,) for a batch) and the
            new state.
        """
        image, position, single = batch_observation(observation, self.size)
        n = image.shape[0]
        if state is None:
            state = self.initial_state(n)
        if episode_start is not None:
            fresh = np.asarray(episode_start, dtype=bool).reshape(n)
            state = (np.where(fresh[:, None], 0.0, state[0]), np.where(fresh[:, None], 0.0, state[1]))
        actions, state = self.act(
            torch.from_numpy(image), torch.from_numpy(position), (state[0].astype(np.float32), state[1]), deterministic
        )
        return (actions[0] if single else actions), state

    def save(self, path: str) -> None:
        """Write the agent to one file, atomically."""
        from agents.training.checkpoints import save_state

        save_state(
            path,
            {
                "format": AGENT_FORMAT,
                "vae": self.vae.state_dict(),
                "vae_args": self.vae.args,
                "rnn": self.rnn.state_dict(),
                "rnn_args": [self.rnn.z_dim, self.rnn.hidden, self.rnn.gaussians],
                "weight": self.weight,
                "bias": self.bias,
                "inputs": self.inputs,
                "hidden_layer": self.hidden_layer,
                "info": self.info,
            },
        )


def load_agent(path: str) -> WorldModelAgent:
    """Read an agent written by :meth:`WorldModelAgent.save`.

    :raises FileNotFoundError: no file there. :raises ValueError: not such an agent, or damaged.
    """
    from agents.training.checkpoints import load_state

    if not os.path.exists(path):
        raise FileNotFoundError(f"no World Models agent at {path}")
    state: dict[str, Any] = load_state(path, AGENT_FORMAT, "World Models agent")
    vae = ConvVAE(*state["vae_args"])
    vae.load_state_dict(state["vae"])
    rnn = MDNRNN(*state["rnn_args"])
    rnn.load_state_dict(state["rnn"])
    return WorldModelAgent(
        vae, rnn, state["weight"], state["bias"], state["inputs"], state.get("info"), state.get("hidden_layer")
    )
