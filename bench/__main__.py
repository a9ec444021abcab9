"""Run every benchmark: ``python -m bench`` (``make bench``): the env suite, the agents, the sweep
runner, the CEM planner, planning on mazes and a World Models CMA-ES generation."""

from bench import agent_bench, env_bench, maze_bench, planner_bench, sweep_bench, wm_bench

env_bench.main()
agent_bench.main([])
sweep_bench.main([])
planner_bench.main([])
maze_bench.main([])
wm_bench.main([])
