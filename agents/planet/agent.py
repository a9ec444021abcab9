"""The PlaNet agent: filter the frames into the model's state, plan with CEM on it, act, replan.

It acts through the SB3 interface, ``predict(observation, state, episode_start, deterministic)``,
with the model's filtered state and the last action as ``state``, so ``python -m eval`` and every
table score it as they score SB3 models. One file holds it (:meth:`PlaNetAgent.save`,
:func:`load_agent`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.evaluation import batch_observation
from agents.planet.cem import CEMConfig, cem_plan, shifted
from agents.planet.config import MODELS
from agents.planet.conv_rssm import ConvRSSM, check_model_settings, check_search, check_window
from agents.planet.rssm import RSSM, LatentModel, RSSMState
from agents.worldmodels.frames import cell_pixels, draw_frames
from gridworld_env.core import N_ACTIONS

#: Format name of a saved agent.
AGENT_FORMAT = "vingrid-planet-checkpoint-v1"

#: ``(h, s, last action, plan)`` per episode, as numpy arrays with the batch first; ``plan`` is the
#: best sequence of the last decision (H,), whose rest warm-starts the next one.
State = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def channels_last(model: LatentModel) -> LatentModel:
    """The model with its 4-d weights in channels-last memory order (planning on the CPU runs
    about 1.5x faster so: ``python -m bench.planner_bench``); the values are unchanged."""
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def build_model(
    model: str,
    size: int,
    deter: int,
    stoch: int,
    hidden: int,
    embed: int,
    latent: str = "gaussian",
    classes: int = 4,
    frame_posterior: bool = False,
    frame: str = "map",
) -> LatentModel:
    """A fresh ``model`` (``conv`` or ``flat``) for ``size x size`` maps seen as ``frame``s (``map``
    frames or RGB ``pixels``, :mod:`agents.worldmodels.frames`), with a ``latent`` stochastic state
    (``gaussian``, or ``categorical`` of ``classes`` classes) and a posterior of the frame alone
    (``frame_posterior``); the last four are ``conv`` settings."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    check_model_settings(model, latent, classes, frame_posterior, frame)
    if model == "flat":
        return channels_last(RSSM(3, size, deter=deter, stoch=stoch, hidden=hidden, embed=embed))
    pixels = 1 if frame == "map" else cell_pixels(size)
    net = ConvRSSM(3, size, deter, stoch, hidden, embed, latent, classes, frame_posterior, pixels)
    return channels_last(net)


