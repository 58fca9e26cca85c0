"""Train a few hundred short episodes through RlEnhancedExecutor + AgentStore, check what the
store holds against what ran, then reopen a new agent and store: the Q-table, visits and epsilon
come back identical and training continues (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import PersistenceConfig
from rlexec.store.write_behind import AgentStore
from tests.integration.helpers import (
    count_rows,
    equity,
    new_agent,
    rl_executor,
    run_seeds,
)

EPISODES = 300
HORIZON = 60
INTERVAL = 5
DECISIONS_PER_EPISODE = HORIZON // INTERVAL
PERSISTENCE = PersistenceConfig(save_interval_secs=0.05, experiences_to_load=500)


async def _train(store: AgentStore, seeds: range) -> None:
    """Episodes one after the other; between them the loop yields so background flushes run
    while the agent keeps learning (as they would in a process waiting on market data)."""
    market = equity()
    executor = rl_executor(store.agent, market, sink=store, interval=INTERVAL)  # type: ignore[arg-type]
    for seed in seeds:
        await run_seeds(executor, market, range(seed, seed + 1), horizon=HORIZON)
        if seed % 10 == 0:
            await asyncio.sleep(0.002)
    assert executor.active_parents == 0


async def _stored_table(engine: AsyncEngine, agent_id: int) -> tuple[int, int, float, int]:
    async with engine.connect() as conn:
        rows, visits = (
            await conn.execute(
                sa.text("SELECT COUNT(*), SUM(visits) FROM q_values WHERE agent_id = :a"),
                {"a": agent_id},
            )
        ).one()
        epsilon, updates = (
            await conn.execute(
                sa.text("SELECT epsilon, updates FROM agents WHERE id = :a"), {"a": agent_id}
            )
        ).one()
    return int(rows), int(visits), float(epsilon), int(updates)


async def test_training_is_stored_and_resumes(engine: AsyncEngine) -> None:
    agent = new_agent(seed=3)
    store = AgentStore(agent, engine, agent_name="trainer", persistence=PERSISTENCE)
    first = await store.load()
    assert first.created and first.q_rows == 0
    store.start()
    await _train(store, range(EPISODES))
    await store.close()
    assert store.flushes > 1  # the background task flushed during training
    agent_id = store.agent_id
    assert agent_id is not None

    decisions = EPISODES * DECISIONS_PER_EPISODE
    assert agent.updates == decisions  # one online update per decision (completion included)
    assert int(agent.visits.sum()) == decisions
    assert await count_rows(engine, "episodes", agent_id) == EPISODES
    assert await count_rows(engine, "decisions", agent_id) == decisions
    assert await count_rows(engine, "experiences", agent_id) == decisions
    q_rows, stored_visits, stored_eps, stored_updates = await _stored_table(engine, agent_id)
    assert q_rows == int(np.count_nonzero((agent.q_values != 0) | (agent.visits != 0)))
    assert stored_visits == decisions
    assert stored_updates == decisions
    assert stored_eps == agent.epsilon
    async with engine.connect() as conn:
        seeds = (await conn.execute(sa.text("SELECT seed FROM episodes ORDER BY seed"))).scalars()
        assert list(seeds) == list(range(EPISODES))

    # a new process: a fresh agent and store on the same database
    resumed = new_agent(seed=4)
    store2 = AgentStore(resumed, engine, agent_name="trainer", persistence=PERSISTENCE)
    loaded = await store2.load()
    assert not loaded.created
    assert loaded.q_rows == q_rows and loaded.updates == decisions
    assert np.array_equal(resumed.q_values, agent.q_values)
    assert np.array_equal(resumed.visits, agent.visits)
    assert resumed.epsilon == agent.epsilon
    assert resumed.updates == agent.updates
    assert len(loaded.experiences) == PERSISTENCE.experiences_to_load
    assert resumed.replay_buffer is not None
    assert len(resumed.replay_buffer) == PERSISTENCE.experiences_to_load

    more = 100
    store2.start()
    await _train(store2, range(EPISODES, EPISODES + more))
    await store2.close()
    total = (EPISODES + more) * DECISIONS_PER_EPISODE
    assert resumed.updates == total
    assert await count_rows(engine, "episodes", agent_id) == EPISODES + more
    assert await count_rows(engine, "decisions", agent_id) == total
    _, stored_visits, stored_eps, stored_updates = await _stored_table(engine, agent_id)
    assert stored_visits == total and stored_updates == total
    assert stored_eps == resumed.epsilon
    assert not np.array_equal(resumed.q_values, agent.q_values)  # it kept learning
