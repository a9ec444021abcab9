"""Stable-Baselines3 policies: the planners of :mod:`agents.planners` wrapped as features
extractors and actor-critic policies (:mod:`agents.policies.vin`, :mod:`agents.policies.gppn`,
their shared :mod:`agents.policies.extractors`), and the paper's reactive baselines
(:mod:`agents.policies.baselines`). Every policy has a PPO and a MaskablePPO class, since SB3
saves a policy by its class.

    from stable_baselines3 import PPO
    from agents.policies import VINPolicy
    model = PPO(VINPolicy, env)          # env: a VINGrid env or VINGridVecEnv
"""

from agents.policies.baselines import (
    CNNExtractor,
    CNNPolicy,
    FCNExtractor,
    FCNPolicy,
    MaskableCNNPolicy,
    MaskableFCNPolicy,
)
from agents.policies.extractors import PlanningExtractor, group_maps, planner_defaults, resize_policy
from agents.policies.gppn import GPPNExtractor, GPPNPolicy, MaskableGPPNPolicy
from agents.policies.vin import HEAD_INITS, CenteredQ, MaskableVINPolicy, VINExtractor, VINPolicy, vin_of

__all__ = [
    "HEAD_INITS",
    "CNNExtractor",
    "CNNPolicy",
    "CenteredQ",
    "FCNExtractor",
    "FCNPolicy",
    "GPPNExtractor",
    "GPPNPolicy",
    "MaskableCNNPolicy",
    "MaskableFCNPolicy",
    "MaskableGPPNPolicy",
    "MaskableVINPolicy",
    "PlanningExtractor",
    "VINExtractor",
    "VINPolicy",
    "group_maps",
    "planner_defaults",
    "resize_policy",
    "vin_of",
]
