"""Variances through the store (Q sync/publish, snapshots, the model file in and out of the
store), the decisions' new state columns, experiences' next schedule action, and promotions
(repository, engine helpers, checks, the CLI); real QTableAgent, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.cli.main import main
from rlexec.config import PersistenceConfig, QLearningConfig, StateConfig, parse_config
from rlexec.errors import InvalidInputError
from rlexec.records import DecisionRecord, ExperienceRecord
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.engine import session_factory
from rlexec.store.model_file import export_model, import_agent_into_store, import_model
from rlexec.store.promotions import (
    PromotionRecord,
    PromotionRepository,
    latest_promoted_snapshot_of,
    list_promotions,
    record_promotion,
)
from rlexec.store.repositories import (
    AgentRepository,
    DecisionRepository,
    ExperienceRepository,
    QEntry,
    QValueRepository,
    state_key_buckets,
)
from rlexec.store.snapshots import (
    SnapshotRepository,
    create_snapshot,
    export_snapshot,
    load_snapshot_policy,
    restore_snapshot,
)
from rlexec.store.write_behind import AgentStore, Role
from tests.store import records_factory as rf

PERSIST = PersistenceConfig(save_interval_secs=3600)


def real_agent(seed: int = 0) -> QTableAgent:
    return QTableAgent(QLearningConfig(), StateConfig(), seed=seed)


def learn(agent: QTableAgent) -> QTableAgent:
    """One update of every cell of states 0-49 (dirty: the next flush publishes them), and
    variances known on the even states (0.0 included), unknown (NaN) on the odd ones. (An
    update sets a cell's variance from its targets, so the unknown ones are set by hand.)"""
    for s in range(50):
        for a in range(6):
            agent.update_index(s, a, 1.0 + a, (s + 1) % 50, False)
    agent.variances[:50:2] = np.linspace(0.0, 2.0, 25)[:, None]
    agent.variances[1:50:2] = np.nan
    return agent


async def _all(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(sa.text(sql))).all()]


# ---- variances -------------------------------------------------------------------------------


async def test_variances_round_trip_through_the_store(engine: AsyncEngine) -> None:
    agent = real_agent(seed=1)
    store = AgentStore(agent, engine, agent_name="var", persistence=PERSIST)
    await store.load()
    learn(agent)
    await store.close()
    # NaN is stored as NULL (not as PostgreSQL's NaN), a known 0.0 as 0.0
    known = await _all(engine, "SELECT COUNT(*) FROM q_values WHERE variance IS NOT NULL")
    unknown = await _all(engine, "SELECT COUNT(*) FROM q_values WHERE variance IS NULL")
    assert known == [(25 * 6,)] and unknown == [(25 * 6,)]
    assert await _all(engine, "SELECT MIN(variance) FROM q_values") == [(0.0,)]

    for role in (Role.LEARNER, Role.READER, Role.ACTOR):
        again = real_agent(seed=2)
        again.variances[:] = 5.0  # replaced by what the store holds, NaN included
        other = AgentStore(again, engine, agent_name="var", persistence=PERSIST, role=role)
        await other.load()
        await other.close()
        np.testing.assert_array_equal(again.variances, agent.variances)
        np.testing.assert_array_equal(again.q_values, agent.q_values)


