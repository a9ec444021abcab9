"""Command-line front ends run end to end on tiny budgets; bad arguments fail clearly."""

import json
import os
import subprocess
import sys

import pytest


def run(*args, check=True):
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.mark.parametrize(
    "module",
    [
        "train",
        "eval",
        "eval.visualize",
        "eval.cross_size",
        "eval.learned_reward",
        "eval.costs",
        "eval.k_sweep",
        "eval.table1",
        "eval.untied",
        "eval.plots",
        "train.make_dataset",
        "train.demo",
        "gridworld_env.play",
    ],
)
def test_help(module):
    assert "usage" in run(module, "--help").stdout


def test_bc_then_eval_end_to_end(tmp_path):
    out = run(
        "train",
        "bc",
        "--env",
        "VINGrid-8x8-v0",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
        "n_maps=40",
        "epochs=1",
        "ch_h=4",
        "val_maps=10",
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["epoch"] == 1 and (tmp_path / "run" / "model.zip").exists()
    assert list((tmp_path / "run" / "tb").iterdir())
    ev = json.loads(
        run(
            "eval",
            "--model",
            str(tmp_path / "run" / "model.zip"),
            "--env",
            "VINGrid-8x8-v0",
            "--episodes",
            "10",
            "--render",
            "gif",
            "--render-episodes",
            "2",
            "--render-out",
            str(tmp_path / "ep.gif"),
        ).stdout
    )
    # The command's figures are those of the saved model under the library's evaluation.
    from agents.evaluation import evaluate_policy_on_maps
    from agents.zoo import load_model

    expected = evaluate_policy_on_maps(load_model(str(tmp_path / "run" / "model.zip")).policy, 8, 10).as_dict()
    assert {k: ev[k] for k in expected} == expected
    assert ev["rendered"]["seeds"] == [10**9, 10**9 + 1] and (tmp_path / "ep.gif").stat().st_size > 0


def test_ppo_from_bc_end_to_end(tmp_path):
    run(
        "train",
        "bc",
        "--env",
        "VINGrid-8x8-v0",
        "--out",
        str(tmp_path / "bc"),
        "--no-progress",
        "n_maps=20",
        "epochs=1",
        "ch_h=4",
        "k=4",
        "val_maps=5",
    )
    out = run(
        "train",
        "ppo",
        "--env",
        "VINGrid-8x8-v0",
        "--policy",
        "vin",
        "--masked",
        "--curriculum",
        "--init",
        str(tmp_path / "bc" / "model.zip"),
        "--out",
        str(tmp_path / "ppo"),
        "--no-progress",
        "total_timesteps=128",
        "n_envs=4",
        "n_steps=16",
        "batch_size=32",
        "ch_h=4",
        "k=4",
        # the BC model's architecture: the published VIN (the PPO recipe's VIN differs)
        "ch_q=10",
        "reward_kernel=3",
        "center_q=false",
        "eval_freq=64",
        "eval_episodes=4",
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    from agents.training.ppo import load_ppo_checkpoint

    state = load_ppo_checkpoint(str(tmp_path / "ppo" / "checkpoint.pt"))
    assert state["num_timesteps"] == 128 and state["config"]["masked"] and state["config"]["curriculum"]
    assert summary == {"model": str(tmp_path / "ppo" / "model.zip"), **state["extra"]["history"][-1]}


def test_visualize_writes_png_and_gif(tmp_path):
    run(
        "train",
        "bc",
        "--env",
        "VINGrid-8x8-v0",
        "--out",
        str(tmp_path / "bc"),
        "--no-progress",
        "n_maps=10",
        "epochs=1",
        "ch_h=4",
        "k=3",
        "val_maps=5",
    )
    out = json.loads(
        run(
            "eval.visualize",
            "--model",
            str(tmp_path / "bc" / "model.zip"),
            "--env",
            "VINGrid-8x8-v0",
            "--seed",
            "5",
            "--out",
            str(tmp_path / "vis"),
        ).stdout
    )
    assert out["iterations"] == 3 and os.path.getsize(out["png"]) > 0 and os.path.getsize(out["gif"]) > 0


def test_cross_size_keeps_every_setting_of_the_vin_and_plans_with_the_k_asked():
    from agents.policies import vin_of
    from eval.cross_size import transplant

    policy = transplant("agents/pretrained/bc_vin_maze15x15.zip", 28, 50)  # the env's moves, walls block
    vin, _ = vin_of(policy)
    assert vin.walls_block and vin.terminal_goal and (vin.inference_k, vin.inference_tol) == (50, None)
    assert tuple(policy.observation_space["image"].shape) == (2, 28, 28)


def test_open_question_scripts_write_their_tables(tmp_path):
    out = run("eval.cross_size", "--sizes", "32", "--episodes", "5", "--out", str(tmp_path / "c.md")).stdout
    assert "| 32x32 | 20 |" in out and "| 32x32 | 42 |" in out
    out = run(
        "eval.learned_reward",
        "--maps",
        "3",
        "--models",
        "agents/pretrained/bc_vin_8x8.zip",
        "--out",
        str(tmp_path / "r.md"),
    ).stdout
    assert "bc_vin_8x8.zip` | 8x8 |" in out
    out = run("eval.costs", "--sizes", "8", "--out", str(tmp_path / "f.md")).stdout
    assert "| 8x8 | VIN | 3,268 |" in out and "| 8x8 | FCN |" in out
    out = run(
        "eval.k_sweep",
        "--sizes",
        "8",
        "--ks",
        "1",
        "2",
        "--maps",
        "10",
        "--epochs",
        "1",
        "--episodes",
        "5",
        "--out",
        str(tmp_path / "k.md"),
    ).stdout
    assert "| 8x8 | 1 |" in out and "| 8x8 | 2 |" in out
    out = run(
        "eval.untied",
        "--sizes",
        "8",
        "--seeds",
        "0",
        "--maps",
        "10",
        "--epochs",
        "1",
        "--episodes",
        "5",
        "--out",
        str(tmp_path / "u.md"),
    ).stdout
    assert "| 8x8 | tied | 180 |" in out and "| 8x8 | untied | 1,980 |" in out
    for name in ("c", "r", "f", "k", "u"):
        assert (tmp_path / f"{name}.md").read_text().startswith("# ")


def test_table1_trains_evaluates_and_reuses_its_runs(tmp_path):
    args = [
        "eval.table1",
        "--sizes",
        "8",
        "--models",
        "vin",
        "fcn",
        "--seeds",
        "0",
        "1",
        "--maps",
        "20",
        "--epochs",
        "1",
        "--episodes",
        "10",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "t.md"),
        "--serial",  # in this process (the Ray path: tests/test_sweep.py)
    ]
    first = run(*args)
    out = first.stdout
    assert "BC VINGrid-8x8-v0: 100%" in first.stderr and "eval: 100%" in first.stderr  # a bar while a run trains
    assert "| 8x8 | VIN | 0,1 |" in out and "| 8x8 | FCN | 0,1 |" in out and "(99.6)" in out
    assert "| size | VIN - CNN | VIN - FCN |" in out
    result = json.loads((tmp_path / "runs" / "8" / "vin" / "seed1" / "result.json").read_text())
    assert result["settings"]["n_maps"] == 20 and len(result["history"]) == 1
    from agents.evaluation import evaluate_policy_on_maps
    from agents.zoo import load_model

    model = load_model(str(tmp_path / "runs" / "8" / "vin" / "seed1" / "model.zip"))
    assert result["test"] == evaluate_policy_on_maps(model.policy, 8, 10).as_dict()
    stamp = os.path.getmtime(tmp_path / "runs" / "8" / "vin" / "seed1" / "result.json")
    again = run(*args, "--no-progress").stdout  # every run is reused, not retrained
    assert (
        "seed 0:" not in again and os.path.getmtime(tmp_path / "runs" / "8" / "vin" / "seed1" / "result.json") == stamp
    )
    assert (tmp_path / "t.md").read_text() == again.rstrip("\n") + "\n"
    narrow = run(*args[:5], *args[6:], "--no-progress", check=False)  # without fcn: its row would be lost
    assert narrow.returncode == 2 and "8x8 FCN" in narrow.stderr and "--overwrite" in narrow.stderr
    assert (tmp_path / "t.md").read_text() == again.rstrip("\n") + "\n"
    results = tmp_path / "results"
    results.mkdir()
    (results / "table1.md").write_text((tmp_path / "t.md").read_text())
    out = run("eval.plots", "--results", str(results)).stdout
    assert out.split() == [str(results / "table1.png")]
    assert (results / "table1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_make_dataset_cli(tmp_path):
    run("train.make_dataset", "--env", "VINGrid-8x8-v0", "--maps", "5", "--out", str(tmp_path / "d.npz"))
    from gridworld_env.expert import ExpertDataset

    assert ExpertDataset.load(str(tmp_path / "d.npz")).n_maps == 5
    again = ("train.make_dataset", "--env", "VINGrid-8x8-v0", "--maps", "3", "--out", str(tmp_path / "d.npz"))
    refused = run(*again, check=False)
    assert refused.returncode != 0 and "--overwrite" in refused.stderr
    assert ExpertDataset.load(str(tmp_path / "d.npz")).n_maps == 5  # the user's data set is untouched
    run(*again, "--overwrite")
    assert ExpertDataset.load(str(tmp_path / "d.npz")).n_maps == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (("train", "bc", "epochs"), "key=value"),
        (("train", "bc", "bogus=1"), "unknown BC setting"),
        (("train", "bc", "--env", "Nope-v0", "epochs=1"), "unknown env"),
        (("train", "sac"), "invalid choice"),
        (("train", "ppo", "--policy", "rnn"), "invalid choice"),
        (("train", "ppo", "n_envs=0"), "n_envs must be >= 1"),
        (("train", "ppo", "--init", "missing.zip", "total_timesteps=64"), "no model to initialise from"),
        (("train", "ppo", "--resume", "--out", "nowhere", "total_timesteps=64"), "no checkpoint to resume from"),
        (("eval", "--model", "missing.zip"), "no model"),
        (("eval", "--model", "x.zip", "--episodes", "0"), "episodes"),
        (("eval", "--model", "x.zip", "--render", "mp4"), "invalid choice"),
        (("eval.k_sweep", "--ks", "0"), "every K must be >= 1"),
        (("eval.cross_size", "--episodes", "0"), "episodes"),
        (("eval.table1", "--sizes", "8", "16", "--epochs", "1", "2", "3"), "one value or one per size"),
        (("eval.table1", "--sizes", "9"), "unknown env"),
        (("eval.table1", "--maps", "0"), "n_maps must be >= 1"),
        (("eval.table1", "--models", "rnn"), "invalid choice"),
        (("eval.untied", "--epochs", "0"), "epochs"),
        (("eval.visualize", "--model", "missing.zip"), "no model"),
        (("train.make_dataset", "--out", "x.npz", "--trajectories", "-2"), "trajectories"),
        (("train.make_dataset", "--out", "x.npz", "--env", "Nope-v0"), "unknown env"),
    ],
)
def test_bad_arguments_exit_non_zero(args, message, tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the tools run from the checkout
    env = {**os.environ, "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode != 0 and message in out.stderr


PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "agents", "pretrained")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--model", os.path.join(PRETRAINED, "bc_cnn_16x16.zip"), "--env", "VINGrid-8x8-v0"),
            "trained on 16x16 maps, not 8x8: evaluate it with --env VINGrid-16x16-v0",
        ),
        (("--model", os.path.join(PRETRAINED, "bc_vin_8x8.zip"), "--env", "VINGrid-16x16-v0"), "trained on 8x8 maps"),
        (
            ("--model", os.path.join(PRETRAINED, "bc_vin_maze15x15.zip"), "--env", "VINGridMaze-28x28-v0"),
            "not 28x28: evaluate it with --env VINGridMaze-15x15-v0",
        ),
        (
            ("--model", os.path.join(PRETRAINED, "bc_vin_8x8.zip"), "--env", "VINGrid-8x8-v0", "--seed", "-1"),
            "--seed must be >= 0",
        ),
        (("--model", PRETRAINED, "--env", "VINGrid-8x8-v0"), "is a folder"),
    ],
)
def test_eval_refuses_clearly(args, message):
    out = run("eval", *args, check=False)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_eval_shows_progress_unless_told_not_to():
    args = (
        "eval",
        "--model",
        os.path.join(PRETRAINED, "bc_vin_8x8.zip"),
        "--env",
        "VINGrid-8x8-v0",
        "--episodes",
        "20",
    )
    shown = run(*args)
    assert "eval: 100%" in shown.stderr and "40/40" in shown.stderr  # rollouts, then expert paths
    quiet = run(*args, "--no-progress")
    assert quiet.stderr == "" and json.loads(quiet.stdout)["success_rate"] == json.loads(shown.stdout)["success_rate"]


def test_table1_recomputes_a_corrupt_cached_result(tmp_path):
    from eval.table1 import Table1Config, run_one

    cfg = Table1Config(
        sizes=[8], models=["vin"], seeds=[0], epochs={8: 1}, n_maps=10, episodes=5, runs_dir=str(tmp_path), threads=1
    )
    done = run_one(cfg, 8, "vin", 0, log=lambda m: None)
    path = tmp_path / "8" / "vin" / "seed0" / "result.json"
    path.write_text('{"settings": {"n_ma')  # cut short
    messages = []
    again = run_one(cfg, 8, "vin", 0, log=messages.append)
    assert any("unreadable" in m for m in messages)
    assert json.dumps(again["test"]) == json.dumps(done["test"])  # the same figures (NaN included)
    assert json.loads(path.read_text())["settings"] == done["settings"]
