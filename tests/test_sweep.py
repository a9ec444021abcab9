"""Sweeps on real Ray Tune (``agents.sweep``, ``python -m train sweep``), kept short for CI.

Each test starts its own Ray (a local one, a simulated two-node cluster, or one inside a
subprocess): about 7 s each here. The trials are 8x8 BC runs of a few seconds.
"""

import contextlib
import dataclasses
import glob
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from agents.sweep.runner import TRIAL_LOG, WORKER_NICENESS_VAR, RunnerOptions, ray_session, run_sweep
from agents.sweep.spec import load_spec, parse_spec, trial_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Two BC trials (seeds 0 and 1), long enough to be interrupted between epochs.
BC_SETTINGS = {"epochs": 10, "n_maps": 400, "val_maps": 50}


def bc_spec(storage, name="bc2", **extra):
    raw = {"name": name, "trainer": "bc", "envs": ["VINGrid-8x8-v0"], "seeds": [0, 1], "storage": str(storage)}
    return {**raw, "settings": dict(BC_SETTINGS), **extra}


@pytest.fixture(scope="module")
def serial_histories(tmp_path_factory):
    """The two trials trained one after another in this process, without Ray."""
    from agents.training.bc import train_bc

    spec = parse_spec(bc_spec(tmp_path_factory.mktemp("unused")))
    out = {}
    for seed in spec.seeds:
        cfg = trial_config(spec, "VINGrid-8x8-v0", "vin", seed, {})
        _, history = train_bc(cfg, str(tmp_path_factory.mktemp(f"serial{seed}")))
        out[seed] = history
    return out


def trial_history(experiment, seed):
    import torch

    run = os.path.join(experiment, "runs", f"VINGrid-8x8-v0__bc-vin__seed{seed}")
    return torch.load(os.path.join(run, "checkpoint.pt"), weights_only=False)["history"]


def starts(experiment, seed):
    path = os.path.join(experiment, "runs", f"VINGrid-8x8-v0__bc-vin__seed{seed}", TRIAL_LOG)
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trainer": "sac"}, "trainer"),
        ({"envs": ["VINGrid-9x9-v0"]}, "envs"),
        ({"envs": "VINGrid-8x8-v0"}, "envs"),
        ({"policies": ["rnn"]}, "policies"),
        ({"seeds": [-1]}, "seeds"),
        ({"settings": {"epochs": "five"}}, "settings"),
        ({"settings": {"lr_typo": 0.1}}, "settings.lr_typo"),
        ({"settings": {"threads": 4}}, "settings.threads"),
        ({"grid": {"lr": 0.1}}, "grid.lr"),
        ({"resources": {"cpus": 0}}, "resources.cpus"),
        ({"resources": {"tpus": 1}}, "resources.tpus"),
        ({"name": "a/b"}, "name"),
        ({"epochs": 3}, "epochs"),
        ({"search": {"space": {"lr": {"loguniform": [0.0, 0.1]}}}}, "search.space.lr"),
        ({"search": {"space": {"lr": {"normal": [0.0, 0.1]}}}}, "search.space.lr"),
        ({"search": {"space": {"lr": {"uniform": [0.1, 0.2]}}, "mode": "best"}}, "search.mode"),
        ({"search": {"space": {"lr": {"uniform": [0.1, 0.2]}}}, "grid": {"epochs": [1, 2]}}, "grid"),
        (
            {"search": {"space": {"lr": {"uniform": [0.1, 0.2]}}, "points_to_evaluate": [{"lr": 0.3}]}},
            "search.points_to_evaluate[0].lr",
        ),
        (
            {"search": {"space": {"lr": {"uniform": [0.1, 0.2]}}, "points_to_evaluate": [{"gamma": 0.9}]}},
            "search.points_to_evaluate[0]",
        ),
        (
            {"search": {"space": {"n": {"choice": [1, 2]}}, "points_to_evaluate": [{"n": 3}]}},
            "search.points_to_evaluate[0].n",
        ),
        (
            {"search": {"space": {"lr": {"uniform": [0.1, 0.2]}}, "points_to_evaluate": {"lr": 0.1}}},
            "search.points_to_evaluate",
        ),
    ],
)
def test_a_bad_spec_names_its_field(tmp_path, change, field):
    with pytest.raises(ValueError, match=re.escape(f"field '{field}'")):
        parse_spec({**bc_spec(tmp_path), **change}, "s.yml")


