import gymnasium as gym
import pytest

import gridworld_env  # noqa: F401  (registers the envs)

#: Every registered VINGrid env: a new registration is tested automatically.
ENV_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("VINGrid"))


@pytest.fixture(params=ENV_IDS)
def env_id(request: pytest.FixtureRequest) -> str:
    return request.param
