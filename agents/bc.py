"""Deprecated: ``agents.bc`` moved to :mod:`agents.training.bc` (import from agents.training.bc). This
alias stays for one release so that old imports, and agents saved before the move, still load."""

import sys
import warnings

import agents.training.bc as _moved

warnings.warn(
    "agents.bc is deprecated and will be removed in the next release: import from agents.training.bc",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