def test_the_cli_rejects_a_bad_spec_before_starting_ray(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump({**bc_spec(tmp_path), "trainer": "sac"}))
    done = subprocess.run(
        [sys.executable, "-m", "train", "sweep", str(path)], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 2 and "field 'trainer'" in done.stderr, done.stderr
    assert not (tmp_path / "bc2").exists()


def test_resume_refuses_a_changed_spec(tmp_path):
    run_sweep_dir = tmp_path / "bc2"
    run_sweep_dir.mkdir()
    changed = parse_spec(bc_spec(tmp_path))
    (run_sweep_dir / "spec.json").write_text(json.dumps({**json.loads(json.dumps(vars(changed))), "seeds": [0]}))
    with pytest.raises(ValueError, match=r"differs .* \['seeds'\]"):
        run_sweep(changed, RunnerOptions(resume=True, progress=False))


def test_the_shipped_example_specs_are_valid():
    specs = sorted(glob.glob(os.path.join(REPO, "hyperparams", "sweeps", "*.yml")))
    assert specs
    for path in specs:
        assert load_spec(path).name


def test_a_local_ray_runs_its_workers_at_the_drivers_niceness(monkeypatch):
    """Ray's default adds 15, and its trials then starve beside any other job on the machine."""
    import ray

    monkeypatch.setenv(WORKER_NICENESS_VAR, "unset")  # restored (to absent) after the test
    monkeypatch.delenv(WORKER_NICENESS_VAR)
    with ray_session(None, num_cpus=1):

        @ray.remote
        def niceness() -> int:
            return os.nice(0)

        assert ray.get(niceness.remote()) == os.nice(0)


def test_a_local_two_trial_sweep_gives_the_serial_runs_figures(tmp_path, serial_histories):
    results = run_sweep(parse_spec(bc_spec(tmp_path)), RunnerOptions(progress=False, num_cpus=2))
    assert [r["error"] for r in results] == [None, None]
    experiment = str(tmp_path / "bc2")
    for seed in (0, 1):
        assert trial_history(experiment, seed) == serial_histories[seed]
        assert len(starts(experiment, seed)) == 1
    reported = {r["config"]["seed"]: r["metrics"] for r in results}
    for seed in (0, 1):
        assert reported[seed]["val_success_rate"] == serial_histories[seed][-1]["val_success_rate"]
        assert reported[seed]["epoch"] == BC_SETTINGS["epochs"]
    with pytest.raises(ValueError, match="--resume"):  # an experiment folder is never silently replaced
        run_sweep(parse_spec(bc_spec(tmp_path)), RunnerOptions(progress=False))


def test_a_sweep_survives_losing_a_node_of_a_cluster(tmp_path, serial_histories):
    """Two 1-CPU worker nodes; the node running a trial is removed after that trial's second epoch,
    and the trial's run folder is deleted with it (the node's disk is gone): Tune retries it on the
    other node from the checkpoint it last reported, and every figure equals an uninterrupted run's."""
    import ray
    import torch
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    experiment = str(tmp_path / "bc2")
    removed = {}

    def remove_a_busy_node():
        deadline = time.time() + 240
        while time.time() < deadline and not removed:
            for ckpt in glob.glob(os.path.join(experiment, "runs", "*", "checkpoint.pt")):
                try:
                    epoch = torch.load(ckpt, weights_only=False)["epoch"]
                except Exception:  # being written
                    continue
                run = os.path.dirname(ckpt)
                if not 2 <= epoch <= 5 or os.path.exists(os.path.join(run, "model.zip")):
                    continue
                with open(os.path.join(run, TRIAL_LOG)) as f:
                    start = json.loads(f.readlines()[-1])
                node = next(n for n in workers if n.node_id == start["node"])
                cluster.remove_node(node, allow_graceful=False)
                # A lost machine takes its processes with it. On one host the trial's worker outlives its
                # raylet until it notices, and a short trial can end first; kill it as the machine would.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(start["pid"], signal.SIGKILL)
                for name in os.listdir(run):
                    if name != TRIAL_LOG:
                        os.remove(os.path.join(run, name))
                removed.update(run=run, epoch=epoch)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=remove_a_busy_node, daemon=True)
    ray.init(address=cluster.address)
    try:
        thread.start()
        results = run_sweep(parse_spec(bc_spec(tmp_path, max_failures=2)), RunnerOptions(progress=False))
    finally:
        ray.shutdown()
        cluster.shutdown()
    thread.join(timeout=5)
    assert removed, "no trial reached its second epoch before the sweep ended"
    assert [r["error"] for r in results] == [None, None]
    seed = int(removed["run"].rsplit("seed", 1)[1])
    log = starts(experiment, seed)
    # resumed, not restarted (the old worker may finish one more epoch before it notices its node is gone)
    assert len(log) == 2 and log[1]["resumed_from"] >= 1, (log, removed)
    assert log[0]["node"] != log[1]["node"]
    for s in (0, 1):  # nothing lost: both trials end with every epoch, as if never interrupted
        assert trial_history(experiment, s) == serial_histories[s]


