"""Does the learned model imagine what the planner needs? The open-loop check.

CEM plans on the prior alone: from a filtered state it rolls the transition forward with candidate
actions and never sees another frame. A model can fit the filtered frames and rewards well (the
posterior carries each new frame) and still imagine nonsense. :func:`open_loop_check` measures the
imagination directly, without a planner: filter the first frame of each chunk, roll the prior's
:func:`agents.planet.rssm.point` forward with the chunk's true actions, and compare the decoded
agent cell and the predicted reward with the truth at every step. It takes seconds and says
before any CEM run whether planning on the model can work.
"""

from __future__ import annotations

import torch

from agents.planet.rssm import LatentModel, RSSMState, point


@torch.no_grad()
def open_loop_check(model: LatentModel, chunks: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Per imagined step ``k = 1 .. T-1`` (over the chunks still running at ``k``):

    * ``agent``: share of chunks whose decoded agent cell (argmax of the agent channel) is the true one;
    * ``reward_mse``: mean squared error of the predicted reward;
    * ``end_error``: share of chunks whose predicted episode end (probability over 0.5) is wrong.

    :param chunks: chunks (with the agent's flat cell index per frame, ``cells``) as :meth:`agents.planet.data.ReplayBuffer.sample` or
        :func:`agents.planet.data.random_chunks` give them (frames, actions, rewards, ends, mask).
    """
    frames, actions = chunks["frames"], chunks["actions"]
    b, t = frames.shape[:2]
    was_training = model.training
    model.eval()
    state: RSSMState = model.update(None, None, frames[:, 0])
    out: dict[str, list[float]] = {"agent": [], "reward_mse": [], "end_error": []}
    truth = chunks["cells"]
    for k in range(1, t):
        h, prior = model.transition(state, actions[:, k])
        state = RSSMState(h, point(prior))
        feats = state.features()
        live = chunks["mask"][:, k] > 0
        if not live.any():
            break
        guess = model.agent_logits(feats).argmax(-1)
        out["agent"].append((guess == truth[:, k])[live].float().mean().item())
        out["reward_mse"].append(((model.reward(feats) - chunks["rewards"][:, k]) ** 2)[live].mean().item())
        ended = torch.sigmoid(model.end_logit(feats)) > 0.5
        out["end_error"].append((ended != (chunks["ends"][:, k] > 0))[live].float().mean().item())
    model.train(was_training)
    return out
