"""Deprecated: ``agents.config`` moved (to agents.training.config: agents.training.config). This alias stays for one release so
that old imports, and agents saved before the move, still load."""

import warnings

from agents.training.bc import load_bc_config  # noqa: F401
from agents.training.config import *  # noqa: F403
from agents.training.ppo import load_ppo_config  # noqa: F401

warnings.warn(
    "agents.config is deprecated and will be removed in the next release: import from agents.training.config",
    DeprecationWarning,
    stacklevel=2,
)
