"""Checkpoint files of the BC and PPO trainers: written atomically, read with clear errors."""

from __future__ import annotations

from typing import Any

import torch

from gridworld_env.atomic import atomic_path


def save_state(path: str, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` through a temp file and a rename (never half-written)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str, fmt: str, what: str, weights_only: bool = True) -> dict[str, Any]:
    """Read a checkpoint whose ``"format"`` entry must be ``fmt``.

    :param what: the kind of checkpoint, for messages (``"BC"``, ``"PPO"``).
    :param weights_only: torch's safe loader (tensors and plain Python values only); the PPO
        checkpoint also holds numpy arrays and RNG states and is read with it off.
    :raises FileNotFoundError: no file at ``path``.
    :raises ValueError: a truncated, corrupt or foreign file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=weights_only)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"{path} is not a readable vingrid {what} checkpoint (truncated or corrupt?): {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise ValueError(f"{path} is not a vingrid {what} checkpoint (expected format {fmt!r})")
    return state
