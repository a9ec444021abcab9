"""Planners on the maze family: success and optimality per maze size, and success against
shortest-path length on 64x64 perfect mazes. Writes ``results/mazes.md`` and ``results/mazes.png``.

    python -m eval.mazes --model NAME=PATH [NAME=PATH ...] [--sizes 15 28] [--episodes 1000]
                         [--long-episodes 200] [--out results/mazes.md] [--overwrite] [--no-progress]

Each model is an SB3 zip of a map-convolutional planner (VIN, GPPN), rebuilt for each size
(:func:`agents.policies.resize_policy`) and scored with its own saved planning settings on the
same held-out mazes (env seeds from 10^9). Beside success, as GPPN's table has it, the share
of optimal actions (tie-aware: any move on a shortest path counts; :mod:`agents.evaluation`) and
the path ratio of the successful episodes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Shortest-path buckets (moves) on 64x64 perfect mazes: [lo, hi).
BUCKETS = ((1, 50), (50, 100), (100, 200), (200, 400), (400, 800))

#: GPPN's own figures (Lee et al. 2018, its repository's reproduction table, as issue 15 cites
#: them): 28x28 mazes with 8-connected moves, 25k maps.
GPPN_REPORTED = {"VIN": "81.0 %", "GPPN": "97.9 %"}


def _subset(ep: Any, idx: np.ndarray) -> Any:
    from gridworld_env.maps import Episodes

    return Episodes(ep.obstacles[idx], ep.goals[idx], ep.starts[idx], ep.distances[idx])


def score(policy: Any, env_id: str, episodes: int, progress: bool = False) -> dict[str, float]:
    """Success, the share of optimal actions and the path ratio of ``policy`` on held-out mazes."""
    from agents.evaluation import evaluate_act_fn, held_out_episodes, policy_act_fn
    from agents.policies import resize_policy
    from gridworld_env import env_size, env_spec

    size = env_size(env_id)
    policy = resize_policy(policy, size)
    ep = held_out_episodes(size, episodes, spec=env_spec(env_id))
    result = evaluate_act_fn(policy_act_fn(policy, ep), ep, progress)
    return {"success": result.success_rate, "optimal": result.action_accuracy, "path_ratio": result.path_ratio}


def by_path_length(policy: Any, episodes: int, progress: bool = False) -> list[tuple[str, int, float]]:
    """(bucket, mazes, success) on ``episodes`` held-out 64x64 perfect mazes, bucketed by shortest path."""
    from agents.evaluation import evaluate_act_fn, held_out_episodes, policy_act_fn
    from agents.policies import resize_policy
    from gridworld_env import env_spec

    policy = resize_policy(policy, 64)
    ep = held_out_episodes(64, episodes, spec=env_spec("VINGridMaze-64x64-v0"))
    moves = ep.distances[np.arange(episodes), ep.starts[:, 0], ep.starts[:, 1]]
    rows = []
    for lo, hi in BUCKETS:
        idx = np.flatnonzero((moves >= lo) & (moves < hi))
        if idx.size == 0:
            continue
        part = _subset(ep, idx)
        rate = evaluate_act_fn(policy_act_fn(policy, part), part, progress).success_rate
        rows.append((f"{lo}-{hi - 1}", int(idx.size), rate))
    return rows


def maze_report(
    models: dict[str, str], sizes: Sequence[int], episodes: int, long_episodes: int, progress: bool = False
) -> tuple[list[list[str]], dict[str, list[tuple[str, int, float]]]]:
    """The table rows (one per model and size) and each model's 64x64 buckets."""
    from agents.zoo import load_model

    rows, buckets = [], {}
    for name, path in models.items():
        policy = load_model(path).policy
        for size in sizes:
            r = score(policy, f"VINGridMaze-{size}x{size}-v0", episodes, progress)
            success, optimal = f"{100 * r['success']:.1f} %", f"{100 * r['optimal']:.1f} %"
            rows.append([name, f"{size}x{size}", success, optimal, f"{r['path_ratio']:.3f}", f"`{path}`"])
        buckets[name] = by_path_length(policy, long_episodes, progress)
    return rows, buckets


def plot(buckets: dict[str, list[tuple[str, int, float]]], path: str) -> None:
    from eval.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, rows in buckets.items():
        ax.plot([b for b, _, _ in rows], [100 * r for _, _, r in rows], marker="o", label=name)
    ax.set_xlabel("shortest path on a 64x64 perfect maze (moves)")
    ax.set_ylabel("success (%)")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.mazes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", nargs="+", required=True, help="NAME=PATH of SB3 zips (VIN, GPPN)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 28], help="maze sizes (default: 15 28)")
    parser.add_argument("--episodes", type=int, default=1000, help="mazes per size (default: %(default)s)")
    parser.add_argument("--long-episodes", type=int, default=200, help="64x64 mazes (default: %(default)s)")
    parser.add_argument("--out", default="results/mazes.md", help="markdown page (the plot beside it, .png)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    models = {}
    for item in args.model:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--model takes NAME=PATH, got {item!r}")
        if not os.path.exists(path):
            parser.error(f"no model at {path}")
        models[name] = path
    from gridworld_env import MAZE_SIZES

    for size in args.sizes:
        if size not in MAZE_SIZES:
            parser.error(f"--sizes: no registered maze of size {size}; registered: {list(MAZE_SIZES)}")
    if args.episodes < 1 or args.long_episodes < 1:
        parser.error("--episodes and --long-episodes must be >= 1")
    if os.path.exists(args.out) and not args.overwrite:
        parser.error(f"{args.out} exists: pass --overwrite to replace it, or choose another --out")
    from eval.results import write_table

    try:
        rows, buckets = maze_report(models, args.sizes, args.episodes, args.long_episodes, not args.no_progress)
    except ValueError as exc:
        parser.error(str(exc))
    png = os.path.splitext(args.out)[0] + ".png"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    plot(buckets, png)
    lines = ["", f"## Success against shortest-path length, {args.long_episodes} 64x64 perfect mazes", ""]
    lines += ["| planner | " + " | ".join(b for b, _, _ in next(iter(buckets.values()))) + " |"]
    lines += ["|---|" + "---|" * len(next(iter(buckets.values())))]
    for name, part in buckets.items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * r:.1f} % ({n})" for _, n, r in part) + " |")
    lines += ["", f"![success against path length]({os.path.basename(png)})", ""]
    lines += [
        "GPPN's own figures (Lee et al. 2018, its repository's reproduction table, as issue 15 cites them; "
        f"28x28 mazes, 8-connected moves, 25k maps): VIN {GPPN_REPORTED['VIN']}, GPPN {GPPN_REPORTED['GPPN']} "
        "success. Their mazes and protocol are not ours (their start cells, their map count), so the "
        "figures stand beside ours, not against them."
    ]
    write_table(
        args.out,
        "Planners on mazes",
        "python -m eval.mazes " + " ".join(sys.argv[1:] if argv is None else argv),
        f"{args.episodes} held-out perfect mazes per size (env seeds from 10^9, the paper's protocol). "
        "Optimal actions: the share of the agent's moves that lie on a shortest path (tie-aware), "
        "as GPPN's %Opt; path / optimal: over the successful episodes.",
        ["planner", "maze", "success", "optimal actions", "path / optimal", "model"],
        rows,
        "\n".join(lines),
    )
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
