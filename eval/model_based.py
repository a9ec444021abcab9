"""The model-based table: World Models and PlaNet beside the VIN and the CNN, on one metric.

    python -m eval.model_based [--wm 8=runs/wm8 16=runs/wm16] [--wm-z 8=runs/wm8_z]
                               [--wm-pixels 8=runs/wm8_pixels] [--planet 8=runs/planet8]
                               [--curve-ppo VIN=runs/ppo_vin8 CNN=runs/ppo_cnn8]
                               [--curve-planet runs/p500 runs/p1000 ...] [--curve-episodes 200]
                               [--episodes 1000] [--out results/model_based.md] [--overwrite] [--no-progress]

Success on the same held-out test maps (env seeds from 10^9, paper protocol) for each size, and
the env steps each agent used to learn. The VIN rows score the shipped agents
(``agents/pretrained/{bc,ppo}_vin_<size>.zip``); the PPO-CNN row is read from
``results/rl_table.md`` (its runs are not shipped); a World Models row scores an agent file (or
``LOGDIR/agent.pt``; by default the shipped ``agents/pretrained/wm_<size>.pt`` and
``wm_z_<size>.pt``; pixel-frame agents only when given) with the env steps it stored (its random rollouts plus its CMA-ES
candidates' episodes); a PlaNet row likewise, for the agents given with ``--planet`` (planning on
a CPU takes seconds per decision, so none by default);
uniform random actions are the floor. Sizes without an agent show "-".

With ``--curve-ppo`` and ``--curve-planet`` (8x8 run folders) the page gets a data-efficiency
section, success against env steps, and its plot beside the page (``model_based.png`` for
``model_based.md``): :mod:`eval.data_efficiency`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import numpy as np

from agents.zoo import PRETRAINED_DIR
from eval.results import read_table, write_table

#: Map sizes of the table.
SIZES = (8, 16)


def random_success(size: int, episodes: int, seed: int = 0) -> float:
    """Success of uniform random actions on the test maps (paper protocol)."""
    from agents.evaluation import evaluate_act_fn, held_out_episodes

    ep = held_out_episodes(size, episodes)
    rng = np.random.default_rng(seed)
    return evaluate_act_fn(lambda m, r, c: rng.integers(0, 8, size=len(m)), ep, accuracy=False).success_rate


def rl_table_cnn(path: str) -> dict[int, tuple[str, str]]:
    """Success (mean over seeds, %) and env steps of the PPO-CNN rows of the RL table."""
    if not os.path.exists(path):
        return {}
    header, rows = read_table(path)
    col = {name: i for i, name in enumerate(header)}
    out = {}
    for row in rows:
        if row[col["policy"]] == "CNN":
            size = int(row[col["size"]].split("x")[0])
            out[size] = (row[col["success % (paper, supervised)"]].split(" (")[0], row[col["env steps / run"]])
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def model_based_table(
    wm: dict[int, str],
    wm_z: dict[int, str],
    episodes: int,
    rl_table: str,
    progress: bool = False,
    wm_pixels: dict[int, str] | None = None,
    planet: dict[int, str] | None = None,
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the table (see the module docstring)."""
    from agents.evaluation import evaluate_agent_on_maps, evaluate_policy_on_maps
    from agents.zoo import load_model

    cells: dict[str, dict[int, tuple[str, str]]] = {}
    for kind, label in (("bc", "VIN, behaviour cloning (BFS expert)"), ("ppo", "VIN, PPO from reward")):
        cells[label] = {}
        for size in SIZES:
            path = os.path.join(PRETRAINED_DIR, f"{kind}_vin_{size}x{size}.zip")
            model = load_model(path)
            success = evaluate_policy_on_maps(model.policy, size, episodes, progress=progress).success_rate
            steps = "0 (expert paths on 5,000 maps)" if kind == "bc" else f"{model.num_timesteps:,}"
            cells[label][size] = (_pct(success), steps)
    cells["CNN, PPO from reward (results/rl_table.md)"] = rl_table_cnn(rl_table)
    for runs, label in (
        (wm, "World Models: V + M + linear C on [z, h]"),
        (wm_z, "World Models: C on z only (no M)"),
        (wm_pixels or {}, "World Models on pixel frames (64x64 RGB): C on [z, h]"),
        (planet or {}, "PlaNet: spatial RSSM + CEM (learns from random-action episodes)"),
    ):
        if not runs and not label.startswith("World Models:"):
            continue
        cells[label] = {}
        for size, path in runs.items():
            agent = load_model(path)
            if agent.size != size:
                raise ValueError(f"{path} holds a {agent.size}x{agent.size} agent, given for {size}x{size}")
            success = evaluate_agent_on_maps(agent, size, episodes, progress=progress).success_rate
            steps = agent.info.get("env_steps")
            cells[label][size] = (_pct(success), "n/a (not recorded)" if steps is None else f"{steps:,}")
    cells["uniform random actions"] = {s: (_pct(random_success(s, episodes)), "0") for s in SIZES}
    header = ["agent"] + [f"{s}x{s} {what}" for s in SIZES for what in ("success %", "env steps")]
    rows = [[label] + [v for s in SIZES for v in by_size.get(s, ("-", "-"))] for label, by_size in cells.items()]
    return header, rows


