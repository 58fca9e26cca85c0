"""Migration d41c7a9e2b18 upgrades a database holding rows in every table in place, fills the
new columns where the old rows prove them (NULL elsewhere), and downgrades back to
cc4de567fc6d keeping every row; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import (
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from rlexec.store.repositories import DecisionRepository, EpisodeRepository

BEFORE = "cc4de567fc6d"
REVISION = "d41c7a9e2b18"
Q0 = (0.0,) * 6


def _seed(dialect: str) -> list[str]:
    """Rows in every table of revision cc4de567fc6d, written as plain SQL."""
    pg = dialect == "postgresql"

    def at(seconds: int) -> str:  # the old SQLite text form; an explicit UTC offset on PG
        text = f"2024-03-01 14:30:{seconds:02d}.000000"
        return f"'{text}+00:00'" if pg else f"'{text}'"

    def flag(value: bool) -> str:
        return ("TRUE" if value else "FALSE") if pg else ("1" if value else "0")

    statements = [
        "INSERT INTO agents (id, name, config_snapshot, epsilon, updates, q_revision, created_at, "
        f'updated_at) VALUES (1, \'kept\', \'{{"reward": {{"mode": "original"}}}}\', 0.2, 7, 3, '
        f"{at(0)}, '2024-01-01 00:00:00{'+00:00' if pg else ''}')",
        "INSERT INTO q_values (agent_id, state_key, action, q, visits, revision, updated_at) "
        f"VALUES (1, 'r1.t1.s1.i1.h1.u1.v0.q0', 'Wait', -0.5, 4, 3, {at(1)})",
        "INSERT INTO experiences (id, agent_id, state_key, action, reward, next_state_key, "
        f"terminated, truncated, created_at) VALUES (1, 1, 'a', 'Wait', 0.5, 'b', {flag(True)}, "
        f"{flag(False)}, {at(2)})",
        f"INSERT INTO configs (config_hash, config, created_at) VALUES ('h1', '{{\"a\": 1}}', "
        f"{at(3)})",
        "INSERT INTO policy_snapshots (id, agent_id, version, label, created_at, epsilon, "
        f"updates, q_revision, entries) VALUES (1, 1, 1, 'v1', {at(4)}, 0.2, 7, 3, 1)",
        "INSERT INTO policy_snapshot_entries (snapshot_id, state_key, action, q, visits) "
        "VALUES (1, 'r1.t1.s1.i1.h1.u1.v0.q0', 'Wait', -0.5, 4)",
    ]
    columns = (
        "episode_id, agent_id, agent_name, executor, mode, market, side, quantity, arrival_mid, "
        "seed, horizon_steps, config_hash, snapshot_id, started_at, ended_at, filled_by_policy, "
        "avg_price, implementation_shortfall_bps, completion_quantity, completion_cost_bps, "
        "child_orders, total_reward, terminated, truncated"
    )
    for episode, agent, executor, completion in (
        ("e-rl", "1", "rl-twap", "100"), ("e-base", "NULL", "twap", "0")
    ):  # fmt: skip
        statements.append(
            f"INSERT INTO episodes ({columns}) VALUES ('{episode}', {agent}, 'kept', "
            f"'{executor}', 'training', 'equity', 'sell', 2000, 100, 5, 300, 'h1', 1, {at(5)}, "
            f"{at(9)}, {2000 - int(completion)}, 100.01, 1.5, {completion}, 0.5, 4, -1.5, "
            f"{flag(True)}, {flag(False)})"
        )
    d_columns = (
        "episode_id, seq, agent_id, step, decided_at, remaining_size, time_elapsed_pct, urgency, "
        "bid_ask_spread, orderbook_imbalance, recent_volatility, queue_depth_at_price, "
        "hour_of_day, minute_of_hour, seconds_since_last_trade, recent_fill_rate, "
        "avg_slippage_last_n, tick_size, mid_price, typical_queue_depth, state_key, state_index, "
        "action, epsilon, action_probability, q_wait, q_place_small, q_place_medium, "
        "q_place_large, q_place_all, q_cancel, explored, child_quantity, child_price, "
        "filled_quantity, fill_price, fill_rate_reward, slippage_penalty, time_penalty, "
        "market_impact_penalty, reward_total"
    )
    decisions = [  # episode, seq, urgency, key, action, q, explored, fill price
        ("e-rl", 1, 2, "r3.t10.s1.i2.h2.u2.v0.q1", "PlaceMedium", (0, 0, 1, 0, 0, 0), False,
         "100.1"),
        ("e-rl", 2, 2, "r3.t9.s1.i2.h2.u2.v0.q0", "PlaceSmall", (1, 1, 0, 0, 0, 0), False, None),
        ("e-rl", 3, 2, "r2.t8.s1.i2.h2.u2.v0.q0", "Wait", Q0, False, None),
        ("e-rl", 4, 2, "r2.t7.s1.i2.h2.u2.v0.q0", "Wait", (0, 0, 0, 0, 0, 2), True, "99.95"),
        ("e-rl", 5, 2, "r1.t6.s1.i2.h2.u2.v0.q0", "Cancel", (1, 1, 0, 0, 0, 0), True, None),
        ("e-missing", 1, 1, "s1", "PlaceAll", (0, 0, 0, 0, 3, 0), False, "100.2"),
    ]  # fmt: skip
    for episode, seq, urgency, key, action, q, explored, fill in decisions:
        placed = action.startswith("Place")
        statements.append(
            f"INSERT INTO decisions ({d_columns}) VALUES ('{episode}', {seq}, 1, {seq * 5}, "
            f"{at(10 + seq)}, 0.5, 0.25, {urgency}, 0.02, 0.1, 0.01, 300, 14, 30, 1.5, 0.5, 0.4, "
            f"0.01, 100, 300, '{key}', {seq}, '{action}', 0.3, 0.8, "
            f"{', '.join(str(float(v)) for v in q)}, {flag(explored)}, "
            f"{'100' if placed else 'NULL'}, {'100.05' if placed else 'NULL'}, "
            f"{'60' if fill else '0'}, {fill or 'NULL'}, 0.6, 0.1, 0.05, 0.02, 0.43)"
        )
    m_columns = (
        "id, agent_id, recorded_at, states_visited, mean_q, action_distribution, epsilon, "
        "estimated_improvement_bps, updates"
    )
    for i, improvement in ((1, "1.5"), (2, "NULL")):
        distribution = json.dumps({"Wait": 0.25, "PlaceAll": 0.75})
        statements.append(
            f"INSERT INTO policy_metrics ({m_columns}) VALUES ({i}, 1, {at(20 + i)}, 8, -0.25, "
            f"'{distribution}', {0.0 if i == 1 else 0.2}, {improvement}, {100 * i})"
        )
    return statements


async def _all(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(sa.text(sql))).all()]


def _b(value: object) -> object:
    return None if value is None else bool(value)


async def test_upgrade_fills_what_old_rows_prove_and_downgrade_keeps_them(
    empty_db_url: str,
) -> None:
    await upgrade_database(empty_db_url, BEFORE)
    engine = create_engine(empty_db_url, pool=False)
    pg = engine.dialect.name == "postgresql"
    try:
        async with engine.begin() as conn:
            for statement in _seed(engine.dialect.name):
                await conn.execute(sa.text(statement))
        counts_before = {
            t: (await _all(engine, f"SELECT COUNT(*) FROM {t}"))[0][0]
            for t in ("agents", "q_values", "experiences", "configs", "policy_snapshots",
                      "policy_snapshot_entries", "episodes", "decisions", "policy_metrics")
        }  # fmt: skip
        assert all(counts_before.values())

        await upgrade_database(empty_db_url, REVISION)
        assert await current_revision(empty_db_url) == REVISION
        rows = await _all(
            engine,
            "SELECT episode_id, seq, greedy_action, schedule_action, deviated, side, "
            "arrival_mid, slippage_bps, remaining_bucket, time_bucket, queue_depth_bucket, "
            "schedule_quantity, child_filled_quantity FROM decisions ORDER BY episode_id, seq",
        )
        got = {(r[0], r[1]): (r[2], r[3], _b(r[4]), r[5]) for r in rows}
        assert got == {
            ("e-missing", 1): ("PlaceAll", None, None, None),  # no episode row: side unknown
            ("e-rl", 1): ("PlaceMedium", None, None, "sell"),  # unique max: schedule unproven
            ("e-rl", 2): ("PlaceSmall", "PlaceSmall", False, "sell"),  # tied with Wait
            ("e-rl", 3): ("Wait", "Wait", False, "sell"),  # all six equal
            ("e-rl", 4): ("Cancel", None, None, "sell"),  # explored: the unique argmax
            ("e-rl", 5): (None, None, None, "sell"),  # explored, tied maximum
        }
        by_key = {(r[0], r[1]): r for r in rows}
        first = by_key[("e-rl", 1)]
        assert float(first[6]) == 100.0
        assert first[7] == pytest.approx(-10.0)  # sold at 100.1 vs mid 100: a gain of 10 bps
        assert by_key[("e-rl", 4)][7] == pytest.approx(5.0)  # sold at 99.95: a 5 bps cost
        assert by_key[("e-missing", 1)][7] is None
        assert (first[8], first[9], first[10]) == (3, 10, 1)
        assert by_key[("e-missing", 1)][8:11] == (None, None, None)
        assert all(r[11] is None and r[12] is None for r in rows)  # never logged

        episodes = await _all(
            engine,
            "SELECT episode_id, urgency, completed_step, forced_completion, run_id, reward_mode "
            "FROM episodes ORDER BY episode_id",
        )
        assert [(r[0], r[1], r[2], _b(r[3]), r[4], r[5]) for r in episodes] == [
            ("e-base", None, None, False, None, None),
            ("e-rl", 2, 299, True, None, None),
        ]
        metrics = await _all(
            engine,
            "SELECT id, mode, source, run_id, greedy_wait, greedy_place_small, greedy_place_all "
            "FROM policy_metrics ORDER BY id",
        )
        assert metrics == [
            (1, "evaluation", "evaluation", None, 2, 0, 6),
            (2, None, None, None, 2, 0, 6),
        ]
        assert await _all(engine, "SELECT urgency, name FROM urgencies ORDER BY urgency") == [
            (0, "low"), (1, "normal"), (2, "high")
        ]  # fmt: skip
        if pg:
            types = await _all(
                engine,
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE column_name IN ('config_snapshot', 'config', 'action_distribution') "
                "ORDER BY table_name",
            )
            assert {r[2] for r in types} == {"jsonb"} and len(types) == 3
        else:
            assert await _all(engine, "SELECT decided_at FROM decisions WHERE seq = 1 "
                                      "AND episode_id = 'e-rl'") == [
                ("2024-03-01T14:30:11.000000+00:00",)
            ]  # fmt: skip
            assert await _all(engine, "SELECT updated_at FROM agents") == [
                ("2024-01-01T00:00:00.000000+00:00",)
            ]
            assert await _all(engine, "SELECT DISTINCT typeof(quantity) FROM episodes") == [
                ("real",)
            ]
        await upgrade_database(empty_db_url)  # the repositories need today's schema
        async with session_factory(engine)() as session:
            stored = await EpisodeRepository(session).get("e-rl")
            decisions = await DecisionRepository(session).for_episode("e-rl")
        assert stored is not None and stored.forced_completion and stored.urgency == 2
        assert stored.quantity == Decimal(2000) and stored.started_at.tzinfo is not None
        assert [d.greedy_action for d in decisions][:2] == ["PlaceMedium", "PlaceSmall"]
        assert decisions[1].deviated is False and decisions[0].deviated is None

        await downgrade_database(empty_db_url, BEFORE)
        assert await current_revision(empty_db_url) == BEFORE
        for table, n in counts_before.items():
            assert (await _all(engine, f"SELECT COUNT(*) FROM {table}"))[0][0] == n, table
        outcome = await _all(engine, "SELECT child_fill_ratio FROM decision_outcomes "
                                     "WHERE episode_id = 'e-rl' AND seq = 1")  # fmt: skip
        # the old view is back, with its SQLite integer division (60 / 100) on NUMERIC again
        assert float(outcome[0][0]) == pytest.approx(0.6 if pg else 0.0)
        if not pg:
            assert await _all(engine, "SELECT updated_at FROM agents") == [
                ("2024-01-01 00:00:00.000000",)
            ]
        with pytest.raises(Exception, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(sa.text("UPDATE decisions SET action = 'Wait'"))
        await upgrade_database(empty_db_url)
        assert await current_revision(empty_db_url) == head_revision()
    finally:
        await engine.dispose()
