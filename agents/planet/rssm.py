"""PlaNet's recurrent state-space model (RSSM) for VINGrid frames.

The state is a deterministic GRU state ``h`` and a stochastic state ``s`` (Gaussian here, as in
PlaNet; :class:`CellCategorical` gives the spatial model DreamerV2's categoricals):

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
from torch.distributions import Distribution, Normal, OneHotCategoricalStraightThrough, kl_divergence

from gridworld_env.core import N_ACTIONS

#: The agent's channel in a map frame (obstacles, goal, agent).
AGENT_CHANNEL = 2


@dataclass
class RSSMState:
    """A batch of model states: deterministic ``h`` and stochastic ``s``, batch first: (B, D) and
    (B, S) for :class:`RSSM`, (B, D, N, N) and (B, S, N, N) for :class:`agents.planet.conv_rssm.ConvRSSM`."""

    h: torch.Tensor
    s: torch.Tensor

    def features(self) -> torch.Tensor:
        """``[h, s]`` joined along dimension 1 (features or channels)."""
        return torch.cat([self.h, self.s], 1)

    def repeat(self, j: int) -> RSSMState:
        """Each state ``j`` times in a row (for ``j`` candidate sequences per problem)."""
        return RSSMState(self.h.repeat_interleave(j, 0), self.s.repeat_interleave(j, 0))

    def select(self, index: torch.Tensor) -> RSSMState:
        return RSSMState(self.h[index], self.s[index])


def gaussian(stats: torch.Tensor, dim: int = -1) -> Normal:
    """A diagonal Gaussian from mean and pre-softplus std stacked along ``dim`` (std at least 0.1)."""
    mean, std = stats.chunk(2, dim)
    return Normal(mean, nn.functional.softplus(std) + 0.1)


class CellCategorical(OneHotCategoricalStraightThrough):
    """DreamerV2's discrete latent on a map: per cell, ``groups`` categoricals of ``classes``
    classes each, given as (B, groups * classes, N, N) logits and sampled as one-hot maps of the
    same shape with straight-through gradients. A share ``unimix`` of each distribution is uniform
    (DreamerV3), so no KL is infinite."""

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__(probs=probs, validate_args=False)

    @classmethod
    def from_logits(cls, logits: torch.Tensor, classes: int, unimix: float = 0.01) -> CellCategorical:
        b, gc, n, m = logits.shape
        probs = logits.view(b, gc // classes, classes, n, m).permute(0, 1, 3, 4, 2).softmax(-1)
        return cls(probs * (1 - unimix) + unimix / classes)

    @staticmethod
    def to_map(x: torch.Tensor) -> torch.Tensor:
        """(B, G, N, N, C) -> (B, G * C, N, N)."""
        return x.permute(0, 1, 4, 2, 3).flatten(1, 2)

    def rsample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> torch.Tensor:
        assert tuple(sample_shape) == (), "CellCategorical draws one sample per call"
        return self.to_map(super().rsample())

    def mode_map(self) -> torch.Tensor:
        """The most likely class of each categorical, one-hot, as a map."""
        probs = self.probs
        return self.to_map(nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs))


def point(d: Distribution) -> torch.Tensor:
    """The one state a distribution stands for when acting and imagining: a Gaussian's mean, a
    categorical's most likely class."""
    if isinstance(d, CellCategorical):
        return d.mode_map()
    assert isinstance(d, Normal), f"no point estimate for {type(d).__name__}"
    return d.mean