async def test_variances_in_snapshots_and_their_model_file(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    agent = real_agent(seed=1)
    store = AgentStore(agent, engine, agent_name="snap", persistence=PERSIST)
    await store.load()
    learn(agent).variances[:50:2] = 0.5
    await store.close()
    row = await create_snapshot(engine, "snap", "with variances")
    async with session_factory(engine)() as session:
        entries = await SnapshotRepository(session).entries(row.id)
    assert sum(1 for e in entries if e.variance == 0.5) == 25 * 6
    _, table = await load_snapshot_policy(engine, row.id, StateConfig())
    np.testing.assert_array_equal(table.variances, agent.variances)

    restored = real_agent(seed=3)
    assert (await restore_snapshot(engine, row.id, restored)).id == row.id
    np.testing.assert_array_equal(restored.variances, agent.variances)
    np.testing.assert_array_equal(restored.visits, agent.visits)
    assert restored.updates == agent.updates

    path = tmp_path / "snap.json"
    assert await export_snapshot(engine, row.id, path, StateConfig()) == 50 * 6
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 2 and {len(e) for e in doc["entries"]} == {5}
    assert sum(1 for e in doc["entries"] if e[4] is None) == 25 * 6
    imported = real_agent(seed=4)
    import_model(imported, path)
    np.testing.assert_array_equal(imported.variances, agent.variances)


async def test_model_files_of_both_versions_import_into_the_store(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    # a small state space (240 states): an import publishes every cell of the table
    state = {"spread_buckets": 2, "imbalance_buckets": 2, "time_buckets": 2, "hour_buckets": 2}
    config = parse_config({"rl_execution": {"database": {"url": db_url}, "state": state}})
    source = learn(QTableAgent(QLearningConfig(), config.rl_execution.state))
    v2 = tmp_path / "v2.json"
    export_model(source, v2)
    result = await import_agent_into_store(config, "imported", v2)
    assert result.entries == 50 * 6 and result.snapshot_id is None
    variances = "SELECT COUNT(variance) FROM q_values q JOIN agents a ON a.id = q.agent_id " \
                "WHERE a.name = 'imported'"  # fmt: skip
    assert await _all(engine, variances) == [(25 * 6,)]

    v1 = tmp_path / "v1.json"
    doc = json.loads(v2.read_text())
    doc["format_version"] = 1
    doc["entries"] = [entry[:4] for entry in doc["entries"]]
    v1.write_text(json.dumps(doc))
    again = await import_agent_into_store(config, "imported", v1)
    assert again.entries == 50 * 6 and again.snapshot_id is not None  # the v2 table was kept
    assert await _all(engine, variances) == [(0,)]  # version 1: every variance unknown
    async with session_factory(engine)() as session:
        kept = await SnapshotRepository(session).entries(again.snapshot_id)
    assert sum(1 for e in kept if e.variance == e.variance) == 25 * 6  # not NaN


async def test_q_repository_writes_nan_as_null(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        agent = await AgentRepository(session).get_or_create("q", {}, 0.2)
        q = QValueRepository(session)
        await q.put(agent.id, [QEntry("s1", "Wait", 0.5, 2, 0.25), QEntry("s2", "Wait", 1.0, 1)],
                    revision=1)  # fmt: skip
        await q.put(agent.id, [QEntry("s1", "Wait", 0.75, 3, float("nan"))], revision=2)
        rows = sorted(await q.load(agent.id))
    assert [(r.state_key, r.q, r.visits, r.revision) for r in rows] == [
        ("s1", 0.75, 3, 2), ("s2", 1.0, 1, 1)
    ]  # fmt: skip
    assert all(np.isnan(r.variance) for r in rows)  # the upsert overwrote 0.25 with unknown
    assert await _all(engine, "SELECT COUNT(*) FROM q_values WHERE variance IS NULL") == [(2,)]


# ---- decisions and experiences -------------------------------------------------------------


def _decision(episode_id: str, seq: int, key: str, **features: Any) -> DecisionRecord:
    base = dataclasses.replace(rf.decision(episode_id, seq), state_key=key)
    if not features:
        return base
    values: dict[str, Any] = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    return DecisionRecord(**{**values, **features})


def test_state_key_buckets_of_every_key_form() -> None:
    assert state_key_buckets("r2.t2.s1.i1.h3.u1.v0.q0.o1.l2.b1") == (2, 2, 1, 1, 3, 0, 0, 1, 2, 1)
    assert state_key_buckets("r2.t2.s1.i1.h3.u1.v0.q0.o1.l2") == (2, 2, 1, 1, 3, 0, 0, 1, 2, 0)
    assert state_key_buckets("r2.t2.s1.i1.h3.u1.v0.q0") == (2, 2, 1, 1, 3, 0, 0, 0, 0, 0)
    for other in ("s1", "r2.t2.s1.i1.h3.u1.v0.q0.o1", "x.o1.l2", "r2.t2.o1.l2", "r2.b1", ""):
        assert state_key_buckets(other) == (None,) * 10, other


async def test_decisions_store_the_new_state_columns(engine: AsyncEngine) -> None:
    keys = ("r2.t2.s1.i1.h3.u1.v0.q0.o1.l2", "r2.t2.s1.i1.h3.u1.v0.q0", "s1")
    records = [
        _decision("e", 1, keys[0], resting_share=0.4, schedule_lag=0.25,
                  seconds_since_last_trade=None),
        _decision("e", 2, keys[1], resting_share=0.0, schedule_lag=-0.5),
        _decision("e", 3, keys[2]),
    ]  # fmt: skip
    async with session_factory(engine)() as session, session.begin():
        agent = await AgentRepository(session).get_or_create("d", {}, 0.2)
        await DecisionRepository(session).append(agent.id, records)
    rows = await _all(
        engine,
        "SELECT seq, resting_share, schedule_lag, seconds_since_last_trade, own_orders_bucket, "
        "schedule_bucket, queue_depth_bucket FROM decisions ORDER BY seq",
    )
    assert rows == [
        (1, 0.4, 0.25, None, 1, 2, 0),
        (2, 0.0, -0.5, 1.5, 0, 0, 0),
        (3, 0.0, 0.0, 1.5, None, None, None),  # the record's defaults: nothing rests, on schedule
    ]
    view = await _all(engine, "SELECT seq, own_orders_bucket, schedule_bucket, resting_share, "
                              "schedule_lag FROM decision_outcomes ORDER BY seq")  # fmt: skip
    assert view == [(seq, own, lag, rest, gap) for seq, rest, gap, _, own, lag, _ in rows]
    async with session_factory(engine)() as session:
        back = await DecisionRepository(session).for_episode("e")
    assert [d.state_key for d in back] == list(keys)
    assert back[0].seconds_since_last_trade is None and back[1].seconds_since_last_trade == 1.5


async def test_experiences_store_the_next_schedule_action(engine: AsyncEngine) -> None:
    """The column holds ``next_schedule_action`` when the record carries it (ExperienceRecord
    gains the field with the lead's learning change; before, every row has NULL)."""
    has_field = "next_schedule_action" in {f.name for f in dataclasses.fields(ExperienceRecord)}
    extra: dict[str, Any] = {"next_schedule_action": "PlaceSmall"} if has_field else {}
    records = [dataclasses.replace(rf.experience(0), **extra), rf.experience(1)]
    async with session_factory(engine)() as session, session.begin():
        agent = await AgentRepository(session).get_or_create("x", {}, 0.2)
        await ExperienceRepository(session).append(agent.id, records)
    stored = await _all(engine, "SELECT next_schedule_action FROM experiences ORDER BY id")
    assert stored == [(extra.get("next_schedule_action"),), (None,)]
    async with session_factory(engine)() as session:
        assert await ExperienceRepository(session).newest(agent.id, 10) == records


# ---- promotions ------------------------------------------------------------------------------


def promotion(promoted: bool, snapshot_id: int | None, diff: float = -0.5,
              **changes: Any) -> PromotionRecord:  # fmt: skip
    values: dict[str, Any] = dict(
        promoted=promoted, reason="CI excludes 0" if promoted else "CI includes 0",
        snapshot_id=snapshot_id, validation_seed_first=900_000, validation_seed_count=200,
        base_executor="twap_passive", policy_mean_is_bps=1.0 + diff, base_mean_is_bps=1.0,
        mean_difference_bps=diff, difference_ci_low_bps=diff - 0.25,
        difference_ci_high_bps=diff + 0.25, episodes_trained=3000, config_hash="abc123",
        run_id="run-1",
    )  # fmt: skip
    values.update(changes)
    return PromotionRecord(**values)


async def _agent_with_snapshots(engine: AsyncEngine, name: str, count: int) -> list[int]:
    async with session_factory(engine)() as session, session.begin():
        agent = await AgentRepository(session).get_or_create(name, {}, 0.2)
        snapshots = SnapshotRepository(session)
        return [(await snapshots.create(agent.id, f"v{i}")).id for i in range(count)]


async def test_promotions_add_list_and_latest(engine: AsyncEngine) -> None:
    s1, s2, s3 = await _agent_with_snapshots(engine, "alpha", 3)
    (b1,) = await _agent_with_snapshots(engine, "beta", 1)
    assert await latest_promoted_snapshot_of(engine, "alpha") is None  # never promoted: base
    first = await record_promotion(engine, "alpha", promotion(False, None, diff=0.3))
    assert first.snapshot_id is None and first.snapshot_version is None
    await record_promotion(engine, "alpha", promotion(True, s1))
    await record_promotion(engine, "beta", promotion(True, b1))
    refused = await record_promotion(engine, "alpha", promotion(False, s2, diff=0.1))
    assert await latest_promoted_snapshot_of(engine, "alpha") == s1  # a refusal does not revoke
    assert await latest_promoted_snapshot_of(engine, "beta") == b1

    rows = await list_promotions(engine, "alpha")
    assert [(r.promoted, r.snapshot_id, r.snapshot_version) for r in rows] == [
        (False, s2, 2), (True, s1, 1), (False, None, None)
    ]  # newest first  # fmt: skip
    assert rows[0] == refused and rows[0].record == promotion(
        False, s2, diff=0.1, created_at=refused.record.created_at
    )
    two = await list_promotions(engine, "alpha", last=2)
    assert [r.id for r in two] == [r.id for r in rows[:2]]
    assert [r.agent_name for r in await list_promotions(engine)] == [
        "alpha", "beta", "alpha", "alpha"
    ]  # fmt: skip
    async with session_factory(engine)() as session, session.begin():
        repo = PromotionRepository(session)
        alpha = rows[0].agent_id
        await repo.add(alpha, promotion(True, s3, diff=-0.75))
        latest = await repo.latest_promoted(alpha)
        assert latest is not None and latest.snapshot_id == s3
        assert latest.record.mean_difference_bps == -0.75
        assert await repo.latest_promoted_snapshot(alpha) == s3
        with pytest.raises(InvalidInputError, match=rf"snapshot_id = {b1}: expected a snapshot"):
            await repo.add(alpha, promotion(True, b1))  # beta's snapshot
    with pytest.raises(InvalidInputError, match="agent = 'gamma': not in the store"):
        await list_promotions(engine, "gamma")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"snapshot_id": None}, "snapshot_id = None"),  # promoted without a snapshot
        ({"snapshot_id": 0}, "snapshot_id = 0"),
        ({"promoted": 1}, "promoted = 1"),
        ({"reason": ""}, "reason = ''"),
        ({"reason": "two\nlines"}, "reason = 'two\\nlines'"),
        ({"validation_seed_first": -1}, "validation_seed_first = -1"),
        ({"validation_seed_count": 0}, "validation_seed_count = 0"),
        ({"validation_seed_count": True}, "validation_seed_count = True"),
        ({"base_executor": "x" * 65}, "base_executor = 'xxx"),
        ({"policy_mean_is_bps": float("nan")}, "policy_mean_is_bps = nan"),
        ({"mean_difference_bps": "1"}, "mean_difference_bps = '1'"),
        ({"difference_ci_high_bps": float("inf")}, "difference_ci_high_bps = inf"),
        ({"difference_ci_low_bps": 9.0}, "difference_ci_low_bps = 9.0: expected at most"),
        ({"episodes_trained": -3}, "episodes_trained = -3"),
        ({"config_hash": ""}, "config_hash = ''"),
        ({"run_id": "r" * 37}, "run_id = 'rrr"),
        ({"created_at": rf.T0.replace(tzinfo=None)}, "created_at = datetime"),
    ],
)
def test_a_bad_promotion_is_refused_in_one_line(changes: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"promoted": True, "snapshot_id": 1, **changes}
    with pytest.raises(InvalidInputError) as info:
        promotion(values.pop("promoted"), values.pop("snapshot_id"), **values)
    message = str(info.value)
    assert message.startswith(f"promotion {field}") and "expected" in message, message
    assert "\n" not in message


