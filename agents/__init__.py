"""The agents: planners (:mod:`agents.planners`), the SB3 policies around them and the reactive
baselines (:mod:`agents.policies`), the BC and PPO trainers (:mod:`agents.training`), the
model-based agents (:mod:`agents.worldmodels`, :mod:`agents.planet`), sweeps on Ray Tune
(:mod:`agents.sweep`), evaluation under the paper's protocol (:mod:`agents.evaluation`) and
loading any agent file (:mod:`agents.zoo`)."""
