"""Untied weights per iteration against the tied value-iteration module (an open question of the paper).

    python -m eval.untied [--sizes 8 16] [--seeds 0 1 2] [--maps 2000] [--epochs 8] [--episodes 1000]

For each size and seed, two VINs are trained by BC with the settings of ``hyperparams/bc.yml``
(every free cell labelled) on ``--maps`` maps for ``--epochs`` epochs: one with a single pair of
value-iteration kernels shared by the K iterations (value iteration proper), one with a pair of
its own per iteration (``tied=False``; K times the VI parameters, every pair started at the true
moves). Both are evaluated on the same held-out maps under the paper's protocol. Writes
``results/untied.md`` with the mean and sample standard deviation over seeds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eval.experiment import command_line
from eval.results import mean_spread, pm, table_main
from eval.training import budget_parser, budget_text, parse_budget, scored_run


def tied_vs_untied(size: int, args: argparse.Namespace) -> list[list[str]]:
    """A row for tied and one for untied weights at one size: VI parameters, success (mean ±
    spread over ``args.seeds``, then each seed's), action accuracy, training minutes."""
    from agents.policies import vin_of

    out: dict[bool, list[tuple[float, float, float, int]]] = {True: [], False: []}
    for seed in args.seeds:
        for tied in (True, False):
            model, result, minutes = scored_run(
                size, {"tied": tied}, args, seed, f"seed {seed} {'tied' if tied else 'untied'}"
            )
            vin, _ = vin_of(model.policy)
            vi_params = sum(p.numel() for name, p in vin.named_parameters() if name.startswith(("q_from", "untied")))
            out[tied].append((result.success_rate, result.action_accuracy, minutes, vi_params))
    rows = []
    for tied, runs in out.items():
        success = mean_spread([100 * r[0] for r in runs])
        per_seed = " / ".join(f"{100 * r[0]:.1f}" for r in runs)
        accuracy = mean_spread([100 * r[1] for r in runs])
        minutes = f"{sum(r[2] for r in runs) / len(runs):.1f}"
        kind = "tied" if tied else "untied"
        rows.append([f"{size}x{size}", kind, f"{runs[0][3]:,}", pm(success), per_seed, pm(accuracy), minutes])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = budget_parser("python -m eval.untied", __doc__, "results/untied.md", threads=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    args = parse_budget(parser, argv)
    if min(args.seeds) < 0:
        parser.error(f"seeds must be >= 0, got {args.seeds}")
    command = command_line("python -m eval.untied", argv)
    description = (
        f"{budget_text(args)}, seeds {', '.join(map(str, args.seeds))}; {args.episodes} held-out maps, paper "
        "protocol. Success and accuracy: mean ± sample standard deviation over seeds, then each seed's success."
    )
    header = ["size", "VI weights", "VI parameters", "success %", "success per seed", "action accuracy %"]
    header.append("training min / run")
    rows = lambda: [row for size in args.sizes for row in tied_vs_untied(size, args)]  # noqa: E731
    return table_main(
        parser, rows, args.out, "Tied against untied value-iteration weights", command, description, header
    )


if __name__ == "__main__":
    sys.exit(main())