class PlaNetAgent:
    """A trained model and the planner's settings.

    :param model: the trained RSSM. :param model_args: what :func:`build_model` needs to rebuild it.
    :param cem: the planner's settings. :param seed: seeds the planner's sampling (CEM is random;
        with the same seed and the same calls the agent repeats its actions).
    :param info: facts about its training kept with it (``env_id``, ``env_steps``).
    :param discount: the planner's weight ``discount ** t`` on the ``t``-th imagined reward (1:
        PlaNet's undiscounted return).
    :param window: local imagination (spatial model only): each imagined move past the first two
        updates the cells within ``window`` of the agent, not the whole map
        (:meth:`agents.planet.conv_rssm.ConvRSSM.imagine_returns`); ``None``: the whole map.
    :param search: plan by breadth-first search over imagined moves to this depth
        (:meth:`agents.planet.conv_rssm.ConvRSSM.search`, spatial model only) instead of CEM;
        ``None``: CEM (``cem``).
    """

    def __init__(
        self,
        model: LatentModel,
        model_args: dict[str, Any],
        cem: CEMConfig,
        seed: int = 0,
        info: dict[str, Any] | None = None,
        discount: float = 1.0,
        window: int | None = None,
        search: int | None = None,
    ) -> None:
        if not 0 < discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        check_window(window)
        check_search(search)
        for name, value in (("window", window), ("search", search)):
            if value is not None and not isinstance(model, ConvRSSM):
                raise ValueError(f"{name}={value} needs the spatial model (model=conv), not {type(model).__name__}")
        self.discount, self.window, self.search = discount, window, search
        self.model = channels_last(model).eval()
        self.model_args = dict(model_args)
        self.cem, self.seed = cem, seed
        self.size = int(model_args["size"])
        self.frame = str(model_args.get("frame", "map"))  # files from before pictures: map frames
        self.info: dict[str, Any] = dict(info or {})
        self.generator = torch.Generator().manual_seed(seed)

    def _returns_fn(self, state: RSSMState) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.window is None:
            return lambda s: self.model.imagine_returns(state, s, self.discount)
        model = self.model
        assert isinstance(model, ConvRSSM)
        return lambda s: model.imagine_returns(state, s, self.discount, self.window)

    @property
    def plan_length(self) -> int:
        """Moves of the plans :meth:`plan` returns: the search's depth, or CEM's horizon."""
        return self.cem.horizon if self.search is None else self.search

    @torch.no_grad()
    def plan(self, state: RSSMState, previous: torch.Tensor | None = None) -> torch.Tensor:
        """The best sequences (B, :attr:`plan_length`) the planner finds from the filtered states;
        ``previous`` (B, H): CEM's plans of the last decision, whose
        :func:`agents.planet.cem.shifted` rest is a candidate (the search needs none)."""
        if self.search is not None:
            model = self.model
            assert isinstance(model, ConvRSSM)
            path, _, _ = model.search(state, self.search, self.discount, self.window)
            return path
        seq, _ = cem_plan(
            self._returns_fn(state),
            state.h.shape[0],
            N_ACTIONS,
            self.cem,
            self.generator,
            init=None if previous is None else shifted(previous),
        )
        return seq

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, State]:
        """SB3's ``predict``: one observation (``image`` (2, H, W), ``position`` (2,)) or a batch.

        :param state: what the previous call returned (``None``: every episode starts now).
        :param episode_start: (n,) flags; where set, that episode's state starts afresh.
        :param deterministic: accepted for the interface; the planner's choice is the agent's
            action either way (its sampling follows the agent's seeded generator).
        :return: the action (shape () for one observation, (n,) for a batch) and the new state.
        """
        image, position, single = batch_observation(observation, self.size)
        images, positions = torch.from_numpy(image.astype(np.float32)), torch.from_numpy(position.astype(np.int64))
        n = image.shape[0]
        if state is not None and (len(state) < 3 or any(np.shape(part)[:1] != (n,) for part in state)):
            shapes = [np.shape(part) for part in state]
            raise ValueError(
                f"state must be what predict returned for the same {n} episodes (h, s, last action[, plan]), "
                f"got parts of shapes {shapes}: pass state=None to start every episode afresh"
            )
        if episode_start is not None and np.size(episode_start) != n:
            raise ValueError(f"episode_start must hold one flag per observation ({n}), got {np.size(episode_start)}")
        fresh = np.ones(n, dtype=bool) if state is None else np.zeros(n, dtype=bool)
        if episode_start is not None:
            fresh |= np.asarray(episode_start, dtype=bool).reshape(n)
        frames = draw_frames(images, positions, self.frame)
        filtered = self.model.update(None, None, frames)
        if state is not None and not fresh.all():
            prev = RSSMState(torch.from_numpy(state[0]), torch.from_numpy(state[1]))
            cont = self.model.update(prev, torch.from_numpy(state[2]).long(), frames)
            keep = torch.from_numpy(~fresh).view((n,) + (1,) * (filtered.h.dim() - 1))
            filtered = RSSMState(torch.where(keep, cont.h, filtered.h), torch.where(keep, cont.s, filtered.s))
        previous = None  # the continuing episodes' plans warm-start their decisions
        if state is not None and len(state) > 3 and np.shape(state[3]) == (n, self.plan_length):
            previous = torch.tensor(np.asarray(state[3]), dtype=torch.long)  # a copy: the caller's stays
            previous[torch.from_numpy(fresh)] = 0
        plans = self.plan(filtered, previous)
        out = plans[:, 0].numpy()
        new_state = (filtered.h.numpy(), filtered.s.numpy(), out.astype(np.int64), plans.numpy())
        return (out[0] if single else out), new_state

    def save(self, path: str) -> None:
        """Write the agent to one file, atomically."""
        from agents.training.checkpoints import save_state

        save_state(
            path,
            {
                "format": AGENT_FORMAT,
                "model": self.model.state_dict(),
                "model_args": self.model_args,
                "cem": self.cem.as_list(),
                "seed": self.seed,
                "info": self.info,
                "discount": self.discount,
                "window": self.window,
                "search": self.search,
            },
        )


#: ``load_agent(window=...)`` default: the agent's own window.
OWN = "own"


def load_agent(
    path: str,
    cem: CEMConfig | None = None,
    discount: float | None = None,
    window: int | None | str = OWN,
    search: int | None | str = OWN,
) -> PlaNetAgent:
    """Read an agent written by :meth:`PlaNetAgent.save` (``cem``, ``discount``, ``window``,
    ``search``: other planner settings than its own; ``window=None`` imagines on the whole map,
    ``search=None`` plans with CEM).

    :raises FileNotFoundError: no file there. :raises ValueError: not such an agent, or damaged.
    """
    from agents.training.checkpoints import load_state

    if not os.path.exists(path):
        raise FileNotFoundError(f"no PlaNet agent at {path}")
    state: dict[str, Any] = load_state(path, AGENT_FORMAT, "PlaNet agent")
    args = state["model_args"]
    try:
        model = build_model(**args)
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{path}: the stored weights do not fit the stored model settings ({exc})") from exc
    if discount is None:
        discount = float(state.get("discount", 1.0))
    own = state.get("window")  # files from before local imagination: the whole map
    own_search = state.get("search")  # files from before the search: CEM
    return PlaNetAgent(
        model,
        args,
        cem or CEMConfig(*state["cem"]),
        state["seed"],
        state.get("info"),
        discount,
        own if window == OWN else window,  # type: ignore[arg-type]
        own_search if search == OWN else search,  # type: ignore[arg-type]
    )
