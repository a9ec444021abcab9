"""The shipped agents load with plain SB3 and solve maps they never saw."""

import pathlib

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO

from agents import zoo
from agents.evaluation import evaluate_policy_on_maps
from agents.zoo import load_pretrained, pretrained_path

SHIPPED = [
    ("VINGrid-8x8-v0", "bc"),
    ("VINGrid-16x16-v0", "bc"),
    ("VINGrid-28x28-v0", "bc"),
    ("VINGrid-8x8-v0", "ppo"),
    ("VINGrid-16x16-v0", "ppo"),
    ("VINGrid-28x28-v0", "ppo"),
]

#: The paper's VIN from reward (learned kernels, obstacles enterable, learned head), and the
#: success each must keep on the first 100 test maps (99.6 / 97.2 / 90.2 % on 1,000).
LEARNED_KERNELS = {"VINGrid-8x8-v0": 0.95, "VINGrid-16x16-v0": 0.92, "VINGrid-28x28-v0": 0.85}
#: The VIN learned from reward with its kernels started at zero (``hyperparams/ppo_vinscratch.yml``):
#: 99.7 / 93.0 % on the 1,000 test maps (93 % on the first 100 at 16x16); random actions reach 8.0 / 1.7 %.
FROM_ZERO = {"VINGrid-8x8-v0": 0.95, "VINGrid-16x16-v0": 0.8}


