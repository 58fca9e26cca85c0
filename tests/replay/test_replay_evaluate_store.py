"""``replay evaluate`` from the store: a synthetic log written through the repositories gives
exactly the numbers of the in-memory ``evaluate()`` of the same table under the configured
decision rule, with the logged schedule actions; --agent and --since select rows; decisions
without a logged schedule action are refused by name."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import QLearningConfig, StateConfig
from rlexec.errors import InvalidInputError
from rlexec.evaluation.off_policy import CandidatePolicy, DecisionLog, evaluate
from rlexec.records import ACTION_LABELS
from rlexec.replay.evaluate import format_evaluation, replay_evaluate
from rlexec.replay.log import load_decision_log
from rlexec.rl.policy import RuleParameters
from rlexec.rl.state import StateDiscretizer
from rlexec.store.engine import session_factory
from rlexec.store.repositories import AgentRepository, DecisionRepository, QEntry, QValueRepository
from rlexec.store.snapshots import SnapshotRepository
from tests.store.records_factory import T0, decision

STATES = 8
EPSILON = 0.3
VISITS = 40  # above min_visits_to_deviate = 30: where its variance is known, it may deviate
KNOWN = 4  # the candidate's variances are known in states 0-3, unknown (NULL) in 4-7


def _synthetic(
    rng: np.random.Generator, q: np.ndarray, episodes: int, length: int
) -> dict[str, np.ndarray]:
    """An epsilon-greedy log over ``q`` (the logging policy), rewards noisy in (s, a)."""
    n = episodes * length
    states = rng.integers(0, STATES, n)
    greedy = np.argmax(q[states], axis=1)
    explore = rng.random(n) < EPSILON
    actions = np.where(explore, rng.integers(0, 6, n), greedy)
    prob = np.where(actions == greedy, EPSILON / 6 + 1 - EPSILON, EPSILON / 6)
    rewards = 0.1 * actions - 0.05 * states + rng.normal(0, 0.2, n)
    bases = rng.integers(0, 6, n)  # the base schedule's action at each decision
    return {
        "states": states, "actions": actions, "prob": prob, "rewards": rewards, "bases": bases,
    }  # fmt: skip


async def _write(
    engine: AsyncEngine,
    name: str,
    q: np.ndarray,
    log: dict[str, np.ndarray],
    length: int,
    minutes: int,
) -> tuple[int, list[str]]:
    keys = StateDiscretizer(StateConfig())
    episode_ids = sorted(str(uuid.uuid4()) for _ in range(len(log["states"]) // length))
    records = []
    for i, (s, a, p, r, b) in enumerate(
        zip(log["states"], log["actions"], log["prob"], log["rewards"], log["bases"], strict=True)
    ):
        e, seq = divmod(i, length)
        base = decision(episode_ids[e], seq + 1, ACTION_LABELS[int(a)])
        records.append(
            dataclasses.replace(
                base,
                decided_at=T0 + timedelta(minutes=minutes, seconds=i),
                state_index=int(s),
                state_key=keys.key_from_index(int(s)).to_text(),
                action_probability=float(p),
                reward_total=float(r),
                explored=False,
                schedule_action=None if b < 0 else ACTION_LABELS[int(b)],
            )
        )
    async with session_factory(engine)() as session, session.begin():
        agent = await AgentRepository(session).get_or_create(name, {}, EPSILON)
        entries = [
            QEntry(keys.key_from_index(s).to_text(), ACTION_LABELS[a], float(q[s, a]), VISITS)
            for s in range(STATES)
            for a in range(6)
        ]
        await QValueRepository(session).put(agent.id, entries, revision=1)
        await DecisionRepository(session).append(agent.id, records)
    return agent.id, episode_ids


async def test_store_backed_evaluation_equals_in_memory(engine: AsyncEngine) -> None:
    rng = np.random.default_rng(5)
    num_states = StateDiscretizer(StateConfig()).num_states
    logging_q = np.zeros((num_states, 6))
    logging_q[:STATES] = rng.normal(0, 1, (STATES, 6))
    log = _synthetic(rng, logging_q[:STATES], episodes=40, length=6)
    agent_id, _ = await _write(engine, "logger", logging_q, log, 6, minutes=0)
    # another agent's decisions, later: excluded by --agent, included without it
    other = _synthetic(rng, logging_q[:STATES], episodes=5, length=6)
    await _write(engine, "other", logging_q, other, 6, minutes=60)

    candidate_q = logging_q.copy()
    candidate_q[:STATES] = rng.normal(0, 1, (STATES, 6))
    variances = np.full(candidate_q.shape, np.nan)
    variances[:KNOWN] = 0.01
    async with session_factory(engine)() as session, session.begin():
        # make the stored table the candidate, snapshot it, then move the table on
        entries = [
            QEntry(
                StateDiscretizer(StateConfig()).key_from_index(s).to_text(),
                ACTION_LABELS[a],
                float(candidate_q[s, a]),
                VISITS,
                float(variances[s, a]),
            )
            for s in range(STATES)
            for a in range(6)
        ]
        await QValueRepository(session).put(agent_id, entries, revision=2)
        snapshot = await SnapshotRepository(session).create(agent_id, "candidate")

    # the candidate is the stored table (Q-values, visits, variances) under the configured rule
    visits = np.zeros(candidate_q.shape, dtype=np.int64)
    visits[:STATES] = VISITS
    rule = RuleParameters.from_config(QLearningConfig())
    candidate = CandidatePolicy.from_table(candidate_q, visits, variances, rule)
    expected_log = DecisionLog.from_arrays(
        log["states"],
        log["actions"],
        log["prob"],
        log["rewards"],
        np.repeat(np.arange(40), 6),
        log["bases"],
    )
    expected = evaluate(expected_log, candidate)
    greedy = candidate.greedy_for(log["states"], log["bases"])
    unknown = log["states"] >= KNOWN
    assert np.array_equal(greedy[unknown], log["bases"][unknown])  # NULL variance: the base
    assert np.any(greedy[~unknown] != log["bases"][~unknown])  # known: it deviates somewhere
    for policy in (str(snapshot.id), "current"):
        result = await replay_evaluate(
            engine, StateConfig(), QLearningConfig(), policy=policy, agent_name="logger"
        )
        report = result.report
        assert report.n_decisions == 240 and report.n_episodes == 40
        assert report.agreement == expected.agreement
        assert np.array_equal(report.confusion, expected.confusion)
        for got, want in zip(report.estimates(), expected.estimates(), strict=True):
            assert got.estimator == want.estimator
            assert got.value == want.value
            assert (got.ci_low, got.ci_high) == (want.ci_low, want.ci_high)
        text = format_evaluation(result)
        assert "snips" in text and "agreement" in text

    everything = await load_decision_log(engine)
    assert everything.n_decisions == 240 + 30
    later = await load_decision_log(engine, since=T0 + timedelta(minutes=30))
    assert later.n_decisions == 30
    assert len(later.episode_ids) == 5
    assert later.episode_index.tolist() == np.repeat(np.arange(5), 6).tolist()


async def test_decisions_without_a_schedule_action_are_refused(engine: AsyncEngine) -> None:
    rng = np.random.default_rng(6)
    num_states = StateDiscretizer(StateConfig()).num_states
    q = np.zeros((num_states, 6))
    log = _synthetic(rng, q[:STATES], episodes=3, length=4)
    log["bases"][5] = -1  # a row written before the schedule action was logged
    await _write(engine, "old", q, log, 4, minutes=0)
    loaded = await load_decision_log(engine, agent_name="old")
    assert loaded.base_actions.tolist()[5] == -1
    with pytest.raises(InvalidInputError, match="--since") as info:
        loaded.decision_log()
    assert "1 of the 12 selected decisions have no logged schedule action" in str(info.value)