class LatentModel(nn.Module):
    """What every RSSM does with its parts: filter observed sequences, update a state by one frame,
    and score action sequences in imagination. A subclass defines ``encoder`` and the methods
    :meth:`initial`, :meth:`transition`, :meth:`posterior`, :meth:`decode`, :meth:`reward` and
    :meth:`end_logit`; the heads take the flat features of :meth:`RSSMState.features`."""

    encoder: nn.Module

    def initial(self, batch: int) -> RSSMState:
        raise NotImplementedError

    def initial_prior(self, h: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def transition(self, state: RSSMState, action: torch.Tensor) -> tuple[torch.Tensor, Distribution]:
        """The next ``h`` and the prior over the next ``s``, after ``action`` (B,) int64."""
        raise NotImplementedError

    def posterior(self, h: torch.Tensor, embed: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, F...) features -> (B, C, N, N) frame logits."""
        raise NotImplementedError

    def agent_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, F...) features -> (B, N * N): where the model sees the agent, one logit per cell
        (the decoded map frame's agent channel)."""
        return self.decode(feats)[:, AGENT_CHANNEL].flatten(1)

    def reward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, F...) features -> (B,) reward of the move that led to the state."""
        raise NotImplementedError

    def end_logit(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, F...) features -> (B,) logit that the episode ended at the state."""
        raise NotImplementedError

    def observe(
        self, frames: torch.Tensor, actions: torch.Tensor
    ) -> tuple[list[RSSMState], list[Distribution], list[Distribution]]:
        """Filter a batch of sequences: frames (B, T, C, N, N) float, actions (B, T) int64 where
        ``actions[:, t]`` led from frame ``t - 1`` to frame ``t`` (``actions[:, 0]`` is ignored).

        :return: the posterior states, priors and posteriors of every step.
        """
        b, t = frames.shape[:2]
        embeds = self.encoder(frames.flatten(0, 1))
        embeds = embeds.view(b, t, *embeds.shape[1:])
        state = self.initial(b)
        h = state.h
        prior = self.initial_prior(h)
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

    @torch.no_grad()
    def update(self, state: RSSMState | None, action: torch.Tensor | None, frame: torch.Tensor) -> RSSMState:
        """The filtered state after one more frame (B, C, N, N): from ``state`` by ``action`` (B,),
        or from the initial state for the first frame of an episode (``state is None``). The
        stochastic state is the posterior's :func:`point` (acting is deterministic given the frames)."""
        if state is None or action is None:
            h = self.initial(frame.shape[0]).h
        else:
            h, _ = self.transition(state, action)
        return RSSMState(h, point(self.posterior(h, self.encoder(frame))))

    @torch.no_grad()
    def imagine_returns(self, state: RSSMState, sequences: torch.Tensor, discount: float = 1.0) -> torch.Tensor:
        """(B, J) predicted returns of (B, J, H) action sequences from the states of B problems:
        the prior's :func:`point` rollout, each predicted reward weighted by the predicted probability that
        the episode has not ended before it, and by ``discount ** t`` for the ``t``-th move
        (PlaNet's 1: undiscounted)."""
        b, j, horizon = sequences.shape
        current = state.repeat(j)
        alive = torch.ones(b * j, device=state.h.device)
        total = torch.zeros(b * j, device=state.h.device)
        for t in range(horizon):
            h, prior = self.transition(current, sequences[:, :, t].reshape(-1))
            current = RSSMState(h, point(prior))
            feats = current.features()
            total += discount**t * alive * self.reward(feats)
            alive = alive * (1 - torch.sigmoid(self.end_logit(feats)))
        return total.view(b, j)


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ELU(), nn.Linear(hidden, out))


class RSSM(LatentModel):
    """PlaNet's model with flat latents; ``channels`` x ``size`` x ``size`` frames, 8 actions."""

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

    def initial_prior(self, h: torch.Tensor) -> Normal:
        return gaussian(self.prior_net(h))

    def transition(self, state: RSSMState, action: torch.Tensor) -> tuple[torch.Tensor, Normal]:
        a = nn.functional.one_hot(action, N_ACTIONS).float()
        h = self.cell(self.inp(torch.cat([state.s, a], -1)), state.h)
        return h, gaussian(self.prior_net(h))

    def posterior(self, h: torch.Tensor, embed: torch.Tensor) -> Normal:
        return gaussian(self.post_net(torch.cat([h, embed], -1)))

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        return self.decoder(feats).view(-1, self.channels, self.size, self.size)

    def reward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.reward_head(feats).squeeze(-1)

    def end_logit(self, feats: torch.Tensor) -> torch.Tensor:
        return self.end_head(feats).squeeze(-1)


def _detached(d: Distribution) -> Distribution:
    if isinstance(d, CellCategorical):
        return CellCategorical(d.probs.detach())
    assert isinstance(d, Normal), f"cannot detach {type(d).__name__}"
    return Normal(d.mean.detach(), d.stddev.detach())


