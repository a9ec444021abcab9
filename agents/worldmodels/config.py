"""Settings of a World Models run: one dataclass for all four stages, stored in the run's logdir."""

from __future__ import annotations

from dataclasses import dataclass

from agents.training.config import check_choice, check_positive, check_types
from agents.worldmodels.data import CollectConfig

#: The stages in order; ``all`` runs them one after another.
STAGES = ("collect", "vae", "mdnrnn", "controller")


@dataclass
class WorldModelsConfig(CollectConfig):
    """Data (the fields of :class:`~agents.worldmodels.data.CollectConfig`), V, M and C."""

    frame: str = "map"
    """V's input: ``map`` (the env's map image), ``ego`` (the map centred on the agent) or
    ``pixels`` (its rendered RGB frame, 64x64 at 8x8 and 16x16); see :mod:`agents.worldmodels.frames`."""
    z_dim: int = 32
    """V: latent size."""
    vae_width: int = 32
    """V: filters of the first convolution (the paper's 32); each further level doubles them."""
    near_weight: float = 1.0
    """V: weight of the agent's 8 neighbours in an ``ego`` frame's obstacle loss."""
    goal_weight: float = 1.0
    """V: weight of an ``ego`` frame's goal term (a categorical over its pixels)."""
    goal_blob: bool = False
    """V (``ego`` frames): the goal channel's keypoint into z, and the goal decoded as a one-pixel
    blob centred where z says (:class:`~agents.worldmodels.vae.ConvVAE`)."""
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
    controller_hidden: int = 0
    """C: tanh units of its hidden layer (0: the paper's linear C)."""
    val_maps: int = 0
    """C: validation maps on which each generation's best candidate and mean are re-scored; the
    best so far there is the agent (0: no validation; the last distribution mean)."""
    common_maps: bool = True
    """C: every candidate of a generation plays the same maps (False: maps of its own each)."""
    cma_diagonal: bool = True
    """C: separable CMA-ES, a diagonal covariance (False: the full covariance matrix)."""
    dream: bool = False
    """C: trained inside M's dream (its predicted rewards and ends, from the collected episodes'
    first frames) instead of in the env; validation maps, if any, are still played in the env."""
    temperature: float = 1.0
    """C, dreaming: M's sampling temperature (Ha's DoomRNN: 1.15)."""
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
        check_choice("frame", self.frame, ["map", "pixels", "ego"])
        if self.goal_blob and self.frame != "ego":
            raise ValueError(f"goal_blob=true needs frame=ego (one goal pixel to place), got frame={self.frame}")
        if self.vae_width < 1 or self.near_weight <= 0 or self.goal_weight <= 0:
            raise ValueError(
                f"vae_width must be >= 1, near_weight and goal_weight > 0, got {self.vae_width}, "
                f"{self.near_weight}, {self.goal_weight}"
            )
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.controller_hidden < 0 or self.val_maps < 0:
            raise ValueError(
                f"controller_hidden and val_maps must be >= 0, got {self.controller_hidden}, {self.val_maps}"
            )
