"""JSON model file (export/import, hostile input) and engine/URL error handling."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import PersistenceConfig, QLearningConfig, StateConfig
from rlexec.errors import ModelFileError, StoreError
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.engine import check_connection, create_engine, parse_url, redact_url
from rlexec.store.model_file import export_model, import_model
from rlexec.store.write_behind import AgentStore
from tests.store.agents import learn, make_agent


def real_agent(seed: int = 0) -> QTableAgent:
    return QTableAgent(QLearningConfig(), StateConfig(), seed=seed)


def test_model_file_round_trip(tmp_path: Path) -> None:
    agent = make_agent(seed=1)
    learn(agent, 2000, seed=1)
    path = tmp_path / "m" / "model.json"
    written = export_model(agent, path)
    assert written == int(np.count_nonzero(agent.visits))
    other = make_agent(seed=2)
    assert import_model(other, path) == written
    np.testing.assert_array_equal(other.q_values, agent.q_values)
    np.testing.assert_array_equal(other.visits, agent.visits)
    assert (other.epsilon, other.updates) == (agent.epsilon, agent.updates)


def test_model_file_works_with_the_real_agent(tmp_path: Path) -> None:
    agent = real_agent()
    agent.q_values[5, 2] = -1.25
    agent.visits[5, 2] = 3
    export_model(agent, tmp_path / "m.json")
    other = real_agent(seed=9)
    import_model(other, tmp_path / "m.json")
    assert other.q_values[5, 2] == -1.25 and other.visits[5, 2] == 3


HOSTILE: dict[str, object] = {  # case -> what is merged into the exported document (or text)
    "not json": "{not json",
    "NaN": None,
    "wrong version": {"format_version": 99},
    "wrong shape": {"num_states": 3},
    "bad key": {"entries": [["nope", "Wait", 1.0, 1]]},
    "bad action": {"entries": [["s1", "Jump", 1.0, 1]]},
    "negative visits": {"entries": [["s1", "Wait", 1.0, -1]]},
    "huge q": {"entries": [["s1", "Wait", 1e300, 1]]},
    "duplicate": {"entries": [["s1", "Wait", 1.0, 1], ["s1", "Wait", 2.0, 1]]},
    "not a list": {"entries": {"a": 1}},
    "epsilon": {"epsilon": 2.0},
    "top level": [],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_malformed_model_file_is_rejected_and_agent_unchanged(tmp_path: Path, case: str) -> None:
    agent = make_agent()
    learn(agent, 100)
    path = tmp_path / "model.json"
    export_model(agent, path)
    doc = json.loads(path.read_text())
    change = HOSTILE[case]
    if case == "not json":
        path.write_text(str(change))
    elif case == "NaN":
        path.write_text(path.read_text().replace('"epsilon":', '"epsilon":NaN,"x":'))
    elif case == "top level":
        path.write_text("[]")
    else:
        assert isinstance(change, dict)
        doc.update(change)
        path.write_text(json.dumps(doc))
    target = make_agent(seed=5)
    learn(target, 50, seed=5)
    before = (target.q_values.copy(), target.visits.copy(), target.epsilon)
    with pytest.raises(ModelFileError, match="model file"):
        import_model(target, path)
    np.testing.assert_array_equal(target.q_values, before[0])
    np.testing.assert_array_equal(target.visits, before[1])
    assert target.epsilon == before[2]


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        import_model(make_agent(), tmp_path / "absent.json")


async def test_store_with_the_real_agent_round_trips(engine: AsyncEngine) -> None:
    persist = PersistenceConfig(save_interval_secs=3600)
    agent = real_agent(seed=1)
    store = AgentStore(agent, engine, agent_name="real", persistence=persist)
    await store.load()
    for i in range(300):
        agent.update_index(i % 50, i % 6, 1.0, (i + 1) % 50, False)
    await store.close()
    again = real_agent(seed=2)
    reopened = AgentStore(again, engine, agent_name="real", persistence=persist)
    await reopened.load()
    await reopened.close()
    np.testing.assert_array_equal(again.q_values, agent.q_values)
    np.testing.assert_array_equal(again.visits, agent.visits)
    assert (again.epsilon, again.updates) == (agent.epsilon, agent.updates)


# ---- engines and URLs ----------------------------------------------------------------------


def test_password_is_masked() -> None:
    url = "postgresql+asyncpg://trader:s3cret@db.example/rlexec"
    assert redact_url(url) == "postgresql+asyncpg://trader:***@db.example/rlexec"
    assert "s3cret" not in redact_url("postgresql+asyncpg://trader:s3cret@[bad")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:s3cret@h/db", "driver 'mysql' is not supported"),
        ("not a url", "not a valid URL"),
        ("postgresql+psycopg2://u:s3cret@h/db", "not supported"),
    ],
)
def test_bad_url_is_a_clear_store_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        parse_url(url)
    assert "s3cret" not in str(info.value)


async def test_unreachable_postgres_names_the_url_without_password() -> None:
    engine = create_engine("postgresql+asyncpg://trader:s3cret@127.0.0.1:1/x", pool=False)
    with pytest.raises(StoreError, match=r"trader:\*\*\*@127.0.0.1:1/x") as info:
        await check_connection(engine)
    assert "s3cret" not in str(info.value)
    await engine.dispose()


async def test_unopenable_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}", pool=False)  # a folder
    with pytest.raises(StoreError, match="cannot connect"):
        await check_connection(engine)
    await engine.dispose()
    # aiosqlite's worker thread reports the failed connect back to this loop; give it the
    # moment it needs before pytest closes the loop (else a thread warning lands elsewhere)
    await asyncio.sleep(0.1)


async def test_sqlite_pragmas_and_begin_immediate(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as conn:
            mode = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar_one()
            sync = (await conn.execute(sa.text("PRAGMA synchronous"))).scalar_one()
            fks = (await conn.execute(sa.text("PRAGMA foreign_keys"))).scalar_one()
            busy = (await conn.execute(sa.text("PRAGMA busy_timeout"))).scalar_one()
        assert (mode, sync, fks, busy) == ("wal", 1, 1, 30_000)
        # BEGIN IMMEDIATE: a second writer cannot start a transaction while one is open
        other = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", pool=False)
        async with engine.begin() as conn, other.connect() as second:
            await conn.execute(sa.text("SELECT 1"))
            raw = await second.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("PRAGMA busy_timeout=0")
            with pytest.raises(Exception, match="locked"):
                await driver.execute("BEGIN IMMEDIATE")
        await other.dispose()
    finally:
        await engine.dispose()


async def test_a_read_only_engine_refuses_writes_and_never_holds_up_a_writer(
    db_url: str,
) -> None:
    reader = create_engine(db_url, pool=False, read_only=True)
    writer = create_engine(db_url, pool=False)
    try:
        async with writer.begin() as w:
            await w.execute(sa.text("CREATE TABLE scratch (x integer)"))
        async with reader.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError, match=r"read.?only"):
                await conn.execute(sa.text("INSERT INTO scratch VALUES (1)"))
        async with reader.connect() as conn:  # a read transaction stays open ...
            assert (await conn.execute(sa.text("SELECT count(*) FROM scratch"))).scalar_one() == 0
            async with asyncio.timeout(5), writer.begin() as w:  # ... and a writer commits
                await w.execute(sa.text("INSERT INTO scratch VALUES (2)"))
    finally:
        await reader.dispose()
        await writer.dispose()
