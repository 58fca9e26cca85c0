"""The real QTableAgent for the store tests, and transitions to feed it (as records and as
index tuples)."""

from __future__ import annotations

import dataclasses

import numpy as np

from rlexec.config import QLearningConfig, ReplayBufferConfig, StateConfig
from rlexec.records import ACTION_LABELS, ExperienceRecord
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.write_behind import AgentStore

STATES_USED = 40  # transitions stay among the first states: cells are revisited


def make_agent(
    seed: int = 0, *, replay: bool = False, q_config: QLearningConfig | None = None
) -> QTableAgent:
    return QTableAgent(
        q_config or QLearningConfig(),
        StateConfig(),
        seed=seed,
        replay_config=ReplayBufferConfig(capacity=500, batch_size=8) if replay else None,
    )


def table_agent(store: AgentStore) -> QTableAgent:
    """The QTableAgent ``store`` works for (``make_agent``'s; the store sees a protocol)."""
    assert isinstance(store.agent, QTableAgent)
    return store.agent


def random_transitions(agent: QTableAgent, count: int, seed: int) -> list[ExperienceRecord]:
    """``count`` transitions an actor would make: the agent decides in random states, the
    reward and next state are random; episodes end at random (1 in 10) and the last
    transition ends one, as an actor appends whole episodes (the learner applies an episode
    once its terminated transition arrives)."""
    rng = np.random.default_rng(seed)
    key = agent.discretizer.key_from_index
    out = []
    for _ in range(count):
        s = int(rng.integers(STATES_USED))
        a = int(agent.decide_index(s).action)
        s_next = int(rng.integers(STATES_USED))
        out.append(
            ExperienceRecord(
                state_key=key(s).to_text(),
                action=ACTION_LABELS[a],
                reward=float(rng.normal()),
                next_state_key=key(s_next).to_text(),
                terminated=bool(rng.random() < 0.1),
                truncated=False,
            )
        )
    if out and not out[-1].terminated:
        out[-1] = dataclasses.replace(out[-1], terminated=True)
    return out


def learn(agent: QTableAgent, steps: int, seed: int = 0) -> list[ExperienceRecord]:
    """The agent decides and learns ``steps`` random transitions itself (a learner's own
    experience); returns them as records."""
    records = random_transitions(agent, steps, seed)
    index = {agent.discretizer.key_from_index(i).to_text(): i for i in range(STATES_USED)}
    for r in records:
        agent.observe(
            index[r.state_key], ACTION_LABELS.index(r.action), r.reward,
            index[r.next_state_key], r.terminated,
        )  # fmt: skip
    return records
