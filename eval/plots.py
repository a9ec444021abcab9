"""Figures of the experiment tables in ``results/``: Table 1, the K sweep and the costs.

    python -m eval.plots [--results results]

Reads the markdown tables the ``eval`` scripts wrote (so the figures can be redrawn on a fresh
clone without retraining) and writes, beside them, ``table1.png`` (success against map size,
ours with the spread over seeds, the paper's dashed), ``k_sweep.png`` (success against K per
size) and ``costs.png`` (parameters and FLOPs per decision). A table that is missing is skipped.
Needs matplotlib (``pip install -e ".[plots]"``; ``make`` installs it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from eval.results import read_table

COLOURS = {"VIN": "tab:blue", "CNN": "tab:orange", "FCN": "tab:green"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _size(cell: str) -> int:
    return int(cell.split("x")[0])


def _percent(cell: str) -> float:
    return float(cell.replace("%", "").split()[0])


def clipped_errors(
    means: Sequence[float], spreads: Sequence[float], lo: float = 0.0, hi: float = 100.0
) -> list[list[float]]:
    """Asymmetric error bars (below, above) of ``mean ± spread`` cut at ``lo`` and ``hi``: a success
    rate's bar never leaves [0, 100] %."""
    return [[min(s, m - lo) for m, s in zip(means, spreads)], [min(s, hi - m) for m, s in zip(means, spreads)]]


def spaced_ticks(values: Sequence[float], min_ratio: float = 1.25) -> list[float]:
    """The values to label on a log axis, so that no two labels are closer than ``min_ratio``;
    the larger of two close values is kept (36, the paper's K at 28x28, over 30)."""
    kept: list[float] = []
    for v in sorted(values, reverse=True):
        if not kept or kept[-1] / v >= min_ratio:
            kept.append(v)
    return sorted(kept)


def _mean_spread_paper(cell: str, md: str) -> tuple[float, float, float]:
    """``"99.5 ± 0.2 (99.6)"`` -> (99.5, 0.2, 99.6); the paper's figure is NaN when absent."""
    found = re.match(r"([\d.]+) ± ([\d.]+)(?: \(([\d.]+)\))?", cell)
    if found is None:
        raise ValueError(f"{md}: success cell {cell!r} is not 'mean ± spread (paper)'")
    mean, spread, paper = map(float, found.groups(default="nan"))
    return mean, spread, paper


def plot_table1(md: str, png: str) -> None:
    """Success rate against map size per model: mean ± spread over seeds, and the paper's figures."""
    header, rows = read_table(md)
    col = header.index("success % (paper)")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for model, colour in COLOURS.items():
        mine = [(_size(r[0]), r[col]) for r in rows if r[1] == model]
        if not mine:
            continue
        parsed = [(s, *_mean_spread_paper(c, md)) for s, c in mine]
        sizes = [p[0] for p in parsed]
        means = [p[1] for p in parsed]
        ax.errorbar(
            sizes,
            means,
            yerr=clipped_errors(means, [p[2] for p in parsed]),
            marker="o",
            capsize=3,
            color=colour,
            label=f"{model} (ours)",
        )
        ax.plot(sizes, [p[3] for p in parsed], "--", marker="x", color=colour, alpha=0.6, label=f"{model} (paper)")
    ax.set_xlabel("map size")
    ax.set_ylabel("success rate (%)")
    ax.set_xticks(sorted({_size(r[0]) for r in rows}))
    ax.set_title("Table 1: success on 1,000 held-out maps")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def plot_k_sweep(mds: Sequence[str], png: str) -> None:
    """Success rate against K, one line per map size."""
    curves: dict[int, list[tuple[int, float]]] = {}
    for md in mds:
        header, rows = read_table(md)
        for r in rows:
            curves.setdefault(_size(r[0]), []).append((int(r[1]), _percent(r[2])))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for size, points in sorted(curves.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"{size}x{size}")
    ax.set_xscale("log")
    ks = sorted({p[0] for points in curves.values() for p in points})
    ax.minorticks_off()
    labelled = spaced_ticks(ks)
    ax.set_xticks(labelled, [str(k) for k in labelled])
    ax.set_xticks([k for k in ks if k not in labelled], minor=True)
    ax.set_xlabel("K (value-iteration steps; 1 = no planning)")
    ax.set_ylabel("success rate (%)")
    ax.set_title("Success against K")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def plot_costs(md: str, png: str) -> None:
    """Parameters and MFLOP per decision per model and size (log scale)."""
    header, rows = read_table(md)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    sizes = sorted({_size(r[0]) for r in rows})
    width = 0.8 / len(COLOURS)
    for j, (col, label) in enumerate([(2, "actor parameters"), (3, "MFLOP per decision")]):
        ax = axes[j]
        for i, (model, colour) in enumerate(COLOURS.items()):
            values = {_size(r[0]): float(r[col].replace(",", "")) for r in rows if r[1] == model}
            ax.bar(
                [k + i * width for k in range(len(sizes))],
                [values.get(s, 0) for s in sizes],
                width,
                color=colour,
                label=model,
            )
        ax.set_yscale("log")
        ax.set_xticks([k + width for k in range(len(sizes))], [f"{s}x{s}" for s in sizes])
        ax.set_title(label)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def make_plots(results: str) -> list[str]:
    """Draw every figure whose table exists in ``results``; return the PNG paths written."""
    written = []
    path = os.path.join(results, "table1.md")
    if os.path.exists(path):
        plot_table1(path, os.path.join(results, "table1.png"))
        written.append(os.path.join(results, "table1.png"))
    sweeps = [
        os.path.join(results, n) for n in ("k_sweep.md", "k_sweep_28.md") if os.path.exists(os.path.join(results, n))
    ]
    if sweeps:
        plot_k_sweep(sweeps, os.path.join(results, "k_sweep.png"))
        written.append(os.path.join(results, "k_sweep.png"))
    path = os.path.join(results, "costs.md")
    if os.path.exists(path):
        plot_costs(path, os.path.join(results, "costs.png"))
        written.append(os.path.join(results, "costs.png"))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.plots", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", default="results", help="folder of the tables (default: %(default)s)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.results):
        parser.error(f"no results folder {args.results!r}")
    written = make_plots(args.results)
    if not written:
        parser.error(f"no table1.md, k_sweep*.md or costs.md in {args.results!r}")
    print("\n".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
