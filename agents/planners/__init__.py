"""The differentiable planners, plain torch modules with no SB3 in them: the Value Iteration
Network (:mod:`agents.planners.vin`), the Gated Path Planning Network (:mod:`agents.planners.gppn`)
and test-time iterations for both (:mod:`agents.planners.inference`). The SB3 policies that wrap
them are in :mod:`agents.policies`."""

from agents.planners.gppn import GPPN
from agents.planners.inference import set_inference_planning
from agents.planners.vin import PAPER_K, VIN, default_k

__all__ = ["GPPN", "PAPER_K", "VIN", "default_k", "set_inference_planning"]
