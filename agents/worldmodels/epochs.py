"""The epoch loop that V and M share: continue from a checkpoint, run the missing epochs, save
atomically after each one, with a progress bar."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from agents.training.checkpoints import load_state, save_state


def train_epochs(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    one_epoch: Callable[[int], dict[str, float]],
    ckpt: str,
    fmt: str,
    what: str,
    extra: dict[str, Any],
    progress: bool = False,
) -> list[dict[str, float]]:
    """Run ``one_epoch(e)`` for the epochs that ``ckpt`` lacks, checkpointing after each.

    :param one_epoch: trains epoch ``e`` (its randomness seeded by ``e``, so a continued run equals
        an uninterrupted one) and returns its figures (``loss`` among them).
    :param fmt: the checkpoint's format name; ``what`` names it in messages (``"V (VAE)"``).
    :param extra: stored beside the weights (the sizes a loader needs).
    :return: the history, one entry per epoch.
    """
    history: list[dict[str, float]] = []
    if os.path.exists(ckpt):
        state = load_state(ckpt, fmt, what)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
    bar = None
    if progress and len(history) < epochs:
        from tqdm import tqdm

        bar = tqdm(total=epochs, initial=len(history), desc=what, unit="epoch")
    for epoch in range(len(history), epochs):
        history.append({"epoch": epoch + 1, **one_epoch(epoch)})
        state = {"format": fmt, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history}
        save_state(ckpt, {**state, **extra})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
    if bar is not None:
        bar.close()
    return history
