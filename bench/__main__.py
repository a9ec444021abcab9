"""Run every benchmark: ``python -m bench`` (``make bench``): the env suite, the agents, the sweep
runner, the CEM planner and planning on mazes."""

from bench import agent_bench, env_bench, maze_bench, planner_bench, sweep_bench

env_bench.main()
agent_bench.main([])
sweep_bench.main([])
planner_bench.main([])
maze_bench.main([])
