"""Store benchmark: flush throughput beside the raw driver, and decision latency during a flush.

    .venv/bin/python scripts/bench/bench_store.py [--rows 100000] [--pg URL]

1. Q-value upserts: ``QValueRepository.put`` (absolute ON CONFLICT DO UPDATE, chunked
   executemany) vs raw ``sqlite3`` executemany of the same SQL on the same rows.
2. Decision rows: ``DecisionRepository.append`` vs raw ``sqlite3`` executemany; on PostgreSQL vs
   asyncpg ``copy_records_to_table`` of the same rows.
3. p99 latency of ``QTableAgent.select_action`` while an ``AgentStore.flush`` of N Q rows +
   N decisions is in progress, beside the same figure with no flush.
Targets: >= 70% of raw sqlite3, >= 50% of asyncpg COPY.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import numpy as np

from rlexec.config import PersistenceConfig, QLearningConfig, StateConfig
from rlexec.records import ACTION_LABELS
from rlexec.rl.q_learning import QTableAgent
from rlexec.rl.types import ExecutionState, Urgency
from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import upgrade_database
from rlexec.store.models import sqlite_time_text
from rlexec.store.repositories import (
    DECISION_COLUMNS,
    AgentRepository,
    DecisionRepository,
    QEntry,
    QValueRepository,
    decision_row,
)
from rlexec.store.write_behind import AgentStore

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root, for tests/
from tests.store import records_factory as rf

Q_SQL = (
    "INSERT INTO q_values (agent_id, state_key, action, q, visits, revision, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, state_key, action) DO UPDATE SET "
    "q = excluded.q, visits = excluded.visits, "
    "revision = excluded.revision, updated_at = excluded.updated_at"
)


def q_entries(n: int) -> list[QEntry]:
    return [QEntry(f"r{i // 6}.t0", ACTION_LABELS[i % 6], 0.5, 1) for i in range(n)]


def decisions(n: int) -> list:  # type: ignore[type-arg]
    ep = str(uuid.uuid4())
    return [rf.decision(ep, i) for i in range(n)]


async def fresh(url: str) -> None:
    await upgrade_database(url)


async def repo_q(url: str, entries: list[QEntry]) -> float:
    engine = create_engine(url)
    async with session_factory(engine)() as s, s.begin():
        agent = await AgentRepository(s).get_or_create("bench", {}, 0.3)
    t = time.perf_counter()
    async with session_factory(engine)() as s, s.begin():
        await QValueRepository(s).put(agent.id, entries, revision=1)
    dt = time.perf_counter() - t
    await engine.dispose()
    return len(entries) / dt


async def repo_decisions(url: str, rows: list) -> float:  # type: ignore[type-arg]
    engine = create_engine(url)
    t = time.perf_counter()
    async with session_factory(engine)() as s, s.begin():
        await DecisionRepository(s).append(None, rows)
    dt = time.perf_counter() - t
    await engine.dispose()
    return len(rows) / dt


def raw_sqlite_q(path: str, entries: list[QEntry]) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "INSERT INTO agents (name, config_snapshot, epsilon, updates, q_revision, "
        "created_at, updated_at) VALUES ('raw', '{}', 0.3, 0, 0, '2024-01-01', '2024-01-01')"
    )
    agent_id = con.execute("SELECT id FROM agents WHERE name='raw'").fetchone()[0]
    con.commit()
    stamp = "2024-01-01 00:00:00.000000"
    t = time.perf_counter()
    rows = [(agent_id, e.state_key, e.action, e.q, e.visits, 1, stamp) for e in entries]
    con.executemany(Q_SQL, rows)
    con.commit()
    dt = time.perf_counter() - t
    con.close()
    return len(entries) / dt


def raw_sqlite_decisions(path: str, recs: list) -> float:  # type: ignore[type-arg]
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    sql = (
        f"INSERT INTO decisions ({', '.join(DECISION_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(DECISION_COLUMNS))})"
    )
    t = time.perf_counter()
    rows = [_decision_tuple(r) for r in recs]
    con.executemany(sql, rows)
    con.commit()
    dt = time.perf_counter() - t
    con.close()
    return len(recs) / dt


def _decision_tuple(r, *, sqlite: bool = True) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    row = list(decision_row(None, r))
    if sqlite:  # what the repository's SQLite fast path converts
        for i, value in enumerate(row):
            if isinstance(value, Decimal):
                row[i] = float(value)
            elif isinstance(value, datetime):
                row[i] = sqlite_time_text(value)
    return tuple(row)


async def raw_copy_decisions(dsn: str, recs: list) -> float:  # type: ignore[type-arg]
    con = await asyncpg.connect(dsn)
    t = time.perf_counter()
    rows = [_decision_tuple(r, sqlite=False) for r in recs]
    async with con.transaction():
        await con.copy_records_to_table("decisions", records=rows, columns=list(DECISION_COLUMNS))
    dt = time.perf_counter() - t
    await con.close()
    return len(recs) / dt


async def pg_database(admin: str) -> tuple[str, str]:
    name = f"rlexec_bench_{uuid.uuid4().hex[:8]}"
    con = await asyncpg.connect(admin)
    await con.execute(f'CREATE DATABASE "{name}"')
    await con.close()
    base = admin.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://"), f"{base}/{name}"


async def drop_pg(admin: str, dsn: str) -> None:
    con = await asyncpg.connect(admin)
    await con.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    await con.close()


async def latency(url: str, n: int) -> tuple[float, float, float]:
    state_cfg = StateConfig(include_volatility=True, include_queue_depth=True)
    agent = QTableAgent(QLearningConfig(), state_cfg, seed=1)
    engine = create_engine(url)
    store = AgentStore(agent, engine, agent_name="lat", persistence=PersistenceConfig())
    await store.load()
    rng = np.random.default_rng(0)
    states = [
        ExecutionState(
            float(rng.random()),
            float(rng.random()),
            Urgency.NORMAL,
            0.02,
            float(rng.uniform(-1, 1)),
            0.01,
            300.0,
            14,
            30,
            1.0,
            0.5,
            0.0,
        )
        for _ in range(1000)
    ]

    async def decide_loop(stop: asyncio.Event) -> list[float]:
        out = []
        i = 0
        # latency of a decision as the caller sees it: from yielding to the event loop (where
        # a flush may run its synchronous parts) to having the action
        while not stop.is_set() or i < 2000:
            t = time.perf_counter()
            await asyncio.sleep(0)
            await agent.select_action(states[i % 1000])
            out.append(time.perf_counter() - t)
            i += 1
            if i > 500_000:
                break
        return out

    stop = asyncio.Event()
    stop.set()
    idle = await decide_loop(stop)
    flat = rng.choice(agent.q_values.size, size=n, replace=False)
    agent.q_values.reshape(-1)[flat] += 0.1
    agent.visits.reshape(-1)[flat] += 1
    # the cells the agent changed: the flush hands them over (take_snapshot) and publishes them
    agent._dirty.update(int(cell) for cell in flat)
    for r in decisions(n):
        store.append_decision(r)
    stop = asyncio.Event()
    task = asyncio.create_task(decide_loop(stop))
    t = time.perf_counter()
    await store.flush()
    flush_secs = time.perf_counter() - t
    stop.set()
    busy = await task
    await engine.dispose()
    return float(np.percentile(idle, 99)) * 1e6, float(np.percentile(busy, 99)) * 1e6, flush_secs


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    n = args.rows
    entries, recs = q_entries(n), decisions(n)
    with tempfile.TemporaryDirectory() as tmp:
        raw_path, repo_path = str(Path(tmp) / "raw.db"), str(Path(tmp) / "repo.db")
        await fresh(f"sqlite+aiosqlite:///{raw_path}")
        await fresh(f"sqlite+aiosqlite:///{repo_path}")
        raw_q = raw_sqlite_q(raw_path, entries)
        ours_q = await repo_q(f"sqlite+aiosqlite:///{repo_path}", entries)
        raw_d = raw_sqlite_decisions(raw_path, recs)
        ours_d = await repo_decisions(f"sqlite+aiosqlite:///{repo_path}", recs)
        print(
            f"SQLite  Q upserts   {n} rows: rlexec {ours_q:10,.0f} rows/s | raw sqlite3 "
            f"{raw_q:10,.0f} rows/s | {ours_q / raw_q:5.0%} (target >= 70%)"
        )
        print(
            f"SQLite  decisions   {n} rows: rlexec {ours_d:10,.0f} rows/s | raw sqlite3 "
            f"{raw_d:10,.0f} rows/s | {ours_d / raw_d:5.0%} (target >= 70%)"
        )
        lat_path = f"sqlite+aiosqlite:///{Path(tmp) / 'lat.db'}"
        await fresh(lat_path)
        idle, busy, secs = await latency(lat_path, n)
        print(
            f"SQLite  select_action p99: {idle:7.1f} us idle | {busy:7.1f} us during a flush of "
            f"{n} Q rows + {n} decisions ({secs:.2f} s)"
        )
    url, dsn = await pg_database(args.pg)
    try:
        await fresh(url)
        raw_c = await raw_copy_decisions(dsn, decisions(n))  # other episode ids (append-only)
        ours_q = await repo_q(url, entries)
        ours_d = await repo_decisions(url, recs)
        print(f"Postgres Q upserts  {n} rows: rlexec {ours_q:10,.0f} rows/s")
        print(
            f"Postgres decisions  {n} rows: rlexec {ours_d:10,.0f} rows/s | asyncpg COPY "
            f"{raw_c:10,.0f} rows/s | {ours_d / raw_c:5.0%} (target >= 50%)"
        )
        idle, busy, secs = await latency(url, n)
        print(
            f"Postgres select_action p99: {idle:7.1f} us idle | {busy:7.1f} us during a flush "
            f"of {n} Q rows + {n} decisions ({secs:.2f} s)"
        )
    finally:
        await drop_pg(args.pg, dsn)


if __name__ == "__main__":
    asyncio.run(main())
