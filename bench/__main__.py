"""Run every benchmark: ``python -m bench`` (``make bench``): the env suite, the agents, the sweep
runner and the CEM planner."""

from bench import agent_bench, env_bench, planner_bench, sweep_bench

env_bench.main()
agent_bench.main([])
sweep_bench.main([])
planner_bench.main([])
