"""Run every benchmark: ``python -m bench`` (``make bench``): the env suite, then the agents."""

from bench import agent_bench, env_bench

env_bench.main()
agent_bench.main([])
