"""The array core: BFS against a plain deque BFS, moves, optimal-action masks."""

from collections import deque

import numpy as np
import pytest

from gridworld_env.core import (
    ACTIONS,
    distance_maps,
    first_true,
    free_moves,
    move,
    move_batch,
    optimal_action_masks,
    pad_blocked,
)


def bfs_oracle(obstacles, goal):
    """A plain BFS over the env's own move rule (core.move), the one source of the moves."""
    h, w = obstacles.shape
    dist = np.full((h, w), -1)
    dist[goal] = 0
    q = deque([goal])
    while q:
        r, c = q.popleft()
        for a in range(len(ACTIONS)):
            nr, nc, collided = move(obstacles, r, c, a)
            if not collided and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                q.append((nr, nc))
    return dist


@pytest.mark.parametrize("shape", [(5, 5), (16, 16), (9, 30), (70, 70)])
def test_bfs_matches_oracle_on_random_maps(shape):
    rng = np.random.default_rng(0)
    obstacles = rng.random((20,) + shape) < 0.3
    goals = np.stack([rng.integers(0, shape[0], 20), rng.integers(0, shape[1], 20)], axis=1)
    obstacles[np.arange(20), goals[:, 0], goals[:, 1]] = False
    dist = distance_maps(obstacles, goals)
    for i in range(20):
        assert np.array_equal(dist[i], bfs_oracle(obstacles[i], tuple(goals[i])))
    assert np.array_equal(distance_maps(obstacles[3], goals[3]), dist[3])


def test_distance_maps_rejects_bad_input():
    with pytest.raises(ValueError, match="goals"):
        distance_maps(np.zeros((2, 4, 4), bool), np.zeros((3, 2), int))
    with pytest.raises(ValueError, match="inside"):
        distance_maps(np.zeros((4, 4), bool), (4, 0))


def test_moves_single_and_batch_agree():
    rng = np.random.default_rng(1)
    obstacles = rng.random((50, 6, 7)) < 0.35
    rows, cols = rng.integers(0, 6, 50), rng.integers(0, 7, 50)
    actions = rng.integers(0, 8, 50)
    padded = pad_blocked(obstacles)
    br, bc, bcol = move_batch(padded, rows, cols, actions)
    for i in range(50):
        r, c, col = move(obstacles[i], int(rows[i]), int(cols[i]), int(actions[i]))
        assert (r, c, col) == (br[i], bc[i], bcol[i])
        mask = free_moves(obstacles[i], int(rows[i]), int(cols[i]))
        assert mask[actions[i]] == (not col)


def test_diagonal_needs_only_its_target():
    obstacles = np.zeros((3, 3), bool)
    obstacles[0, 1] = obstacles[1, 2] = True  # N and E of the centre blocked
    ne = ACTIONS.index((-1, 1))
    assert move(obstacles, 1, 1, ne) == (0, 2, False)
    assert move(obstacles, 0, 0, ACTIONS.index((-1, 0))) == (0, 0, True)  # off the grid


def test_optimal_masks_step_one_closer():
    rng = np.random.default_rng(2)
    obstacles = rng.random((10, 12, 12)) < 0.25
    goals = rng.integers(0, 12, (10, 2))
    obstacles[np.arange(10), goals[:, 0], goals[:, 1]] = False
    dist = distance_maps(obstacles, goals)
    masks = optimal_action_masks(dist)
    for i in range(10):
        for r in range(12):
            for c in range(12):
                d = dist[i, r, c]
                for a, (dr, dc) in enumerate(ACTIONS):
                    nr, nc = r + dr, c + dc
                    ok = d > 0 and 0 <= nr < 12 and 0 <= nc < 12 and dist[i, nr, nc] == d - 1
                    assert masks[i, r, c, a] == ok
                assert masks[i, r, c].any() == (d > 0)
    assert (first_true(masks)[dist <= 0] == -1).all()


def test_move_batch_with_map_index_equals_copied_maps():
    rng = np.random.default_rng(3)
    padded = pad_blocked(rng.random((10, 5, 5)) < 0.3)
    maps = rng.integers(0, 10, 25)
    rows, cols, actions = rng.integers(0, 5, 25), rng.integers(0, 5, 25), rng.integers(0, 8, 25)
    by_index = move_batch(padded, rows, cols, actions, maps=maps)
    by_copy = move_batch(padded[maps], rows, cols, actions)
    assert all(np.array_equal(a, b) for a, b in zip(by_index, by_copy))


def test_the_move_rule_agrees_in_all_its_forms():
    """move (single env), move_flat / move_batch (batched env, expert, evaluator), free_moves
    and the reward index: one rule."""
    from gridworld_env.core import flat_offsets, free_moves_flat, move_flat, reward_index

    rng = np.random.default_rng(1)
    obstacles = rng.random((6, 7, 9)) < 0.35
    padded = pad_blocked(obstacles)
    wp = padded.shape[-1]
    maps = rng.integers(0, 6, 400)
    rows, cols = rng.integers(0, 7, 400), rng.integers(0, 9, 400)
    actions = rng.integers(0, 8, 400)
    single = [move(obstacles[m], r, c, a) for m, r, c, a in zip(maps, rows, cols, actions)]
    as_lists = [move(obstacles[m].tolist(), r, c, a) for m, r, c, a in zip(maps, rows, cols, actions)]
    r2, c2, hit = move_batch(padded, rows, cols, actions, maps=maps)
    assert single == as_lists == list(zip(r2.tolist(), c2.tolist(), hit.tolist()))
    cells = maps * padded[0].size + (rows + 1) * wp + cols + 1
    moved, hit_flat = move_flat(padded.reshape(-1), cells, actions, flat_offsets(wp))
    assert np.array_equal(hit_flat, hit) and np.array_equal(moved, maps * padded[0].size + (r2 + 1) * wp + c2 + 1)
    free = free_moves_flat(padded.reshape(-1), cells, flat_offsets(wp))
    assert all(
        np.array_equal(free[i], free_moves(obstacles[m], r, c)) for i, (m, r, c) in enumerate(zip(maps, rows, cols))
    )
    assert [reward_index(c, s) for c, s in ((False, False), (True, False), (False, True))] == [0, 1, 2]
    assert np.array_equal(reward_index(np.array([False, True, False]), np.array([False, False, True])), [0, 1, 2])
