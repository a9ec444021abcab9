"""Settings of a World Models run: one dataclass for all four stages, stored in the run's logdir."""

from __future__ import annotations

from dataclasses import dataclass

from agents.config import check_choice, check_positive, check_types
from agents.worldmodels.data import CollectConfig

#: The stages in order; ``all`` runs them one after another.
STAGES = ("collect", "vae", "mdnrnn", "controller")


@dataclass
class WorldModelsConfig(CollectConfig):
    """Data (the fields of :class:`~agents.worldmodels.data.CollectConfig`), V, M and C."""

    frame: str = "map"
    """V's input: ``map`` (the env's map image) or ``pixels`` (its rendered RGB frame, 64x64 at 8x8
    and 16x16); see :mod:`agents.worldmodels.frames`."""
    z_dim: int = 32
    """V: latent size."""
    vae_epochs: int = 10
    """V: passes over the collected frames."""
    vae_batch: int = 256
    """V: frames per gradient step."""
    vae_lr: float = 1e-3
    """V: Adam learning rate."""
    kl_tolerance: float = 0.5
    """V: free nats per latent dimension (the reference's 0.5)."""
    hidden: int = 256
    """M: LSTM units."""
    gaussians: int = 5
    """M: mixture components of the next-z density."""
    rnn_epochs: int = 20
    """M: passes over the collected episodes."""
    rnn_batch: int = 64
    """M: episodes per gradient step."""
    rnn_lr: float = 1e-3
    """M: Adam learning rate."""
    popsize: int = 32
    """C: CMA-ES population."""
    rollouts: int = 16
    """C: episodes (fresh random maps) per candidate and generation."""
    generations: int = 100
    """C: CMA-ES generations at most."""
    sigma0: float = 0.1
    """C: CMA-ES initial step size (the reference's 0.1)."""
    target_return: float | None = None
    """C: stop once the best candidate's mean return reaches this (``None``: run every generation)."""
    controller_inputs: str = "zh"
    """C: ``zh`` (the paper's [z, h]) or ``z`` (the ablation without M's hidden state)."""
    threads: int = 2
    """Torch CPU threads."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_types(self)
        check_positive(
            self,
            (
                "z_dim",
                "vae_epochs",
                "vae_batch",
                "hidden",
                "gaussians",
                "rnn_epochs",
                "rnn_batch",
                "popsize",
                "rollouts",
                "generations",
                "threads",
            ),
        )
        for name in ("vae_lr", "rnn_lr", "sigma0"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.kl_tolerance < 0:
            raise ValueError(f"kl_tolerance must be >= 0, got {self.kl_tolerance}")
        check_choice("controller_inputs", self.controller_inputs, ["zh", "z"])
        check_choice("frame", self.frame, ["map", "pixels"])
