"""Round trip of every table through the repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.errors import StoreError
from rlexec.store.engine import session_factory
from rlexec.store.repositories import (
    AgentRepository,
    DecisionRepository,
    EpisodeRepository,
    ExperienceRepository,
    LeaseLostError,
    PolicyMetricsRepository,
    QEntry,
    QValueRepository,
)
from tests.store import records_factory as rf


async def test_every_table_round_trips(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    ep = rf.episode()
    decisions = [rf.decision(ep.episode_id, i, "Wait" if i % 2 else "PlaceAll") for i in range(5)]
    experiences = [rf.experience(i) for i in range(4)]
    metrics = [rf.metrics(0), rf.metrics(1)]
    async with sessions() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("agent-a", {"alpha": 0.1}, 0.3)
        q = QValueRepository(s)
        await q.put(
            agent.id, [QEntry("s1", "Wait", 0.5, 2), QEntry("s2", "Cancel", -1.0, 1)], revision=1
        )
        await EpisodeRepository(s).append(agent.id, [ep])
        await DecisionRepository(s).append(agent.id, decisions)
        await ExperienceRepository(s).append(agent.id, experiences)
        await PolicyMetricsRepository(s).append(agent.id, metrics)
        assert await AgentRepository(s).acquire_lease(agent.id, "me", 60.0) is None
        await AgentRepository(s).publish(
            agent.id, holder="me", ttl_secs=60.0, epsilon=0.25, updates=42, transitions_applied=0
        )
    async with sessions() as s:
        again = await AgentRepository(s).get_or_create("agent-a", {"alpha": 0.9}, 0.9)
        assert again.id == agent.id
        assert again.config_snapshot == {"alpha": 0.1}
        assert (again.epsilon, again.updates) == (0.25, 42)
        assert again.created_at.tzinfo is not None
        rows = sorted(await QValueRepository(s).load(agent.id))
        assert [(r.state_key, r.action, r.q, r.visits) for r in rows] == [
            ("s1", "Wait", 0.5, 2),
            ("s2", "Cancel", -1.0, 1),
        ]
        assert await EpisodeRepository(s).get(ep.episode_id) == ep
        assert await DecisionRepository(s).for_episode(ep.episode_id) == decisions
        assert await ExperienceRepository(s).newest(agent.id, 10) == experiences
        assert await ExperienceRepository(s).newest(agent.id, 2) == experiences[2:]
        assert await PolicyMetricsRepository(s).for_agent(agent.id) == metrics


async def test_q_writes_are_absolute_and_stamped(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("agent-b", {}, 0.3)
        q = QValueRepository(s)
        await q.put(agent.id, [QEntry("s1", "Wait", 0.5, 2)], revision=1)
        await q.put(agent.id, [QEntry("s1", "Wait", 0.25, 3)], revision=2)
        rows = await q.load(agent.id)
        assert [(r.q, r.visits, r.revision) for r in rows] == [(0.25, 3, 2)]
        assert await q.changed_since(agent.id, 2) == []


async def test_publish_needs_the_lease(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as s, s.begin():
        agents = AgentRepository(s)
        agent = await agents.get_or_create("agent-l", {}, 0.3)
        assert await agents.acquire_lease(agent.id, "a", 60.0) is None
        assert await agents.acquire_lease(agent.id, "b", 60.0) == "a"
        with pytest.raises(LeaseLostError):
            await agents.publish(
                agent.id, holder="b", ttl_secs=60.0, epsilon=0.1, updates=1, transitions_applied=0
            )
        first = await agents.queue_transitions(agent.id, 3)
        assert (first, await agents.queue_transitions(agent.id, 2)) == (1, 4)
        await agents.release_lease(agent.id, "a")
        assert await agents.acquire_lease(agent.id, "b", 60.0) is None


async def test_experience_pruning_keeps_the_newest(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("agent-c", {}, 0.3)
        repo = ExperienceRepository(s)
        await repo.append(agent.id, [rf.experience(i) for i in range(10)])
        assert await repo.prune(agent.id, 3) == 7
        assert [e.state_key for e in await repo.newest(agent.id, 100)] == ["s7", "s8", "s9"]
        await repo.append(agent.id, [rf.experience(i) for i in range(3)], first_seq=1)
        assert await repo.prune(agent.id, 0, applied_through=1) == 4  # queued 2, 3 stay
        assert [t.seq for t in await repo.queued_after(agent.id, 0, 10)] == [2, 3]


async def test_duplicate_decision_is_a_store_error(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    d = rf.decision("e1", 0)
    with pytest.raises(StoreError, match="appending 2 rows to decisions failed"):
        async with sessions() as s, s.begin():
            await DecisionRepository(s).append(None, [d, d])
