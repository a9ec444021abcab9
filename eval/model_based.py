"""The model-based table: World Models and PlaNet beside the VIN and the CNN, on one metric.

    python -m eval.model_based [--wm 8=runs/wm8 16=runs/wm16] [--wm-z 8=runs/wm8_z]
                               [--wm-row "LABEL" 8=runs/wm8_linear 16=runs/wm16_linear ...]
                               [--wm-pixels 8=runs/wm8_pixels] [--planet 8=runs/planet8]
                               [--curve-ppo VIN=runs/ppo_vin8 CNN=runs/ppo_cnn8]
                               [--curve-planet runs/p500 runs/p1000 ...] [--curve-episodes 200]
                               [--curve-size 8] [--keep-efficiency]
                               [--episodes 1000] [--out results/model_based.md] [--overwrite] [--no-progress]

Success on the same held-out test maps (env seeds from 10^9, paper protocol) for each size, and
the env steps each agent used to learn. The VIN rows score the shipped agents
(``agents/pretrained/{bc,ppo}_vin_<size>.zip``); the PPO-CNN row is read from
``results/rl_table.md`` (its runs are not shipped); a World Models row scores an agent file (or
``LOGDIR/agent.pt``; by default the shipped ``agents/pretrained/wm_<size>.pt`` and
``wm_z_<size>.pt``; pixel-frame agents only when given) with the env steps it stored (its random rollouts plus its CMA-ES
candidates' episodes); a PlaNet row likewise, for the agents given with ``--planet`` (planning on
a CPU takes seconds per decision, so none by default);
uniform random actions are the floor. Sizes without an agent show "-". Each ``--wm-row`` adds a
World Models row of its own label (a design choice measured beside the shipped recipe). Agents
that recorded their training's wall time (``info["train_seconds"]``) show it in minutes.

With ``--curve-ppo`` and ``--curve-planet`` (run folders of ``--curve-size`` maps, default 8) the
page gets a data-efficiency section for that size, success against env steps, and its plot beside
the page (``model_based.png`` for 8x8, ``model_based_16x16.png`` for 16x16):
:mod:`eval.data_efficiency`. ``--keep-efficiency`` carries the existing page's sections over
unchanged, each under the command that made it (all but the size made anew). ``--cache FILE`` keeps
the success rates measured (by agent file content, size and number of maps), so a later call
re-scores only agents it has not seen.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any

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
    wm_rows: list[tuple[str, dict[int, str]]] | None = None,
    cache: str | None = None,
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the table (see the module docstring).

    :param cache: a JSON file of success rates already measured, keyed by the agent file's
        SHA-256, the size and the number of maps (a 16x16 PlaNet row costs minutes); new ones are added.
    """
    from agents.evaluation import evaluate_agent_on_maps, evaluate_policy_on_maps
    from agents.zoo import load_model

    known: dict[str, float] = {}
    if cache is not None and os.path.exists(cache):
        with open(cache) as f:
            known = json.load(f)

    def measured(path: str, size: int, evaluate: Any, subject: Any) -> float:
        """``evaluate(subject, size, episodes)``'s success rate, from the cache when it holds it."""
        import hashlib

        with open(path, "rb") as f:
            key = f"{hashlib.sha256(f.read()).hexdigest()}|{size}|{episodes}"
        if key not in known:
            known[key] = float(evaluate(subject, size, episodes, progress=progress).success_rate)
            if cache is not None:
                from gridworld_env.atomic import atomic_path

                with atomic_path(cache) as tmp, open(tmp, "w") as f:
                    json.dump(known, f, indent=1)
        return known[key]

    cells: dict[str, dict[int, tuple[str, ...]]] = {}
    for kind, label in (("bc", "VIN, behaviour cloning (BFS expert)"), ("ppo", "VIN, PPO from reward")):
        cells[label] = {}
        for size in SIZES:
            path = os.path.join(PRETRAINED_DIR, f"{kind}_vin_{size}x{size}.zip")
            model = load_model(path)
            success = measured(path, size, evaluate_policy_on_maps, model.policy)
            steps = "0 (expert paths on 5,000 maps)" if kind == "bc" else f"{model.num_timesteps:,}"
            cells[label][size] = (_pct(success), steps, "-")
    cells["CNN, PPO from reward (results/rl_table.md)"] = {s: (*v, "-") for s, v in rl_table_cnn(rl_table).items()}
    for runs, label in (
        (wm, "World Models (shipped): ego V + M + MLP C on [z, h]"),
        (wm_z, "World Models: C on z only (no M)"),
        *((runs, f"World Models: {name}") for name, runs in (wm_rows or [])),
        (wm_pixels or {}, "World Models on pixel frames (64x64 RGB): C on [z, h]"),
        (planet or {}, "PlaNet: spatial RSSM, search in it (learns from random-action episodes)"),
    ):
        if not runs and not label.startswith("World Models:"):
            continue
        cells[label] = {}
        for size, path in runs.items():
            agent = load_model(path)
            if agent.size != size:
                raise ValueError(f"{path} holds a {agent.size}x{agent.size} agent, given for {size}x{size}")
            success = measured(path, size, evaluate_agent_on_maps, agent)
            steps, seconds = agent.info.get("env_steps"), agent.info.get("train_seconds")
            cells[label][size] = (
                _pct(success),
                "n/a (not recorded)" if steps is None else f"{steps:,}",
                "-" if seconds is None else f"{seconds / 60:.1f}",
            )
    cells["uniform random actions"] = {s: (_pct(random_success(s, episodes)), "0", "-") for s in SIZES}
    header = ["agent"] + [f"{s}x{s} {what}" for s in SIZES for what in ("success %", "env steps", "train min")]
    rows = [[label] + [v for s in SIZES for v in by_size.get(s, ("-", "-", "-"))] for label, by_size in cells.items()]
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


