"""Sweeps on Ray Tune: a YAML spec of trials (:mod:`agents.sweep.spec`) run by
:func:`agents.sweep.runner.run_sweep`, locally on every core or on a Ray cluster."""