# ---- the CLI ---------------------------------------------------------------------------------


async def test_promotions_list_command(
    db_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*argv: str, url: str = db_url) -> tuple[int, str, str]:
        try:
            code = main(["--database-url", url, "promotions", "list", *argv])
        except SystemExit as exc:  # argparse refuses the arguments
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert await asyncio.to_thread(run) == (0, "no promotions\n", "")
    (s1,) = await _agent_with_snapshots(engine, "alpha", 1)
    await _agent_with_snapshots(engine, "beta", 0)
    await record_promotion(engine, "alpha", promotion(False, None, diff=0.3))
    await record_promotion(engine, "alpha", promotion(True, s1, diff=-0.5))

    code, out, _ = await asyncio.to_thread(run)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and "promoted" in lines[0] and "reason" in lines[0]
    assert "yes" in lines[1] and f"{s1} (v1)" in lines[1] and "CI excludes 0" in lines[1]
    assert "-0.500 [-0.750, -0.250]" in lines[1] and "900000-900199" in lines[1]
    assert " no " in lines[2] and "+0.300 [+0.050, +0.550]" in lines[2]
    code, out, _ = await asyncio.to_thread(run, "--agent", "alpha", "--last", "1")
    assert code == 0 and len(out.splitlines()) == 2 and "yes" in out
    assert await asyncio.to_thread(run, "--agent", "beta") == (
        0, "no promotions of agent 'beta'\n", ""
    )  # fmt: skip

    code, out, err = await asyncio.to_thread(run, "--agent", "gamma")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "agent = 'gamma': not in the store" in err
    code, _, err = await asyncio.to_thread(run, "--last", "0")
    assert code == 2 and "--last" in err and len(err.strip().splitlines()) == 1
    missing = tmp_path / "absent.db"
    code, _, err = await asyncio.to_thread(run, url=f"sqlite+aiosqlite:///{missing}")
    assert code == 2 and "does not exist" in err and not missing.exists()  # read-only
