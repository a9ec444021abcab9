"""V: the World Models convolutional VAE, scaled to the frame size.

The paper's encoder for 64x64 frames is four stride-2 4x4 convolutions (32, 64, 128, 256 filters,
ReLU) to a 2x2x256 map, then two linear layers to the mean and log-variance of ``z``; the decoder
mirrors it with transposed convolutions. Here the number of stride-2 levels follows the frame:
a level halves the side (rounding up) until it is at most 2, so an 8x8 map image gets 2 levels
(32, 64 filters), 16x16 3, 28x28 4, and a 64x64 pixel frame the paper's 4. The decoder doubles the
side back and crops to the frame.

Map images (0/1 channels: obstacles, goal, agent) are scored with a Bernoulli likelihood (binary
cross-entropy on logits); RGB frames in [0, 1] with the same loss on intensities, as a relaxed
Bernoulli. The loss is the negative ELBO per frame: reconstruction summed over pixels plus the KL
of ``q(z | x)`` to N(0, I), with the reference's floor (``kl_tolerance`` nats per latent
dimension: a KL under it costs nothing, so the latents keep what the agent's single pixel holds).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: Filters of the paper's four encoder levels; smaller frames use the first ones.
FILTERS = (32, 64, 128, 256)


def levels(side: int) -> int:
    """Stride-2 levels for a frame of ``side`` pixels: halve (rounding up) until at most 2."""
    n = 0
    while side > 2 and n < len(FILTERS):
        side = math.ceil(side / 2)
        n += 1
    return max(n, 1)


class ConvVAE(nn.Module):
    """Convolutional VAE of (C, H, W) frames in [0, 1].

    :param channels: frame channels (3: the map image's obstacles, goal and agent, or RGB).
    :param side: frame height and width.
    :param z_dim: latent size (32 as in the paper).
    :param frame: what the frames are (:data:`agents.worldmodels.frames.FRAMES`): ``map`` images or
        rendered ``pixels``; kept so that the agent draws the same frames from observations.
    :param map_size: the side of the maps in cells (default: ``side``, a map image's).
    """

    def __init__(
        self, channels: int = 3, side: int = 8, z_dim: int = 32, frame: str = "map", map_size: int | None = None
    ) -> None:
        super().__init__()
        if channels < 1 or side < 2 or z_dim < 1:
            raise ValueError(f"channels, side and z_dim must be positive (side >= 2), got {channels}, {side}, {z_dim}")
        self.channels, self.side, self.z_dim = channels, side, z_dim
        self.frame, self.map_size = frame, side if map_size is None else map_size
        n = levels(side)
        enc: list[nn.Module] = []
        prev = channels
        for ch in FILTERS[:n]:
            enc += [nn.Conv2d(prev, ch, 4, stride=2, padding=1), nn.ReLU()]
            prev = ch
        self.encoder = nn.Sequential(*enc)
        self.inner = side
        for _ in range(n):
            self.inner = math.ceil(self.inner / 2)
        # a 4x4 stride-2 conv with padding 1 maps s to floor(s / 2); pad odd sides to keep ceil
        self.flat = prev * self.inner * self.inner
        self.mu = nn.Linear(self.flat, z_dim)
        self.logvar = nn.Linear(self.flat, z_dim)
        self.expand = nn.Linear(z_dim, self.flat)
        dec: list[nn.Module] = []
        for ch in reversed(FILTERS[: n - 1]):
            dec += [nn.ConvTranspose2d(prev, ch, 4, stride=2, padding=1), nn.ReLU()]
            prev = ch
        dec.append(nn.ConvTranspose2d(prev, channels, 4, stride=2, padding=1))
        self.decoder = nn.Sequential(*dec)
        self._top = FILTERS[n - 1]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the frame to ``inner * 2^levels`` pixels, so every level halves exactly."""
        full = self.inner * 2 ** levels(self.side)
        extra = full - self.side
        return F.pad(x, (0, extra, 0, extra)) if extra else x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) frames -> mean and log-variance of z, each (B, z_dim)."""
        h = self.encoder(self._pad(x)).flatten(1)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) -> (B, C, H, W) logits of the frame's pixels."""
        h = F.relu(self.expand(z)).view(-1, self._top, self.inner, self.inner)
        return self.decoder(h)[..., : self.side, : self.side]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Reconstruction logits, mean and log-variance of z (z sampled by reparameterisation)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def vae_loss(
    x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl_tolerance: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per frame (mean over the batch), and its two parts.

    :param kl_tolerance: free nats per latent dimension (the reference's 0.5): the KL term is
        ``max(KL, kl_tolerance * z_dim)``.
    :return: loss, reconstruction (nats per frame), KL (nats per frame, before the floor).
    """
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp())).sum(1).mean()
    floor = kl_tolerance * mu.shape[1]
    return recon + torch.clamp(kl, min=floor), recon, kl


#: Format name of a V checkpoint (see :func:`agents.checkpoints.load_state`).
VAE_FORMAT = "vingrid-vae-checkpoint-v1"


def train_vae(
    frames: torch.Tensor,
    z_dim: int,
    epochs: int,
    batch: int,
    lr: float,
    kl_tolerance: float,
    seed: int,
    ckpt: str,
    progress: bool = False,
    frame: str = "map",
    map_size: int | None = None,
) -> tuple[ConvVAE, list[dict[str, float]]]:
    """Train V on ``frames`` (N, C, H, W) in [0, 1] (or uint8 pixel frames, scaled by 1/255 a batch
    at a time), checkpointing to ``ckpt`` after every epoch.

    A checkpoint already at ``ckpt`` is continued (exactly: the shuffle and the noise of epoch
    ``e`` come from generators seeded by ``(seed, e)``); one that has all ``epochs`` is returned.

    :return: the model and the per-epoch history (loss, reconstruction and KL, nats per frame).
    """
    from agents.worldmodels.epochs import train_epochs

    torch.manual_seed(seed)
    from agents.worldmodels.frames import as_float

    model = ConvVAE(frames.shape[1], frames.shape[-1], z_dim, frame, map_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def one_epoch(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(frames.shape[0], generator=gen)
        totals = torch.zeros(3)
        for start in range(0, len(order), batch):
            x = as_float(frames[order[start : start + batch]])
            logits, mu, logvar = model(x, generator=gen)
            loss, recon, kl = vae_loss(x, logits, mu, logvar, kl_tolerance)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += torch.stack([loss.detach(), recon.detach(), kl.detach()]) * x.shape[0]
        mean = (totals / frames.shape[0]).tolist()
        return {"loss": mean[0], "reconstruction": mean[1], "kl": mean[2]}

    extra = {"shape": list(frames.shape[1:]), "z_dim": z_dim, "frame": frame, "map_size": model.map_size}
    history = train_epochs(model, optimizer, epochs, one_epoch, ckpt, VAE_FORMAT, "V (VAE)", extra, progress)
    return model, history
