"""Analytics views benchmark: every shipped view filtered by agent, on N decisions.

    .venv/bin/python scripts/bench/bench_views.py [--decisions 1000000] [--agents 10]
        [--backend sqlite|postgres|both] [--pg postgresql://postgres@127.0.0.1:5432/test]

Fills a fresh database (migrated to head) with ``--decisions`` decisions spread evenly over
``--agents`` agents (50 decisions per episode, one episode row each), runs ANALYZE, then
times (best of 3) each view filtered by one agent (``WHERE agent_id = 1`` and ``WHERE
agent_name = 'agent-1'``; the target is < 0.5 s on 1M decisions) and ``decision_outcomes
(agg)``, the same view's work aggregated in SQL. Each line splits the time in two:

- **engine**: the query executed inside the database with every output column computed but
  nothing sent to Python. PostgreSQL: ``EXPLAIN (ANALYZE, TIMING OFF)``'s server-side
  ``Execution Time``. SQLite (in-process, no server): the same query wrapped in ``SELECT
  COUNT(col)`` over every output column, which reads and computes every column of every row
  and returns one row;
- **client**: the rest of the wall time of ``fetch`` / ``fetchall`` (total - engine): turning
  the rows into Python objects (Decimal, datetime, str, ...) and, on PostgreSQL, the transfer.

Beside each, baselines measured in the same run: ``raw`` -- the same agent's rows read
straight from ``decisions`` (``SELECT <the view's decision columns> FROM decisions WHERE
agent_id = 1``: no view, no join; the least any query returning those rows can cost), and
``all agents`` -- the same view over every agent (what a view that cannot push the filter
down costs, at least).

On PostgreSQL every query runs with ``jit = on`` (the server default) and ``jit = off``: JIT
compiles plans whose estimated cost is high, a fixed overhead on short analytic queries.
It prints the query plan of each filtered query (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL
``EXPLAIN``) so that index use can be seen, and the load rate of decisions with the
append-only triggers beside the same rows into the same table and indexes without them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from rlexec.records import ACTION_LABELS, DecisionRecord
from rlexec.store.migrate import upgrade_database
from rlexec.store.models import sqlite_time_text
from rlexec.store.repositories import DECISION_COLUMNS, decision_row

PER_EPISODE = 50
T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
VIEWS = ("decision_outcomes", "action_stats_by_hour", "action_stats_by_spread", "episode_summary")
FILTERS = ("agent_id = 1", "agent_name = 'agent-1'")
PREVIOUS_REVISION = "b5b71e82dddf"  # the views as they were before this revision's head
PREFIX = "prev_"  # the previous revision's views are created beside the shipped ones
VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


def queries(prefix: str = "") -> tuple[tuple[str, str], ...]:
    """(label, query with {where}): every view with every row fetched, and decision_outcomes'
    work without moving its 100k rows per agent into Python (columns of every joined table)."""
    tag = f" ({PREVIOUS_REVISION})" if prefix else ""
    return (
        *((f"{view}{tag}", f"SELECT * FROM {prefix}{view} WHERE {{where}}") for view in VIEWS),
        (
            f"decision_outcomes (agg){tag}",
            "SELECT COUNT(*), AVG(child_fill_ratio), COUNT(executor), COUNT(agent_name) "
            f"FROM {prefix}decision_outcomes WHERE {{where}}",
        ),
    )


def previous_views() -> dict[str, str]:
    """The view definitions of revision ``PREVIOUS_REVISION`` (its migration's ``VIEWS``): the
    baseline the shipped views are measured against in the same run."""
    (path,) = VERSIONS.glob(f"*-{PREVIOUS_REVISION}_*.py")
    spec = importlib.util.spec_from_file_location(f"revision_{PREVIOUS_REVISION}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    views: dict[str, str] = module.VIEWS
    return {f"{PREFIX}{name}": sql for name, sql in views.items()}


def records(n: int, agents: int) -> Iterator[tuple[int, str, DecisionRecord]]:
    """(agent id, agent name, decision) for n decisions; agents take episodes in turn."""
    rng = np.random.default_rng(0)
    episodes = n // PER_EPISODE
    actions = rng.integers(0, 6, n)
    q = rng.normal(0, 1, (n, 6))
    remaining = rng.random(n)
    spread_ticks = rng.integers(1, 7, n)
    for e in range(episodes):
        agent = e % agents + 1
        episode_id = str(uuid.UUID(int=e + 1))
        for k in range(PER_EPISODE):
            i = e * PER_EPISODE + k
            label = ACTION_LABELS[int(actions[i])]
            placed = label not in ("Wait", "Cancel")
            yield agent, f"agent-{agent}", DecisionRecord(
                episode_id=episode_id, seq=k + 1, step=5 * k,
                decided_at=T0 + timedelta(seconds=i), remaining_size=float(remaining[i]),
                time_elapsed_pct=k / PER_EPISODE, urgency=1,
                bid_ask_spread=0.01 * int(spread_ticks[i]), orderbook_imbalance=0.0,
                recent_volatility=0.01, queue_depth_at_price=300.0, hour_of_day=9 + k % 7,
                minute_of_hour=k % 60, seconds_since_last_trade=1.0, recent_fill_rate=0.5,
                avg_slippage_last_n=0.2, tick_size=0.01, mid_price=100.0,
                typical_queue_depth=300.0,
                state_key=f"r{int(remaining[i] * 5)}.t{k // 10}.s1.i2.h2.u1.v0.q0",
                state_index=i % 5000, action=label, epsilon=0.1, action_probability=0.9,
                q_values=tuple(float(v) for v in q[i]),  # type: ignore[arg-type]
                explored=bool(i % 10 == 0),
                child_quantity=Decimal(20) if placed else None,
                child_price=Decimal("100.01") if placed else None,
                filled_quantity=Decimal(10 if placed else 0),
                fill_price=Decimal("100.01") if placed else None, fill_rate_reward=0.0,
                slippage_penalty=0.1, time_penalty=0.0, market_impact_penalty=0.0,
                reward_total=-0.1, schedule_action="PlaceSmall", schedule_quantity=Decimal(20),
                greedy_action=label, side="buy", arrival_mid=Decimal(100),
                child_filled_quantity=Decimal(10) if placed else None,
            )  # fmt: skip


def episode_rows(n: int, agents: int, sqlite: bool) -> list[tuple[Any, ...]]:
    out = []
    for e in range(n // PER_EPISODE):
        agent = e % agents + 1
        start = T0 + timedelta(seconds=e * PER_EPISODE)
        end = start + timedelta(seconds=PER_EPISODE)
        times = (sqlite_time_text(start), sqlite_time_text(end)) if sqlite else (start, end)
        money: Callable[[int], Any] = float if sqlite else Decimal
        out.append(
            (str(uuid.UUID(int=e + 1)), agent, f"agent-{agent}", "rl-twap", "training", "lob",
             "buy", money(1000), money(100), e, 250, "h", None, *times, money(900),
             money(100), 1.5, money(100), 0.5, 30, -1.5, True, False, "run", "shortfall", 1,
             249, True)
        )  # fmt: skip
    return out


EPISODE_COLUMNS = (
    "episode_id, agent_id, agent_name, executor, mode, market, side, quantity, arrival_mid, "
    "seed, horizon_steps, config_hash, snapshot_id, started_at, ended_at, filled_by_policy, "
    "avg_price, implementation_shortfall_bps, completion_quantity, completion_cost_bps, "
    "child_orders, total_reward, terminated, truncated, run_id, reward_mode, urgency, "
    "completed_step, forced_completion"
)


def _sqlite_row(agent: int, record: DecisionRecord) -> tuple[Any, ...]:
    row = list(decision_row(agent, record))
    for i, value in enumerate(row):
        if isinstance(value, Decimal):
            row[i] = float(value)
        elif isinstance(value, datetime):
            row[i] = sqlite_time_text(value)
    return tuple(row)


def best_of(runs: int, fn: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def fetch_all(con: sqlite3.Connection, sql: str) -> list[Any]:
    return con.execute(sql).fetchall()


async def best_of_async(runs: int, fn: Callable[[], Awaitable[Any]]) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - t)
    return best


def report(
    label: str, where: str, rows: int, total: float, engine: float, everything: float
) -> None:
    """One line: the filtered query's engine and client time and its total, the engine time of
    the same query over every agent, and the verdict (total, else engine, against 0.5 s)."""
    verdict = "ok" if total < 0.5 else ("engine ok, fetch OVER 0.5 s" if engine < 0.5 else "OVER")
    print(
        f"  {label:<40} {where:<22} {rows:>7} rows | engine {engine * 1000:7.1f} ms + client "
        f"{max(total - engine, 0.0) * 1000:7.1f} ms = {total * 1000:7.1f} ms | all agents: "
        f"engine {everything * 1000:8.1f} ms | {verdict}"
    )


def raw_query(view_columns: list[str], decision_columns: set[str]) -> str:
    """The same agent's rows straight from ``decisions``: the view's columns that are
    ``decisions`` columns, no join (the floor of any query returning those rows)."""
    columns = [c for c in view_columns if c in decision_columns]
    return f"SELECT {', '.join(columns)} FROM decisions WHERE {{where}}"


def sqlite_engine_query(con: sqlite3.Connection, sql: str) -> str:
    """``sql`` with every output column computed inside SQLite and one row returned."""
    names = [d[0] for d in con.execute(f"{sql} LIMIT 0").description]
    counts = ", ".join(f'COUNT("{n}")' for n in names)
    return f"SELECT COUNT(*), {counts} FROM ({sql})"


def bench_sqlite(n: int, agents: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "views.db"
        asyncio.run(upgrade_database(f"sqlite+aiosqlite:///{path}"))
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        now = sqlite_time_text(T0)
        con.executemany(
            "INSERT INTO agents (id, name, config_snapshot, epsilon, updates, q_revision, "
            "created_at, updated_at) VALUES (?, ?, '{}', 0.1, 0, 0, ?, ?)",
            [(a, f"agent-{a}", now, now) for a in range(1, agents + 1)],
        )
        con.executemany(
            f"INSERT INTO episodes ({EPISODE_COLUMNS}) VALUES ({', '.join('?' * 29)})",
            episode_rows(n, agents, sqlite=True),
        )
        insert = (
            f"({', '.join(DECISION_COLUMNS)}) VALUES ({', '.join('?' * len(DECISION_COLUMNS))})"
        )
        # the same table and indexes without the append-only triggers: the baseline load rate
        con.execute("CREATE TABLE decisions_plain AS SELECT * FROM decisions WHERE 0")
        con.execute("CREATE UNIQUE INDEX ux_plain ON decisions_plain (episode_id, seq)")
        for (sql,) in con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'decisions' "
            "AND sql IS NOT NULL"
        ).fetchall():
            con.execute(
                sql.replace("ix_decisions", "ix_plain").replace(
                    "ON decisions ", "ON decisions_plain "
                )
            )
        sample = min(n, 200_000)
        rows = [_sqlite_row(a, r) for a, _, r in itertools.islice(records(n, agents), sample)]
        t = time.perf_counter()
        con.executemany(f"INSERT INTO decisions_plain {insert}", rows)
        con.commit()
        plain = time.perf_counter() - t
        con.execute("DROP TABLE decisions_plain")
        t = time.perf_counter()
        con.executemany(f"INSERT INTO decisions {insert}", rows)
        con.commit()
        with_triggers = time.perf_counter() - t
        del rows
        rest = itertools.islice(records(n, agents), sample, None)
        con.executemany(f"INSERT INTO decisions {insert}", (_sqlite_row(a, r) for a, _, r in rest))
        con.commit()
        print(
            f"SQLite: {n} decisions stored; load rate of the first {sample}: "
            f"{sample / with_triggers:,.0f} rows/s with the append-only triggers | "
            f"{sample / plain:,.0f} rows/s into the same table and indexes without them"
        )
        con.execute("ANALYZE")
        for view, sql in previous_views().items():
            con.execute(f"CREATE VIEW {view} AS {sql}")
        decision_columns = {row[1] for row in con.execute("PRAGMA table_info(decisions)")}
        outcomes = [
            d[0] for d in con.execute("SELECT * FROM decision_outcomes LIMIT 0").description
        ]
        raw = raw_query(outcomes, decision_columns)
        measure_sqlite(con, "raw decisions (baseline)", raw, ("agent_id = 1",))
        for label, template in (*queries(), *queries(PREFIX)):
            measure_sqlite(con, label, template, FILTERS)
        con.close()


def measure_sqlite(
    con: sqlite3.Connection, label: str, template: str, filters: tuple[str, ...]
) -> None:
    every = template.format(where="TRUE")
    everything = best_of(1, lambda: con.execute(sqlite_engine_query(con, every)).fetchall())
    for where in filters:
        sql = template.format(where=where)
        got = len(con.execute(sql).fetchall())
        total = best_of(3, partial(fetch_all, con, sql))
        engine = best_of(3, partial(fetch_all, con, sqlite_engine_query(con, sql)))
        report(label, where, got, total, engine, everything)
        if not label.startswith("raw") and not label.endswith(")"):
            for step in con.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall():
                print(f"      plan: {step[3]}")


async def server_time(con: asyncpg.Connection, sql: str, runs: int = 3) -> float:
    """Best of ``runs`` server-side execution times (s) of ``sql``: EXPLAIN ANALYZE without
    per-node timing (its own overhead; JIT compilation included), nothing sent to the client."""
    best = float("inf")
    for _ in range(runs):
        plan = await con.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}")
        best = min(best, float(json.loads(plan)[0]["Execution Time"]) / 1000.0)
    return best


async def measure_postgres(
    con: asyncpg.Connection, label: str, template: str, filters: tuple[str, ...], plans: bool
) -> None:
    everything = await server_time(con, template.format(where="TRUE"), runs=1)
    for where in filters:
        sql = template.format(where=where)
        got = len(await con.fetch(sql))
        total = await best_of_async(3, partial(con.fetch, sql))
        engine = await server_time(con, sql)
        report(label, where, got, total, engine, everything)
        if plans and not label.startswith("raw") and not label.endswith(")"):
            for step in await con.fetch(f"EXPLAIN {sql}"):
                print(f"      plan: {step[0]}")


async def bench_postgres(n: int, agents: int, admin: str) -> None:
    name = f"rlexec_views_{uuid.uuid4().hex[:8]}"
    con = await asyncpg.connect(admin)
    await con.execute(f'CREATE DATABASE "{name}"')
    await con.close()
    dsn = f"{admin.rsplit('/', 1)[0]}/{name}"
    try:
        await upgrade_database(dsn.replace("postgresql://", "postgresql+asyncpg://"))
        con = await asyncpg.connect(dsn)
        await con.executemany(
            "INSERT INTO agents (id, name, config_snapshot, epsilon, updates, q_revision, "
            "created_at, updated_at) VALUES ($1, $2, '{}', 0.1, 0, 0, $3, $3)",
            [(a, f"agent-{a}", T0) for a in range(1, agents + 1)],
        )
        await con.copy_records_to_table(
            "episodes", records=episode_rows(n, agents, sqlite=False),
            columns=[c.strip() for c in EPISODE_COLUMNS.split(",")],
        )  # fmt: skip
        t = time.perf_counter()
        await con.copy_records_to_table(
            "decisions",
            records=(decision_row(a, r) for a, _, r in records(n, agents)),
            columns=list(DECISION_COLUMNS),
        )
        loaded = time.perf_counter() - t
        print(f"PostgreSQL: {n} decisions loaded by COPY at {n / loaded:,.0f} rows/s")
        await con.execute("ANALYZE")
        for view, sql in previous_views().items():  # (name is the database's)
            await con.execute(f"CREATE VIEW {view} AS {sql}")
        decision_columns = {
            r[0]
            for r in await con.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'decisions'"
            )
        }
        outcomes = [
            a.name for a in (await con.prepare("SELECT * FROM decision_outcomes")).get_attributes()
        ]
        raw = raw_query(outcomes, decision_columns)
        for jit in ("on", "off"):  # PostgreSQL's JIT compiles costly plans: a fixed overhead
            await con.execute(f"SET jit = {jit}")
            print(f"PostgreSQL, jit = {jit}:")
            await measure_postgres(con, "raw decisions (baseline)", raw, ("agent_id = 1",), False)
            for label, template in (*queries(), *queries(PREFIX)):
                await measure_postgres(con, label, template, FILTERS, jit == "on")
        await con.close()
    finally:
        con = await asyncpg.connect(admin)
        await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.decisions < PER_EPISODE or args.agents < 1:
        parser.error(f"--decisions >= {PER_EPISODE} and --agents >= 1 expected")
    print(f"{args.decisions} decisions, {args.agents} agents ({args.decisions // args.agents} "
          "decisions each); times are the best of 3")  # fmt: skip
    if args.backend in ("sqlite", "both"):
        bench_sqlite(args.decisions, args.agents)
    if args.backend in ("postgres", "both"):
        asyncio.run(bench_postgres(args.decisions, args.agents, args.pg))


if __name__ == "__main__":
    main()
