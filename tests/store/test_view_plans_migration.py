"""Migration d5605856a764 redefines three views so that agent filters reach the indexes: the
grouped views join agents inside (a filter on agent_name is an index search on SQLite, not a
scan of every decision), episode_summary on PostgreSQL reads an episode's decisions once. Every
view gives the same rows before and after, on SQLite and PostgreSQL, with rows in every table
(decisions of a deleted agent included); the downgrade restores b5b71e82dddf exactly."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import current_revision, downgrade_database, upgrade_database
from tests.store import records_factory as rf
from tests.store.test_learning_policy_migration import (
    _all,
    _counts,
    _schema_objects,
    seed_every_table,
)

BEFORE = "b5b71e82dddf"
REVISION = "d5605856a764"
VIEWS = ("decision_outcomes", "action_stats_by_hour", "action_stats_by_spread", "episode_summary")
FILTERS = ("TRUE", "agent_id = 1", "agent_name = 'kept'", "agent_id IS NULL")


def _value(value: Any) -> Any:
    if isinstance(value, float | Decimal):
        return round(float(value), 9)
    return value


async def _view_rows(engine: AsyncEngine) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    out = {}
    for view in VIEWS:
        for where in FILTERS:
            rows = await _all(engine, f"SELECT * FROM {view} WHERE {where}")
            out[view, where] = sorted((tuple(_value(v) for v in r) for r in rows), key=repr)
    return out


async def _more_rows(engine: AsyncEngine) -> None:
    """Decisions over several hours, spreads and actions for agent 1, and an episode of a
    deleted agent (agent_id NULL on the episode and its decisions)."""
    orphan = dataclasses.replace(rf.episode("orphan", agent_name="gone"), executor="rl-twap")
    shapes = (
        (10, "Wait", 9, 0.01),
        (11, "PlaceAll", 9, 0.03),
        (12, "Cancel", 15, 0.06),
        (13, "PlaceSmall", 15, 0.02),
    )
    decisions = [
        dataclasses.replace(rf.decision("e1", seq, action), hour_of_day=hour, bid_ask_spread=spread)
        for seq, action, hour, spread in shapes
    ]
    async with session_factory(engine)() as session, session.begin():
        await rf.append_episodes_as_of(session, None, [orphan])
        await rf.append_decisions_as_of(session, 1, decisions)
        await rf.append_decisions_as_of(
            session, None, [rf.decision("orphan", 1, "Wait"), rf.decision("orphan", 2, "PlaceAll")]
        )


async def _plan(engine: AsyncEngine, sql: str) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = (await conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))).all()
            return "\n".join(str(r[3]) for r in rows)
        await conn.execute(sa.text("SET enable_seqscan = off"))  # tiny tables: show the index
        rows = (await conn.execute(sa.text(f"EXPLAIN {sql}"))).all()
        return "\n".join(str(r[0]) for r in rows)


async def test_views_keep_their_rows_and_filters_reach_the_indexes(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url, BEFORE)
    engine = create_engine(empty_db_url, pool=False)
    pg = engine.dialect.name == "postgresql"
    try:
        await seed_every_table(engine)
        await _more_rows(engine)
        counts = await _counts(engine)
        rows = await _view_rows(engine)
        assert rows["action_stats_by_hour", "agent_id IS NULL"]  # the deleted agent's rows
        assert len(rows["action_stats_by_spread", "agent_name = 'kept'"]) >= 4
        schema = await _schema_objects(engine)
        by_name = "SELECT * FROM action_stats_by_hour WHERE agent_name = 'kept'"
        old_plan = await _plan(engine, by_name)

        await upgrade_database(empty_db_url, REVISION)
        assert await current_revision(empty_db_url) == REVISION
        assert await _counts(engine) == counts
        assert await _view_rows(engine) == rows
        for view in ("action_stats_by_hour", "action_stats_by_spread"):
            plan = await _plan(engine, f"SELECT * FROM {view} WHERE agent_name = 'kept'")
            if pg:
                assert "Seq Scan on decisions" not in plan, plan
            else:  # the agent's name is looked up, then its decisions by the index
                assert "SCAN d" not in plan, plan
                assert "SEARCH d USING INDEX ix_decisions_agent_id_decided_at (agent_id=?)" in plan
        if not pg:
            assert "SCAN d" in old_plan  # the LEFT JOIN under GROUP BY scanned every decision
        summary = await _plan(engine, "SELECT * FROM episode_summary WHERE agent_id = 1")
        if pg:  # one scan of the episode's decisions instead of five subplans
            assert summary.count("on decisions") == 1 and "SubPlan" not in summary, summary
        else:  # SQLite keeps its five correlated index searches
            assert summary.count("SEARCH d USING") == 5, summary

        await downgrade_database(empty_db_url, BEFORE)
        assert await current_revision(empty_db_url) == BEFORE
        assert await _schema_objects(engine) == schema
        assert await _view_rows(engine) == rows
        await upgrade_database(empty_db_url, REVISION)
        assert await _view_rows(engine) == rows
    finally:
        await engine.dispose()


# every shipped view filtered by agent, and the index its plan must show
INDEXED = {
    ("decision_outcomes", "agent_id = 1"): "ix_decisions_agent_id_decided_at",
    ("decision_outcomes", "agent_name = 'kept'"): "ix_decisions_agent_id_decided_at",
    ("action_stats_by_hour", "agent_id = 1"): "ix_decisions_agent_id_decided_at",
    ("action_stats_by_hour", "agent_name = 'kept'"): "ix_decisions_agent_id_decided_at",
    ("action_stats_by_spread", "agent_id = 1"): "ix_decisions_agent_id_decided_at",
    ("action_stats_by_spread", "agent_name = 'kept'"): "ix_decisions_agent_id_decided_at",
    ("episode_summary", "agent_id = 1"): "ix_episodes_agent_id",
    ("episode_summary", "agent_name = 'kept'"): "ix_episodes_agent_name",
}


async def test_every_view_filtered_by_agent_searches_an_index(empty_db_url: str) -> None:
    """At head: the plan of each shipped view filtered by agent id or name starts from an
    index on the agent (PostgreSQL with sequential scans disabled: on a few rows it would
    scan anyway), and never scans every decision."""
    await upgrade_database(empty_db_url)
    engine = create_engine(empty_db_url, pool=False)
    try:
        await seed_every_table(engine)
        await _more_rows(engine)
        for (view, where), index in INDEXED.items():
            plan = await _plan(engine, f"SELECT * FROM {view} WHERE {where}")
            assert index in plan, (view, where, plan)
            assert not re.search(r"^SCAN [de]\b|Seq Scan on (decisions|episodes)", plan, re.M), (
                view, where, plan,
            )  # fmt: skip
    finally:
        await engine.dispose()
