"""The trainers and what they share: behaviour cloning (:mod:`agents.training.bc`), PPO and
MaskablePPO (:mod:`agents.training.ppo`), the settings checks of every trainer's config
(:mod:`agents.training.config`) and atomic, resumable checkpoints
(:mod:`agents.training.checkpoints`)."""
