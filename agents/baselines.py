"""Deprecated: ``agents.baselines`` moved to :mod:`agents.policies.baselines` (import from
agents.policies). This alias stays for one release so that old imports, and agents saved before the
move, still load."""

import sys
import warnings

import agents.policies.baselines as _moved

warnings.warn(
    "agents.baselines is deprecated and will be removed in the next release: import from agents.policies",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
