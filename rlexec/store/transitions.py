"""Applying stored transitions to the learner's agent: the one place that does.

A transition is an ``ExperienceRecord`` (every field of it travels through the queue: see
``rlexec.store.repositories.ExperienceRepository``; the learner reads them back as
``QueuedTransition``, every field but ``created_at``, and this module reads them through the
``Transition`` protocol). The RL executor writes an episode's
transitions together and in order when the parent order ends, and the agent learns from whole
episodes (``QTableAgent.observe_episode``: lambda-returns). ``EpisodeAssembler`` rebuilds the
episodes from the queue (an actor's episode is contiguous in it: its records are appended in one
go, so one flush carries them all) and hands each one to the agent's public ``observe_episode``
once its last transition (terminated or truncated) arrives: the update rule, epsilon schedule,
visit and update counters and replay are the agent's own, so a learner applying its actors'
transitions learns exactly what one process would have learned from the same episodes in the
same order. A new record field is passed on here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rlexec.records import ACTION_LABELS
from rlexec.rl.q_learning import EpisodeStep
from rlexec.store.table_sync import StateKeys

_ACTION_INDEX = {label: i for i, label in enumerate(ACTION_LABELS)}


class ObservingAgent(Protocol):
    def observe_episode(self, steps: Sequence[EpisodeStep]) -> None: ...


class Transition(Protocol):
    """What a learner applies of a transition (``ExperienceRecord``, ``QueuedTransition``)."""

    @property
    def state_key(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def reward(self) -> float: ...
    @property
    def next_state_key(self) -> str: ...
    @property
    def terminated(self) -> bool: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def next_schedule_action(self) -> str | None: ...


def next_base_index(record: Transition) -> int | None:
    """The base's action at the next state as an action index (what the rule compares
    against when that state is bootstrapped from); None when unknown (terminal transitions,
    rows stored before it was logged)."""
    label = record.next_schedule_action
    return None if label is None else _ACTION_INDEX.get(label)


class EpisodeAssembler:
    """Collects the transitions of the episode in progress; applies it when it ends."""

    def __init__(self) -> None:
        self._steps: list[EpisodeStep] = []
        self._base = 0  # the base's action at the next decision (from the previous record)

    @property
    def pending(self) -> int:
        """Transitions of an episode whose end has not arrived yet."""
        return len(self._steps)

    def apply(self, agent: ObservingAgent, record: Transition, keys: StateKeys) -> bool:
        """Take one transition; False (nothing learned; the episode in progress is dropped) if
        it does not fit the agent's state config or actions."""
        s = keys.state_index(record.state_key)
        s_next = keys.state_index(record.next_state_key)
        a = _ACTION_INDEX.get(record.action)
        if s is None or s_next is None or a is None:
            self._steps, self._base = [], 0
            return False
        self._steps.append(EpisodeStep(s, a, record.reward, self._base))
        next_base = next_base_index(record)
        self._base = 0 if next_base is None else next_base
        if record.terminated or record.truncated:
            steps, self._steps, self._base = self._steps, [], 0
            agent.observe_episode(steps)
        return True
