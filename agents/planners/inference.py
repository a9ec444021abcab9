"""Planning at test time with other iterations than in training: :func:`set_inference_planning`."""

from __future__ import annotations

from torch import nn

from agents.planners.gppn import GPPN
from agents.planners.vin import VIN


def set_inference_planning(policy: nn.Module, k: int | None = None, tol: float | None = None) -> None:
    """Plan with ``k`` iterations (``None``: the trained K) when no gradient is taken, stopping
    early once no value changes by more than ``tol`` (``None``: never): value iteration with tied
    weights is a fixed-point iteration, so a planner trained with a small K can be run to
    convergence on maps whose paths are longer than K. Applies to every VIN (tied) and GPPN in
    ``policy`` and empties their plan caches.

    :raises ValueError: ``k < 1``, ``tol < 0``, an untied VIN (its iterations have their own
        kernels), or no planner in ``policy``.
    """
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if tol is not None and tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    found = False
    for module in policy.modules():
        if isinstance(module, VIN) and not module.tied and (k is not None or tol is not None):
            raise ValueError("an untied VIN has one kernel pair per iteration: it cannot run other iterations")
        if isinstance(module, VIN | GPPN):
            module.inference_k, module.inference_tol = k, tol
            found = True
        clear = getattr(module, "clear_plan_cache", None)
        if callable(clear):
            clear()  # plans made with the old settings
    if not found:
        raise ValueError(f"{type(policy).__name__} holds no VIN or GPPN to plan with")
