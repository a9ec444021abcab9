"""Deprecated: ``agents.ppo`` moved to :mod:`agents.training.ppo` (import from agents.training.ppo).
This alias stays for one release so that old imports, and agents saved before the move, still load."""

import sys
import warnings

import agents.training.ppo as _moved

warnings.warn(
    "agents.ppo is deprecated and will be removed in the next release: import from agents.training.ppo",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
