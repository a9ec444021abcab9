"""Pictures of a World Models run: V's reconstructions, a dream beside the real rollout, the CMA-ES curve.

Map images (obstacles, goal, agent channels) are drawn as RGB: free cells white, obstacles dark
grey, the goal green, the agent red; a decoded frame is drawn from its pixel probabilities.
Pixel frames are shown as they are, doubled in size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.worldmodels.mdnrnn import MDNRNN
from agents.worldmodels.vae import ConvVAE

#: Pixels per map cell in the pictures.
CELL = 12


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) map images in [0, 1] -> (N, H * CELL, W * CELL, 3) uint8 RGB."""
    obstacle, goal, agent = (frames[:, i, :, :, None] for i in range(3))
    white = np.ones(3)
    rgb = white * (1 - obstacle) + np.array([0.25, 0.25, 0.25]) * obstacle
    rgb = rgb * (1 - goal) + np.array([0.1, 0.7, 0.2]) * goal
    rgb = rgb * (1 - agent) + np.array([0.85, 0.1, 0.1]) * agent
    out = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return out.repeat(CELL, axis=1).repeat(CELL, axis=2)


def frames_rgb(frames: np.ndarray, kind: str) -> np.ndarray:
    """(N, C, S, S) frames of ``kind`` (``map``, ``ego`` or ``pixels``) in [0, 1] -> (N, h, w, 3) uint8 RGB.

    An ``ego`` frame is drawn as a map image with the agent at its centre and its goal channel
    scaled to its peak (a decoded goal is a distribution over the pixels)."""
    if kind == "map":
        return to_rgb(frames)
    if kind == "ego":
        n, _, side, _ = frames.shape
        goal = frames[:, 1] / np.maximum(frames[:, 1].max(axis=(1, 2), keepdims=True), 1e-6)
        agent = np.zeros((n, side, side), dtype=frames.dtype)
        agent[:, side // 2, side // 2] = 1.0
        return to_rgb(np.stack([frames[:, 0], goal, agent], axis=1))
    rgb = (np.clip(frames.transpose(0, 2, 3, 1), 0, 1) * 255).astype(np.uint8)
    return rgb.repeat(2, axis=1).repeat(2, axis=2)


def _row(images: np.ndarray, gap: int = 4) -> np.ndarray:
    """(N, h, w, 3) -> one (h, N * (w + gap) - gap, 3) strip on a light grey background."""
    n, h, w, _ = images.shape
    strip = np.full((h, n * (w + gap) - gap, 3), 200, dtype=np.uint8)
    for i, im in enumerate(images):
        strip[:, i * (w + gap) : i * (w + gap) + w] = im
    return strip


@torch.no_grad()
def reconstructions(vae: ConvVAE, frames: torch.Tensor) -> np.ndarray:
    """Inputs (top row) above V's reconstructions from their mean code (bottom row), as RGB."""
    probs = vae.probabilities(vae.decode(vae.encode(frames)[0]))
    top, bottom = _row(frames_rgb(frames.numpy(), vae.frame)), _row(frames_rgb(probs.numpy(), vae.frame))
    gap = np.full((4, top.shape[1], 3), 200, dtype=np.uint8)
    return np.concatenate([top, gap, bottom])


@torch.no_grad()
def dream(
    vae: ConvVAE, rnn: MDNRNN, frames: torch.Tensor, actions: torch.Tensor, temperature: float = 1.0, seed: int = 0
) -> list[np.ndarray]:
    """The real rollout (left) beside M's dream of it (right), frame by frame.

    The dream starts from V's code of the first real frame and is fed the real actions; each next
    z is sampled from M's mixture (weights sharpened by ``temperature``, spreads scaled by its
    square root, as in the reference) and decoded by V.

    :param frames: (T + 1, 3, H, W) real frames. :param actions: (T,) the actions taken.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    gen = torch.Generator().manual_seed(seed)
    z = vae.encode(frames[:1])[0]
    state = None
    imagined = [vae.probabilities(vae.decode(z))]
    for a in actions:
        mu, log_sigma, log_pi, _, _, _, state = rnn(z[:, None], a.view(1, 1), state)
        pi = torch.softmax(log_pi[0, 0] / temperature, 0)
        k = int(torch.multinomial(pi, 1, generator=gen))
        eps = torch.randn(mu.shape[-1], generator=gen)
        z = (mu[0, 0, k] + log_sigma[0, 0, k].exp() * eps * temperature**0.5)[None]
        imagined.append(vae.probabilities(vae.decode(z)))
    real = frames_rgb(frames.numpy(), vae.frame)
    fake = frames_rgb(torch.cat(imagined).numpy(), vae.frame)
    return [_row(np.stack([r, f])) for r, f in zip(real, fake, strict=True)]


def save_gif(path: str, images: list[np.ndarray], ms_per_frame: int = 300) -> None:
    """Write ``images`` as a looping GIF at ``path`` (atomically)."""
    from PIL import Image

    from gridworld_env.atomic import atomic_path

    pics = [Image.fromarray(im) for im in images]
    with atomic_path(path) as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)


def save_png(path: str, image: np.ndarray) -> None:
    """Write an RGB array as a PNG at ``path`` (atomically)."""
    from PIL import Image

    from gridworld_env.atomic import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def cmaes_curve(path: str, history: list[dict[str, Any]], title: str) -> None:
    """Generation against the population's mean and best fitness and success, and (when the run
    validated) the validation success of the generation's best candidate and of the best so far,
    as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridworld_env.atomic import atomic_path

    gens = [h["generation"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, key, label in ((left, "fitness", "fitness (success + 0.1 progress)"), (right, "success", "success")):
        ax.plot(gens, [h[f"mean_{key}"] for h in history], label="population mean")
        ax.plot(gens, [h[f"best_{key}"] for h in history], label="best candidate")
        if key == "success" and history and "val_best" in history[0]:
            ax.plot(gens, [h["val_best"] for h in history], label="best candidate, validation maps")
            ax.plot(gens, [h["val_best_so_far"] for h in history], label="best so far, validation maps")
        ax.set_xlabel("CMA-ES generation")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
