"""Run folders and checkpoint files of the BC and PPO trainers: a finished run is never replaced
without ``overwrite``, checkpoints are written atomically and read with clear errors."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from typing import Any

import torch

from gridworld_env.atomic import atomic_path

#: What a trainer writes into its run folder (``tb`` is the TensorBoard folder of the CLIs).
RUN_FILES = ("checkpoint.pt", "model.zip", "model.pt", "best_model.zip", "evaluations.npz", "tb")

_FORMAT = re.compile(rb"vingrid-([a-z0-9]+)-checkpoint-v[0-9]+")


def prepare_run_dir(out_dir: str, resume: bool, overwrite: bool) -> str:
    """Make ``out_dir`` ready for a run; return the path of its checkpoint.

    * ``resume``: the folder must hold a checkpoint to continue from.
    * otherwise a folder that already holds a run (any of :data:`RUN_FILES`) is refused, unless
      ``overwrite``, which deletes those files first (other files in the folder are kept).

    :raises ValueError: the folder holds a run and neither flag is given, or both flags are.
    :raises FileNotFoundError: ``resume`` without a checkpoint.
    """
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: --resume continues a run, --overwrite replaces it")
    ckpt = os.path.join(out_dir, "checkpoint.pt")
    if resume:
        if not os.path.exists(ckpt):
            raise FileNotFoundError(f"no checkpoint to resume from at {ckpt}: train without --resume first")
        return ckpt
    present = [name for name in RUN_FILES if os.path.exists(os.path.join(out_dir, name))]
    if present and not overwrite:
        raise ValueError(
            f"{out_dir} already holds a run ({', '.join(present)}): continue it with --resume "
            f"(resume=True), replace it with --overwrite (overwrite=True), or choose another --out"
        )
    for name in present:
        path = os.path.join(out_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    os.makedirs(out_dir, exist_ok=True)
    return ckpt


def save_state(path: str, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` through a temp file and a rename (never half-written)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def stored_format(path: str) -> str | None:
    """The ``vingrid-...-checkpoint-vN`` format name inside a checkpoint file, read without
    unpickling anything (``None`` if the file holds none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if not pickles:
                return None
            match = _FORMAT.search(archive.read(pickles[0]))
    except (zipfile.BadZipFile, OSError):
        return None
    return match.group().decode() if match else None


def load_state(path: str, fmt: str, what: str, weights_only: bool = True) -> dict[str, Any]:
    """Read a checkpoint whose ``"format"`` entry must be ``fmt``.

    :param what: the kind of checkpoint, for messages (``"BC"``, ``"PPO"``).
    :param weights_only: torch's safe loader (tensors and plain Python values only); the PPO
        checkpoint also holds numpy arrays and RNG states and is read with it off.
    :raises FileNotFoundError: no file at ``path``.
    :raises ValueError: a truncated, corrupt or foreign file, or a checkpoint of another trainer.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    found = stored_format(path)
    if found is not None and found != fmt:
        kind = _FORMAT.fullmatch(found.encode())
        trainer = kind.group(1).decode() if kind else "another"
        raise ValueError(
            f"{path} is a checkpoint of the {trainer.upper()} trainer ({found}), not a {what} one: "
            f"resume it with `python -m train {trainer} --resume`"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable vingrid {what} checkpoint (truncated or corrupt?): {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise ValueError(f"{path} is not a vingrid {what} checkpoint (expected format {fmt!r})")
    return state
