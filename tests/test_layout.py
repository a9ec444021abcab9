"""The house keeps no knots: every module of ``agents/`` imports on its own, and no module of
``agents/`` imports (at any depth of its code, lazily included) one that imports it back."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENTS = os.path.join(REPO, "agents")

#: Old module paths kept for one release; each only re-exports its new home.
DEPRECATED_ALIASES = {f"agents.{name}" for name in ("vin", "gppn", "baselines", "bc", "ppo", "config", "checkpoints")}


def agent_modules() -> dict[str, str]:
    """Dotted name -> file of every module under ``agents/``."""
    found = {}
    for root, _, files in os.walk(AGENTS):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join(parts)] = path
    return found


def import_graph(modules: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the ``agents`` modules it imports anywhere in its code (function bodies too)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_agents_package_has_no_import_circles():
    modules = {k: v for k, v in agent_modules().items() if k not in DEPRECATED_ALIASES}
    graph = import_graph(modules)
    assert "agents.training.bc" in graph and "agents.planners.vin" in graph, "the walk found the package"
    assert cycles(graph) == [], "modules that import each other (lazily or not): break the circle"


def test_the_cycle_finder_finds_a_lazy_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_planners_import_nothing_of_sb3_or_the_policies():
    graph = import_graph(agent_modules())
    for name in ("agents.planners", "agents.planners.vin", "agents.planners.gppn", "agents.planners.inference"):
        assert not {m for m in graph[name] if not m.startswith("agents.planners")}, name
        with open(agent_modules()[name]) as f:
            assert "stable_baselines3" not in f.read(), f"{name} imports SB3"


def test_every_agents_module_imports_alone_in_a_fresh_interpreter():
    # Third-party libraries are imported once; each project module is then imported first thing
    # in a forked child that has imported nothing of ``agents`` (so an import-order knot shows).
    script = textwrap.dedent(
        """
        import importlib, os, sys, traceback, warnings
        import numpy, torch, gymnasium, yaml, stable_baselines3, sb3_contrib  # noqa: F401
        failed = []
        for name in sys.argv[1:]:
            pid = os.fork()
            if pid == 0:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)
                        importlib.import_module(name)
                except BaseException:
                    traceback.print_exc()
                    os._exit(1)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                failed.append(name)
        print("FAILED", failed)
        sys.exit(1 if failed else 0)
        """
    )
    names = sorted(agent_modules())
    done = subprocess.run([sys.executable, "-c", script, *names], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "FAILED []" in done.stdout


def test_deprecated_paths_warn_and_still_serve_their_names():
    script = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error", DeprecationWarning)
        try:
            from agents.vin import VIN  # noqa: F401
        except DeprecationWarning as exc:
            assert "agents.planners" in str(exc), exc
        else:
            raise SystemExit("agents.vin did not warn")
        warnings.simplefilter("ignore", DeprecationWarning)
        from agents.vin import VIN, default_k, set_inference_planning
        from agents.gppn import GPPN, GPPNPolicy
        from agents.config import load_bc_config, load_ppo_config, check_types
        from agents.bc import BCConfig, train_bc
        from agents.ppo import PPOConfig, LinearSchedule
        from agents.baselines import CNNPolicy
        from agents.checkpoints import save_state
        import agents.planners, agents.policies, agents.training.bc
        assert VIN is agents.planners.VIN and GPPNPolicy is agents.policies.GPPNPolicy
        assert BCConfig is agents.training.bc.BCConfig and CNNPolicy is agents.policies.CNNPolicy
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr[-3000:]
