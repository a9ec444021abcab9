"""The GPPN module (``agents.planners.gppn``), its SB3 policies and behaviour cloning on mazes."""

import dataclasses
import shutil

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from agents.planners import GPPN
from agents.policies import GPPNExtractor, GPPNPolicy, MaskableGPPNPolicy
from agents.training.bc import BCConfig, train_bc
from gridworld_env import env_spec
from gridworld_env.expert import make_dataset
from gridworld_env.vector import VINGridVecEnv


def test_information_travels_one_cell_per_iteration():
    """The map convolutions reach 2 cells, each iteration ``kernel_size // 2`` more: the agent
    cell's state after k iterations depends on the map within 2 + k cells, and not beyond."""
    torch.manual_seed(0)
    net = GPPN(2, k=3, ch_h=8)
    image = torch.zeros(1, 2, 15, 15)
    base = net.plan(image)[0, :, 7, 7]
    for radius, changes in ((5, True), (6, False)):
        moved = image.clone()
        moved[0, 0, 7, 7 + radius] = 1.0
        assert (not torch.equal(net.plan(moved)[0, :, 7, 7], base)) == changes, radius
    assert net.plan(image, k=1).shape == (1, 8, 15, 15)  # k can change at inference (tied weights)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"k": 0}, "k"), ({"kernel_size": 2}, "kernel_size"), ({"ch_h": 0}, "ch_h")]
)
def test_bad_gppn_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GPPN(2, **kwargs)


def test_plan_once_per_map_and_the_plan_cache_are_exact():
    env = VINGridVecEnv(3, size=15, seed=4, spec=env_spec("VINGridMaze-15x15-v0"))
    obs = env.reset()
    images = torch.as_tensor(np.repeat(obs["image"], 2, axis=0)).float()
    pos = torch.as_tensor(np.repeat(obs["position"], 2, axis=0)).float()
    pos[1::2] = pos[1::2].flip(1)  # another cell of the same map (maybe a wall: the state is still defined)
    shared = GPPNExtractor(env.observation_space, k=5, ch_h=6)
    single = GPPNExtractor(env.observation_space, k=5, ch_h=6, plan_once_per_map=False, plan_cache=False)
    single.load_state_dict(shared.state_dict())
    batch = {"image": images, "position": pos}
    a, b = shared(batch), single(batch)
    assert a.shape == (6, 6) and torch.allclose(a, b, atol=1e-6)
    with torch.no_grad():
        cached = shared(batch)
        assert len(shared._cache) == 3 and torch.allclose(cached, b, atol=1e-6)


@pytest.mark.parametrize("algo, policy", [(PPO, GPPNPolicy), (MaskablePPO, MaskableGPPNPolicy)])
def test_ppo_with_a_gppn_learns_briefly_and_round_trips(algo, policy, tmp_path):
    env = VINGridVecEnv(4, size=15, max_steps=16, seed=0, spec=env_spec("VINGridMaze-15x15-v0"))
    kwargs = {"features_extractor_kwargs": {"ch_h": 8, "k": 6}}
    model = algo(policy, env, n_steps=16, batch_size=32, n_epochs=1, policy_kwargs=kwargs, seed=0, device="cpu")
    model.learn(64)
    model.save(tmp_path / "m.zip")
    from agents.zoo import load_model

    loaded = load_model(str(tmp_path / "m.zip"))
    assert loaded.policy.features_extractor.gppn.k == 6
    obs = env.reset()
    a1, _ = model.predict(obs, deterministic=True)
    a2, _ = loaded.predict(obs, deterministic=True)
    assert np.array_equal(a1, a2)


def test_bc_trains_a_gppn_on_mazes_well_beyond_chance(tmp_path):
    cfg = BCConfig(
        env_id="VINGridMaze-15x15-v0",
        policy="gppn",
        n_maps=100,
        epochs=4,
        val_maps=20,
        k=20,
        ch_h=16,
        lr=0.01,
        optimizer="adam",
        threads=1,
    )
    model, history = train_bc(cfg, str(tmp_path / "run"))
    assert type(model.policy.features_extractor).__name__ == "GPPNExtractor"
    data = make_dataset(15, 20, 7, seed=0, spec=env_spec("VINGridMaze-15x15-v0"))
    chance = float(data.optimal.mean())  # a uniform random move is optimal this often
    assert history[-1]["val_accuracy"] > max(0.35, 2 * chance), (chance, history)
    assert history[-1]["val_accuracy"] > history[0]["val_accuracy"] + 0.1, history
    # A run on larger mazes can start from these weights (a planner's weights fit every size).
    bigger = {"env_id": "VINGridMaze-28x28-v0", "policy": "gppn", "n_maps": 2, "epochs": 1, "val_maps": 2, "k": 20}
    init = str(tmp_path / "run" / "model.zip")
    start = train_bc(BCConfig(**bigger, ch_h=16, lr=1e-12, threads=1, init=init), str(tmp_path / "big"))[0]
    for name, weights in model.policy.state_dict().items():
        assert torch.allclose(start.policy.state_dict()[name], weights, atol=1e-6), name
    with pytest.raises(ValueError, match="does not match"):
        train_bc(BCConfig(**bigger, ch_h=8, threads=1, init=init), str(tmp_path / "other"))


