"""ExperienceReplayBuffer: ring wrap-around, sampling without replacement, determinism, and
the next state's base action (the bootstrap of a replayed transition; -1 unknown)."""

from __future__ import annotations

import numpy as np
import pytest

from rlexec.config import ReplayBufferConfig
from rlexec.errors import InvalidInputError
from rlexec.rl import ExperienceReplayBuffer, ReplaySample


def filled(capacity: int, n: int, seed: int = 0) -> ExperienceReplayBuffer:
    buffer = ExperienceReplayBuffer(capacity, seed=seed)
    for i in range(n):
        next_base = None if i % 3 == 0 else (i + 2) % 6  # unknown at a terminal transition
        buffer.add(i, i % 6, float(i) / 2, i + 1, i % 3 == 0, i % 5 == 0, next_base)
    return buffer


def test_columns_are_preallocated_with_their_types() -> None:
    buffer = ExperienceReplayBuffer.from_config(ReplayBufferConfig(capacity=64, batch_size=8))
    assert buffer.capacity == 64 and len(buffer) == 0
    assert buffer.state_index.shape == (64,) and buffer.state_index.dtype == np.int64
    assert buffer.reward.dtype == np.float64 and buffer.terminated.dtype == np.bool_
    assert buffer.next_base_action.dtype == np.int64
    assert buffer.next_base_action.tolist() == [-1] * 64  # unknown until written


def test_add_stores_every_column() -> None:
    buffer = filled(10, 4)
    c = buffer.contents()
    assert isinstance(c, ReplaySample)
    assert c.state_index.tolist() == [0, 1, 2, 3]
    assert c.action.tolist() == [0, 1, 2, 3]
    assert c.reward.tolist() == [0.0, 0.5, 1.0, 1.5]
    assert c.next_state_index.tolist() == [1, 2, 3, 4]
    assert c.terminated.tolist() == [True, False, False, True]
    assert c.truncated.tolist() == [True, False, False, False]
    assert c.next_base_action is not None
    assert c.next_base_action.tolist() == [-1, 3, 4, -1]
    buffer.add(9, 0, 0.0, 10, False)  # a transition that does not name it: unknown
    assert buffer.next_base_action[4] == -1


def test_ring_wraps_around_and_keeps_the_newest() -> None:
    buffer = filled(5, 12)
    assert len(buffer) == 5 and buffer.full
    assert buffer.pos == 12 % 5
    assert buffer.contents().state_index.tolist() == [7, 8, 9, 10, 11]
    assert sorted(buffer.state_index.tolist()) == [7, 8, 9, 10, 11]


def test_sample_is_without_replacement_and_from_held_rows() -> None:
    buffer = filled(50, 80)
    for _ in range(20):
        batch = buffer.sample(50)
        assert sorted(batch.state_index.tolist()) == list(range(30, 80))
    small = buffer.sample(7)
    assert len(set(small.state_index.tolist())) == 7
    # columns stay aligned: row i of every column is the same transition
    np.testing.assert_array_equal(small.next_state_index, small.state_index + 1)
    np.testing.assert_array_equal(small.action, small.state_index % 6)
    assert small.next_base_action is not None
    expected = np.where(small.state_index % 3 == 0, -1, (small.state_index + 2) % 6)
    np.testing.assert_array_equal(small.next_base_action, expected)


def test_sampling_is_deterministic_under_a_seed() -> None:
    a, b, c = filled(100, 100, seed=5), filled(100, 100, seed=5), filled(100, 100, seed=6)
    draws_a = [a.sample(10).state_index.tolist() for _ in range(5)]
    draws_b = [b.sample(10).state_index.tolist() for _ in range(5)]
    draws_c = [c.sample(10).state_index.tolist() for _ in range(5)]
    assert draws_a == draws_b
    assert draws_a != draws_c


def test_bad_requests_are_rejected() -> None:
    buffer = filled(10, 3)
    with pytest.raises(InvalidInputError, match="holds only 3"):
        buffer.sample(4)
    with pytest.raises(InvalidInputError, match="batch_size"):
        buffer.sample(0)
    with pytest.raises(InvalidInputError, match="action"):
        buffer.add(0, 6, 0.0, 1, False)
    with pytest.raises(InvalidInputError, match="next_base_action"):
        buffer.add(0, 1, 0.0, 1, False, False, 6)
    with pytest.raises(InvalidInputError, match="next_base_action"):
        buffer.add(0, 1, 0.0, 1, False, False, -1)  # unknown is None, not -1
    with pytest.raises(InvalidInputError, match="capacity"):
        ExperienceReplayBuffer(0)


def _batch(first: int, n: int, next_base: np.ndarray | None = None) -> ReplaySample:
    return ReplaySample(
        np.arange(first, first + n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.ones(n),
        np.arange(first + 1, first + 1 + n, dtype=np.int64),
        np.zeros(n, dtype=np.bool_),
        np.ones(n, dtype=np.bool_),
        next_base,
    )


def test_extend_appends_in_order_and_wraps() -> None:
    buffer = filled(6, 4)
    n = 5
    batch = _batch(100, n, np.arange(n, dtype=np.int64))
    buffer.extend(batch)
    assert len(buffer) == 6
    c = buffer.contents()
    assert c.state_index.tolist() == [3, 100, 101, 102, 103, 104]
    assert c.next_base_action is not None
    assert c.next_base_action.tolist() == [-1, 0, 1, 2, 3, 4]  # aligned with the rows
    big = ReplaySample(*(np.concatenate([col] * 3) for col in batch))
    buffer.extend(big)  # 15 rows into capacity 6: the newest 6 survive
    c = buffer.contents()
    assert c.state_index.tolist() == big.state_index[-6:].tolist()
    assert c.next_base_action is not None and big.next_base_action is not None
    assert c.next_base_action.tolist() == big.next_base_action[-6:].tolist()


def test_extend_without_the_next_base_column_stores_unknown() -> None:
    buffer = filled(10, 2)
    buffer.extend(_batch(50, 3))  # e.g. experiences stored before the column existed
    c = buffer.contents()
    assert c.next_base_action is not None
    assert c.next_base_action.tolist() == [-1, 3, -1, -1, -1]
    with pytest.raises(InvalidInputError, match="next_base_action"):
        buffer.extend(_batch(60, 2, np.array([0, 6], dtype=np.int64)))
    with pytest.raises(InvalidInputError, match="shape"):
        buffer.extend(_batch(60, 2, np.array([0], dtype=np.int64)))
