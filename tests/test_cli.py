"""Command-line front ends run end to end on tiny budgets; bad arguments fail clearly."""

import json
import subprocess
import sys

import pytest


def run(*args, check=True):
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.mark.parametrize("module", ["train", "eval", "train.make_dataset", "train.demo", "gridworld_env.play"])
def test_help(module):
    assert "usage" in run(module, "--help").stdout


def test_bc_then_eval_end_to_end(tmp_path):
    out = run("train", "bc", "--env", "VINGrid-8x8-v0", "--out", str(tmp_path / "run"), "--no-progress",
              "n_maps=40", "epochs=1", "ch_h=4", "val_maps=10")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["epoch"] == 1 and (tmp_path / "run" / "model.zip").exists()
    assert list((tmp_path / "run" / "tb").iterdir())
    ev = json.loads(run("eval", "--model", str(tmp_path / "run" / "model.zip"), "--env", "VINGrid-8x8-v0",
                        "--episodes", "10").stdout)
    assert ev["episodes"] == 10 and 0 <= ev["success_rate"] <= 1


def test_make_dataset_cli(tmp_path):
    run("train.make_dataset", "--env", "VINGrid-8x8-v0", "--maps", "5", "--out", str(tmp_path / "d.npz"))
    from gridworld_env.expert import ExpertDataset

    assert ExpertDataset.load(str(tmp_path / "d.npz")).n_maps == 5


@pytest.mark.parametrize("args, message", [
    (("train", "bc", "epochs"), "key=value"),
    (("train", "bc", "bogus=1"), "unknown BC setting"),
    (("train", "bc", "--env", "Nope-v0", "epochs=1"), "unknown env"),
    (("train", "ppo"), "invalid choice"),
    (("eval", "--model", "missing.zip"), "no model"),
    (("eval", "--model", "x.zip", "--episodes", "0"), "episodes"),
    (("train.make_dataset", "--out", "x.npz", "--trajectories", "-2"), "trajectories"),
    (("train.make_dataset", "--out", "x.npz", "--env", "Nope-v0"), "unknown env"),
])
def test_bad_arguments_exit_non_zero(args, message, tmp_path):
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and message in out.stderr
