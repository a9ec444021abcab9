"""V: the World Models convolutional VAE, scaled to the frame size.

The paper's encoder for 64x64 frames is four stride-2 4x4 convolutions (32, 64, 128, 256 filters,
ReLU) to a 2x2x256 map, then two linear layers to the mean and log-variance of ``z``; the decoder
mirrors it with transposed convolutions. Here the number of stride-2 levels follows the frame:
a level halves the side (rounding up) until it is at most 2, so an 8x8 map image gets 2 levels
(32, 64 filters), 16x16 3, 28x28 4, and a 64x64 pixel frame the paper's 4. The decoder doubles the
side back and crops to the frame.

Map images (0/1 channels: obstacles, goal, agent) are scored with a Bernoulli likelihood (binary
cross-entropy on logits); RGB frames in [0, 1] with the same loss on intensities, as a relaxed
Bernoulli. Agent-centred ``ego`` frames hold exactly one goal pixel, so their goal channel is a
categorical over the frame's pixels (a softmax of its logits: the goal's offset costs up to
``log(S^2)`` nats to leave out, instead of the one pixel's worth a Bernoulli charges), and their
obstacle pixels are Bernoulli, those of the agent's 8 neighbours weighted ``near_weight`` times.
With ``goal_blob`` (for ``ego`` frames) the goal channel also reaches z's mean and log-variance
through its keypoint (the spatial expectation of its pixel coordinates, the "spatial softmax" of
Levine et al. 2016 applied to the channel itself) and a linear layer, and it is decoded as a blob
whose logits fall with the squared distance from a centre linear in z. A convolutional VAE learns
a one-pixel goal slowly, if at all, beside hundreds of obstacle pixels (at 16x16 its goal channel
stayed at the frame's centre for 2,500 steps); this path learns it within hundreds, and puts the
goal's offset where a linear read-out finds it. The loss is the negative ELBO per frame: reconstruction summed over pixels plus the KL
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


#: Precision (1 / pixels^2) of the decoded goal blob: a Gaussian of one pixel's spread. Fixed: a
#: learned one shrank to a flat blob, whose centre gets no gradient.
BLOB_PRECISION = 0.5


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
    :param width: filters of the first level (the paper's 32); each further level doubles them.
    :param goal_blob: (``ego`` frames) the goal channel's keypoint also into z, and the goal decoded as a blob.
    """

    def __init__(
        self,
        channels: int = 3,
        side: int = 8,
        z_dim: int = 32,
        frame: str = "map",
        map_size: int | None = None,
        width: int = 32,
        goal_blob: bool = False,
    ) -> None:
        super().__init__()
        if channels < 1 or side < 2 or z_dim < 1 or width < 1:
            raise ValueError(
                f"channels, side, z_dim and width must be positive (side >= 2), got {channels}, {side}, {z_dim}, {width}"
            )
        if goal_blob and frame != "ego":
            raise ValueError(f"goal_blob=True is for ego frames (one goal pixel to place), got frame={frame!r}")
        self.channels, self.side, self.z_dim, self.width, self.goal_blob = channels, side, z_dim, width, goal_blob
        self.frame, self.map_size = frame, side if map_size is None else map_size
        n = levels(side)
        filters = tuple(width * f // FILTERS[0] for f in FILTERS)
        enc: list[nn.Module] = []
        prev = channels
        for ch in filters[:n]:
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
        for ch in reversed(filters[: n - 1]):
            dec += [nn.ConvTranspose2d(prev, ch, 4, stride=2, padding=1), nn.ReLU()]
            prev = ch
        dec.append(nn.ConvTranspose2d(prev, channels, 4, stride=2, padding=1))
        self.decoder = nn.Sequential(*dec)
        self._top = filters[n - 1]
        grid = torch.linspace(-1.0, 1.0, side)
        self.grid: torch.Tensor
        self.register_buffer("grid", torch.stack(torch.meshgrid(grid, grid, indexing="ij")), persistent=False)
        # the goal's pixels straight to z's mean and log-variance, and the goal as a blob: its centre
        # (row, col) and log precision, linear in z
        self.goal_in = nn.Linear(2, 2 * z_dim, bias=False) if goal_blob else None
        self.blob = nn.Linear(z_dim, 2) if goal_blob else None
        if self.blob is not None:
            with torch.no_grad():  # start with little noise in z, so the goal's place gets through
                self.logvar.bias.fill_(-4.0)

    @property
    def args(self) -> list:
        """Constructor arguments, in order (what a checkpoint stores to rebuild the model)."""
        return [self.channels, self.side, self.z_dim, self.frame, self.map_size, self.width, self.goal_blob]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the frame to ``inner * 2^levels`` pixels, so every level halves exactly."""
        full = self.inner * 2 ** levels(self.side)
        extra = full - self.side
        return F.pad(x, (0, extra, 0, extra)) if extra else x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) frames -> mean and log-variance of z, each (B, z_dim)."""
        h = self.encoder(self._pad(x)).flatten(1)
        if self.goal_in is None:
            return self.mu(h), self.logvar(h)
        goal = x[:, 1] / x[:, 1].sum((1, 2), keepdim=True).clamp_min(1e-6)
        keypoint = (goal[:, None] * self.grid[None].to(x.dtype)).sum((2, 3))  # the goal's (row, col) in [-1, 1]
        extra_mu, extra_logvar = self.goal_in(keypoint).chunk(2, 1)
        return self.mu(h) + extra_mu, self.logvar(h) + extra_logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) -> (B, C, H, W) logits of the frame's pixels."""
        h = F.relu(self.expand(z)).view(-1, self._top, self.inner, self.inner)
        logits = self.decoder(h)[..., : self.side, : self.side]
        if self.blob is None:
            return logits
        centre = self.blob(z)
        distance = (self.grid[None] - centre[:, :, None, None]).square().sum(1)  # (B, S, S)
        goal = -BLOB_PRECISION * distance * ((self.side - 1) / 2) ** 2  # in pixels^2
        return torch.stack([logits[:, 0], goal], 1)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Decoded logits -> pixel probabilities (an ``ego`` frame's goal channel: a softmax over pixels)."""
        if self.frame != "ego":
            return torch.sigmoid(logits)
        goal = torch.softmax(logits[:, 1].flatten(1), 1).view_as(logits[:, 1])
        return torch.stack([torch.sigmoid(logits[:, 0]), goal], 1)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """Reconstruction logits, mean and log-variance of z (z sampled by reparameterisation)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def reconstruction_nll(
    x: torch.Tensor, logits: torch.Tensor, frame: str = "map", near_weight: float = 1.0, goal_weight: float = 1.0
) -> torch.Tensor:
    """Reconstruction nats per frame, (B,): Bernoulli pixels, or for ``ego`` frames Bernoulli
    obstacles (the centre's 3x3 weighted ``near_weight``) and a categorical goal pixel (weighted
    ``goal_weight``)."""
    if frame != "ego":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    side = x.shape[-1]
    weight = torch.ones(side, side, dtype=x.dtype, device=x.device)
    mid = side // 2
    weight[mid - 1 : mid + 2, mid - 1 : mid + 2] = near_weight
    walls = (F.binary_cross_entropy_with_logits(logits[:, 0], x[:, 0], reduction="none") * weight).flatten(1).sum(1)
    goal = F.cross_entropy(logits[:, 1].flatten(1), x[:, 1].flatten(1).argmax(1), reduction="none")
    return walls + goal_weight * goal


def vae_loss(
    x: torch.Tensor,
    logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    kl_tolerance: float = 0.5,
    frame: str = "map",
    near_weight: float = 1.0,
    goal_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per frame (mean over the batch), and its two parts.

    :param kl_tolerance: free nats per latent dimension (the reference's 0.5): the KL term is
        ``max(KL, kl_tolerance * z_dim)``.
    :param frame: the frames' kind (see :func:`reconstruction_nll`).
    :param near_weight: weight of the agent's neighbours in an ``ego`` frame's obstacle channel.
    :param goal_weight: weight of an ``ego`` frame's goal term.
    :return: loss, reconstruction (weighted nats per frame), KL (nats per frame, before the floor).
    """
    recon = reconstruction_nll(x, logits, frame, near_weight, goal_weight).mean()
    kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp())).sum(1).mean()
    floor = kl_tolerance * mu.shape[1]
    return recon + torch.clamp(kl, min=floor), recon, kl


