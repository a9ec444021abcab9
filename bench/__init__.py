"""Benchmarks (``make bench``); figures go to BENCHMARKS.md."""
