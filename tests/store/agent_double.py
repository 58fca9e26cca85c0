"""A stand-in with the QTableAgent attributes the store uses (``rlexec.rl.q_learning`` is
written in parallel); ``make_agent`` returns the real agent once it exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

NUM_ACTIONS = 6


@dataclass(frozen=True)
class DoubleKey:
    index: int

    def to_text(self) -> str:
        return f"s{self.index}"


class DoubleDiscretizer:
    def __init__(self, num_states: int) -> None:
        self.num_states = num_states

    def key_from_index(self, i: int) -> DoubleKey:
        return DoubleKey(i)


class AgentDouble:
    """Q-learning with the same table layout and dirty tracking as QTableAgent."""

    def __init__(self, num_states: int = 200, seed: int = 0, epsilon: float = 0.3) -> None:
        self.discretizer = DoubleDiscretizer(num_states)
        self.num_states = num_states
        self.q_values = np.zeros((num_states, NUM_ACTIONS), dtype=np.float64)
        self.visits = np.zeros((num_states, NUM_ACTIONS), dtype=np.int64)
        self.epsilon = epsilon
        self.updates = 0
        self._dirty = np.zeros(num_states * NUM_ACTIONS, dtype=bool)
        self._rng = np.random.default_rng(seed)

    @property
    def training_epsilon(self) -> float:
        return self.epsilon

    def decide_index(self, s: int) -> int:
        if self._rng.random() < self.epsilon:
            return int(self._rng.integers(NUM_ACTIONS))
        return int(np.argmax(self.q_values[s]))

    def update_index(self, s: int, a: int, reward: float, s_next: int, terminated: bool) -> float:
        target = reward + (0.0 if terminated else 0.99 * float(self.q_values[s_next].max()))
        self.q_values[s, a] += 0.1 * (target - self.q_values[s, a])
        self.visits[s, a] += 1
        self.updates += 1
        self.epsilon = max(0.05, self.epsilon * 0.999)
        self._dirty[s * NUM_ACTIONS + a] = True
        return float(self.q_values[s, a])

    def drain_dirty(self) -> npt.NDArray[np.int64]:
        idx = np.flatnonzero(self._dirty).astype(np.int64)
        self._dirty[idx] = False
        return idx

    def restore(self, q_values: Any, visits: Any, epsilon: float, updates: int) -> None:
        if q_values.shape != self.q_values.shape or visits.shape != self.visits.shape:
            raise ValueError("shape mismatch")
        self.q_values = np.array(q_values, dtype=np.float64)
        self.visits = np.array(visits, dtype=np.int64)
        self.epsilon = float(epsilon)
        self.updates = int(updates)
        self._dirty[:] = False


def make_agent(seed: int = 0, num_states: int = 200) -> AgentDouble:
    return AgentDouble(num_states=num_states, seed=seed)


def train(agent: AgentDouble, steps: int, seed: int = 0) -> None:
    """Random transitions through the agent's sync core."""
    rng = np.random.default_rng(seed)
    n = agent.num_states
    for _ in range(steps):
        s = int(rng.integers(n))
        a = agent.decide_index(s)
        agent.update_index(
            s, a, float(rng.normal()), int(rng.integers(n)), bool(rng.random() < 0.1)
        )
