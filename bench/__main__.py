"""Run every benchmark: ``python -m bench`` (``make bench``)."""

from bench import env_bench

env_bench.main()