def _runs(values: Sequence[str] | None, flag: str, shipped: str) -> dict[int, str]:
    """``SIZE=PATH`` items (PATH an agent file or a run folder) -> {size: agent file}; without
    any, the shipped agents ``agents/pretrained/<shipped>_<size>.pt`` that exist."""
    if values is None:
        found = {s: os.path.join(PRETRAINED_DIR, f"{shipped}_{s}x{s}.pt") for s in SIZES}
        return {s: p for s, p in found.items() if os.path.exists(p)}
    out: dict[int, str] = {}
    for item in values:
        size, sep, path = item.partition("=")
        if not sep or not size.isdigit() or int(size) not in SIZES:
            raise ValueError(f"{flag} takes SIZE=PATH with SIZE in {SIZES}, got {item!r}")
        if os.path.isdir(path):
            path = os.path.join(path, "model.pt" if shipped == "planet" else "agent.pt")
        if not os.path.exists(path):
            trainer = "planet" if shipped == "planet" else "worldmodels"
            raise ValueError(f"{flag} {item}: no agent at {path} (train one with python -m train {trainer})")
        out[int(size)] = path
    return out


def _named(item: str, flag: str) -> tuple[str, str]:
    name, sep, path = item.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"{flag} takes NAME=RUN, got {item!r}")
    return name, path


def efficiency(
    ppo_runs: list[tuple[str, str]],
    planet_runs: list[str],
    wm_agent: str | None,
    episodes: int,
    out: str,
    progress: bool = False,
) -> str:
    """The data-efficiency section (:mod:`eval.data_efficiency`); draws the plot beside ``out``."""
    from eval import data_efficiency as de

    curves = [de.ppo_curve(f"PPO-{name}", path) for name, path in ppo_runs]
    if planet_runs:
        curves.append(
            de.agent_points("PlaNet (runs of more or fewer seed episodes)", planet_runs, 8, episodes, progress)
        )
    if wm_agent is not None:
        curves.append(de.agent_points("World Models ([z, h])", [wm_agent], 8, episodes, progress))
    png = os.path.splitext(out)[0] + ".png"
    floor = random_success(8, episodes)
    de.plot_efficiency(curves, floor, png)
    return de.efficiency_section(curves, floor, png)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.model_based", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wm", nargs="*", metavar="SIZE=PATH", help="World Models agents (C on [z, h])")
    parser.add_argument("--wm-z", nargs="*", metavar="SIZE=PATH", help="World Models agents with C on z only")
    parser.add_argument("--wm-pixels", nargs="*", metavar="SIZE=PATH", help="World Models agents on pixel frames")
    parser.add_argument(
        "--planet",
        nargs="*",
        metavar="SIZE=PATH",
        help="PlaNet agents (default: none; a 1,000-map 8x8 row takes ~25 min)",
    )
    parser.add_argument(
        "--curve-ppo", nargs="*", default=[], metavar="NAME=RUN", help="8x8 PPO run folders with evaluations"
    )
    parser.add_argument("--curve-planet", nargs="*", default=[], metavar="RUN", help="8x8 PlaNet run folders")
    parser.add_argument(
        "--curve-episodes", type=int, default=200, help="test maps per PlaNet curve point (default: %(default)s)"
    )
    parser.add_argument("--episodes", type=int, default=1000, help="test maps per size (default: %(default)s)")
    parser.add_argument("--rl-table", default="results/rl_table.md", help="where the PPO-CNN rows come from")
    parser.add_argument("--out", default="results/model_based.md", help="markdown output (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    try:
        wm, wm_z = _runs(args.wm, "--wm", "wm"), _runs(args.wm_z, "--wm-z", "wm_z")
        wm_pixels = _runs(args.wm_pixels or [], "--wm-pixels", "wm_pixels")
        planet = _runs(args.planet or [], "--planet", "planet")  # opt-in: planning costs seconds per decision
        curve_ppo = [_named(item, "--curve-ppo") for item in args.curve_ppo]
    except ValueError as exc:
        parser.error(str(exc))
    if args.curve_episodes < 1:
        parser.error(f"--curve-episodes must be >= 1, got {args.curve_episodes}")
    if os.path.exists(args.out) and not args.overwrite:
        parser.error(f"{args.out} exists: pass --overwrite to replace it, or choose another --out")
    progress = not args.no_progress
    extra = ""
    if curve_ppo or args.curve_planet:
        try:
            extra = efficiency(curve_ppo, args.curve_planet, wm.get(8), args.curve_episodes, args.out, progress)
        except ValueError as exc:
            parser.error(str(exc))
    header, rows = model_based_table(wm, wm_z, args.episodes, args.rl_table, progress, wm_pixels, planet)
    shown = {"[z, h]": wm, "z only": wm_z, "pixel frames": wm_pixels, "PlaNet": planet}
    command = "python -m eval.model_based " + " ".join(argv if argv is not None else sys.argv[1:])
    description = (
        f"Success on the same {args.episodes} held-out test maps per size (env seeds from 10^9, paper protocol: "
        "the goal within twice the optimal moves) and the env steps each agent used to learn. VIN rows: the "
        "shipped agents. PPO-CNN: mean over the seeds of `results/rl_table.md`. World Models: "
        f"{json.dumps({k: {s: os.path.relpath(p) for s, p in v.items()} for k, v in shown.items()})}, steps = "
        "collected random "
        "rollouts + the controller's CMA-ES episodes; observation: the env's map image unless the row says "
        "pixel frames. PlaNet: steps = its random-action seed episodes (and any planner-collected ones)."
    )
    title = "Model-based agents beside the VIN and the CNN"
    print(write_table(args.out, title, command.strip(), description, header, rows, extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
