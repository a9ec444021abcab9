"""Write a behaviour-cloning data set of BFS-expert labels.

    python -m train.make_dataset --env VINGrid-16x16-v0 --maps 5000 --trajectories 7 --seed 0 --out data/bc16.npz [--overwrite]

Map i is the map of ``env.reset(seed=seed + i)``; see :mod:`gridworld_env.expert`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from gridworld_env import env_size, env_spec
from gridworld_env.expert import make_dataset


def trajectories_arg(value: str) -> int | None:
    """``"all"`` (every free cell) or a positive int."""
    if value == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--trajectories must be a positive int or 'all', got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--trajectories must be a positive int or 'all', got {value!r}")
    return n


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="VINGrid-16x16-v0", help="registered env id (default: %(default)s)")
    parser.add_argument("--maps", type=int, default=5000, help="number of maps (default: %(default)s)")
    parser.add_argument(
        "--trajectories",
        type=trajectories_arg,
        default=7,
        help="expert trajectories per map, or 'all' for every free cell (default: 7)",
    )
    parser.add_argument("--seed", type=int, default=0, help="first env seed (default: %(default)s)")
    parser.add_argument("--out", required=True, help="output .npz path")
    parser.add_argument("--overwrite", action="store_true", help="replace a data set already at --out")
    args = parser.parse_args(argv)
    if args.maps < 1:
        parser.error(f"--maps must be >= 1, got {args.maps}")
    if os.path.exists(args.out) and not args.overwrite:
        parser.error(f"{args.out} already exists: pass --overwrite to replace it, or choose another --out")
    try:
        size, spec = env_size(args.env), env_spec(args.env)
    except ValueError as exc:
        parser.error(str(exc))
    t = time.perf_counter()
    data = make_dataset(size, args.maps, args.trajectories, args.seed, spec)
    data.save(args.out)
    print(
        f"wrote {args.out}: {data.n_maps} maps, {len(data)} labelled states "
        f"(env seeds {args.seed}..{args.seed + args.maps - 1}) in {time.perf_counter() - t:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
