"""Migration b5b71e82dddf upgrades a database holding rows in every table in place (variances
unknown, the new state features NULL, the new buckets 0 and 0 for an 8-part key and NULL for a
key of another form), keeps the append-only triggers of d41c7a9e2b18 word for word (SQLite
rebuilds ``decisions``), adds the append-only ``promotions`` table, and downgrades back to
d41c7a9e2b18 exactly (views, triggers, indexes, functions), keeping every row; on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.records import DecisionRecord
from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import current_revision, downgrade_database, upgrade_database
from rlexec.store.promotions import PromotionRecord, PromotionRepository
from rlexec.store.repositories import (
    AgentRepository,
    ExperienceRepository,
    QValueRepository,
)
from rlexec.store.snapshots import SnapshotRepository
from tests.store import records_factory as rf

BEFORE = "d41c7a9e2b18"
REVISION = "b5b71e82dddf"
KEY = "r1.t2.s1.i2.h3.u1.v0.q1"
TABLES = ("agents", "q_values", "experiences", "configs", "policy_snapshots",
          "policy_snapshot_entries", "episodes", "decisions", "policy_metrics", "urgencies",
          "audit_prunes")  # fmt: skip


def _seed(pg: bool) -> list[str]:
    """Rows in every table of revision d41c7a9e2b18 (urgencies: seeded by that revision)."""

    def at(seconds: int) -> str:
        return (f"'2024-03-01 14:30:{seconds:02d}+00:00'" if pg
                else f"'2024-03-01T14:30:{seconds:02d}.000000+00:00'")  # fmt: skip

    def flag(value: bool) -> str:
        return ("TRUE" if value else "FALSE") if pg else ("1" if value else "0")

    statements = [
        "INSERT INTO agents (id, name, config_snapshot, epsilon, updates, q_revision, "
        "created_at, updated_at, learner, learner_expires_at, transitions_queued, "
        f"transitions_applied, next_training_seed) VALUES (1, 'kept', '{{\"a\": 1}}', 0.2, 7, "
        f"3, {at(0)}, {at(0)}, NULL, NULL, 1, 1, 100)",
        "INSERT INTO q_values (agent_id, state_key, action, q, visits, revision, updated_at) "
        f"VALUES (1, '{KEY}', 'Wait', -0.5, 4, 3, {at(1)})",
        "INSERT INTO experiences (id, agent_id, state_key, action, reward, next_state_key, "
        f"terminated, truncated, created_at, seq) VALUES (1, 1, '{KEY}', 'Wait', 0.5, '{KEY}', "
        f"{flag(False)}, {flag(False)}, {at(2)}, 1)",
        f"INSERT INTO configs (config_hash, config, created_at) VALUES ('h1', '{{\"a\": 1}}', "
        f"{at(3)})",
        "INSERT INTO policy_snapshots (id, agent_id, version, label, created_at, epsilon, "
        f"updates, q_revision, entries) VALUES (1, 1, 1, 'v1', {at(4)}, 0.2, 7, 3, 1)",
        "INSERT INTO policy_snapshot_entries (snapshot_id, state_key, action, q, visits) "
        f"VALUES (1, '{KEY}', 'Wait', -0.5, 4)",
        "INSERT INTO episodes (episode_id, agent_id, agent_name, executor, mode, market, side, "
        "quantity, arrival_mid, seed, horizon_steps, config_hash, snapshot_id, started_at, "
        "ended_at, filled_by_policy, avg_price, implementation_shortfall_bps, "
        "completion_quantity, completion_cost_bps, child_orders, total_reward, terminated, "
        "truncated, run_id, reward_mode, urgency, completed_step, forced_completion) VALUES "
        f"('e1', 1, 'kept', 'rl-twap', 'training', 'equity', 'buy', 2000, 100, 5, 300, 'h1', 1, "
        f"{at(5)}, {at(9)}, 2000, 100.01, 1.5, 0, 0.0, 4, -1.5, {flag(True)}, {flag(False)}, "
        f"'run-1', 'shortfall', 1, 120, {flag(False)})",
        "INSERT INTO policy_metrics (id, agent_id, recorded_at, states_visited, mean_q, "
        "action_distribution, epsilon, estimated_improvement_bps, updates, mode, source, "
        "run_id, greedy_wait, greedy_place_small, greedy_place_medium, greedy_place_large, "
        f"greedy_place_all, greedy_cancel) VALUES (1, 1, {at(20)}, 8, -0.25, "
        f"'{json.dumps({'Wait': 1.0})}', 0.2, NULL, 100, 'training', 'training', 'run-1', 8, "
        "0, 0, 0, 0, 0)",
        "INSERT INTO audit_prunes (id, pruned_before, started_at, finished_at, "
        "decisions_removed, episodes_removed, first_removed_at, last_removed_at) VALUES "
        f"(1, {at(30)}, {at(31)}, {at(32)}, 0, 0, NULL, NULL)",
    ]
    decision = {
        "episode_id": "'e1'", "agent_id": "1", "step": "0", "remaining_size": "0.5",
        "time_elapsed_pct": "0.25", "urgency": "1", "bid_ask_spread": "0.02",
        "orderbook_imbalance": "0.1", "recent_volatility": "0.01",
        "queue_depth_at_price": "300", "hour_of_day": "14", "minute_of_hour": "30",
        "seconds_since_last_trade": "1.5", "recent_fill_rate": "0.5",
        "avg_slippage_last_n": "0.4", "tick_size": "0.01", "mid_price": "100",
        "typical_queue_depth": "300", "state_index": "3", "action": "'PlaceSmall'",
        "epsilon": "0.3", "action_probability": "0.8", "q_wait": "0.0", "q_place_small": "0.0",
        "q_place_medium": "0.0", "q_place_large": "0.0", "q_place_all": "0.0",
        "q_cancel": "0.0", "explored": flag(False), "child_quantity": "100",
        "child_price": "100.05", "filled_quantity": "60", "fill_price": "100.1",
        "fill_rate_reward": "0.6", "slippage_penalty": "0.1", "time_penalty": "0.05",
        "market_impact_penalty": "0.02", "reward_total": "0.43",
        "schedule_action": "'PlaceSmall'", "schedule_quantity": "100",
        "deviated": flag(False), "greedy_action": "'PlaceSmall'", "side": "'buy'",
        "arrival_mid": "100", "slippage_bps": "10.0", "child_filled_quantity": "60",
    }  # fmt: skip
    buckets = ("remaining_bucket", "time_bucket", "spread_bucket", "imbalance_bucket",
               "hour_bucket", "volatility_bucket", "queue_depth_bucket")  # fmt: skip
    for seq, key, parts in ((1, KEY, (1, 2, 1, 2, 3, 0, 1)), (2, "s1", (None,) * 7)):
        row = dict(decision, seq=str(seq), decided_at=at(10 + seq), state_key=f"'{key}'")
        row.update({b: str(p) if p is not None else "NULL"
                    for b, p in zip(buckets, parts, strict=True)})  # fmt: skip
        statements.append(
            f"INSERT INTO decisions ({', '.join(row)}) VALUES ({', '.join(row.values())})"
        )
    return statements


async def seed_every_table(engine: AsyncEngine) -> dict[str, int]:
    """``_seed``'s rows (revision d41c7a9e2b18's tables; later revisions accept them too);
    returns the row count of every table."""
    async with engine.begin() as conn:
        for statement in _seed(engine.dialect.name == "postgresql"):
            await conn.execute(sa.text(statement))
    counts = await _counts(engine)
    assert all(counts.values()), counts
    return counts


async def _all(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(sa.text(sql))).all()]


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    return {t: (await _all(engine, f"SELECT COUNT(*) FROM {t}"))[0][0] for t in TABLES}


async def _schema_objects(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    """Every view, trigger, index (and PostgreSQL function) by kind and name, as the database
    itself writes them out."""
    if engine.dialect.name == "sqlite":
        rows = await _all(
            engine,
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('view', 'trigger', "
            "'index') AND sql IS NOT NULL",
        )
        kinds: dict[str, dict[str, Any]] = {"view": {}, "trigger": {}, "index": {}}
        for kind, name, sql in rows:
            kinds[kind][name] = sql
        return kinds
    return {
        "view": dict(await _all(engine, "SELECT viewname, definition FROM pg_views "
                                        "WHERE schemaname = 'public'")),
        "trigger": {
            name: (definition, enabled)
            for name, definition, enabled in await _all(
                engine,
                "SELECT tgname, pg_get_triggerdef(oid), tgenabled FROM pg_trigger "
                "WHERE NOT tgisinternal",
            )
        },
        "index": dict(await _all(engine, "SELECT indexname, indexdef FROM pg_indexes "
                                         "WHERE schemaname = 'public'")),
        "function": dict(await _all(engine, "SELECT proname, prosrc FROM pg_proc "
                                            "WHERE proname LIKE 'rlexec_%'")),
    }  # fmt: skip


async def _refused(engine: AsyncEngine, sql: str, match: str = "append-only") -> None:
    with pytest.raises(Exception, match=match):
        async with engine.begin() as conn:
            await conn.execute(sa.text(sql))


async def _audit_trail_refuses_changes(engine: AsyncEngine) -> None:
    await _refused(engine, "UPDATE decisions SET action = 'Wait'")
    await _refused(engine, "UPDATE decisions SET agent_id = NULL")
    await _refused(engine, "DELETE FROM decisions")
    if engine.dialect.name == "sqlite":
        await _refused(engine, "INSERT OR REPLACE INTO decisions SELECT * FROM decisions "
                               "WHERE seq = 1")  # fmt: skip
    else:
        await _refused(engine, "TRUNCATE decisions")


def _decision_with_learner_features(seq: int) -> DecisionRecord:
    """A decision of episode e1 with both new state features and no trade seen yet."""
    base = rf.decision("e1", seq)
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    values.update(seconds_since_last_trade=None, resting_share=0.3, schedule_lag=-0.125)
    return DecisionRecord(**values)


async def test_upgrade_in_place_and_downgrade_exactly(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url, BEFORE)
    engine = create_engine(empty_db_url, pool=False)
    pg = engine.dialect.name == "postgresql"
    try:
        counts = await seed_every_table(engine)
        before = await _schema_objects(engine)

        await upgrade_database(empty_db_url, REVISION)
        assert await current_revision(empty_db_url) == REVISION
        assert await _counts(engine) == counts
        rows = await _all(
            engine,
            "SELECT seq, resting_share, schedule_lag, own_orders_bucket, schedule_bucket, "
            "seconds_since_last_trade, remaining_bucket, queue_depth_bucket FROM decisions "
            "ORDER BY seq",
        )
        assert rows == [(1, None, None, 0, 0, 1.5, 1, 1), (2, None, None, None, None, 1.5,
                                                            None, None)]  # fmt: skip
        assert await _all(engine, "SELECT variance FROM q_values") == [(None,)]
        assert await _all(engine, "SELECT variance FROM policy_snapshot_entries") == [(None,)]
        assert await _all(engine, "SELECT next_schedule_action FROM experiences") == [(None,)]
        assert await _all(engine, "SELECT COUNT(*) FROM promotions") == [(0,)]
        outcomes = await _all(
            engine,
            "SELECT own_orders_bucket, schedule_bucket, resting_share, schedule_lag, "
            "child_fill_ratio FROM decision_outcomes ORDER BY seq",
        )
        assert [r[:4] for r in outcomes] == [(0, 0, None, None), (None, None, None, None)]
        assert float(outcomes[0][4]) == pytest.approx(0.6)

        # the audit trail's triggers came through the rebuild word for word, still enabled
        after = await _schema_objects(engine)
        for name, definition in before["trigger"].items():
            assert after["trigger"][name] == definition, name
        assert {n for n in after["trigger"] if n not in before["trigger"]} == (
            {"promotions_no_update", "promotions_no_delete", "promotions_no_truncate"} if pg
            else {"promotions_no_update", "promotions_no_delete", "promotions_no_replace"}
        )  # fmt: skip
        for name, definition in before["index"].items():
            assert after["index"][name] == definition, name
        for name in ("action_stats_by_hour", "action_stats_by_spread", "episode_summary"):
            assert after["view"][name] == before["view"][name], name
        await _audit_trail_refuses_changes(engine)

        # today's repositories read the upgraded rows (unknown variance is NaN)
        async with session_factory(engine)() as session:
            (q,) = await QValueRepository(session).load(1)
            (entry,) = await SnapshotRepository(session).entries(1)
            (experience,) = await ExperienceRepository(session).newest(1, 10)
        assert (q.q, q.visits) == (-0.5, 4) and math.isnan(q.variance)
        assert entry.q == -0.5 and math.isnan(entry.variance)
        assert getattr(experience, "next_schedule_action", None) is None
        # (decisions gained columns since this revision: read with SQL, not today's repository)
        assert await _all(engine, "SELECT seq FROM decisions WHERE episode_id = 'e1' "
                                  "ORDER BY seq") == [(1,), (2,)]  # fmt: skip

        # rows only this revision can hold, then back down
        async with session_factory(engine)() as session, session.begin():
            await rf.append_decisions_as_of(session, 1, [_decision_with_learner_features(3)])
            await PromotionRepository(session).add(1, PromotionRecord(
                promoted=True, reason="beat the base", snapshot_id=1, validation_seed_first=9,
                validation_seed_count=4, base_executor="twap_passive", policy_mean_is_bps=1.0,
                base_mean_is_bps=1.5, mean_difference_bps=-0.5, difference_ci_low_bps=-0.8,
                difference_ci_high_bps=-0.2, episodes_trained=300, config_hash="h1",
            ))  # fmt: skip
        assert await _all(engine, "SELECT seconds_since_last_trade, resting_share, "
                                  "schedule_lag FROM decisions WHERE seq = 3") == [
            (None, 0.3, -0.125)
        ]  # fmt: skip

        await downgrade_database(empty_db_url, BEFORE)
        assert await current_revision(empty_db_url) == BEFORE
        assert await _counts(engine) == {**counts, "decisions": counts["decisions"] + 1}
        assert await _schema_objects(engine) == before
        assert await _all(engine, "SELECT seconds_since_last_trade FROM decisions "
                                  "ORDER BY seq") == [(1.5,), (1.5,), (0.0,)]  # fmt: skip
        await _audit_trail_refuses_changes(engine)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert "promotions" not in names

        await upgrade_database(empty_db_url, REVISION)
        assert await current_revision(empty_db_url) == REVISION
        assert await _all(engine, "SELECT own_orders_bucket, schedule_bucket FROM decisions "
                                  "ORDER BY seq") == [(0, 0), (None, None), (0, 0)]  # fmt: skip
    finally:
        await engine.dispose()


async def test_promotions_cannot_be_rewritten(engine: AsyncEngine) -> None:
    """On a database at head: UPDATE, DELETE, INSERT OR REPLACE / TRUNCATE are refused, and
    neither the agent nor the promoted snapshot can be deleted."""
    async with session_factory(engine)() as session, session.begin():
        agent = await AgentRepository(session).get_or_create("promoter", {}, 0.1)
        snapshot = await SnapshotRepository(session).create(agent.id, "candidate")
        await PromotionRepository(session).add(agent.id, PromotionRecord(
            promoted=True, reason="beat the base", snapshot_id=snapshot.id,
            validation_seed_first=9, validation_seed_count=4, base_executor="twap_passive",
            policy_mean_is_bps=1.0, base_mean_is_bps=1.5, mean_difference_bps=-0.5,
            difference_ci_low_bps=-0.8, difference_ci_high_bps=-0.2, episodes_trained=300,
            config_hash="h1",
        ))  # fmt: skip
    refused = "promotions are append-only"
    await _refused(engine, "UPDATE promotions SET promoted = NOT promoted", refused)
    await _refused(engine, "UPDATE promotions SET agent_id = agent_id", refused)
    await _refused(engine, "DELETE FROM promotions", refused)
    if engine.dialect.name == "sqlite":
        await _refused(engine, "INSERT OR REPLACE INTO promotions SELECT * FROM promotions",
                       refused)  # fmt: skip
    else:
        await _refused(engine, "TRUNCATE promotions", refused)
        await _refused(engine, "TRUNCATE agents CASCADE")  # the audit trail may refuse first
    foreign_key = "FOREIGN KEY|foreign key"
    await _refused(engine, f"DELETE FROM policy_snapshots WHERE id = {snapshot.id}", foreign_key)
    await _refused(engine, "DELETE FROM agents", foreign_key)
    assert await _all(engine, "SELECT COUNT(*), MIN(reason) FROM promotions") == [
        (1, "beat the base")
    ]
