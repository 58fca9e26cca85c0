"""The audit trail is append-only on both backends, and retention is ``rlexec db prune``.

Refused: UPDATE of any column (agent_id included), DELETE, SQLite INSERT OR REPLACE,
PostgreSQL INSERT .. ON CONFLICT DO UPDATE and TRUNCATE, deleting an agent with decisions.
Allowed: appending, and a prune, which removes whole old episodes with their decisions and logs
itself in ``audit_prunes`` (which in turn refuses deletion and changes of a finished prune).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.analytics.retention import prune_audit_trail
from rlexec.cli.main import main
from rlexec.store.engine import session_factory
from rlexec.store.repositories import AgentRepository, DecisionRepository, EpisodeRepository
from tests.store import records_factory as rf

REFUSED = "append-only"


async def _store_episodes(engine: AsyncEngine, starts: list[int]) -> list[str]:
    """One episode per start (minutes after T0, 5 minutes long) with 3 decisions each."""
    ids = []
    async with session_factory(engine)() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("agent-a", {}, 0.3)
        for minutes in starts:
            start = rf.T0 + timedelta(minutes=minutes)
            episode = dataclasses.replace(
                rf.episode(), started_at=start, ended_at=start + timedelta(minutes=5)
            )
            decisions = [
                dataclasses.replace(rf.decision(episode.episode_id, seq),
                                    decided_at=start + timedelta(minutes=seq))
                for seq in (1, 2, 3)
            ]  # fmt: skip
            await EpisodeRepository(s).append(agent.id, [episode])
            await DecisionRepository(s).append(agent.id, decisions)
            ids.append(episode.episode_id)
    return ids


async def _refused(engine: AsyncEngine, sql: str, match: str = REFUSED) -> None:
    with pytest.raises(Exception, match=match):
        async with engine.begin() as conn:
            await conn.execute(sa.text(sql))


async def _count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.text(sql)) or 0)


async def test_history_cannot_be_rewritten(engine: AsyncEngine) -> None:
    (episode_id,) = await _store_episodes(engine, [0])
    sqlite = engine.dialect.name == "sqlite"
    for table in ("decisions", "episodes"):
        await _refused(engine, f"UPDATE {table} SET agent_id = NULL")
        await _refused(engine, f"UPDATE {table} SET side = 'sell'")
        await _refused(engine, f"DELETE FROM {table}")
        await _refused(engine, f"DELETE FROM {table} WHERE episode_id = '{episode_id}'")
        if sqlite:
            await _refused(
                engine,
                f"INSERT OR REPLACE INTO {table} SELECT * FROM {table} "
                f"WHERE episode_id = '{episode_id}'",
            )
        else:
            await _refused(engine, f"TRUNCATE {table}")
            await _refused(engine, f"TRUNCATE {table} CASCADE")
    key = "(episode_id, seq)"
    if not sqlite:  # an upsert is an UPDATE of the existing row
        await _refused(
            engine,
            f"INSERT INTO decisions SELECT * FROM decisions WHERE episode_id = '{episode_id}' "
            f"ON CONFLICT {key} DO UPDATE SET action = 'Wait'",
        )
    await _refused(engine, "DELETE FROM agents")  # ON DELETE SET NULL would update decisions
    assert await _count(engine, "SELECT COUNT(*) FROM decisions") == 3
    assert await _count(engine, "SELECT COUNT(*) FROM episodes") == 1
    assert await _count(engine, "SELECT COUNT(*) FROM decisions WHERE action = 'Wait'") == 0
    # appending goes on
    await _store_episodes(engine, [10])
    assert await _count(engine, "SELECT COUNT(*) FROM decisions") == 6


async def test_prune_removes_whole_old_episodes_and_logs_itself(engine: AsyncEngine) -> None:
    old, straddling, new = await _store_episodes(engine, [0, 30, 120])
    # decisions of the straddling episode: 31, 32, 33 minutes; it ends at 35
    before = rf.T0 + timedelta(minutes=33)
    dry = await prune_audit_trail(engine, before, dry_run=True)
    assert (dry.episodes, dry.decisions, dry.prune_id) == (1, 3, None)
    assert await _count(engine, "SELECT COUNT(*) FROM decisions") == 9
    assert await _count(engine, "SELECT COUNT(*) FROM audit_prunes") == 0

    done = await prune_audit_trail(engine, before)
    assert (done.episodes, done.decisions) == (1, 3)
    assert done.first_removed_at == rf.T0 + timedelta(minutes=1)
    assert done.last_removed_at == rf.T0 + timedelta(minutes=3)
    assert "removed 1 episodes and 3 decisions" in done.describe()
    async with engine.connect() as conn:
        left = {r[0] for r in await conn.execute(sa.text("SELECT episode_id FROM decisions"))}
        log = (await conn.execute(sa.text(
            "SELECT decisions_removed, episodes_removed, finished_at IS NOT NULL, id "
            "FROM audit_prunes"
        ))).all()  # fmt: skip
    assert left == {straddling, new}  # the straddling episode keeps its early decisions
    assert [tuple(r[:3]) for r in log] == [(3, 1, True)]
    assert log[0][3] == done.prune_id

    # the log is permanent; after the prune, deletes are refused again
    await _refused(engine, "DELETE FROM audit_prunes", "retention log")
    await _refused(engine, "UPDATE audit_prunes SET decisions_removed = 0", "retention log")
    await _refused(engine, "DELETE FROM decisions")
    if engine.dialect.name == "postgresql":
        await _refused(engine, "TRUNCATE audit_prunes", "retention log")
    assert old not in left


async def test_db_prune_command(
    db_url: str, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    await _store_episodes(engine, [0, 600])
    before = (rf.T0 + timedelta(minutes=60)).isoformat()
    code = await asyncio.to_thread(main, ["--database-url", db_url, "db", "prune",
                                          "--before", before, "--dry-run"])  # fmt: skip
    assert code == 0 and "would remove 1 episodes and 3 decisions" in capsys.readouterr().out
    code = await asyncio.to_thread(main, ["--database-url", db_url, "db", "prune",
                                          "--before", before])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "removed 1 episodes and 3 decisions" in out and "audit_prunes id" in out
    assert await _count(engine, "SELECT COUNT(*) FROM episodes") == 1
