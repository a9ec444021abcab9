"""Settings of a PlaNet run (``python -m train planet``), stored in the run's logdir."""

from __future__ import annotations

from dataclasses import dataclass

from agents.planet.cem import CEMConfig
from agents.planet.conv_rssm import check_model_settings, check_search, check_window
from agents.training.config import check_choice, check_positive, check_types
from gridworld_env import env_size

#: The world models a run can train: the spatial RSSM (default) or PlaNet's flat one.
MODELS = ("conv", "flat")


@dataclass
class PlaNetConfig:
    """Model, data collection, training and planning of one run."""

    env_id: str = "VINGrid-8x8-v0"
    """Registered VINGrid env id."""
    seed: int = 0
    """Seeds the maps, the actions, the weights and the planner."""
    model: str = "conv"
    """``conv``: :class:`agents.planet.conv_rssm.ConvRSSM` (a latent map); ``flat``:
    :class:`agents.planet.rssm.RSSM` (PlaNet's latent vector)."""
    deter: int = 16
    """Deterministic state: channels per cell (``conv``) or units (``flat``; PlaNet's 200)."""
    stoch: int = 4
    """Stochastic state: channels per cell (``conv``) or units (``flat``; PlaNet's 30); with
    ``categorical`` latents, categoricals per cell."""
    latent: str = "categorical"
    """Stochastic state: ``categorical`` (DreamerV2; ``conv`` only) or ``gaussian`` (PlaNet)."""
    classes: int = 4
    """Classes of each categorical latent."""
    frame_posterior: bool = True
    """The posterior sees the frame alone, not the model's state (``conv`` only; see
    :class:`agents.planet.conv_rssm.ConvRSSM`). PlaNet's posterior sees both (``False``)."""
    frame: str = "map"
    """What the model sees: ``map`` (the env's map image, one pixel per cell) or ``pixels`` (the
    env's rendered RGB picture, 64x64 at 8x8; ``conv`` only)."""
    hidden: int = 32
    """Hidden channels or units of the transition and the heads."""
    embed: int = 16
    """Frame embedding: channels per cell (``conv``) or units (``flat``)."""
    seed_episodes: int = 1000
    """Episodes of uniform random actions before training (PlaNet's S)."""
    episode_steps: int = 32
    """Moves per collected episode at most; an episode that reaches the goal ends sooner."""
    cycles: int = 20
    """Cycles of training then collecting."""
    train_steps: int = 100
    """Gradient steps per cycle (PlaNet's C)."""
    collect_episodes: int = 100
    """Episodes collected with the planner per cycle (played together; 0: none, the model learns
    from the seed episodes alone)."""
    explore: float = 0.3
    """Probability of a uniform random action in place of the planner's, while collecting."""
    batch: int = 50
    """Chunks per gradient step (PlaNet's B)."""
    chunk: int = 12
    """Frames per chunk (PlaNet's L is 50; our episodes are short)."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 100.0
    """Gradient norm clip (PlaNet's 1000)."""
    free_nats: float = 0.0
    """KL below this many nats per step is not penalised (PlaNet's 3: on a map, one move of the
    agent is about 2 nats, so 3 free nats let the prior ignore the move)."""
    kl_scale: float = 1.0
    """Weight of the KL term (PlaNet's 1)."""
    kl_balance: float = 0.95
    """DreamerV2's KL balancing: the share of the KL gradient that moves the prior (0.5: plain KL;
    DreamerV2's 0.8). High: the prior learns the posterior's code fast, while the posterior is
    held back little from encoding the frame."""
    open_loop: float = 0.0
    """Weight of the open-loop terms of the loss (frames, rewards and ends of the prior's rollout
    from each chunk's first state: what the planner imagines; 0: PlaNet's loss). As a fine-tune
    they made the imagined agent cell right more often far ahead, without raising success
    (docs/agents/planet.md)."""
    reward_scale: float = 10.0
    """Weight of the reward and episode-end terms against the frame's."""
    recon_scale: float = 1.0
    """Weight of the frame term. A ``pixels`` picture has ``P ** 2`` times a map frame's terms (P
    pixels per cell, 8 at 8x8); ``1 / P ** 2`` weighs it as a map frame against the rest."""
    horizon: int = 12
    """CEM: planning horizon H."""
    iterations: int = 10
    """CEM: refits I."""
    candidates: int = 1000
    """CEM: sequences per refit J."""
    elites: int = 100
    """CEM: elite set K."""
    repeat: float = 0.5
    """CEM: probability that a first-iteration sample repeats its previous action (0: PlaNet's
    independent steps). With it and the warm start from the last plan, CEM on the planning oracle
    (H=12, I=4, J=200, K=20) solves 93.5 % of 200 held-out 16x16 maps against 75 % without either
    (docs/agents/planet.md)."""
    discount: float = 0.9
    """CEM: weight ``discount ** t`` of the ``t``-th imagined reward (PlaNet's 1: undiscounted).
    Below 1 a learned model's small errors on the step cost (-0.01) cannot make a detour look as
    good as the short path: on 50 test maps one 8x8 model solved 46 % undiscounted and 98 % with
    0.9 (docs/agents/planet.md)."""
    window: int | None = None
    """Local imagination (``model=conv``): imagined moves after the first two update the cells
    within ``window`` of the agent only (:meth:`agents.planet.conv_rssm.ConvRSSM.imagine_returns`);
    ``None``: the whole map."""
    search: int | None = None
    """Plan by breadth-first search over imagined moves to this depth instead of CEM (``model=conv``;
    :meth:`agents.planet.conv_rssm.ConvRSSM.search`): imagined states that put the agent on the same
    cell are merged, so it imagines at most the actions times the reachable cells; the CEM
    settings above then go unused. ``None``: CEM."""
    eval_every: int = 5
    """Cycles between validation scores (success on held-out validation maps)."""
    eval_maps: int = 200
    """Validation maps per score."""
    threads: int = 2
    """Torch CPU threads."""

    def __post_init__(self) -> None:
        check_types(self)
        env_size(self.env_id)
        check_choice("model", self.model, MODELS)
        check_model_settings(self.model, self.latent, self.classes, self.frame_posterior, self.frame)
        check_positive(
            self,
            (
                "deter",
                "stoch",
                "hidden",
                "embed",
                "seed_episodes",
                "episode_steps",
                "cycles",
                "train_steps",
                "batch",
                "chunk",
                "eval_every",
                "eval_maps",
                "threads",
            ),
        )
        for name in ("lr", "grad_clip", "kl_scale", "recon_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("free_nats", "open_loop", "collect_episodes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.reward_scale <= 0:
            raise ValueError(f"reward_scale must be > 0, got {self.reward_scale}")
        if self.free_nats < 0:
            raise ValueError(f"free_nats must be >= 0, got {self.free_nats}")
        if not 0 <= self.explore <= 1:
            raise ValueError(f"explore must be in [0, 1], got {self.explore}")
        if not 0 < self.discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")
        if not 0 < self.kl_balance < 1:
            raise ValueError(f"kl_balance must be in (0, 1), got {self.kl_balance}")
        check_window(self.window)
        check_search(self.search)
        for name in ("window", "search"):
            if getattr(self, name) is not None and self.model != "conv":
                raise ValueError(
                    f"{name}={getattr(self, name)} needs the spatial model (model=conv), not model={self.model!r}"
                )
        self.cem()

    def cem(self) -> CEMConfig:
        """The planner's settings (checked)."""
        return CEMConfig(self.horizon, self.iterations, self.candidates, self.elites, self.repeat)

    @property
    def size(self) -> int:
        return env_size(self.env_id)
