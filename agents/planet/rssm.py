"""PlaNet's recurrent state-space model (RSSM) for VINGrid frames.

The state is a deterministic GRU state ``h`` and a stochastic Gaussian state ``s``:

* transition: ``h_t = GRU(h_{t-1}, [s_{t-1}, a_{t-1}])``; prior ``p(s_t | h_t)``;
* posterior ``q(s_t | h_t, e_t)`` with ``e_t`` the convolutional embedding of frame ``t``;
* heads on ``[h_t, s_t]``: the frame (Bernoulli logits per pixel and channel: the map frame is 0/1),
  the reward of the move that led to ``t`` and whether the episode ended there.

:func:`rssm_loss` is PlaNet's loss: reconstruction, reward and end terms plus the KL of posterior to
prior, each step's KL clamped below at ``free_nats``. :meth:`RSSM.imagine_returns` scores action
sequences from given states with the prior alone (what CEM plans on): the predicted rewards, each
weighted by the predicted probability that the episode has not ended before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from gridworld_env.core import N_ACTIONS


@dataclass
class RSSMState:
    """A batch of model states: deterministic ``h`` (B, D) and stochastic ``s`` (B, S)."""

    h: torch.Tensor
    s: torch.Tensor

    def features(self) -> torch.Tensor:
        return torch.cat([self.h, self.s], -1)


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ELU(), nn.Linear(hidden, out))


class RSSM(nn.Module):
    """The model; ``channels`` x ``size`` x ``size`` frames, 8 actions."""

    def __init__(
        self, channels: int, size: int, deter: int = 200, stoch: int = 30, hidden: int = 200, embed: int = 256
    ) -> None:
        super().__init__()
        self.channels, self.size, self.deter, self.stoch = channels, size, deter, stoch
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ELU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ELU(),
            nn.Flatten(),
            nn.Linear(32 * size * size, embed),
        )
        self.inp = nn.Sequential(nn.Linear(stoch + N_ACTIONS, hidden), nn.ELU())
        self.cell = nn.GRUCell(hidden, deter)
        self.prior_net = _mlp(deter, hidden, 2 * stoch)
        self.post_net = _mlp(deter + embed, hidden, 2 * stoch)
        self.decoder = _mlp(deter + stoch, hidden, channels * size * size)
        self.reward_head = _mlp(deter + stoch, hidden, 1)
        self.end_head = _mlp(deter + stoch, hidden, 1)

    def initial(self, batch: int) -> RSSMState:
        p = next(self.parameters())
        return RSSMState(p.new_zeros(batch, self.deter), p.new_zeros(batch, self.stoch))

    @staticmethod
    def _gaussian(stats: torch.Tensor) -> Normal:
        mean, std = stats.chunk(2, -1)
        return Normal(mean, nn.functional.softplus(std) + 0.1)

    def transition(self, state: RSSMState, action: torch.Tensor) -> tuple[torch.Tensor, Normal]:
        """The next ``h`` and the prior over the next ``s``, after ``action`` (B,) int64."""
        a = nn.functional.one_hot(action, N_ACTIONS).float()
        h = self.cell(self.inp(torch.cat([state.s, a], -1)), state.h)
        return h, self._gaussian(self.prior_net(h))

    def posterior(self, h: torch.Tensor, embed: torch.Tensor) -> Normal:
        return self._gaussian(self.post_net(torch.cat([h, embed], -1)))

    def observe(
        self, frames: torch.Tensor, actions: torch.Tensor
    ) -> tuple[list[RSSMState], list[Normal], list[Normal]]:
        """Filter a batch of sequences: frames (B, T, C, N, N) float, actions (B, T) int64 where
        ``actions[:, t]`` led from frame ``t - 1`` to frame ``t`` (``actions[:, 0]`` is ignored).

        :return: the posterior states, priors and posteriors of every step.
        """
        b, t = frames.shape[:2]
        embeds = self.encoder(frames.flatten(0, 1)).view(b, t, -1)
        state = self.initial(b)
        h = state.h
        prior = self._gaussian(self.prior_net(h))
        states, priors, posts = [], [], []
        for step in range(t):
            if step > 0:
                h, prior = self.transition(state, actions[:, step])
            post = self.posterior(h, embeds[:, step])
            state = RSSMState(h, post.rsample())
            states.append(state)
            priors.append(prior)
            posts.append(post)
        return states, priors, posts

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        return self.decoder(feats).view(*feats.shape[:-1], self.channels, self.size, self.size)

    @torch.no_grad()
    def imagine_returns(self, state: RSSMState, sequences: torch.Tensor) -> torch.Tensor:
        """(B, J) predicted returns of (B, J, H) action sequences from the states of B problems."""
        b, j, horizon = sequences.shape
        current = RSSMState(state.h.repeat_interleave(j, 0), state.s.repeat_interleave(j, 0))
        alive = torch.ones(b * j, device=state.h.device)
        total = torch.zeros(b * j, device=state.h.device)
        for t in range(horizon):
            h, prior = self.transition(current, sequences[:, :, t].reshape(-1))
            current = RSSMState(h, prior.mean)
            feats = current.features()
            total += alive * self.reward_head(feats).squeeze(-1)
            alive = alive * (1 - torch.sigmoid(self.end_head(feats).squeeze(-1)))
        return total.view(b, j)


def rssm_loss(
    model: RSSM,
    frames: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    ends: torch.Tensor,
    mask: torch.Tensor,
    free_nats: float = 3.0,
) -> dict[str, torch.Tensor]:
    """PlaNet's loss on a batch of chunks (each term a mean over the valid steps of ``mask``).

    :param frames: (B, T, C, N, N) float 0/1 frames.
    :param actions: (B, T) int64, ``actions[:, t]`` led to frame ``t``.
    :param rewards: (B, T) reward of the move that led to frame ``t``.
    :param ends: (B, T) 1.0 where the episode ended at frame ``t``.
    :param mask: (B, T) 1.0 for real steps (0 after an episode's end, in padding).
    """
    states, priors, posts = model.observe(frames, actions)
    feats = torch.stack([s.features() for s in states], 1)
    weight = mask / mask.sum().clamp(min=1)
    recon = nn.functional.binary_cross_entropy_with_logits(model.decode(feats), frames, reduction="none")
    recon = (recon.flatten(2).sum(-1) * weight).sum()
    steps = mask.clone()
    steps[:, 0] = 0  # no move led to the first frame of a chunk
    step_weight = steps / steps.sum().clamp(min=1)
    reward = (((model.reward_head(feats).squeeze(-1) - rewards) ** 2) * step_weight).sum()
    end_logit = model.end_head(feats).squeeze(-1)
    end = (nn.functional.binary_cross_entropy_with_logits(end_logit, ends, reduction="none") * step_weight).sum()
    kl = torch.stack([kl_divergence(q, p).sum(-1) for q, p in zip(posts, priors)], 1)
    kl_term = (kl.clamp(min=free_nats) * weight).sum()
    total = recon + reward + end + kl_term
    return {"loss": total, "recon": recon, "reward": reward, "end": end, "kl": (kl * weight).sum()}
