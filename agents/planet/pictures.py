"""PlaNet's signature picture: open-loop video prediction.

The model filters the first ``context`` frames of an episode (the posterior sees them), then
imagines the rest with the prior alone, fed the episode's own actions and no more frames: what the
planner sees when it scores that action sequence. Each GIF frame shows, for several held-out maps,
the true frame beside the model's decoded one (its frame probabilities drawn as colours).
"""

from __future__ import annotations

import numpy as np
import torch

from agents.pictures import titled
from agents.planet.rssm import LatentModel, RSSMState, point
from agents.worldmodels.pictures import _row, frames_rgb


@torch.no_grad()
def open_loop_frames(
    model: LatentModel, chunks: dict[str, torch.Tensor], context: int = 1, frame: str = "map"
) -> list[np.ndarray]:
    """GIF frames of open-loop prediction on the chunks (frames (B, T, 3, S, S) of kind ``frame``,
    actions (B, T)).

    Frame ``t`` shows each chunk's true frame ``t`` (left) beside the model's (right): for
    ``t < context`` the filtered state's reconstruction, after that the prior's imagination.

    :raises ValueError: ``context`` is not in ``[1, T)``.
    """
    frames, actions = chunks["frames"], chunks["actions"]
    b, t = frames.shape[:2]
    if not 1 <= context < t:
        raise ValueError(f"context must be in [1, {t}) frames, got {context}")
    was_training = model.training
    model.eval()
    state: RSSMState = model.update(None, None, frames[:, 0])
    decoded = [torch.sigmoid(model.decode(state.features()))]
    for k in range(1, t):
        if k < context:
            state = model.update(state, actions[:, k], frames[:, k])
        else:
            h, prior = model.transition(state, actions[:, k])
            state = RSSMState(h, point(prior))
        decoded.append(torch.sigmoid(model.decode(state.features())))
    model.train(was_training)
    out = []
    for k in range(t):
        truth, guess = frames_rgb(frames[:, k].numpy(), frame), frames_rgb(decoded[k].numpy(), frame)
        pairs = np.stack([_row(np.stack([truth[i], guess[i]]), gap=2) for i in range(b)])
        what = f"context frame {k + 1} of {context}" if k < context else f"imagined step {k - context + 1}"
        out.append(titled(_row(pairs, gap=10), what, "each pair: truth | model"))
    return out