def _constant_cost_vin(k):
    """A VIN whose reward is -1 on every cell, with the goal terminal: its values converge to
    minus the number of moves to the goal or off the map (outside, reward and value are the zero
    padding; walls cost a move like any cell, as published)."""
    from agents.planners import VIN

    vin = VIN(2, k=k, ch_h=4, ch_q=8, terminal_goal=True)
    with torch.no_grad():
        vin.hidden.weight.zero_()
        vin.hidden.bias.fill_(1.0)
        vin.reward.weight.fill_(-0.25)
    return vin


def test_value_iteration_runs_to_its_fixed_point_at_inference():
    from agents.planners import set_inference_planning

    vin = _constant_cost_vin(5)
    image = torch.zeros(1, 2, 15, 15)
    image[0, 1, 1, 1] = 1.0  # the goal in a corner; the middle cell is 8 moves from the edge
    policy = torch.nn.Sequential(vin)
    with torch.no_grad():
        short = vin.plan(image)
        set_inference_planning(policy, k=500, tol=0.0)
        converged = vin.plan(image)
        assert 5 < vin.last_iterations < 20  # stopped at the fixed point, once the values crossed the map
        set_inference_planning(policy, k=500)
        assert torch.equal(vin.plan(image), converged) and vin.last_iterations == 500  # past it nothing moves
    assert not torch.equal(short, converged)
    assert torch.equal(vin.plan(image), short)  # with gradients (training) the trained K stands
    with pytest.raises(ValueError, match="k must be"):
        set_inference_planning(policy, k=0)
    from agents.planners import VIN

    with pytest.raises(ValueError, match="untied"):
        set_inference_planning(torch.nn.Sequential(VIN(2, k=3, tied=False)), k=5)
    with pytest.raises(ValueError, match="no VIN or GPPN"):
        set_inference_planning(torch.nn.Sequential(torch.nn.Linear(2, 2)), k=5)


def test_a_gppn_plans_with_other_iterations_at_inference_and_the_cache_follows():
    from agents.planners import set_inference_planning

    env = VINGridVecEnv(2, size=15, seed=1, spec=env_spec("VINGridMaze-15x15-v0"))
    obs = env.reset()
    batch = {k: torch.as_tensor(v).float() for k, v in obs.items()}
    extractor = GPPNExtractor(env.observation_space, k=4, ch_h=6)
    with torch.no_grad():
        before = extractor(batch)
        set_inference_planning(extractor, k=9)
        after = extractor(batch)  # not the cached plans of k=4
        assert extractor.gppn.last_iterations == 9 and not torch.equal(before, after)
        reference = extractor.gppn.act(
            extractor.gppn.plan(batch["image"], k=9), torch.arange(2), *batch["position"].long().T
        )
        assert torch.allclose(after, reference)


