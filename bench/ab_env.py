"""A/B of the env hot paths between two checkouts of the project, interleaved in one run.

    python -m bench.ab_env --before /path/to/old/checkout [--after .] [--rounds 5]

Each round measures every figure once in the ``before`` tree and once in the ``after`` tree,
each in a fresh subprocess (``PYTHONPATH`` set to the tree), alternating which goes first; the
table gives the best of the rounds for each and the ratio after / before. Absolute rates on a
shared machine drift; the ratio of interleaved runs is the figure to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence

#: figure name -> Python expression evaluated inside ``bench.env_bench`` of the tree under test.
FIGURES = {
    "single env 16x16, steps/s": "single_env_rate('VINGrid-16x16-v0', 100_000)",
    "batched env N=64, 16x16, steps/s": "batched_rate(64, 16, 2_000)",
    "batched env N=4096, 16x16, steps/s": "batched_rate(4096, 16, 300)",
    "BFS distance maps/s, 28x28": "bfs_rate(28)",
    "data set maps/s, 16x16, 7 trajectories": "dataset_rate(16)[0]",
}


def measure(tree: str) -> dict[str, float]:
    """Every figure of :data:`FIGURES`, measured in a subprocess on ``tree``."""
    code = "import json\nfrom bench.env_bench import *\n" + (
        "print(json.dumps({" + ", ".join(f"{name!r}: {expr}" for name, expr in FIGURES.items()) + "}))"
    )
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ab_env", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", required=True, help="checkout of the old code")
    parser.add_argument("--after", default=".", help="checkout of the new code (default: this one)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    from tqdm import tqdm

    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    with tqdm(total=2 * args.rounds, desc="A/B", unit="run", disable=args.no_progress) as bar:
        for r in range(args.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for which in order:
                for name, rate in measure(getattr(args, which)).items():
                    best[which][name] = max(best[which].get(name, 0.0), rate)
                bar.update(1)
    print(f"| figure (best of {args.rounds} interleaved rounds) | before | after | after / before |")
    print("|---|---|---|---|")
    for name in FIGURES:
        b, a = best["before"][name], best["after"][name]
        print(f"| {name} | {b:,.0f} | {a:,.0f} | {a / b:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
