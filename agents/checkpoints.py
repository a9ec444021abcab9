"""Deprecated: ``agents.checkpoints`` moved to :mod:`agents.training.checkpoints` (import from
agents.training.checkpoints). This alias stays for one release so that old imports, and agents saved
before the move, still load."""

import sys
import warnings

import agents.training.checkpoints as _moved

warnings.warn(
    "agents.checkpoints is deprecated and will be removed in the next release: import from agents.training.checkpoints",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