#: Format name of a V checkpoint (see :func:`agents.training.checkpoints.load_state`).
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
    width: int = 32,
    near_weight: float = 1.0,
    goal_weight: float = 1.0,
    goal_blob: bool = False,
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

    model = ConvVAE(frames.shape[1], frames.shape[-1], z_dim, frame, map_size, width, goal_blob)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def one_epoch(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(frames.shape[0], generator=gen)
        totals = torch.zeros(3)
        for start in range(0, len(order), batch):
            x = as_float(frames[order[start : start + batch]])
            logits, mu, logvar = model(x, generator=gen)
            loss, recon, kl = vae_loss(x, logits, mu, logvar, kl_tolerance, frame, near_weight, goal_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += torch.stack([loss.detach(), recon.detach(), kl.detach()]) * x.shape[0]
        mean = (totals / frames.shape[0]).tolist()
        return {"loss": mean[0], "reconstruction": mean[1], "kl": mean[2]}

    extra = {
        "shape": list(frames.shape[1:]),
        "z_dim": z_dim,
        "frame": frame,
        "map_size": model.map_size,
        "width": width,
        "goal_blob": goal_blob,
    }
    history = train_epochs(model, optimizer, epochs, one_epoch, ckpt, VAE_FORMAT, "V (VAE)", extra, progress)
    return model, history
