"""``apply_transition``: a stored transition reaches the learner's ``observe`` with every
field, the next state's base action included (the bootstrap of the update), so a learner
applying its actors' transitions learns what the acting process would have learned."""

from __future__ import annotations

import numpy as np

from rlexec.config import QLearningConfig, StateConfig
from rlexec.records import ExperienceRecord
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.table_sync import StateKeys
from rlexec.store.transitions import apply_transition, next_base_index


def _record(next_schedule_action: str | None, keys: StateKeys) -> ExperienceRecord:
    return ExperienceRecord(
        state_key=keys.text(0),
        action="PlaceSmall",
        reward=1.0,
        next_state_key=keys.text(2),
        terminated=False,
        truncated=False,
        next_schedule_action=next_schedule_action,
    )


def test_the_next_base_action_reaches_the_update() -> None:
    agent = QTableAgent(QLearningConfig(alpha=1.0, gamma=1.0), StateConfig())
    keys = StateKeys(agent.discretizer, "a")
    q = agent.q_values.copy()
    q[2] = [-3.0, -1.0, -2.0, -4.0, -5.0, -6.0]
    agent.restore(q, np.ones(agent.visits.shape, dtype=np.int64), 0.3, 0)
    # the base at the next state is PlaceLarge (-4); the thinly tried row keeps it
    assert apply_transition(agent, _record("PlaceLarge", keys), keys)
    assert agent.q_values[0, 1] == 1.0 - 4.0
    # unknown (older rows): the best tried action at the next state
    assert apply_transition(agent, _record(None, keys), keys)
    assert agent.q_values[0, 1] == 1.0 - 1.0


def test_next_base_index_maps_labels_and_unknowns() -> None:
    keys = StateKeys(QTableAgent(QLearningConfig(), StateConfig()).discretizer, "a")
    assert next_base_index(_record("Cancel", keys)) == 5
    assert next_base_index(_record(None, keys)) is None
    assert next_base_index(_record("Nonsense", keys)) is None
