"""``EpisodeAssembler``: queued transitions reach the learner's ``observe_episode`` with the
next state's base action (what the rule bootstraps on), so a learner applying its actors'
transitions learns what the acting process would have learned; ``next_base_index`` maps it."""

from __future__ import annotations

import numpy as np

from rlexec.config import QLearningConfig, StateConfig
from rlexec.records import ExperienceRecord
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.table_sync import StateKeys
from rlexec.store.transitions import EpisodeAssembler, next_base_index

ROW = [-3.0, -1.0, -2.0, -4.0, -5.0, -6.0]


def _record(keys: StateKeys, s: int, action: str, reward: float, s_next: int, *,
            terminated: bool, next_base: str | None) -> ExperienceRecord:  # fmt: skip
    return ExperienceRecord(
        state_key=keys.text(s),
        action=action,
        reward=reward,
        next_state_key=keys.text(s_next),
        terminated=terminated,
        truncated=False,
        next_schedule_action=next_base,
    )


def _learned(next_base: str | None) -> float:
    # one-step targets (trace_decay 0), so the first decision bootstraps on the rule's action
    agent = QTableAgent(QLearningConfig(alpha=1.0, gamma=1.0, trace_decay=0.0), StateConfig())
    keys = StateKeys(agent.discretizer, "a")
    q = agent.q_values.copy()
    q[2] = ROW
    agent.restore(q, np.ones(agent.visits.shape, dtype=np.int64), 0.3, 0)
    assembler = EpisodeAssembler()
    first = _record(keys, 0, "PlaceSmall", 1.0, 2, terminated=False, next_base=next_base)
    assert assembler.apply(agent, first, keys) and assembler.pending == 1
    assert agent.q_values[0, 1] == 0.0  # nothing learned before the episode ends
    last = _record(keys, 2, "Wait", 0.5, 2, terminated=True, next_base=None)
    assert assembler.apply(agent, last, keys) and assembler.pending == 0
    return float(agent.q_values[0, 1])


def test_the_next_base_action_reaches_the_bootstrap() -> None:
    # the base at the next state is PlaceLarge (-4); the thinly tried row keeps it
    assert _learned("PlaceLarge") == 1.0 + ROW[3]
    # unknown (older rows): Wait, the assembler's stand-in
    assert _learned(None) == 1.0 + ROW[0]


def test_next_base_index_maps_labels_and_unknowns() -> None:
    keys = StateKeys(QTableAgent(QLearningConfig(), StateConfig()).discretizer, "a")
    record = _record(keys, 0, "Wait", 0.0, 1, terminated=False, next_base="Cancel")
    assert next_base_index(record) == 5
    unknown = _record(keys, 0, "Wait", 0.0, 1, terminated=False, next_base=None)
    assert next_base_index(unknown) is None
    nonsense = _record(keys, 0, "Wait", 0.0, 1, terminated=False, next_base="Nonsense")
    assert next_base_index(nonsense) is None
