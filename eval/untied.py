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

from eval.results import mean_spread, write_table
from eval.training import train_and_score


def tied_vs_untied(
    size: int, seeds: Sequence[int], n_maps: int, epochs: int, episodes: int, threads: int = 2
) -> dict[bool, list[tuple[float, float, float, int]]]:
    """For tied and untied: (success, action accuracy, training minutes, VI parameters) per seed."""
    from agents.policies import vin_of

    out: dict[bool, list[tuple[float, float, float, int]]] = {True: [], False: []}
    for seed in seeds:
        for tied in (True, False):
            model, result, minutes = train_and_score(
                size,
                [f"tied={tied}", f"n_maps={n_maps}", f"epochs={epochs}", f"seed={seed}", f"threads={threads}"],
                episodes,
            )
            vin, _ = vin_of(model.policy)
            vi_params = sum(p.numel() for name, p in vin.named_parameters() if name.startswith(("q_from", "untied")))
            out[tied].append((result.success_rate, result.action_accuracy, minutes, vi_params))
            print(
                f"size {size} seed {seed} {'tied' if tied else 'untied'}: success {result.success_rate:.3f}, "
                f"accuracy {result.action_accuracy:.3f}, {minutes:.1f} min",
                flush=True,
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.untied", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16], help="map sizes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--maps", type=int, default=2000, help="training maps (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="BC epochs (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=1000, help="held-out maps (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--out", default="results/untied.md", help="markdown output (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("maps", "epochs", "episodes", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if min(args.seeds) < 0:
        parser.error(f"seeds must be >= 0, got {args.seeds}")
    command = (
        f"python -m eval.untied --sizes {' '.join(map(str, args.sizes))} --seeds "
        f"{' '.join(map(str, args.seeds))} --maps {args.maps} --epochs {args.epochs} --episodes {args.episodes}"
    )
    rows = []
    try:
        for size in args.sizes:
            for tied, runs in tied_vs_untied(
                size, args.seeds, args.maps, args.epochs, args.episodes, args.threads
            ).items():
                success = mean_spread([100 * r[0] for r in runs])
                accuracy = mean_spread([100 * r[1] for r in runs])
                rows.append(
                    [
                        f"{size}x{size}",
                        "tied" if tied else "untied",
                        f"{runs[0][3]:,}",
                        f"{success[0]:.1f} ± {success[1]:.1f}",
                        " / ".join(f"{100 * r[0]:.1f}" for r in runs),
                        f"{accuracy[0]:.1f} ± {accuracy[1]:.1f}",
                        f"{sum(r[2] for r in runs) / len(runs):.1f}",
                    ]
                )
    except ValueError as exc:
        parser.error(str(exc))
    print(
        write_table(
            args.out,
            "Tied against untied value-iteration weights",
            command,
            f"BC with `hyperparams/bc.yml` on {args.maps} maps for {args.epochs} epochs, seeds "
            f"{', '.join(map(str, args.seeds))}; {args.episodes} held-out maps, paper protocol. Success and "
            "accuracy: mean ± sample standard deviation over seeds, then each seed's success.",
            [
                "size",
                "VI weights",
                "VI parameters",
                "success %",
                "success per seed",
                "action accuracy %",
                "training min / run",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