def wall_between(size: int) -> np.ndarray:
    """A wall hanging from the top border down the middle column, to half the map's height:
    from the top-left corner to the top-right one the agent must go round its end. The detour
    (8 / 16 / 28 moves) stays within the planner's K (10 / 20 / 36 iterations); a detour
    longer than K cannot be planned by a K-step VIN."""
    obstacles = np.zeros((size, size), dtype=bool)
    obstacles[[0, -1], :] = obstacles[:, [0, -1]] = True
    obstacles[: size // 2 + 1, size // 2] = True
    return obstacles


@pytest.mark.parametrize("env_id, algo", SHIPPED)
def test_shipped_agent_loads_with_plain_ppo_and_solves_held_out_maps(env_id, algo):
    model = PPO.load(pretrained_path(env_id, algo), device="cpu")
    size = model.observation_space["image"].shape[-1]
    assert f"{size}x{size}" in env_id
    result = evaluate_policy_on_maps(model.policy, size, episodes=100)
    assert result.success_rate >= 0.95, result


@pytest.mark.parametrize("env_id, algo", SHIPPED)
def test_shipped_agent_goes_round_a_wall(env_id, algo):
    model = load_pretrained(env_id, algo)
    env = gym.make(env_id)
    size = env.unwrapped.size
    obstacles = wall_between(size)
    obs, info = env.reset(seed=0, options={"obstacles": obstacles, "start": (1, 1), "goal": (1, size - 2)})
    assert info["shortest_path_length"] > size // 2  # the straight line is blocked
    for _ in range(2 * info["shortest_path_length"]):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, step_info = env.step(int(action))
        if terminated or truncated:
            break
    assert step_info["is_success"], "the agent did not reach the goal within twice the shortest path"


@pytest.mark.parametrize("env_id", sorted(LEARNED_KERNELS))
def test_shipped_learned_kernel_vin_learned_its_moves_and_solves_held_out_maps(env_id):
    import torch

    from agents.planners import VIN

    model = load_pretrained(env_id, "ppo", "vinlearned")
    vin = next(m for m in model.policy.modules() if isinstance(m, VIN))
    moves = VIN(2, 1, 150, vin.ch_q, 3, n_actions=0, kernel_init="moves", reward_kernel=3)
    assert vin.q_from_value.weight.requires_grad and not vin.walls_block
    assert not torch.allclose(vin.q_from_value.weight, moves.q_from_value.weight, atol=1e-3), "kernels never learned"
    size = model.observation_space["image"].shape[-1]
    assert evaluate_policy_on_maps(model.policy, size, episodes=100).success_rate >= LEARNED_KERNELS[env_id]


@pytest.mark.parametrize("env_id", sorted(FROM_ZERO))
def test_shipped_vin_from_zero_kernels_learned_them_and_solves_held_out_maps(env_id):
    from agents.planners import VIN

    model = load_pretrained(env_id, "ppo", "vinscratch")
    vin = next(m for m in model.policy.modules() if isinstance(m, VIN))
    assert vin.kernel_init == "zero" and vin.q_from_value.weight.requires_grad and not vin.walls_block
    assert vin.q_from_value.weight.abs().sum() > 1, "the value kernels stayed at their zero start"
    size = model.observation_space["image"].shape[-1]
    assert evaluate_policy_on_maps(model.policy, size, episodes=100).success_rate >= FROM_ZERO[env_id]


def test_unknown_pretrained_agent_is_a_clear_error():
    with pytest.raises(ValueError, match="no ppo vin agent is shipped for VINGrid-64x64-v0"):
        pretrained_path("VINGrid-64x64-v0", "ppo")
    with pytest.raises(ValueError, match="algo must be one of"):
        pretrained_path("VINGrid-8x8-v0", "dqn")
    with pytest.raises(ValueError, match="policy must be one of"):
        pretrained_path("VINGrid-8x8-v0", "bc", "mlp")
    with pytest.raises(ValueError, match="no ppo cnn agent is shipped"):
        pretrained_path("VINGrid-8x8-v0", "ppo", "cnn")


def _fifty_move_detour():
    """A 28x28 env reset on a wall down the whole middle column with one gap at the far end:
    from the bottom-left corner to the bottom-right one, 50 moves. Returns (env, observation)."""
    env = gym.make("VINGrid-28x28-v0")
    obstacles = np.zeros((28, 28), dtype=bool)
    obstacles[[0, -1], :] = obstacles[:, [0, -1]] = True
    obstacles[:, 14] = True
    obstacles[1, 14] = False
    obs, info = env.reset(seed=0, options={"obstacles": obstacles, "start": (26, 1), "goal": (26, 26)})
    assert info["shortest_path_length"] == 50
    return env, obs


def test_a_detour_longer_than_k_is_not_planned():
    """The VIN's known limit, kept visible: values travel one move per iteration, so with a
    wall down the whole middle column and one gap at the far end (a 50-move detour on 28x28)
    the 28x28 agent (K = 36) gets no signal at its start and does not reach the goal."""
    model = load_pretrained("VINGrid-28x28-v0")
    env, obs = _fifty_move_detour()
    for _ in range(100):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, step_info = env.step(int(action))
        if terminated or truncated:
            break
    assert not step_info["is_success"]


@pytest.mark.parametrize("size", [8, 16, 28])
@pytest.mark.parametrize("policy", ["cnn", "fcn"])
def test_shipped_baseline_loads_and_acts_far_above_chance(size, policy):
    model = load_pretrained(f"VINGrid-{size}x{size}-v0", policy=policy)
    assert type(model.policy.features_extractor).__name__ == f"{policy.upper()}Extractor"
    result = evaluate_policy_on_maps(model.policy, size, episodes=50)
    assert result.success_rate >= 0.5, result  # always-north succeeds on under 30 % (test_agents)


@pytest.mark.parametrize("size", [16, 28])
def test_shipped_vin_beats_the_shipped_baselines_on_the_same_maps(size):
    env_id = f"VINGrid-{size}x{size}-v0"
    vin = evaluate_policy_on_maps(load_pretrained(env_id).policy, size, episodes=100)
    for policy in ("cnn", "fcn"):
        base = evaluate_policy_on_maps(load_pretrained(env_id, policy=policy).policy, size, episodes=100)
        assert vin.success_rate >= base.success_rate + 0.05, (policy, vin, base)


PRETRAINED_DIR = pathlib.Path(zoo.PRETRAINED_DIR)
#: Every shipped World Models agent (a new file is tested without a change here).
WORLD_MODELS = sorted(p.name for p in PRETRAINED_DIR.glob("wm_*.pt"))


@pytest.mark.parametrize("name", WORLD_MODELS)
def test_shipped_world_models_agent_loads_acts_and_says_what_it_cost(name):
    from agents.evaluation import evaluate_agent_on_maps
    from agents.worldmodels.agent import WorldModelAgent
    from agents.zoo import load_model

    path = str(PRETRAINED_DIR / name)
    assert (PRETRAINED_DIR / name).stat().st_size < 5 * 2**20
    agent = load_model(path)
    assert isinstance(agent, WorldModelAgent)
    env_id = agent.info["env_id"]
    assert env_id == f"VINGrid-{agent.size}x{agent.size}-v0" and agent.info["env_steps"] > 0
    obs, _ = gym.make(env_id).reset(seed=0)
    action, state = agent.predict(obs, deterministic=True)
    assert 0 <= int(action) < 8 and state[0].shape == (1, agent.rnn.hidden)
    result = evaluate_agent_on_maps(agent, agent.size, 50)
    assert result.episodes == 50 and np.isnan(result.action_accuracy)


#: The shipped World Models agents' success on the first 200 test maps must stay near their
#: 1,000-map figures (91.4 % and 53.1 %; uniform random actions: 8.0 % and 1.7 %).
WM_SUCCESS = {"wm_8x8.pt": 0.85, "wm_16x16.pt": 0.45}


@pytest.mark.parametrize("name", sorted(WM_SUCCESS))
def test_shipped_world_models_agents_reach_goals(name):
    from agents.evaluation import evaluate_agent_on_maps
    from agents.zoo import load_model

    agent = load_model(str(PRETRAINED_DIR / name))
    assert evaluate_agent_on_maps(agent, agent.size, 200).success_rate >= WM_SUCCESS[name]


#: Every shipped PlaNet agent (a new file is tested without a change here); an episode on maps
#: beyond 8x8 costs seconds on a CPU, so those agents' success is checked by `make test-slow`.
PLANET = [
    pytest.param(p.name, marks=[] if p.name.startswith("planet_8x8") else [pytest.mark.slow])
    for p in sorted(PRETRAINED_DIR.glob("planet_*.pt"))
]


@pytest.mark.parametrize("name", sorted(p.name for p in PRETRAINED_DIR.glob("planet_*.pt")))
def test_shipped_planet_agent_loads_says_what_it_cost_and_plans(name):
    from agents.planet.agent import PlaNetAgent
    from agents.zoo import load_model

    path = PRETRAINED_DIR / name
    assert path.stat().st_size < 5 * 2**20
    agent = load_model(str(path))
    assert isinstance(agent, PlaNetAgent)
    env_id = agent.info["env_id"]
    assert env_id == f"VINGrid-{agent.size}x{agent.size}-v0" and agent.info["env_steps"] > 0
    obs, _ = gym.make(env_id).reset(seed=0)
    action, state = agent.predict(obs, deterministic=True)
    assert 0 <= int(action) < 8 and state[3].shape == (1, agent.plan_length)


@pytest.mark.parametrize("name", PLANET)
def test_shipped_planet_agent_solves_held_out_maps(name):
    """It solves maps it never saw, far above uniform random actions (8 % at 8x8, 1.7 % at
    16x16: results/model_based.md; less at 28x28)."""
    from agents.evaluation import evaluate_act_fn, evaluate_agent_on_maps, held_out_episodes
    from agents.zoo import load_model

    agent = load_model(str(PRETRAINED_DIR / name))
    maps = 30 if agent.size <= 8 else 10
    result = evaluate_agent_on_maps(agent, agent.size, maps)
    rng = np.random.default_rng(0)
    ep = held_out_episodes(agent.size, maps)
    chance = evaluate_act_fn(lambda m, r, c: rng.integers(0, 8, size=m.size), ep, accuracy=False).success_rate
    assert result.success_rate >= 0.7 and result.success_rate >= chance + 0.5, (result, chance)


def _walk(policy, env, obs, moves):
    for _ in range(moves):
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, terminated, truncated, step_info = env.step(int(action))
        if terminated or truncated:
            break
    return step_info


def _maze_agent(size):
    """The shipped maze agent (trained on 15x15 mazes), rebuilt for ``size x size`` maps."""
    from agents.policies import resize_policy

    model = load_pretrained("VINGridMaze-15x15-v0")
    return resize_policy(model.policy, size)


def test_the_long_horizon_agent_plans_the_50_move_detour_the_28x28_vin_cannot():
    """The same map as :func:`test_a_detour_longer_than_k_is_not_planned`: the maze agent runs
    value iteration to its fixed point (its saved planning settings), so no K limits it, and it
    takes the shortest path round the wall."""
    policy = _maze_agent(28)
    env, obs = _fifty_move_detour()
    step_info = _walk(policy, env, obs, 50)
    assert step_info["is_success"], "not at the goal after the 50 moves of the shortest path"


def test_the_long_horizon_agent_plans_a_150_move_detour_on_64x64():
    """Two walls in an S: down from the top with a gap at the bottom, up from the bottom with a
    gap at the top; from the top-left corner to the bottom-right one the path winds past both."""
    policy = _maze_agent(64)
    env = gym.make("VINGrid-64x64-v0")
    obstacles = np.zeros((64, 64), dtype=bool)
    obstacles[[0, -1], :] = obstacles[:, [0, -1]] = True
    obstacles[:62, 21] = True  # open only at row 62
    obstacles[2:, 42] = True  # open only at row 1
    obs, info = env.reset(seed=0, options={"obstacles": obstacles, "start": (1, 1), "goal": (62, 62)})
    assert info["shortest_path_length"] >= 150
    step_info = _walk(policy, env, obs, info["shortest_path_length"])
    assert step_info["is_success"], (
        f"not at the goal after the {info['shortest_path_length']} moves of the shortest path"
    )


def test_the_long_horizon_agent_solves_64x64_perfect_mazes():
    """Far above the 95 % the issue asks: the agent, trained on 15x15 mazes, on 64x64 ones
    (shortest paths of 234 moves on average; the full 1,000-maze figure is in docs/experiments/mazes.md)."""
    from gridworld_env import env_spec

    result = evaluate_policy_on_maps(_maze_agent(64), 64, episodes=20, spec=env_spec("VINGridMaze-64x64-v0"))
    assert result.success_rate >= 0.95 and result.path_ratio == 1.0, result


def test_the_shipped_maze_vin_that_learns_its_moves_loads_with_plain_ppo_and_solves_held_out_mazes():
    import torch

    from agents.planners import VIN
    from gridworld_env import env_spec

    model = PPO.load(str(PRETRAINED_DIR / "bc_vinlearned_maze15x15.zip"), device="cpu")
    vin = next(m for m in model.policy.modules() if isinstance(m, VIN))
    moves = VIN(2, 1, 150, vin.ch_q, 5, n_actions=0, kernel_init="moves")
    assert vin.q_from_value.weight.requires_grad and not vin.walls_block
    assert not torch.allclose(vin.q_from_value.weight, moves.q_from_value.weight, atol=1e-3), "kernels never learned"
    spec = env_spec("VINGridMaze-15x15-v0")  # 99.7 % on 1,000 test mazes (docs/experiments/mazes.md)
    assert evaluate_policy_on_maps(model.policy, 15, episodes=100, spec=spec).success_rate >= 0.97


@pytest.mark.parametrize("size, k", [(15, 30), (28, 56)])
def test_the_shipped_maze_gppns_load_with_plain_ppo_and_solve_held_out_mazes(size, k):
    from agents.planners import GPPN
    from gridworld_env import env_spec

    model = PPO.load(str(PRETRAINED_DIR / f"bc_gppn_maze{size}x{size}.zip"), device="cpu")
    (gppn,) = [m for m in model.policy.modules() if isinstance(m, GPPN)]
    assert (gppn.k, gppn.ch_h) == (k, 32)  # eval.mazes' K at the size and its 32 LSTM channels
    spec = env_spec(f"VINGridMaze-{size}x{size}-v0")  # 99.9 / 97.9 % on 1,000 test mazes (docs/experiments/mazes.md)
    assert evaluate_policy_on_maps(model.policy, size, episodes=100, spec=spec).success_rate >= 0.95