def test_eval_runs_a_planner_at_another_size_and_with_other_iterations(capsys):
    import json

    from eval.__main__ import main as eval_main

    maze = "agents/pretrained/bc_vin_maze15x15.zip"
    args = ["--model", maze, "--env", "VINGridMaze-28x28-v0", "--episodes", "5", "--no-progress"]
    with pytest.raises(SystemExit):  # a 15x15 agent on 28x28 maps needs --any-size
        eval_main(args)
    assert "15x15" in capsys.readouterr().err
    eval_main([*args, "--any-size"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["success_rate"] == 1.0
    eval_main([*args, "--any-size", "--plan-k", "3"])  # three iterations see 3 moves ahead: lost
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["plan_k"] == 3 and report["success_rate"] < 1.0
    with pytest.raises(SystemExit):
        eval_main(["--model", "agents/pretrained/planet_8x8.pt", "--env", "VINGrid-8x8-v0", "--plan-k", "5"])
    assert "neither" in capsys.readouterr().err


def test_the_maze_report_trains_each_planner_reuses_its_runs_and_keeps_an_existing_page(tmp_path, capsys):
    import json

    from eval.mazes import main as mazes_main

    out, runs = tmp_path / "mazes.md", tmp_path / "runs"
    args = ["--sizes", "15", "--seeds", "0", "1", "--epochs", "1", "--maps", "8", "--episodes", "6"]
    args += ["--long-episodes", "4", "--runs", str(runs), "--out", str(out), "--serial", "--no-progress"]
    args += ["--data", str(tmp_path / "data")]
    shipped = ["--extra", "shipped=agents/pretrained/bc_vin_maze15x15.zip"]
    assert mazes_main([*args, *shipped]) == 0
    text = out.read_text()
    given, learns = "expert actions and the env's moves", "expert actions; learns its moves"
    started = "expert actions; learns its moves, started at the env's"
    assert f"| shipped | {given} | 15x15 | fixed point | 3 | - | 100.0 | 100.0 | 100.0 | 1.000 | - | - |" in text
    assert (
        f"| VIN | {started} | 15x15 | 30 | 5 | 0,1 |" in text and f"| GPPN | {learns} | 15x15 | 30 | 5 | 0,1 |" in text
    )
    assert "| 8 x 1 |" in text  # each row's training mazes x epochs
    assert "| GPPN | 28x28 | 56 | 9 | 96.5 | 97.9 |" in text  # GPPN's own figures beside ours
    assert "15x15: training mazes x epochs VIN 8 x 1, GPPN 8 x 1; K 30, batch 400 cells, lr 0.003" in text
    assert (tmp_path / "mazes.png").exists()
    result = json.loads((runs / "15" / "gppn" / "seed1" / "result.json").read_text())
    assert result["settings"]["policy"] == "gppn" and result["settings"]["trajectories_per_map"] is None
    assert len(result["history"]) == 1 and [b[0] for b in result["buckets"]] == ["50-99", "100-199", "200-399"]
    assert sorted(result["past_k"]) == ["2", "4"]  # the 64x64 mazes again with 2x and 4x the trained K
    assert "| GPPN, trained on 15x15 | 120 (4x) |" in text
    mazes = tmp_path / "data" / "maze15x15_8.npz"  # written once, read by every planner and seed
    assert result["settings"]["dataset"] == str(mazes) and mazes.exists()
    written = mazes.stat().st_mtime_ns
    # A second call reuses every run (nothing trains again) and writes the same page, also a result
    # written before a BC setting existed (it ran with what the setting's default does).
    stamp = (runs / "15" / "vin" / "seed0" / "checkpoint.pt").stat().st_mtime_ns
    older = runs / "15" / "vin" / "seed0" / "result.json"
    stored = json.loads(older.read_text())
    del stored["settings"]["k_min"]
    older.write_text(json.dumps(stored))
    assert mazes_main([*args, *shipped, "--overwrite"]) == 0
    assert (runs / "15" / "vin" / "seed0" / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert out.read_text().replace(" --overwrite", "") == text
    assert mazes.stat().st_mtime_ns == written
    text = out.read_text()
    assert mazes_main(args) == 2  # without the shipped rows the page would lose them: refused
    assert out.read_text() == text
    # Runs and mazes copied elsewhere (a moved checkout, runs kept in another folder) are still found.
    moved = tmp_path / "moved"
    shutil.copytree(runs, moved / "runs")  # copy2: modification times kept
    shutil.copytree(tmp_path / "data", moved / "data")
    place = {str(runs): str(moved / "runs"), str(tmp_path / "data"): str(moved / "data")}
    assert mazes_main([*(place.get(a, a) for a in args), *shipped, "--overwrite"]) == 0
    assert (moved / "runs" / "15" / "vin" / "seed0" / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert out.read_text().replace(str(moved), str(tmp_path)) == text
    # 28x28 runs start from the 15x15 run of their planner and seed, which must exist or train first.
    from eval.mazes import EPOCHS, MAPS, MazesConfig, bc_config, check_start_models

    cfg = MazesConfig(sizes=[28], seeds=[1], n_maps=8, runs_dir=str(runs))
    check_start_models(cfg)  # the 15x15 runs above exist
    assert bc_config(cfg, 28, "gppn", 1).init == str(runs / "15" / "gppn" / "seed1" / "model.zip")
    assert bc_config(cfg, 15, "gppn", 1).init is None
    assert bc_config(cfg, 28, "gppn", 1).lr == 0.001 and bc_config(cfg, 15, "gppn", 1).lr == 0.003
    # Without --maps / --epochs each planner trains on its own count of mazes (MAPS), written once
    # per count, for its own epochs (EPOCHS).
    recipe = MazesConfig(sizes=[15, 28], seeds=[0], runs_dir=str(runs), data_dir=str(tmp_path / "data"))
    for planner, size in [("vin", 15), ("gppn", 15), ("gppn", 28)]:
        run = bc_config(recipe, size, planner, 0)
        assert run.n_maps == MAPS[planner][size] and run.epochs == EPOCHS[planner][size]
        assert run.dataset == str(tmp_path / "data" / f"maze{size}x{size}_{MAPS[planner][size]}.npz")
    assert MAPS["gppn"][15] > MAPS["vin"][15]
    assert bc_config(dataclasses.replace(recipe, epochs={15: 3}), 15, "gppn", 0).epochs == 3  # --epochs: all
    with pytest.raises(ValueError, match="n_maps must be >= 1, got 0"):
        MazesConfig(n_maps=0)
    capsys.readouterr()
    assert mazes_main([*args, "--sizes", "28", "--runs", str(tmp_path / "empty"), "--out", str(tmp_path / "x.md")]) == 2
    assert "add 15 to --sizes" in capsys.readouterr().err
    other = tmp_path / "other"
    make_dataset(15, 3, None, 0, env_spec("VINGridMaze-15x15-v0")).save(str(other / "maze15x15_8.npz"))
    capsys.readouterr()
    assert mazes_main([*args, "--data", str(other), "--overwrite"]) == 2  # another count under the name
    assert "holds other mazes" in capsys.readouterr().err
    for bad in (["--sizes", "16"], ["--planners", "cnn"], ["--extra", "x=missing.zip"], ["--extra", "nameless"]):
        with pytest.raises(SystemExit):
            mazes_main([*args, *bad])


@pytest.mark.parametrize(
    "path, expected",
    [
        ("agents/pretrained/bc_vin_maze15x15.zip", "expert actions and the env's moves"),
        ("agents/pretrained/bc_vinlearned_maze15x15.zip", "expert actions; learns its moves, started at the env's"),
        ("agents/pretrained/bc_gppn_maze15x15.zip", "expert actions; learns its moves"),
    ],
)
def test_a_planner_row_says_whether_its_learned_moves_started_at_the_envs(path, expected):
    from agents.zoo import load_model
    from eval.mazes import given, planner_given

    assert planner_given(load_model(path).policy) == expected
    assert given("vin", True, "zero") == "expert actions; learns its moves"  # the public ports' start


def test_random_k_trains_each_batch_with_a_k_of_its_own_and_restores_the_trained_k():
    from agents.training.bc import random_k

    policy = PPO(GPPNPolicy, "VINGridMaze-15x15-v0", policy_kwargs={"features_extractor_kwargs": {"k": 12}}).policy
    (gppn,) = [m for m in policy.modules() if isinstance(m, GPPN)]
    seen = set()
    with random_k(policy, 4, np.random.default_rng(0)) as draw:
        for _ in range(60):
            draw()
            seen.add(gppn.k)
    assert seen == set(range(4, 13)) and gppn.k == 12
    with random_k(policy, None, np.random.default_rng(0)) as draw:
        draw()
        assert gppn.k == 12
    with pytest.raises(ValueError, match="k_min must lie in"):
        BCConfig(env_id="VINGridMaze-15x15-v0", policy="gppn", k=10, k_min=11)
    with pytest.raises(ValueError, match="needs policy=vin"):
        BCConfig(env_id="VINGridMaze-15x15-v0", policy="cnn", k_min=2)


def test_the_maze_report_can_draw_k_per_batch_and_names_the_range(tmp_path):
    from eval.mazes import MazesConfig, bc_config, run_name

    cfg = MazesConfig(sizes=[15, 28], seeds=[0], k_min_fraction=0.5, runs_dir=str(tmp_path))
    assert bc_config(cfg, 15, "gppn", 0).k_min == 15  # half of 15x15's K of 30
    assert bc_config(MazesConfig(sizes=[15]), 15, "gppn", 0).k_min is None
    assert run_name("gppn", {"k": 30, "k_min": 15}) == "GPPN (K drawn from [15, 30])"
    assert run_name("vin", {"k": 30, "k_min": None}) == "VIN"
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match=f"k_min_fraction must lie in \\(0, 1\\], got {bad}"):
            MazesConfig(k_min_fraction=bad)


def test_state_growth_traces_a_cell_state_that_grows_while_the_hidden_states_settle():
    gppn = GPPN(2, k=5, ch_h=4, kernel_size=3)
    with torch.no_grad():
        for p in [*gppn.lstm.parameters(), *gppn.c0.parameters()]:
            p.zero_()
        gppn.lstm.bias_ih.fill_(10.0)  # input, forget, candidate and output gates all open: c grows by 1
    growth = gppn.state_growth(torch.rand(2, 2, 6, 6), 12)
    assert len(growth) == 12
    assert [c for _, c in growth] == pytest.approx(range(1, 13), abs=0.01)
    assert growth[-1][0] < 1e-6 < growth[0][0]  # h = tanh(c) settles at 1 while c keeps growing