def efficiency_png(out: str, size: int) -> str:
    """The plot of the ``size`` data-efficiency section beside the page ``out``: ``model_based.png``
    for 8x8 (the page's first plot), ``model_based_16x16.png`` for 16x16."""
    base = os.path.splitext(out)[0]
    return f"{base}.png" if size == 8 else f"{base}_{size}x{size}.png"


def efficiency(
    ppo_runs: list[tuple[str, str]],
    planet_runs: list[str],
    wm_agent: str | None,
    episodes: int,
    out: str,
    progress: bool = False,
    size: int = 8,
) -> str:
    """The data-efficiency section of ``size x size`` maps (:mod:`eval.data_efficiency`); draws
    its plot beside ``out`` (:func:`efficiency_png`)."""
    from eval import data_efficiency as de

    curves = [de.ppo_curve(f"PPO-{name}", path) for name, path in ppo_runs]
    if planet_runs:
        curves.append(
            de.agent_points("PlaNet (runs of more or fewer seed episodes)", planet_runs, size, episodes, progress)
        )
    if wm_agent is not None:
        curves.append(de.agent_points("World Models ([z, h])", [wm_agent], size, episodes, progress))
    png = efficiency_png(out, size)
    floor = random_success(size, episodes)
    de.plot_efficiency(curves, floor, png, size)
    return de.efficiency_section(curves, floor, png, size)


#: How every data-efficiency section's heading starts (then ``8x8``, ``16x16``).
EFFICIENCY_HEADING = "## Data efficiency at "

#: Labels of a carried data-efficiency section that name an agent since replaced: the World Models
#: point there was measured on the agent of the paper's recipe (now ``wm_paper_8x8.pt``).
CARRIED_LABELS = {"World Models ([z, h])": "World Models, the paper's recipe ([z, h], wm_paper_8x8.pt)"}


def carried_efficiency(path: str, remade: int | None = None) -> list[str]:
    """The data-efficiency sections of the page at ``path`` (but the one of ``remade x remade``
    maps, which the caller makes anew), each headed by the command that made it.

    :raises ValueError: no page there, or it has no such section.
    """
    if not os.path.exists(path):
        raise ValueError(f"--keep-efficiency: there is no {path} to keep its data-efficiency section from")
    with open(path) as f:
        text = f.read()
    start = text.find(EFFICIENCY_HEADING)
    if start < 0:
        raise ValueError(f"--keep-efficiency: {path} has no '{EFFICIENCY_HEADING}...' section")
    command = next(line for line in text.splitlines() if line.startswith("Command: `"))
    made_by = "Section made by: `"
    kept = []
    for part in text[start:].split("\n" + EFFICIENCY_HEADING):
        section = part if part.startswith(EFFICIENCY_HEADING) else EFFICIENCY_HEADING + part
        if remade is not None and section.startswith(f"{EFFICIENCY_HEADING}{remade}x{remade}\n"):
            continue
        for old, new in CARRIED_LABELS.items():
            section = section.replace(old, new)
        if made_by not in section:  # the page's own command made it: say so inside the section
            heading, _, body = section.partition("\n")
            section = f"{heading}\n\n{made_by}{command[len('Command: `') :]}\n{body}"
        kept.append(section.rstrip("\n") + "\n")
    return kept


