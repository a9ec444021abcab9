"""The map generator: statistics against the paper, determinism, batch == single."""

import numpy as np
import pytest

from gridworld_env.maps import PAPER_DENSITY, PAPER_SPECS, MapSpec, sample_episodes


@pytest.mark.parametrize("size", sorted(PAPER_DENSITY))
def test_density_matches_paper(size):
    # 2,000 maps: the standard error of the mean density is below 0.3 points here.
    for seed in (0, 1):
        rngs = [np.random.default_rng([seed, i]) for i in range(2000)]
        ep = sample_episodes(rngs, PAPER_SPECS[size])
        density = ep.obstacles[:, 1:-1, 1:-1].mean()
        assert abs(density - PAPER_DENSITY[size]) < 0.02, (size, density)


@pytest.mark.parametrize("size", [32, 64])
def test_scaling_sizes_near_twenty_percent(size):
    ep = sample_episodes([np.random.default_rng(i) for i in range(300)], PAPER_SPECS[size])
    assert 0.18 < ep.obstacles[:, 1:-1, 1:-1].mean() < 0.23


@pytest.mark.parametrize("size", sorted(PAPER_SPECS))
def test_layout_invariants(size):
    m = 200
    ep = sample_episodes([np.random.default_rng(i) for i in range(m)], PAPER_SPECS[size])
    o = ep.obstacles
    assert o[:, 0].all() and o[:, -1].all() and o[:, :, 0].all() and o[:, :, -1].all()
    idx = np.arange(m)
    assert not o[idx, ep.goals[:, 0], ep.goals[:, 1]].any()
    assert not o[idx, ep.starts[:, 0], ep.starts[:, 1]].any()
    assert (ep.distances[idx, ep.starts[:, 0], ep.starts[:, 1]] > 0).all()
    assert (o[:, 1:-1, 1:-1].reshape(m, -1).any(axis=1)).all()  # every map has an obstacle


def test_batch_equals_one_at_a_time():
    spec = PAPER_SPECS[16]
    batch = sample_episodes([np.random.default_rng(i) for i in range(50)], spec)
    for i in range(50):
        one = sample_episodes([np.random.default_rng(i)], spec)
        for field in ("obstacles", "goals", "starts", "distances"):
            assert np.array_equal(getattr(one, field)[0], getattr(batch, field)[i])


def test_start_uniform_over_reachable_cells():
    # A fixed open room: every interior cell but the goal is equally likely.
    obstacles = np.ones((5, 5), bool)
    obstacles[1:4, 1:4] = False
    opts = [{"obstacles": obstacles, "goal": (2, 2)}] * 8000
    ep = sample_episodes([np.random.default_rng(i) for i in range(8000)], MapSpec(5, 1, 1), opts)
    counts = np.bincount(ep.starts[:, 0] * 5 + ep.starts[:, 1], minlength=25)
    cells = [r * 5 + c for r in range(1, 4) for c in range(1, 4) if (r, c) != (2, 2)]
    assert counts[12] == 0 and counts[cells].sum() == 8000
    assert counts[cells].min() > 850 and counts[cells].max() < 1150  # expected 1000 each


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": 2, "max_obstacles": 1, "max_obstacle_size": 1},
        {"size": 8, "max_obstacles": 0, "max_obstacle_size": 1},
        {"size": 8, "max_obstacles": 3, "max_obstacle_size": 0},
    ],
)
def test_bad_spec(kwargs):
    with pytest.raises(ValueError):
        MapSpec(**kwargs)