def rssm_loss(
    model: LatentModel,
    frames: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    ends: torch.Tensor,
    mask: torch.Tensor,
    free_nats: float = 3.0,
    kl_scale: float = 1.0,
    kl_balance: float = 0.5,
    open_loop: float = 0.0,
    reward_scale: float = 1.0,
    recon_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """PlaNet's loss on a batch of chunks (each term a mean over the valid steps of ``mask``).

    :param frames: (B, T, C, N, N) float 0/1 frames.
    :param actions: (B, T) int64, ``actions[:, t]`` led to frame ``t``.
    :param rewards: (B, T) reward of the move that led to frame ``t``.
    :param ends: (B, T) 1.0 where the episode ended at frame ``t``.
    :param mask: (B, T) 1.0 for real steps (0 after an episode's end, in padding).
    :param kl_scale: weight of the KL term (PlaNet's 1).
    :param kl_balance: DreamerV2's KL balancing, the share of the KL's gradient that moves the
        prior (0.5: the plain KL).
    :param open_loop: weight of the open-loop terms (0: none): frames, rewards and ends predicted by
        the prior's :func:`point` rolled forward from the chunk's first state with its actions, as the
        planner imagines them (observation overshooting).
    :param reward_scale: weight of the reward and episode-end terms against the frame's (a map
        frame has 3 x N x N pixels and one reward).
    :param recon_scale: weight of the frame terms (a picture of P x P pixels per cell has P ** 2
        times the terms of a map frame; ``1 / P ** 2`` gives its frame term a map frame's weight).
    """
    states, priors, posts = model.observe(frames, actions)
    b, t = frames.shape[:2]
    feats = torch.stack([s.features() for s in states], 1).flatten(0, 1)
    weight = mask / mask.sum().clamp(min=1)
    logits = model.decode(feats).view(frames.shape)
    recon = nn.functional.binary_cross_entropy_with_logits(logits, frames, reduction="none")
    recon = (recon.flatten(2).sum(-1) * weight).sum()
    steps = mask.clone()
    steps[:, 0] = 0  # no move led to the first frame of a chunk
    step_weight = steps / steps.sum().clamp(min=1)
    reward = (((model.reward(feats).view(b, t) - rewards) ** 2) * step_weight).sum()
    end_logit = model.end_logit(feats).view(b, t)
    end = (nn.functional.binary_cross_entropy_with_logits(end_logit, ends, reduction="none") * step_weight).sum()
    kl = torch.stack([kl_divergence(q, p).flatten(1).sum(-1) for q, p in zip(posts, priors)], 1)
    if kl_balance == 0.5:
        kl_term = (kl.clamp(min=free_nats) * weight).sum()
    else:  # DreamerV2's balancing: the prior moves to the posterior faster than the posterior to the prior
        to_post = torch.stack([kl_divergence(_detached(q), p).flatten(1).sum(-1) for q, p in zip(posts, priors)], 1)
        to_prior = torch.stack([kl_divergence(q, _detached(p)).flatten(1).sum(-1) for q, p in zip(posts, priors)], 1)
        mixed = 2 * (kl_balance * to_post + (1 - kl_balance) * to_prior)
        kl_term = (torch.where(kl > free_nats, mixed, torch.zeros_like(mixed)) * weight).sum()
    total = recon_scale * recon + reward_scale * (reward + end) + kl_scale * kl_term
    out = {"loss": total, "recon": recon, "reward": reward, "end": end, "kl": (kl * weight).sum()}
    if open_loop > 0:
        # What planning sees: the prior's mean rolled from the first posterior state with the chunk's
        # actions; its frames, rewards and ends are scored like the filtered ones.
        state, feats_ol = states[0], []
        for step in range(1, t):
            h, prior = model.transition(state, actions[:, step])
            # A categorical's point (argmax) passes no gradient to the prior; its straight-through
            # sample does, and is a one-hot like the point.
            state = RSSMState(h, prior.rsample() if isinstance(prior, CellCategorical) else point(prior))
            feats_ol.append(state.features())
        flat = torch.stack(feats_ol, 1).flatten(0, 1)
        logits = model.decode(flat).view(b, t - 1, *frames.shape[2:])
        w = steps[:, 1:] / steps.sum().clamp(min=1)
        ol_recon = nn.functional.binary_cross_entropy_with_logits(logits, frames[:, 1:], reduction="none")
        ol_recon = (ol_recon.flatten(2).sum(-1) * w).sum()
        ol_reward = (((model.reward(flat).view(b, t - 1) - rewards[:, 1:]) ** 2) * w).sum()
        ol_end = nn.functional.binary_cross_entropy_with_logits(
            model.end_logit(flat).view(b, t - 1), ends[:, 1:], reduction="none"
        )
        ol_end = (ol_end * w).sum()
        out["loss"] = total + open_loop * (recon_scale * ol_recon + reward_scale * (ol_reward + ol_end))
        out.update(open_recon=ol_recon, open_reward=ol_reward, open_end=ol_end)
    return out
