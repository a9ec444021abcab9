"""PlaNet on VINGrid (issue 13): a latent dynamics model learned from reward and frames, and
model-predictive planning on it with CEM.

* :mod:`agents.planet.conv_rssm`: the spatial RSSM (a latent map; the default);
* :mod:`agents.planet.rssm`: what every RSSM does (filtering, imagination), PlaNet's flat RSSM
  and PlaNet's loss;
* :mod:`agents.planet.cem`: the planner, CEM over discrete action sequences (and exhaustive search);
* :mod:`agents.planet.oracle`: the planning oracle, the env's own rule as the model, which checks
  the planner apart from any learned model;
* :mod:`agents.planet.data`: played episodes, the move-and-reward rule, the replay buffer;
* :mod:`agents.planet.config`, :mod:`agents.planet.train`: the run's settings and PlaNet's loop
  (seed episodes, then cycles of training and collecting with the planner; exact resume);
* :mod:`agents.planet.agent`: the agent (SB3 ``predict``), saved in one file and loaded by
  :func:`agents.zoo.load_model`.
"""
