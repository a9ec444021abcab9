"""Settings of a PlaNet run (``python -m train planet``), stored in the run's logdir."""

from __future__ import annotations

from dataclasses import dataclass

from agents.config import check_choice, check_positive, check_types
from agents.planet.cem import CEMConfig
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
    """Stochastic state: channels per cell (``conv``) or units (``flat``; PlaNet's 30)."""
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
    """Episodes collected with the planner per cycle (played together)."""
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
    free_nats: float = 3.0
    """KL below this many nats per step is not penalised (PlaNet's 3)."""
    kl_scale: float = 0.1
    """Weight of the KL term (PlaNet's 1; see the README for why lower)."""
    kl_balance: float = 0.8
    """DreamerV2's KL balancing: the share of the KL gradient that moves the prior (0.5: plain KL)."""
    open_loop: float = 0.0
    """Weight of the open-loop terms of the loss (frames, rewards and ends of the prior's rollout
    from each chunk's first state: what the planner imagines; 0: PlaNet's loss)."""
    reward_scale: float = 10.0
    """Weight of the reward and episode-end terms against the frame's."""
    horizon: int = 12
    """CEM: planning horizon H."""
    iterations: int = 10
    """CEM: refits I."""
    candidates: int = 1000
    """CEM: sequences per refit J."""
    elites: int = 100
    """CEM: elite set K."""
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
                "collect_episodes",
                "batch",
                "chunk",
                "eval_every",
                "eval_maps",
                "threads",
            ),
        )
        for name in ("lr", "grad_clip", "kl_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("free_nats", "open_loop"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.reward_scale <= 0:
            raise ValueError(f"reward_scale must be > 0, got {self.reward_scale}")
        if self.free_nats < 0:
            raise ValueError(f"free_nats must be >= 0, got {self.free_nats}")
        if not 0 <= self.explore <= 1:
            raise ValueError(f"explore must be in [0, 1], got {self.explore}")
        if not 0 < self.kl_balance < 1:
            raise ValueError(f"kl_balance must be in (0, 1), got {self.kl_balance}")
        self.cem()

    def cem(self) -> CEMConfig:
        """The planner's settings (checked)."""
        return CEMConfig(self.horizon, self.iterations, self.candidates, self.elites)

    @property
    def size(self) -> int:
        return env_size(self.env_id)
