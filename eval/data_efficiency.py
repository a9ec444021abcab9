"""Data efficiency, PlaNet's own claim: success against the env steps an agent learned from, per map size.

Used by ``python -m eval.model_based --curve-ppo ... --curve-planet ...``, which adds the section to
``results/model_based.md`` and draws ``results/model_based.png``:

* a PPO run folder (``python -m train ppo ... eval_freq=N``) gives a curve: its paper-protocol
  success on the 200 validation maps at every evaluation, against the env steps so far;
* each PlaNet run folder gives one point: its agent (``model.pt``) scored on held-out test maps,
  against the env steps in its replay buffer (a run that learns from seed episodes alone takes
  all of them before its first gradient step, so a curve is a set of runs with more or fewer
  seed episodes);
* a World Models agent file gives one point (its random rollouts and CMA-ES episodes).

"Env steps to reach 80 %" (and 95 %) is the first evaluation (PPO) or the smallest run (PlaNet) at
or above it; wall time is the training's own record (PPO: ``train_seconds`` in the checkpoint, its
evaluations included; PlaNet: ``train_seconds`` of the agent, validation included).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from gridworld_env.atomic import atomic_path

#: The success levels the table gives the env steps to.
TARGETS = (0.8, 0.95)
#: Success that counts as solved (the plot's line, :meth:`Curve.reached`'s default).
TARGET = TARGETS[0]


@dataclass
class Curve:
    """One agent's success (0-1) against env steps, and the wall time of each point (s, or None)."""

    label: str
    steps: list[int]
    success: list[float]
    seconds: list[float | None] = field(default_factory=list)
    source: str = ""
    """What the figures were measured on (validation or test maps, how many)."""

    def reached(self, target: float = TARGET) -> tuple[int, float | None] | None:
        """The first point at or above ``target``: (env steps, wall seconds), or None."""
        for i, (steps, success) in enumerate(zip(self.steps, self.success)):
            if success >= target:
                return steps, (self.seconds[i] if i < len(self.seconds) else None)
        return None


def ppo_curve(label: str, run_dir: str) -> Curve:
    """The validation curve of a PPO run folder (its checkpoint's evaluation history).

    :raises ValueError: no PPO checkpoint there, or one without evaluations.
    """
    from agents.training.ppo import load_ppo_checkpoint

    path = os.path.join(run_dir, "checkpoint.pt")
    if not os.path.exists(path):
        raise ValueError(f"no PPO checkpoint at {path} (train one with python -m train ppo --out {run_dir})")
    extra = load_ppo_checkpoint(path)["extra"]
    history = extra.get("history") or []
    if not history:
        raise ValueError(f"{path} has no evaluations: train with eval_freq=N")
    total = float(extra.get("train_seconds", 0.0)) or None
    last = history[-1]["timesteps"]
    return Curve(
        label,
        [int(h["timesteps"]) for h in history],
        [float(h["paper_success_rate"]) for h in history],
        # the run's wall time shared out in proportion to its env steps (PPO's cost is even per step)
        [None if total is None else total * h["timesteps"] / last for h in history],
        "validation maps (200), during training",
    )


def agent_points(label: str, paths: list[str], size: int, episodes: int, progress: bool = False) -> Curve:
    """Agents with ``predict`` (PlaNet or World Models files, or PlaNet run folders) scored on
    ``episodes`` test maps, ordered by the env steps they learned from.

    :raises ValueError: an agent that does not record its env steps, or is not ``size x size``.
    """
    from agents.evaluation import evaluate_agent_on_maps
    from agents.zoo import load_model

    points = []
    for path in paths:
        if os.path.isdir(path):
            path = os.path.join(path, "model.pt")
        agent: Any = load_model(path)
        if agent.size != size:
            raise ValueError(f"{path} holds a {agent.size}x{agent.size} agent, not {size}x{size}")
        steps = agent.info.get("env_steps")
        if steps is None:
            raise ValueError(f"{path} does not record the env steps it learned from")
        success = evaluate_agent_on_maps(agent, size, episodes, progress=progress).success_rate
        points.append((int(steps), success, agent.info.get("train_seconds")))
    points.sort()
    return Curve(
        label,
        [p[0] for p in points],
        [p[1] for p in points],
        [p[2] for p in points],
        f"test maps ({episodes}), after training",
    )


def _minutes(seconds: float | None) -> str:
    return "not recorded" if seconds is None else f"{seconds / 60:.1f}"


def efficiency_section(curves: list[Curve], random_success: float, png: str, size: int = 8) -> str:
    """The markdown section for ``size x size`` maps: env steps to reach each of :data:`TARGETS`
    per agent, every point, and the plot's path."""
    reach = " | ".join(f"env steps to reach {100 * t:.0f} % | wall min to reach it" for t in TARGETS)
    lines = [
        f"## Data efficiency at {size}x{size}\n",
        f"Success against the env steps each agent learned from (`{os.path.relpath(png)}`); uniform random "
        f"actions: {100 * random_success:.1f} %. Wall time: this 2-core CPU, the training's own record "
        "(evaluations included), often beside other jobs. ≤: reached at the agent's smallest measured budget "
        "(an upper bound).\n",
        f"| agent | measured on | {reach} | best success % | at env steps |",
        "|---|---|" + "---|---|" * len(TARGETS) + "---|---|",
    ]
    for c in curves:
        best = max(range(len(c.success)), key=lambda i: (c.success[i], -c.steps[i]))
        cells = []
        for target in TARGETS:
            hit = c.reached(target)
            # Reached at the agent's first (smallest) measured budget: nothing says how much less would do.
            at_most = "≤ " if hit and hit[0] == c.steps[0] else ""
            cells += [f"{at_most}{hit[0]:,}", at_most + _minutes(hit[1])] if hit else ["not reached", "-"]
        lines.append(
            f"| {c.label} | {c.source} | {' | '.join(cells)} | {100 * c.success[best]:.1f} | {c.steps[best]:,} |"
        )
    lines.append("\nEvery point:\n")
    for c in curves:
        pts = " / ".join(f"{s / 1000:.1f}k: {100 * v:.1f}" for s, v in zip(c.steps, c.success))
        lines.append(f"- {c.label}: {pts}")
    return "\n".join(lines) + "\n"


def plot_efficiency(curves: list[Curve], random_success: float, png: str, size: int = 8) -> None:
    """Success % against env steps (log scale), one line or marker set per agent."""
    from eval.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.4, 4.0))
    for c in curves:
        style = "-" if len(c.steps) > 1 else ""
        ax.plot(c.steps, [100 * s for s in c.success], style, marker="o", markersize=4, label=c.label)
    ax.axhline(100 * random_success, color="grey", linestyle=":", label="uniform random actions")
    ax.axhline(100 * TARGET, color="black", linewidth=0.6, linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("env steps learned from (log scale)")
    ax.set_ylabel("success % (paper protocol)")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the axes: no point hidden
    ax.set_title(f"Data efficiency, VINGrid-{size}x{size}")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
