"""Policy snapshots (versions, immutability, model-file export) and the second migration:
upgrading a database holding rows of the first revision keeps every row; downgrade drops the
new tables and views and keeps the old rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import QLearningConfig, StateConfig
from rlexec.errors import InvalidInputError
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import downgrade_database, upgrade_database
from rlexec.store.model_file import read_model
from rlexec.store.repositories import AgentRepository, QEntry, QValueRepository
from rlexec.store.snapshots import (
    SnapshotRepository,
    config_data,
    create_snapshot,
    export_snapshot,
    hash_config_data,
    list_snapshots,
    load_snapshot_table,
    save_config,
)
from tests.replay.conftest import short_config

FIRST = "60cb4f8afbb3"
SECOND = "cc4de567fc6d"
# keys of the default state config: the older 8-part text (own orders and schedule 0) and
# the 10-part text
KEYS = ("r1.t1.s1.i1.h0.u1.v0.q0", "r2.t3.s0.i1.h0.u1.v0.q0.o1.l2")
NEW_TABLES = {"configs", "policy_snapshots", "policy_snapshot_entries"}
VIEWS = {"decision_outcomes", "action_stats_by_hour", "action_stats_by_spread", "episode_summary"}


async def test_snapshots_are_versioned_copies(engine: AsyncEngine, tmp_path: Path) -> None:
    async with session_factory(engine)() as session, session.begin():
        agent = await AgentRepository(session).get_or_create("a", {}, 0.25)
        await QValueRepository(session).put(
            agent.id, [QEntry(KEYS[0], "Wait", -0.5, 3), QEntry(KEYS[1], "PlaceAll", 0.25, 1)],
            revision=1,
        )  # fmt: skip
    first = await create_snapshot(engine, "a", "before")
    async with session_factory(engine)() as session, session.begin():
        await QValueRepository(session).put(agent.id, [QEntry(KEYS[0], "Wait", 0.5, 4)], revision=2)
    second = await create_snapshot(engine, "a", "after")
    assert (first.version, second.version) == (1, 2)
    assert (first.entries, second.entries) == (2, 2)
    assert [r.label for r in await list_snapshots(engine, "a")] == ["before", "after"]

    state = StateConfig()
    _, q1, v1 = await load_snapshot_table(engine, first.id, state)
    _, q2, v2 = await load_snapshot_table(engine, second.id, state)
    from rlexec.rl.state import StateDiscretizer

    s0 = StateDiscretizer(state).index_from_text(KEYS[0])
    assert (q1[s0, 0], v1[s0, 0]) == (-0.5, 3)  # unchanged by the later learning
    assert (q2[s0, 0], v2[s0, 0]) == (0.5, 4)
    assert int(np.count_nonzero(q1)) == 2

    path = tmp_path / "snap.json"
    assert await export_snapshot(engine, first.id, path, state) == 2
    agent_like = QTableAgent(QLearningConfig(), state)
    q, visits, epsilon, _ = read_model(agent_like, path)
    assert np.array_equal(q, q1) and np.array_equal(visits, v1) and epsilon == 0.25

    with pytest.raises(InvalidInputError, match="no such snapshot"):
        await load_snapshot_table(engine, 999, state)
    with pytest.raises(InvalidInputError, match="not in the store"):
        await create_snapshot(engine, "nobody", "x")


async def test_configs_are_stored_once_by_hash(db_url: str) -> None:
    from rlexec.agent import config_hash

    config = short_config(db_url)
    assert hash_config_data(config_data(config)) == config_hash(config)
    engine = create_engine(db_url)
    try:
        digest = await save_config(engine, config)
        assert digest == await save_config(engine, config)  # idempotent
        async with engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT COUNT(*) FROM configs")) == 1
    finally:
        await engine.dispose()


_FIRST_REVISION_ROWS = [
    "INSERT INTO agents (id, name, config_snapshot, epsilon, updates, q_revision, created_at, "
    "updated_at) VALUES (1, 'kept', '{}', 0.2, 7, 3, '2024-01-01 00:00:00', "
    "'2024-01-01 00:00:00')",
    f"INSERT INTO q_values (agent_id, state_key, action, q, visits, revision, updated_at) "
    f"VALUES (1, '{KEYS[0]}', 'Wait', -0.5, 4, 3, '2024-01-01 00:00:00')",
    "INSERT INTO episodes (episode_id, agent_id, agent_name, executor, mode, market, side, "
    "quantity, arrival_mid, seed, horizon_steps, config_hash, snapshot_id, started_at, ended_at, "
    "filled_by_policy, avg_price, implementation_shortfall_bps, completion_quantity, "
    "completion_cost_bps, child_orders, total_reward, terminated, truncated) VALUES ('e1', 1, "
    "'kept', 'rl-twap', 'training', 'equity', 'buy', 2000, 100.005, 7, 300, 'abc', NULL, "
    "'2024-01-01 00:00:00', '2024-01-01 00:05:00', 1500, 100.01, 0.75, 500, 1.5, 12, -0.75, "
    "TRUE, FALSE)",
    "INSERT INTO decisions (episode_id, seq, agent_id, step, decided_at, remaining_size, "
    "time_elapsed_pct, urgency, bid_ask_spread, orderbook_imbalance, recent_volatility, "
    "queue_depth_at_price, hour_of_day, minute_of_hour, seconds_since_last_trade, "
    "recent_fill_rate, avg_slippage_last_n, tick_size, mid_price, typical_queue_depth, "
    "state_key, state_index, action, epsilon, action_probability, q_wait, q_place_small, "
    "q_place_medium, q_place_large, q_place_all, q_cancel, explored, child_quantity, "
    "child_price, filled_quantity, fill_price, fill_rate_reward, slippage_penalty, "
    "time_penalty, market_impact_penalty, reward_total) VALUES ('e1', 1, 1, 0, "
    "'2024-01-01 00:00:01', 1.0, 0.0, 1, 0.02, 0.1, 0.01, 400, 14, 30, 1.0, 0.0, 0.0, 0.01, "
    "100.005, 500, 'r1.t1.s1.i1.h1.u1.v0.q0', 3, 'PlaceSmall', 0.3, 0.8, 0, 0, 0, 0, 0, 0, "
    "FALSE, 200, 100.01, 150, 100.01, 0, -0.1, 0, 0, -0.1)",
]
_COUNTS = {"agents": 1, "q_values": 1, "episodes": 1, "decisions": 1}


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            t: int(await conn.scalar(sa.text(f"SELECT COUNT(*) FROM {t}")) or 0) for t in _COUNTS
        }


async def _names(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: (set(sa.inspect(c).get_table_names()), set(sa.inspect(c).get_view_names()))
        )


async def test_upgrade_from_the_first_revision_keeps_every_row_and_downgrade_works(
    empty_db_url: str,
) -> None:
    await upgrade_database(empty_db_url, FIRST)
    engine = create_engine(empty_db_url, pool=False)
    try:
        async with engine.begin() as conn:
            for statement in _FIRST_REVISION_ROWS:
                await conn.execute(sa.text(statement))
        await upgrade_database(empty_db_url, SECOND)
        assert await _counts(engine) == _COUNTS
        tables, views = await _names(engine)
        assert tables >= NEW_TABLES and views >= VIEWS
        async with engine.connect() as conn:
            query = "SELECT decisions, explored_decisions FROM episode_summary"
            summary = (await conn.execute(sa.text(query))).one()
            assert tuple(summary) == (1, 0)
        await upgrade_database(empty_db_url, "head")  # the repositories need today's schema
        snapshot = await create_snapshot(engine, "kept", "after-upgrade")
        assert snapshot.entries == 1

        await downgrade_database(empty_db_url, FIRST)
        assert await _counts(engine) == _COUNTS
        tables, views = await _names(engine)
        assert not NEW_TABLES & tables and not VIEWS & views
        async with engine.begin() as conn:  # the trigger went with the revision
            await conn.execute(sa.text("UPDATE decisions SET action = 'Wait'"))

        await upgrade_database(empty_db_url, "head")
        assert await _counts(engine) == _COUNTS
        async with session_factory(engine)() as session:
            assert await SnapshotRepository(session).list_for() == []
    finally:
        await engine.dispose()
