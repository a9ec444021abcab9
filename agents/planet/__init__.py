"""PlaNet on VINGrid (issue 13, in progress).

* :mod:`agents.planet.cem`: the planner, CEM over discrete action sequences (and exhaustive search);
* :mod:`agents.planet.oracle`: the planning oracle, the env's own rule as the model, which checks
  the planner apart from any learned model;
* :mod:`agents.planet.rssm`: the recurrent state-space model and PlaNet's loss;
* :mod:`agents.planet.data`: sequence chunks of random-action episodes for the model.

Not built yet: the training loop (seed episodes, collection with the planner, replay buffer,
checkpoints), the SB3-style agent and its loading through :func:`agents.zoo.load_model`.
"""
