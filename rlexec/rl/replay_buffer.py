"""Experience replay: a preallocated numpy ring buffer of transitions (stable-baselines3 style).

Columns map one-to-one onto the ``experiences`` table: state_index, action, reward,
next_state_index, terminated, truncated, next_base_action (the base's action at the next state,
-1 when unknown: terminal transitions and rows stored before it was logged). There are no
per-item objects: ``add`` writes one row at the cursor and, once the buffer is full,
overwrites the oldest row. ``sample`` draws ``batch_size`` distinct rows with the buffer's own
seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rlexec.config import ReplayBufferConfig
from rlexec.errors import InvalidInputError
from rlexec.rl.types import NUM_ACTIONS


class ReplaySample(NamedTuple):
    """A batch of transitions, one array per column (row i of every array is one transition)."""

    state_index: npt.NDArray[np.int64]
    action: npt.NDArray[np.int64]
    reward: npt.NDArray[np.float64]
    next_state_index: npt.NDArray[np.int64]
    terminated: npt.NDArray[np.bool_]
    truncated: npt.NDArray[np.bool_]
    next_base_action: npt.NDArray[np.int64] | None = None  # None: all unknown (-1)


class ExperienceReplayBuffer:
    """Ring buffer of ``capacity`` transitions; ``len()`` is the number held (<= capacity)."""

    def __init__(self, capacity: int, *, seed: int | np.random.SeedSequence = 0) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidInputError(f"replay capacity = {capacity!r}: expected an integer >= 1")
        self.capacity = capacity
        self.state_index = np.zeros(capacity, dtype=np.int64)
        self.action = np.zeros(capacity, dtype=np.int64)
        self.reward = np.zeros(capacity, dtype=np.float64)
        self.next_state_index = np.zeros(capacity, dtype=np.int64)
        self.terminated = np.zeros(capacity, dtype=np.bool_)
        self.truncated = np.zeros(capacity, dtype=np.bool_)
        self.next_base_action = np.full(capacity, -1, dtype=np.int64)
        self.pos = 0
        self.full = False
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(
        cls, config: ReplayBufferConfig, *, seed: int | np.random.SeedSequence = 0
    ) -> ExperienceReplayBuffer:
        return cls(config.capacity, seed=seed)

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(
        self,
        state_index: int,
        action: int,
        reward: float,
        next_state_index: int,
        terminated: bool,
        truncated: bool = False,
        next_base_action: int | None = None,
    ) -> None:
        """Append one transition, overwriting the oldest when full."""
        if not 0 <= action < NUM_ACTIONS:
            raise InvalidInputError(f"action = {action!r}: expected 0-{NUM_ACTIONS - 1}")
        if next_base_action is not None and not 0 <= next_base_action < NUM_ACTIONS:
            raise InvalidInputError(
                f"next_base_action = {next_base_action!r}: expected 0-{NUM_ACTIONS - 1} or None"
            )
        p = self.pos
        self.state_index[p] = state_index
        self.action[p] = action
        self.reward[p] = reward
        self.next_state_index[p] = next_state_index
        self.terminated[p] = terminated
        self.truncated[p] = truncated
        self.next_base_action[p] = -1 if next_base_action is None else next_base_action
        p += 1
        if p == self.capacity:
            p = 0
            self.full = True
        self.pos = p

    def extend(self, batch: ReplaySample) -> None:
        """Append many transitions in order (e.g. experiences reloaded from the store)."""
        n = int(batch.state_index.shape[0])
        next_base = batch.next_base_action
        if next_base is None:
            next_base = np.full(n, -1, dtype=np.int64)
        for column in (*batch[:6], next_base):
            if column.shape != (n,):
                raise InvalidInputError(
                    f"replay batch column of shape {column.shape}: expected ({n},) like the others"
                )
        if n == 0:
            return
        if n > self.capacity:  # only the newest capacity rows survive anyway
            keep = slice(n - self.capacity, n)
            batch = ReplaySample(
                batch.state_index[keep],
                batch.action[keep],
                batch.reward[keep],
                batch.next_state_index[keep],
                batch.terminated[keep],
                batch.truncated[keep],
            )
            next_base = next_base[keep]
            n = self.capacity
        actions = np.asarray(batch.action)
        if actions.min() < 0 or actions.max() >= NUM_ACTIONS:
            raise InvalidInputError(f"replay batch action: expected values 0-{NUM_ACTIONS - 1}")
        next_base = np.asarray(next_base)
        if next_base.min() < -1 or next_base.max() >= NUM_ACTIONS:
            raise InvalidInputError(
                f"replay batch next_base_action: expected values 0-{NUM_ACTIONS - 1}, or -1 "
                "(unknown)"
            )
        rows = (self.pos + np.arange(n)) % self.capacity
        self.state_index[rows] = batch.state_index
        self.action[rows] = actions
        self.reward[rows] = batch.reward
        self.next_state_index[rows] = batch.next_state_index
        self.terminated[rows] = batch.terminated
        self.truncated[rows] = batch.truncated
        self.next_base_action[rows] = next_base
        end = self.pos + n
        if end >= self.capacity:
            self.full = True
        self.pos = end % self.capacity

    def sample(self, batch_size: int) -> ReplaySample:
        """``batch_size`` distinct transitions drawn uniformly without replacement."""
        size = len(self)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size = {batch_size!r}: expected an integer >= 1")
        if batch_size > size:
            raise InvalidInputError(
                f"batch_size = {batch_size}: the buffer holds only {size} transitions"
            )
        rows = self._rng.choice(size, size=batch_size, replace=False)
        return self._rows(rows)

    def contents(self) -> ReplaySample:
        """Every held transition, oldest first."""
        if self.full:
            rows = (self.pos + np.arange(self.capacity)) % self.capacity
        else:
            rows = np.arange(self.pos)
        return self._rows(rows)

    def _rows(self, rows: npt.NDArray[np.int64]) -> ReplaySample:
        return ReplaySample(
            self.state_index[rows],
            self.action[rows],
            self.reward[rows],
            self.next_state_index[rows],
            self.terminated[rows],
            self.truncated[rows],
            self.next_base_action[rows],
        )