def test_an_interrupted_sweep_resumes_without_retraining_finished_trials(tmp_path, serial_histories):
    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump(bc_spec(tmp_path)))
    command = [sys.executable, "-m", "train", "sweep", str(path), "--max-concurrent", "1", "--no-progress"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    experiment = str(tmp_path / "bc2")
    import torch

    deadline = time.time() + 240
    while time.time() < deadline and first.poll() is None:  # one trial done, the other one under way
        epochs = []
        for ckpt in glob.glob(os.path.join(experiment, "runs", "*", "checkpoint.pt")):
            try:
                epochs.append(torch.load(ckpt, weights_only=False)["epoch"])
            except Exception:  # being written
                pass
        if len(epochs) == 2 and max(epochs) == BC_SETTINGS["epochs"] and 1 <= min(epochs) <= 5:
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130 and "--resume" in err, err[-2000:]
    again = subprocess.run([*command, "--resume"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    counts = {seed: len(starts(experiment, seed)) for seed in (0, 1)}
    assert sorted(counts.values()) == [1, 2], counts  # the finished trial was not started again
    resumed = next(seed for seed, n in counts.items() if n == 2)
    assert starts(experiment, resumed)[1]["resumed_from"] >= 1
    for seed in (0, 1):
        assert trial_history(experiment, seed) == serial_histories[seed]
    summary = json.loads((tmp_path / "bc2" / "sweep.json").read_text())
    assert [t["error"] for t in summary["trials"]] == [None, None]


def test_a_search_writes_the_best_settings_as_a_hyperparams_section(tmp_path):
    from agents.training.ppo import load_ppo_config

    spec = {
        "name": "search",
        "trainer": "ppo",
        "envs": ["VINGrid-8x8-v0"],
        "storage": str(tmp_path),
        "settings": {"total_timesteps": 4096, "n_envs": 16, "batch_size": 256, "eval_freq": 2048, "eval_episodes": 10},
        "search": {
            "num_samples": 3,
            "space": {"lr": {"loguniform": [1e-4, 1e-2]}, "n_epochs": {"choice": [2, 4]}},
            "points_to_evaluate": [{"lr": 0.005, "n_epochs": 2}],
        },
    }
    results = run_sweep(parse_spec(spec), RunnerOptions(progress=False, num_cpus=2))
    assert len(results) == 3 and all(r["error"] is None for r in results)
    sampled = {(r["config"]["lr"], r["config"]["n_epochs"]) for r in results}
    assert len(sampled) == 3 and all(1e-4 <= lr <= 1e-2 and n in (2, 4) for lr, n in sampled)
    assert (0.005, 2) in sampled  # the given point is one of the trials
    best_file = tmp_path / "search" / "best.yml"
    section = yaml.safe_load(best_file.read_text())["VINGrid-8x8-v0"]
    best = max(results, key=lambda r: r["metrics"]["val_success_rate"])
    assert (section["lr"], section["n_epochs"]) == (best["config"]["lr"], best["config"]["n_epochs"])
    cfg = load_ppo_config("VINGrid-8x8-v0", str(best_file))  # a valid hyperparams section
    assert cfg.total_timesteps == 4096 and cfg.lr == best["config"]["lr"]


def test_table1_through_ray_equals_the_serial_table(tmp_path):
    common = ["--sizes", "8", "--models", "vin", "--seeds", "0", "1", "--maps", "20", "--epochs", "1"]
    common += ["--episodes", "10", "--threads", "1", "--no-progress"]
    outs = {}
    for how in ("ray", "serial"):
        extra = ["--serial"] if how == "serial" else ["--max-concurrent", "2"]
        args = [*common, "--runs", str(tmp_path / how), "--out", str(tmp_path / f"{how}.md"), *extra]
        done = subprocess.run(
            [sys.executable, "-m", "eval.table1", *args], capture_output=True, text=True, cwd=REPO, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outs[how] = {
            seed: json.loads((tmp_path / how / "8" / "vin" / f"seed{seed}" / "result.json").read_text())
            for seed in (0, 1)
        }
    for seed in (0, 1):
        assert outs["ray"][seed]["test"] == outs["serial"][seed]["test"]
        assert outs["ray"][seed]["history"] == outs["serial"][seed]["history"]
    assert not (tmp_path / "ray" / "_tune").exists()  # Tune's own copy is removed; the run folders stay


@pytest.mark.parametrize("policy", ["cnn", "vin"])
def test_the_rl_search_spaces_load_and_run_one_trial_on_a_tiny_budget(tmp_path, policy):
    """The shipped PPO search specs (the CNN's and the VIN's twin, the same space and budget) load,
    and one sampled trial trains and reports its validation success."""
    with open(os.path.join(REPO, "hyperparams", "sweeps", f"ppo_{policy}_search.yml")) as f:
        raw = yaml.safe_load(f)
    spec = parse_spec(raw)
    assert spec.policies == [policy] and spec.search is not None and len(spec.search.space) >= 4
    raw["storage"] = str(tmp_path)
    raw["settings"] = {**raw.get("settings", {}), "total_timesteps": 4096, "n_envs": 16, "batch_size": 256}
    raw["settings"].update({"eval_freq": 2048, "eval_episodes": 10})
    raw["search"] = {**raw["search"], "num_samples": 1}
    results = run_sweep(parse_spec(raw), RunnerOptions(progress=False, num_cpus=1))
    assert len(results) == 1 and results[0]["error"] is None
    assert "val_success_rate" in results[0]["metrics"] and results[0]["metrics"]["timesteps"] >= 4096


def test_the_cnn_and_vin_search_specs_are_twins_at_each_size():
    """The CNN's search and the VIN's at a size differ only in the policy (and their names): the
    same space, trials, budget and stopping rule; the CNN's convolutions may run in bfloat16 (a
    speed setting that only the CNN has)."""
    for suffix in ("", "_16x16"):
        cnn, vin = (
            load_spec(os.path.join(REPO, "hyperparams", "sweeps", f"ppo_{p}_search{suffix}.yml"))
            for p in ("cnn", "vin")
        )
        assert (cnn.policies, vin.policies) == (["cnn"], ["vin"])
        assert cnn.search is not None and vin.search is not None
        assert len(cnn.search.points_to_evaluate) == len(vin.search.points_to_evaluate)  # each its own
        same = {"points_to_evaluate": []}
        assert dataclasses.replace(cnn.search, **same) == dataclasses.replace(vin.search, **same)
        cnn_settings = {key: value for key, value in cnn.settings.items() if key != "bf16"}
        assert cnn_settings == vin.settings and cnn.envs == vin.envs
    # At 16x16 each search tries its policy's 8x8 winner first: the CNN's is hyperparams/ppo_cnn.yml's.
    search = load_spec(os.path.join(REPO, "hyperparams", "sweeps", "ppo_cnn_search_16x16.yml")).search
    assert search is not None
    with open(os.path.join(REPO, "hyperparams", "ppo_cnn.yml")) as f:
        tuned = yaml.safe_load(f)["VINGrid-8x8-v0"]
    assert search.points_to_evaluate == [{key: tuned[key] for key in search.space}]
