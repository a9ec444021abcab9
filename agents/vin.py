"""Deprecated: ``agents.vin`` moved (to agents.planners: agents.planners). This alias stays for one release so
that old imports, and agents saved before the move, still load."""

import warnings

from agents.planners.inference import set_inference_planning  # noqa: F401
from agents.planners.vin import *  # noqa: F403

warnings.warn(
    "agents.vin is deprecated and will be removed in the next release: import from agents.planners",
    DeprecationWarning,
    stacklevel=2,
)
