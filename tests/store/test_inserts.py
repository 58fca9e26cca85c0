"""Bulk inserts (``rlexec.store.inserts``): rows are converted before the transaction, and
SQLite gets them as multi-row statements (one call into SQLite per statement, not per row),
on both backends with every row stored in order."""

from __future__ import annotations

import math
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import session_factory
from rlexec.store.inserts import SQLITE_STATEMENT_VALUES, prepare_insert
from rlexec.store.models import Decision, ExperienceRow
from rlexec.store.repositories import (
    DECISION_COLUMNS,
    EXPERIENCE_COLUMNS,
    AgentRepository,
    DecisionRepository,
    EpisodeRepository,
    QEntry,
    QValueRepository,
    append_prepared,
    decision_row,
    experience_rows,
)
from tests.store import records_factory as rf


def _inserts_into(engine: AsyncEngine, table: str) -> list[tuple[int, bool]]:
    """Each INSERT INTO ``table`` the engine sends, as (rows in its text, executemany?) (a list
    it fills)."""
    calls: list[tuple[int, bool]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if statement.startswith(f"INSERT INTO {table} "):
            calls.append((statement.count("), (") + 1, many))

    return calls


async def test_many_rows_are_stored_in_order_in_few_statements(engine: AsyncEngine) -> None:
    per_statement = SQLITE_STATEMENT_VALUES // len(DECISION_COLUMNS)
    n = 2 * per_statement + 7  # two full statements and a partial one
    episode = rf.episode()
    decisions = [rf.decision(episode.episode_id, seq) for seq in range(1, n + 1)]
    calls = _inserts_into(engine, "decisions")
    async with session_factory(engine)() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("agent-a", {}, 0.3)
        await EpisodeRepository(s).append(agent.id, [episode])
        assert await DecisionRepository(s).append(agent.id, decisions) == n
    async with session_factory(engine)() as s:
        stored = await DecisionRepository(s).for_episode(episode.episode_id)
    assert [d.seq for d in stored] == list(range(1, n + 1))
    assert stored[-1] == decisions[-1]
    if engine.dialect.name == "sqlite":  # no executemany: one call into SQLite per statement
        assert calls == [(per_statement, False), (per_statement, False), (7, False)]
        assert math.ceil(n / per_statement) == 3


async def test_rows_are_converted_before_any_session(engine: AsyncEngine) -> None:
    """What the transaction then does is insert: the driver's values are ready."""
    dialect = engine.dialect.name
    record = rf.decision("e-1", 1)
    prepared = prepare_insert(dialect, cast(sa.Table, Decision.__table__), DECISION_COLUMNS,
                              [decision_row(None, record)])  # fmt: skip
    row = dict(zip(prepared.columns, prepared.rows[0], strict=True))
    if dialect == "sqlite":  # SQLAlchemy's types' work, done here: text time, float money
        assert isinstance(row["decided_at"], str)
        assert isinstance(row["child_quantity"], float | type(None))
    else:
        assert row["decided_at"] == record.decided_at


async def test_a_failing_batch_stores_nothing(engine: AsyncEngine) -> None:
    """The multi-row statements are one unit with their transaction: a bad row (a second
    queue position taken twice) rolls the whole batch back."""
    async with session_factory(engine)() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("agent-a", {}, 0.3)
    rows = experience_rows(agent.id, [rf.experience(i) for i in range(3)])
    table = cast(sa.Table, ExperienceRow.__table__)
    prepared = prepare_insert(engine.dialect.name, table, EXPERIENCE_COLUMNS, rows)
    queued = prepared.with_column("seq", [1, 2, 2])
    assert [r[1] for r in queued.rows] == [1, 2, 2] and [r[1] for r in prepared.rows] == [None] * 3
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with session_factory(engine)() as s, s.begin():
            await append_prepared(s, queued)
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM experiences")) == 0


async def test_a_large_q_upsert_inserts_and_overwrites_in_few_statements(
    engine: AsyncEngine,
) -> None:
    """The learner's Q-table upsert: on SQLite multi-row ``INSERT ... ON CONFLICT`` statements
    (no executemany), the same rows stored as on PostgreSQL, a second put overwriting the
    first put's cells and adding new ones."""
    per_statement = SQLITE_STATEMENT_VALUES // 8  # q_values: 8 columns written
    n = 2 * per_statement + 5
    first = [QEntry(f"s{i}", "Wait", float(i), 1, 0.5) for i in range(n)]
    # overwrite every third cell (variance unknown: NULL), add 4 new ones
    second = [QEntry(f"s{i}", "Wait", -float(i), 2) for i in range(0, n, 3)]
    second += [QEntry(f"new{i}", "Cancel", 1.0, 1) for i in range(4)]
    calls = _inserts_into(engine, "q_values")
    async with session_factory(engine)() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("agent-q", {}, 0.3)
        q = QValueRepository(s)
        assert await q.put(agent.id, first, revision=1) == n
        assert await q.put(agent.id, second, revision=2) == len(second)
    async with session_factory(engine)() as s:
        stored = {(r.state_key, r.action): r for r in await QValueRepository(s).load(agent.id)}
    assert len(stored) == n + 4
    for i in range(n):
        row = stored[(f"s{i}", "Wait")]
        if i % 3 == 0:
            assert (row.q, row.visits, row.revision) == (-float(i), 2, 2)
            assert math.isnan(row.variance)
        else:
            assert (row.q, row.visits, row.revision, row.variance) == (float(i), 1, 1, 0.5)
    assert stored[("new3", "Cancel")].q == 1.0
    if engine.dialect.name == "sqlite":
        assert calls == [(per_statement, False), (per_statement, False), (5, False),
                         (len(second), False)]  # fmt: skip
