"""rl-zoo3's train and enjoy commands run on our envs with the shipped hyperparameters
(rl-zoo3 comes with the ``zoo`` extra, which ``make`` installs)."""

import os
import subprocess
import sys

import yaml

import gridworld_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "hyperparams", "rl_zoo3.yml")


def test_every_registered_id_has_zoo_hyperparameters():
    with open(CONF) as f:
        sections = yaml.safe_load(f)
    assert set(gridworld_env.ENV_IDS) <= set(sections)
    assert all(s["policy"] == "MultiInputPolicy" for s in sections.values())


def test_zoo_trains_a_vin_and_enjoys_it(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    common = ["--algo", "ppo", "--env", "VINGrid-8x8-v0", "--gym-packages", "gridworld_env", "-f", str(tmp_path)]
    train = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_zoo3.train",
            *common,
            "--conf-file",
            CONF,
            "-n",
            "2048",
            "--eval-freq",
            "-1",
            "--seed",
            "0",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr[-2000:]
    run_dir = tmp_path / "ppo" / "VINGrid-8x8-v0_1"
    assert (run_dir / "VINGrid-8x8-v0.zip").exists()
    from stable_baselines3 import PPO

    from agents.policies import VINExtractor

    model = PPO.load(run_dir / "VINGrid-8x8-v0.zip", device="cpu")
    assert isinstance(model.policy.features_extractor, VINExtractor) and model.num_timesteps == 2048
    enjoy = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_zoo3.enjoy",
            *common,
            "--exp-id",
            "1",
            "-n",
            "200",
            "--no-render",
            "--deterministic",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert enjoy.returncode == 0, enjoy.stderr[-2000:]
    assert "Success rate:" in enjoy.stdout and "Mean reward:" in enjoy.stdout
