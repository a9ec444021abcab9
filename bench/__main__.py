"""Run every benchmark: ``python -m bench`` (``make bench``): the env suite, the agents, the sweep runner."""

from bench import agent_bench, env_bench, sweep_bench

env_bench.main()
agent_bench.main([])
sweep_bench.main([])
