"""The write-behind cache: coalescing, restart, outage, bounded memory, shared learning."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import PersistenceConfig
from rlexec.errors import StoreError
from rlexec.store.engine import create_engine
from rlexec.store.models import QValue
from rlexec.store.write_behind import AgentStore
from tests.store import records_factory as rf
from tests.store.agent_double import make_agent, train

PERSIST = PersistenceConfig(save_interval_secs=3600, retry_initial_secs=0.01, retry_max_secs=0.05)


def unreachable_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        folder = url.split(":///", 1)[1].rsplit("/", 1)[0]
        return create_engine(f"sqlite+aiosqlite:///{folder}", pool=False)  # a folder: no db
    return create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", pool=False)


async def store_totals(engine: AsyncEngine, agent_id: int) -> tuple[int, int, float]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(QValue.visits), 0),
                    sa.func.coalesce(sa.func.sum(QValue.q), 0.0),
                ).where(QValue.agent_id == agent_id)
            )
        ).one()
    return int(row[0]), int(row[1]), float(row[2])


async def test_many_updates_of_one_entry_become_one_row_write(engine: AsyncEngine) -> None:
    agent = make_agent()
    store = AgentStore(agent, engine, agent_name="coalesce", persistence=PERSIST)
    await store.load()
    for _ in range(500):
        agent.update_index(3, 2, 1.0, 4, False)
    result = await store.flush()
    assert result.q_rows == 1
    assert (await store_totals(engine, store.agent_id or 0))[:2] == (1, 500)
    assert (await store.flush()).q_rows == 0  # nothing changed since


async def test_restart_restores_q_visits_and_epsilon(engine: AsyncEngine) -> None:
    agent = make_agent(seed=1)
    store = AgentStore(agent, engine, agent_name="restart", persistence=PERSIST)
    await store.load()
    store.start()
    train(agent, 3000, seed=1)
    await store.flush()
    train(agent, 1000, seed=2)
    await store.close()
    again = make_agent(seed=99)
    loaded = await AgentStore(again, engine, agent_name="restart", persistence=PERSIST).load()
    assert not loaded.created
    np.testing.assert_array_equal(again.q_values, agent.q_values)
    np.testing.assert_array_equal(again.visits, agent.visits)
    assert again.epsilon == agent.epsilon
    assert again.updates == agent.updates == 4000


async def test_outage_keeps_deciding_and_loses_nothing(db_url: str, engine: AsyncEngine) -> None:
    agent = make_agent(seed=3)
    store = AgentStore(agent, engine, agent_name="outage", persistence=PERSIST)
    await store.load()
    ep = rf.episode()
    train(agent, 500, seed=3)
    store.append_decision(rf.decision(ep.episode_id, 0))
    await store.flush()
    bad = unreachable_engine(db_url)
    store.replace_engine(bad)
    seq = 1
    for round_ in range(3):
        train(agent, 200, seed=10 + round_)  # the agent keeps learning and deciding
        for _ in range(10):
            store.append_decision(rf.decision(ep.episode_id, seq))
            seq += 1
        store.append_experience(rf.experience(round_))
        with pytest.raises(StoreError, match="failed") as info:
            await store.flush()
        assert "password" not in str(info.value)
    store.append_episode(ep)
    assert store.failed_flushes == 3
    assert store.pending_rows == 30 + 3 + 1
    store.replace_engine(engine)
    await bad.dispose()
    await store.flush()
    assert store.pending_rows == 0
    count, visits, _ = await store_totals(engine, store.agent_id or 0)
    assert visits == int(agent.visits.sum()) == 1100
    assert count == int(np.count_nonzero(agent.visits))
    async with engine.connect() as conn:
        seqs = (
            (await conn.execute(sa.text("SELECT seq FROM decisions ORDER BY seq"))).scalars().all()
        )
        n_exp = (await conn.execute(sa.text("SELECT count(*) FROM experiences"))).scalar_one()
        n_ep = (await conn.execute(sa.text("SELECT count(*) FROM episodes"))).scalar_one()
    assert list(seqs) == list(range(31))
    assert (n_exp, n_ep) == (3, 1)


async def test_background_task_retries_until_the_store_is_back(
    db_url: str, engine: AsyncEngine
) -> None:
    import asyncio

    agent = make_agent(seed=4)
    store = AgentStore(agent, engine, agent_name="retry", persistence=PERSIST)
    await store.load()
    bad = unreachable_engine(db_url)
    store.replace_engine(bad)
    store.start()
    train(agent, 300, seed=4)
    store.request_flush()
    for _ in range(200):
        await asyncio.sleep(0.01)
        if store.failed_flushes >= 2:
            break
    assert store.failed_flushes >= 2
    store.replace_engine(engine)
    for _ in range(300):
        await asyncio.sleep(0.01)
        if store.flushes >= 1:
            break
    await store.close()
    await bad.dispose()
    assert (await store_totals(engine, store.agent_id or 0))[1] == 300


async def test_memory_bound_drops_oldest_experiences_then_decisions(
    db_url: str, engine: AsyncEngine
) -> None:
    agent = make_agent()
    persist = PERSIST.model_copy(update={"max_pending_rows": 10})
    store = AgentStore(agent, engine, agent_name="bounded", persistence=persist)
    await store.load()
    for i in range(4):
        store.append_experience(rf.experience(i))
    for i in range(8):
        store.append_decision(rf.decision("e", i))
    assert store.pending_rows == 10
    assert store.dropped == {"experiences": 2, "decisions": 0}
    store.append_episode(rf.episode())  # episodes and metrics are never dropped
    store.append_policy_metrics(rf.metrics())
    assert store.pending_rows == 12
    store.append_decision(rf.decision("e", 8))  # sheds the 2 experiences left, then 1 decision
    assert store.dropped == {"experiences": 4, "decisions": 1}
    assert store.pending_rows == 10
    await store.flush()
    async with engine.connect() as conn:
        seqs = (
            (await conn.execute(sa.text("SELECT seq FROM decisions ORDER BY seq"))).scalars().all()
        )
        n_ep = (await conn.execute(sa.text("SELECT count(*) FROM episodes"))).scalar_one()
    assert list(seqs) == list(range(1, 9))  # the oldest decision went, the newest stayed
    assert n_ep == 1


async def test_two_stores_share_learning_without_losing_updates(engine: AsyncEngine) -> None:
    a, b = make_agent(seed=5), make_agent(seed=6)
    store_a = AgentStore(a, engine, agent_name="shared", persistence=PERSIST)
    store_b = AgentStore(b, engine, agent_name="shared", persistence=PERSIST)
    await store_a.load()
    await store_b.load()
    train(a, 400, seed=5)
    train(b, 300, seed=6)
    await store_a.flush()
    await store_b.flush()  # picks up a's rows
    train(a, 100, seed=7)
    await store_a.flush()  # picks up b's rows
    _, visits, _ = await store_totals(engine, store_a.agent_id or 0)
    assert visits == 800
    assert int(a.visits.sum()) == 800  # a has everything
    assert int(b.visits.sum()) == 700  # b has not seen a's last 100 yet
    await store_b.flush()
    assert int(b.visits.sum()) == 800
    np.testing.assert_allclose(a.q_values, b.q_values)


async def test_flush_before_load_is_an_error(engine: AsyncEngine) -> None:
    store = AgentStore(make_agent(), engine, agent_name="x", persistence=PERSIST)
    with pytest.raises(StoreError, match="load"):
        await store.flush()
