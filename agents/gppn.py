"""Deprecated: ``agents.gppn`` moved (GPPN to agents.planners, its policies to agents.policies: agents.planners and agents.policies). This alias stays for one release so
that old imports, and agents saved before the move, still load."""

import warnings

from agents.planners.gppn import GPPN  # noqa: F401
from agents.policies.gppn import GPPNExtractor, GPPNPolicy, MaskableGPPNPolicy  # noqa: F401

warnings.warn(
    "agents.gppn is deprecated and will be removed in the next release: import from agents.planners and agents.policies",
    DeprecationWarning,
    stacklevel=2,
)
