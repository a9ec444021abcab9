"""M: the MDN-RNN. An LSTM reads (z_t, a_t) and predicts the density of z_{t+1} as a mixture of
diagonal Gaussians, the reward of the move and whether the episode ends with it.

As in the PyTorch reference (ctallec/world-models), the mixture weights are shared by the latent
dimensions, and the loss is ``(mixture NLL + end BCE + reward MSE) / (z_dim + 2)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from gridworld_env.core import N_ACTIONS

#: Format name of an M checkpoint (see :func:`agents.training.checkpoints.load_state`).
MDNRNN_FORMAT = "vingrid-mdnrnn-checkpoint-v1"


class MDNRNN(nn.Module):
    """LSTM over [z, one-hot action] with mixture, reward and end heads.

    :param z_dim: latent size of V.
    :param hidden: LSTM units (256 in the paper).
    :param gaussians: mixture components (5 in the paper).
    :param n_actions: discrete actions.
    """

    def __init__(self, z_dim: int = 32, hidden: int = 256, gaussians: int = 5, n_actions: int = N_ACTIONS) -> None:
        super().__init__()
        self.z_dim, self.hidden, self.gaussians, self.n_actions = z_dim, hidden, gaussians, n_actions
        self.lstm = nn.LSTM(z_dim + n_actions, hidden, batch_first=True)
        self.head = nn.Linear(hidden, gaussians * (2 * z_dim + 1) + 2)

    def forward(
        self, z: torch.Tensor, actions: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[Any, ...]:
        """(B, T, z_dim) latents and (B, T) actions -> mixture means and log-sigmas (B, T, G, z_dim),
        log mixture weights (B, T, G), reward (B, T), end logit (B, T), hidden states (B, T, H)
        and the LSTM state after the last step."""
        x = torch.cat([z, F.one_hot(actions.long(), self.n_actions).to(z.dtype)], dim=-1)
        hs, state = self.lstm(x, state)
        out = self.head(hs)
        b, t = z.shape[:2]
        g, d = self.gaussians, self.z_dim
        mu = out[..., : g * d].view(b, t, g, d)
        log_sigma = out[..., g * d : 2 * g * d].view(b, t, g, d)
        log_pi = F.log_softmax(out[..., 2 * g * d : 2 * g * d + g], dim=-1)
        reward, end = out[..., -2], out[..., -1]
        return mu, log_sigma, log_pi, reward, end, hs, state


def mixture_nll(target: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, log_pi: torch.Tensor) -> torch.Tensor:
    """-log p(target) under the mixture, per step: target (B, T, D), mu / log_sigma (B, T, G, D),
    log_pi (B, T, G) -> (B, T)."""
    x = target.unsqueeze(-2)
    log_n = -0.5 * ((x - mu) / log_sigma.exp()).square() - log_sigma - 0.5 * math.log(2 * math.pi)
    return -torch.logsumexp(log_pi + log_n.sum(-1), dim=-1)


def mdnrnn_loss(
    model: MDNRNN,
    z: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    ends: torch.Tensor,
    lengths: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The reference's loss on episodes: z (B, T + 1, D), actions / rewards / ends (B, T), lengths (B,).

    Steps at or past an episode's length are masked out.
    """
    mu, log_sigma, log_pi, reward, end, _, _ = model(z[:, :-1], actions)
    mask = (torch.arange(actions.shape[1], device=z.device)[None] < lengths[:, None]).to(z.dtype)
    n = mask.sum().clamp(min=1)
    gmm = (mixture_nll(z[:, 1:], mu, log_sigma, log_pi) * mask).sum() / n
    bce = (F.binary_cross_entropy_with_logits(end, ends.to(z.dtype), reduction="none") * mask).sum() / n
    mse = ((reward - rewards).square() * mask).sum() / n
    loss = (gmm + bce + mse) / (model.z_dim + 2)
    return loss, {"loss": loss.item(), "gmm": gmm.item(), "end_bce": bce.item(), "reward_mse": mse.item()}


def train_mdnrnn(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    episodes: dict[str, torch.Tensor],
    hidden: int,
    gaussians: int,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    ckpt: str,
    progress: bool = False,
) -> tuple[MDNRNN, list[dict[str, float]]]:
    """Train M on V's encodings of the collected episodes, checkpointing after every epoch.

    Each epoch samples z from V's posterior (``mu``, ``logvar``: (E, T + 1, D)) afresh, as the
    reference does; the sample, the episode order and everything else of epoch ``e`` come from a
    generator seeded by ``(seed, e)``, so a run continued from its checkpoint equals an
    uninterrupted one.

    :param episodes: ``actions``, ``rewards``, ``dones`` (E, T) and ``lengths`` (E,).
    """
    from agents.worldmodels.epochs import train_epochs

    torch.manual_seed(seed)
    model = MDNRNN(mu.shape[-1], hidden, gaussians)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = mu.shape[0]

    def one_epoch(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
        order = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            loss, parts = mdnrnn_loss(
                model,
                z[idx],
                episodes["actions"][idx],
                episodes["rewards"][idx],
                episodes["dones"][idx],
                episodes["lengths"][idx],
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
        return {k: v / n for k, v in sums.items()}

    extra = {"z_dim": mu.shape[-1], "hidden": hidden, "gaussians": gaussians}
    history = train_epochs(model, optimizer, epochs, one_epoch, ckpt, MDNRNN_FORMAT, "M (MDN-RNN)", extra, progress)
    return model, history
