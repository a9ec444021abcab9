"""Sweep runner throughput: 4 small BC trials on Ray Tune (both cores) against the same 4 run serially.

    python -m bench.sweep_bench [--maps 5000] [--epochs 30] [--trials 4] [--noop 8]

* **serial**: :func:`agents.training.bc.train_bc` on each trial's settings, one after another in this process
  (1 torch thread each, as each trial gets 1 CPU);
* **Ray Tune**: the same trials as one sweep (:func:`agents.sweep.runner.run_sweep`, ``cpus: 1``
  each), Ray started inside the call as ``python -m train sweep`` does, its start counted;
* **overhead**: ``--noop`` trials that do nothing (:func:`agents.sweep.runner.run_tasks`), 1 CPU
  each, after Ray has started: wall time per trial and core.

The figures of the trials must agree: the same final loss in both ways (checked).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from bench.timing import machine


def noop(job: dict[str, Any]) -> dict[str, Any]:
    """A trial that does nothing (for the runner's overhead)."""
    return {"job": job["i"]}


def spec_for(storage: str, maps: int, epochs: int, trials: int) -> Any:
    from agents.sweep.spec import parse_spec

    settings = {"epochs": epochs, "n_maps": maps, "val_maps": 100}
    raw = {"name": "bench", "trainer": "bc", "envs": ["VINGrid-8x8-v0"], "seeds": list(range(trials))}
    return parse_spec({**raw, "settings": settings, "resources": {"cpus": 1}, "storage": storage})


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_bench", description=__doc__)
    parser.add_argument("--maps", type=int, default=5000, help="training maps per trial (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="BC epochs per trial (default: the paper's %(default)s)")
    parser.add_argument("--trials", type=int, default=4, help="trials (default: %(default)s)")
    parser.add_argument("--noop", type=int, default=8, help="no-op trials for the overhead (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    import ray

    from agents.sweep.runner import RunnerOptions, ray_session, run_sweep, run_tasks
    from agents.sweep.spec import trial_config
    from agents.training.bc import train_bc

    with tempfile.TemporaryDirectory() as tmp:
        spec = spec_for(tmp, args.maps, args.epochs, args.trials)
        t0 = time.perf_counter()
        serial = {}
        for seed in spec.seeds:
            cfg = trial_config(spec, "VINGrid-8x8-v0", "vin", seed, {})
            _, history = train_bc(cfg, os.path.join(tmp, f"serial{seed}"), progress=not args.no_progress)
            serial[seed] = history[-1]["loss"]
        t_serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = run_sweep(spec, RunnerOptions(progress=not args.no_progress))
        t_ray = time.perf_counter() - t0
        on_ray = {r["config"]["seed"]: r["metrics"]["loss"] for r in results}
        assert on_ray == serial, f"the sweep's figures differ from the serial runs': {on_ray} vs {serial}"
        t0 = time.perf_counter()
        with ray_session(None):
            t_start = time.perf_counter() - t0
            cpus = int(ray.cluster_resources().get("CPU", 1))
            t1 = time.perf_counter()
            noops = [{"i": i} for i in range(args.noop)]
            run_tasks(
                "bench.sweep_bench:noop", noops, "noop", tmp, 1, options=RunnerOptions(progress=not args.no_progress)
            )
            t_noop = time.perf_counter() - t1
    figures = {
        "serial_s": t_serial,
        "ray_s": t_ray,
        "speedup": t_serial / t_ray,
        "ray_start_s": t_start,
        "overhead_per_trial_s": t_noop * cpus / args.noop,
        "cpus": cpus,
    }
    print(f"machine: {machine()}, {cpus} CPUs for Ray")
    print(f"{args.trials} BC trials (8x8, {args.maps} maps, {args.epochs} epochs, 1 CPU each); final losses agree")
    print(f"  serial, one process:        {t_serial:7.1f} s")
    print(f"  Ray Tune sweep, {cpus} CPUs:    {t_ray:7.1f} s (Ray's start included)  speed-up {t_serial / t_ray:.2f}x")
    print(f"  Ray start:                  {t_start:7.1f} s")
    print(
        f"  {args.noop} no-op trials:            {t_noop:7.1f} s = {t_noop * cpus / args.noop:.2f} s per trial and core"
    )
    return figures


if __name__ == "__main__":
    main()
