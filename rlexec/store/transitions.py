"""Applying a stored transition to the learner's agent: the one function that does.

A transition is an ``ExperienceRecord`` (every field of it travels through the queue: see
``rlexec.store.repositories.ExperienceRepository``). ``apply_transition`` turns its state keys
and action label into the agent's indices and hands it to the agent's public ``observe``: the
update rule, epsilon schedule, visit and update counters and replay are the agent's own, so a
learner applying its actors' transitions learns exactly what one process would have learned
from the same transitions in the same order. A new record field is passed on here.
"""

from __future__ import annotations

from typing import Protocol

from rlexec.records import ACTION_LABELS, ExperienceRecord
from rlexec.store.table_sync import StateKeys

_ACTION_INDEX = {label: i for i, label in enumerate(ACTION_LABELS)}


class ObservingAgent(Protocol):
    def observe(
        self,
        s: int,
        a: int,
        reward: float,
        s_next: int,
        terminated: bool,
        truncated: bool = False,
        next_base_action: int | None = None,
    ) -> float: ...


def next_base_index(record: ExperienceRecord) -> int | None:
    """The base's action at the next state as an action index (the bootstrap of the update);
    None when unknown (terminal transitions, rows stored before it was logged)."""
    label = record.next_schedule_action
    return None if label is None else _ACTION_INDEX.get(label)


def apply_transition(agent: ObservingAgent, record: ExperienceRecord, keys: StateKeys) -> bool:
    """Learn from one transition; False (nothing learned) if it does not fit the agent's state
    config or actions."""
    s = keys.state_index(record.state_key)
    s_next = keys.state_index(record.next_state_key)
    a = _ACTION_INDEX.get(record.action)
    if s is None or s_next is None or a is None:
        return False
    agent.observe(
        s,
        a,
        record.reward,
        s_next,
        record.terminated,
        record.truncated,
        next_base_action=next_base_index(record),
    )
    return True
