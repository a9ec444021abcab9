"""Success rate as a function of K (value-iteration steps), K = 1 meaning no planning.

    python -m eval.k_sweep [--sizes 8 16] [--ks 1 2 5 10 20 30] [--maps 2000] [--epochs 8] [--episodes 1000]

For each size and K: a VIN trained by BC with the settings of ``hyperparams/bc.yml`` (every free
cell labelled), on ``--maps`` maps for ``--epochs`` epochs, then evaluated on held-out maps under
the paper's protocol. Writes ``results/k_sweep.md``. One training seed per cell.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eval.experiment import command_line
from eval.results import table_main
from eval.training import budget_parser, budget_text, parse_budget, scored_run


def k_sweep(size: int, args: argparse.Namespace) -> list[list[str]]:
    """A row (size, K, success, action accuracy, training minutes) for each K of ``args.ks`` at one size."""
    rows = []
    for k in args.ks:
        _, result, minutes = scored_run(size, {"k": k}, args, args.seed, f"K {k}")
        success, accuracy = f"{100 * result.success_rate:.1f} %", f"{100 * result.action_accuracy:.1f} %"
        rows.append([f"{size}x{size}", str(k), success, accuracy, f"{minutes:.1f}"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = budget_parser("python -m eval.k_sweep", __doc__, "results/k_sweep.md")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 5, 10, 20, 30], help="values of K")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    args = parse_budget(parser, argv)
    if min(args.ks) < 1:
        parser.error(f"every K must be >= 1, got {args.ks}")
    text = f"{budget_text(args)} (one torch thread, seed {args.seed}); {args.episodes} held-out maps, paper protocol."
    header = ["size", "K", "success", "action accuracy", "training min"]
    rows = lambda: [row for size in args.sizes for row in k_sweep(size, args)]  # noqa: E731
    command = command_line("python -m eval.k_sweep", argv)
    return table_main(parser, rows, args.out, "Success rate against K", command, text, header)


if __name__ == "__main__":
    sys.exit(main())
