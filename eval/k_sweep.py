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

from eval.results import write_table
from eval.training import train_and_score


def k_sweep(
    size: int, ks: Sequence[int], n_maps: int, epochs: int, episodes: int, seed: int = 0, threads: int = 1
) -> list[tuple[int, float, float, float]]:
    """(K, success rate, action accuracy, training minutes) for each K at one size."""
    rows = []
    for k in ks:
        _, result, minutes = train_and_score(
            size, [f"k={k}", f"n_maps={n_maps}", f"epochs={epochs}", f"seed={seed}", f"threads={threads}"], episodes
        )
        rows.append((k, result.success_rate, result.action_accuracy, minutes))
        print(
            f"size {size} K {k}: success {result.success_rate:.3f}, accuracy {result.action_accuracy:.3f}, "
            f"{minutes:.1f} min",
            flush=True,
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.k_sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16], help="map sizes")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 5, 10, 20, 30], help="values of K")
    parser.add_argument("--maps", type=int, default=2000, help="training maps (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="BC epochs (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=1000, help="held-out maps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    parser.add_argument("--out", default="results/k_sweep.md", help="markdown output (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("maps", "epochs", "episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if min(args.ks) < 1:
        parser.error(f"every K must be >= 1, got {args.ks}")
    command = (
        f"python -m eval.k_sweep --sizes {' '.join(map(str, args.sizes))} --ks {' '.join(map(str, args.ks))} "
        f"--maps {args.maps} --epochs {args.epochs} --episodes {args.episodes} --seed {args.seed}"
    )
    rows = []
    try:
        for size in args.sizes:
            for k, success, accuracy, minutes in k_sweep(
                size, args.ks, args.maps, args.epochs, args.episodes, args.seed
            ):
                rows.append(
                    [f"{size}x{size}", str(k), f"{100 * success:.1f} %", f"{100 * accuracy:.1f} %", f"{minutes:.1f}"]
                )
    except ValueError as exc:
        parser.error(str(exc))
    print(
        write_table(
            args.out,
            "Success rate against K",
            command,
            f"BC with `hyperparams/bc.yml` on {args.maps} maps for {args.epochs} epochs (one torch thread, seed "
            f"{args.seed}); {args.episodes} held-out maps, paper protocol.",
            ["size", "K", "success", "action accuracy", "training min"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