def _section_size(section: str) -> int:
    """The map size a data-efficiency section is about, to order them."""
    return int(section[len(EFFICIENCY_HEADING) :].split("x", 1)[0])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.model_based", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wm", nargs="*", metavar="SIZE=PATH", help="World Models agents (C on [z, h])")
    parser.add_argument("--wm-z", nargs="*", metavar="SIZE=PATH", help="World Models agents with C on z only")
    parser.add_argument("--wm-pixels", nargs="*", metavar="SIZE=PATH", help="World Models agents on pixel frames")
    parser.add_argument(
        "--wm-row",
        nargs="+",
        action="append",
        default=[],
        metavar="LABEL SIZE=PATH",
        help="a World Models row of its own: its label, then its agents (repeatable)",
    )
    parser.add_argument(
        "--planet",
        nargs="*",
        metavar="SIZE=PATH",
        help="PlaNet agents (default: none; a 1,000-map 16x16 row takes ~5 min)",
    )
    parser.add_argument(
        "--curve-ppo", nargs="*", default=[], metavar="NAME=RUN", help="PPO run folders with evaluations"
    )
    parser.add_argument("--curve-planet", nargs="*", default=[], metavar="RUN", help="PlaNet run folders")
    parser.add_argument(
        "--curve-size",
        type=int,
        default=8,
        choices=SIZES,
        help="map size of the --curve-* runs, whose data-efficiency section is made (default: %(default)s)",
    )
    parser.add_argument(
        "--curve-episodes", type=int, default=200, help="test maps per PlaNet curve point (default: %(default)s)"
    )
    parser.add_argument("--episodes", type=int, default=1000, help="test maps per size (default: %(default)s)")
    parser.add_argument("--rl-table", default="results/rl_table.md", help="where the PPO-CNN rows come from")
    parser.add_argument("--out", default="results/model_based.md", help="markdown output (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--cache",
        metavar="FILE",
        help="JSON file of success rates already measured (by agent file content, size and maps); new ones added",
    )
    parser.add_argument(
        "--keep-efficiency",
        action="store_true",
        help="keep the existing page's data-efficiency sections (under their own commands), but the one "
        "of --curve-size when --curve-* runs make it anew",
    )
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    try:
        wm, wm_z = _runs(args.wm, "--wm", "wm"), _runs(args.wm_z, "--wm-z", "wm_z")
        wm_pixels = _runs(args.wm_pixels or [], "--wm-pixels", "wm_pixels")
        planet = _runs(args.planet or [], "--planet", "planet")  # opt-in: planning costs seconds per decision
        curve_ppo = [_named(item, "--curve-ppo") for item in args.curve_ppo]
        wm_rows = []
        for label, *items in args.wm_row:
            if not items:
                raise ValueError(f"--wm-row {label!r} names no agent: give SIZE=PATH after the label")
            wm_rows.append((label, _runs(items, "--wm-row", "wm")))
    except ValueError as exc:
        parser.error(str(exc))
    if args.curve_episodes < 1:
        parser.error(f"--curve-episodes must be >= 1, got {args.curve_episodes}")
    if os.path.exists(args.out) and not args.overwrite:
        parser.error(f"{args.out} exists: pass --overwrite to replace it, or choose another --out")
    progress = not args.no_progress
    sections: list[str] = []
    remade = args.curve_size if curve_ppo or args.curve_planet else None
    if args.keep_efficiency:
        try:
            sections = carried_efficiency(args.out, remade)
        except ValueError as exc:
            parser.error(str(exc))
    if remade is not None:
        try:
            made = efficiency(
                curve_ppo, args.curve_planet, wm.get(remade), args.curve_episodes, args.out, progress, remade
            )
        except ValueError as exc:
            parser.error(str(exc))
        sections.append(made)
    extra = "\n".join(sorted(sections, key=_section_size))
    header, rows = model_based_table(
        wm, wm_z, args.episodes, args.rl_table, progress, wm_pixels, planet, wm_rows, args.cache
    )
    shown = {"[z, h]": wm, "z only": wm_z, **dict(wm_rows), "pixel frames": wm_pixels, "PlaNet": planet}
    command = "python -m eval.model_based " + shlex.join(argv if argv is not None else sys.argv[1:])
    description = (
        f"Success on the same {args.episodes} held-out test maps per size (env seeds from 10^9, paper protocol: "
        "the goal within twice the optimal moves) and the env steps each agent used to learn. VIN rows: the "
        "shipped agents. PPO-CNN: mean over the seeds of `results/rl_table.md`. World Models: "
        f"{json.dumps({k: {s: os.path.relpath(p) for s, p in v.items()} for k, v in shown.items()})}, steps = "
        "collected random "
        "rollouts + the controller's CMA-ES and validation episodes (none for a C trained in M's dream); "
        "what V sees: the map centred on the agent (ego) unless the row names another frame; each World "
        "Models learner is given the image and the reward alone. train min: the run's own record of its "
        "stages' wall time (one torch thread, on this 2-core machine beside other jobs; a run made --from "
        "another counts that run's data, V and M). PlaNet: steps = its random-action seed episodes "
        "(and any planner-collected ones)."
    )
    title = "Model-based agents beside the VIN and the CNN"
    print(write_table(args.out, title, command.strip(), description, header, rows, extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
