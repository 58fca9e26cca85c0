"""The write-behind store with the real agent: coalescing, restart, the learner lease and its
fencing, actors queueing transitions for the learner, seed allocation, an outage through a
TCP proxy the test cuts."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import PersistenceConfig
from rlexec.errors import StoreError
from rlexec.store.engine import create_engine
from rlexec.store.migrate import upgrade_database
from rlexec.store.models import QValue
from rlexec.store.repositories import LeaseLostError
from rlexec.store.write_behind import (
    WRITER_STOP_SECS,
    AgentStore,
    LearnerBusyError,
    Role,
    wait_event,
)
from tests.store import records_factory as rf
from tests.store.agents import learn, make_agent, random_transitions, table_agent
from tests.store.tcp_proxy import TcpProxy

PERSIST = PersistenceConfig(
    save_interval_secs=3600, probe_interval_secs=0.05, learner_lease_secs=3600
)


async def store_totals(engine: AsyncEngine, agent_id: int) -> tuple[int, int]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(QValue.visits), 0)).where(
                    QValue.agent_id == agent_id
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def scalar(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text(sql))).scalar_one())


async def test_many_updates_of_one_cell_become_one_row_write(engine: AsyncEngine) -> None:
    agent = make_agent()
    store = AgentStore(agent, engine, agent_name="coalesce", persistence=PERSIST)
    await store.load()
    for _ in range(500):
        agent.update_index(3, 2, 1.0, 4, False)
    result = await store.flush()
    assert result.q_rows == 1
    assert await store_totals(engine, store.agent_id or 0) == (1, 500)
    assert (await store.flush()).q_rows == 0  # nothing changed since
    await store.close()


async def test_restart_restores_q_visits_epsilon_and_replay(engine: AsyncEngine) -> None:
    agent = make_agent(seed=1, replay=True)
    store = AgentStore(agent, engine, agent_name="restart", persistence=PERSIST)
    await store.load()
    store.start()
    for record in learn(agent, 3000, seed=1):
        store.append_experience(record)
    await store.flush()
    for record in learn(agent, 1000, seed=2):
        store.append_experience(record)
    await store.close()
    again = make_agent(seed=99, replay=True)
    store2 = AgentStore(again, engine, agent_name="restart", persistence=PERSIST)
    loaded = await store2.load()
    assert not loaded.created
    np.testing.assert_array_equal(again.q_values, agent.q_values)
    np.testing.assert_array_equal(again.visits, agent.visits)
    assert again.training_epsilon == agent.training_epsilon
    assert again.updates == agent.updates == 4000
    assert again.replay_buffer is not None and len(again.replay_buffer) == 500
    await store2.close()


async def test_one_learner_per_agent_and_takeover_after_expiry(engine: AsyncEngine) -> None:
    first = AgentStore(make_agent(), engine, agent_name="leased", persistence=PERSIST)
    await first.load()
    second = AgentStore(
        make_agent(), engine, agent_name="leased", persistence=PERSIST, lease_wait_secs=0.0
    )
    with pytest.raises(LearnerBusyError, match="another learner holds its lease"):
        await second.load()
    # the first learner stalls past its lease (as if its renewals had stopped)
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE agents SET learner_expires_at = 0"))
    third = AgentStore(
        make_agent(), engine, agent_name="leased", persistence=PERSIST, lease_wait_secs=0.0
    )
    await third.load()
    # the stalled learner comes back: its publish is fenced off, nothing of it is written
    table_agent(first).update_index(1, 1, 1.0, 2, True)
    with pytest.raises(LeaseLostError, match="lease"):
        await first.flush()
    assert await store_totals(engine, first.agent_id or 0) == (0, 0)
    table_agent(third).update_index(1, 1, -1.0, 2, True)
    assert (await third.flush()).q_rows == 1
    await third.close()
    await first.close()  # does not raise again, does not touch the lease
    assert await scalar(engine, "SELECT count(*) FROM agents WHERE learner IS NULL") == 1


async def test_actors_queue_transitions_the_learner_applies_once(engine: AsyncEngine) -> None:
    learner_agent = make_agent(seed=7)
    learner = AgentStore(learner_agent, engine, agent_name="apex", persistence=PERSIST)
    await learner.load()
    actors = [
        AgentStore(make_agent(seed=i), engine, agent_name="apex", persistence=PERSIST,
                   role=Role.ACTOR)
        for i in range(2)
    ]  # fmt: skip
    for actor in actors:
        await actor.load()
    made = 0
    for round_ in range(3):
        for i, actor in enumerate(actors):
            for record in random_transitions(
                table_agent(actor), 100 + 10 * i, seed=round_ * 10 + i
            ):
                actor.append_experience(record)
                made += 1
            await actor.flush()
        await learner.fetch_and_apply()
        await learner.flush()  # publish
    assert learner.transitions_applied == made == 630
    assert learner_agent.updates == int(learner_agent.visits.sum()) == made
    assert await learner.fetch_and_apply() == 0  # nothing is applied twice
    # actors refresh from the published table at their next flush
    for actor in actors:
        await actor.flush()
        actor._hand_over()
        np.testing.assert_array_equal(actor.agent.q_values, learner_agent.q_values)
        assert actor.agent.training_epsilon == learner_agent.training_epsilon
    await learner.close()
    for actor in actors:
        await actor.close()
    agent_id = learner.agent_id or 0
    assert (await store_totals(engine, agent_id))[1] == made
    assert await scalar(
        engine, f"SELECT transitions_applied FROM agents WHERE id = {agent_id}"
    ) == await scalar(engine, f"SELECT transitions_queued FROM agents WHERE id = {agent_id}")
    assert await scalar(engine, "SELECT count(DISTINCT seq) FROM experiences") == made


async def test_seed_blocks_never_overlap(engine: AsyncEngine) -> None:
    stores = [
        AgentStore(make_agent(), engine, agent_name="seeds", persistence=PERSIST, role=role)
        for role in (Role.LEARNER, Role.ACTOR, Role.ACTOR)
    ]
    for store in stores:
        await store.load()
    blocks = await asyncio.gather(
        *(store.allocate_seeds(50, first_seed=7) for store in stores for _ in range(3))
    )
    seeds = [seed for block in blocks for seed in block]
    assert len(seeds) == len(set(seeds)) == 450
    assert min(seeds) == 7
    for store in stores:
        await store.close()


async def test_rows_the_store_refuses_are_not_called_an_outage(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A row the database refuses (here an episode id it holds already) fails every flush the
    same way: the log says the store refused the rows, not that it is unreachable, and the
    rows stay in memory (nothing is dropped)."""
    store = AgentStore(make_agent(), engine, agent_name="refused", persistence=PERSIST)
    await store.load()
    store.append_episode(rf.episode("twice"))
    await store.flush()
    store.append_episode(rf.episode("twice"))
    with pytest.raises(StoreError):
        await store.flush()
    lines = [r.getMessage() for r in caplog.records if r.name == "rlexec.store"]
    assert any("the store refused the rows" in line for line in lines), lines
    assert not any("unreachable" in line for line in lines), lines
    assert store.unsaved["episodes"] == 1
    store.writer.stop()  # what is refused cannot be flushed: the test's crash


async def test_flush_before_load_is_an_error(engine: AsyncEngine) -> None:
    store = AgentStore(make_agent(), engine, agent_name="x", persistence=PERSIST)
    with pytest.raises(StoreError, match="load"):
        await store.flush()


@pytest.mark.postgres
async def test_outage_through_a_cut_proxy_loses_nothing(pg_empty_url: str) -> None:
    db_url = pg_empty_url
    await upgrade_database(db_url)
    database = db_url.rsplit("/", 1)[1]
    with TcpProxy() as proxy:
        engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}")
        agent = make_agent(seed=3)
        persist = PERSIST.model_copy(update={"save_interval_secs": 0.05})
        store = AgentStore(agent, engine, agent_name="outage", persistence=persist)
        await store.load()
        store.start()
        ep = rf.episode()
        seq = 0
        proxy.cut()
        for round_ in range(5):
            for record in learn(agent, 200, seed=10 + round_):  # keeps deciding and learning
                store.append_experience(record)
            for _ in range(10):
                store.append_decision(rf.decision(ep.episode_id, seq))
                seq += 1
            await asyncio.sleep(0.05)
        store.append_episode(ep)
        assert (store.up, store.failed_flushes >= 1) == (False, True)
        assert store.pending_rows == 1000 + 50 + 1
        proxy.restore()
        back = time.monotonic()
        while not (store.up and store.pending_rows == 0) and time.monotonic() - back < 5:
            await asyncio.sleep(0.01)
        assert store.up and store.pending_rows == 0
        assert time.monotonic() - back < 1.0  # probed often, flushed as soon as it answered
        await store.close()
        check = create_engine(db_url)
        assert (await store_totals(check, store.agent_id or 0))[1] == 1000 == agent.updates
        assert await scalar(check, "SELECT count(*) FROM decisions") == 50
        assert await scalar(check, "SELECT count(*) FROM experiences") == 1000
        assert await scalar(check, "SELECT count(*) FROM episodes") == 1
        assert store.dropped == {"experiences": 0, "decisions": 0}
        await check.dispose()
        await engine.dispose()


async def test_wait_event_lets_a_cancel_through_that_lands_as_the_event_is_set() -> None:
    """The store's loops wait with ``wait_event``: Python 3.11's ``wait_for(event.wait(), t)``
    swallows a cancel landing in the iteration where the event is set, and a loop around it
    then never ends (close() cancels the hand-over task: a SIGTERM'd ``rlexec train`` hung)."""
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            await wait_event(event, 60.0)
            event.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    event.set()  # the writer's wake-up ...
    await asyncio.sleep(0)  # ... is processed in this iteration, where ...
    task.cancel()  # ... the cancel lands
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await task  # (with wait_for: TimeoutError, the task looped on)


async def test_a_failed_commit_of_a_lease_renewal_does_not_stop_the_writer(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost at COMMIT is a driver error outside any repository call; it used to
    escape the writer's loop and end it (no flush ever again, close() waiting for ever)."""
    from sqlalchemy.orm import SessionTransaction

    commit = SessionTransaction.commit
    failures = {"left": 0}

    def failing_commit(self: SessionTransaction, *args: object, **kwargs: object) -> object:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise sa.exc.OperationalError("COMMIT", {}, ConnectionError("connection was closed"))
        return commit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SessionTransaction, "commit", failing_commit)
    persist = PERSIST.model_copy(update={"learner_lease_secs": 0.3})  # renewed every 0.1 s
    store = AgentStore(make_agent(), engine, agent_name="renew", persistence=persist)
    await store.load()
    failures["left"] = 2
    async with asyncio.timeout(10):
        while failures["left"]:
            await asyncio.sleep(0.01)
        table_agent(store).update_index(1, 1, 1.0, 2, True)
        assert (await store.flush()).q_rows == 1  # the writer went on: down, probed, back
        assert store.up and store.failed_flushes >= 1
        await store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["mid-copy", "silent-server", "mid-copy-blocking"])
async def test_close_is_bounded_when_the_server_stalls(pg_empty_url: str, where: str) -> None:
    """A server that accepts and then says nothing (or stops answering in the middle of a
    COPY) raises no error: only the store's own time bounds end the wait. close() returns
    within ``close_timeout_secs`` (+ the margin below) with what it could not write counted
    and reported, never hangs (it used to: the final flush's waiter was never resolved).
    ``-blocking``: the synchronous app's ``load_blocking`` / ``close_blocking``."""
    await upgrade_database(pg_empty_url)
    database = pg_empty_url.rsplit("/", 1)[1]
    close_timeout = 2.0
    margin = WRITER_STOP_SECS + 1.0  # stopping the writer; a loaded 2-core machine
    with TcpProxy() as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
        persist = PERSIST.model_copy(
            update={"close_timeout_secs": close_timeout, "probe_interval_secs": 0.1}
        )
        agent = make_agent(seed=4)
        store = AgentStore(agent, url, agent_name="stalled", persistence=persist)
        blocking = where.endswith("-blocking")
        if blocking:
            await asyncio.to_thread(store.load_blocking)
        else:
            await store.load()
            store.start()
        for record in learn(agent, 3000, seed=4):  # above COPY_MIN_ROWS: the flush COPYs
            store.append_experience(record)
        ep = rf.episode()
        for seq in range(10):
            store.append_decision(rf.decision(ep.episode_id, seq))
        store.append_episode(ep)
        if where.startswith("mid-copy"):
            proxy.stall_on(b"COPY")
        else:
            proxy.stall()
        started = time.monotonic()
        with pytest.raises(StoreError, match="not saved") as failure:
            async with asyncio.timeout(close_timeout + margin + 10):
                if blocking:
                    await asyncio.to_thread(store.close_blocking)
                else:
                    await store.close()
        took = time.monotonic() - started
        assert not where.startswith("mid-copy") or proxy.stalled.is_set()  # the COPY had begun
        assert took <= close_timeout + margin, f"close took {took:.1f} s"
        message = str(failure.value)
        assert "3011 rows" in message, message  # 3000 experiences, 10 decisions, 1 episode
        assert store.unsaved == {"episodes": 1, "decisions": 10, "experiences": 3000,
                                 "metrics": 0}  # fmt: skip
        assert not store.writer.running
        proxy.restore()
    check = create_engine(pg_empty_url)
    try:
        assert await scalar(check, "SELECT count(*) FROM experiences") == 0  # one transaction
    finally:
        await check.dispose()


@pytest.mark.postgres
async def test_a_flush_hung_mid_copy_fails_in_time_and_loses_nothing(pg_empty_url: str) -> None:
    """The writer's own bound (``command_timeout_secs``): a flush stuck in a COPY the server
    never answers fails after it, its rows go back, the store is probed, and everything is
    written once the server answers again."""
    await upgrade_database(pg_empty_url)
    database = pg_empty_url.rsplit("/", 1)[1]
    bound = 1.0
    with TcpProxy() as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
        persist = PERSIST.model_copy(update={"save_interval_secs": 0.05})
        agent = make_agent(seed=5)
        store = AgentStore(agent, url, agent_name="hung", persistence=persist,
                           command_timeout_secs=bound, connect_timeout_secs=bound)  # fmt: skip
        await store.load()
        store.start()
        proxy.stall_on(b"COPY")
        for record in learn(agent, 3000, seed=5):
            store.append_experience(record)
        stalled_at = time.monotonic()
        while store.up and time.monotonic() - stalled_at < bound + 10:
            await asyncio.sleep(0.02)
        assert proxy.stalled.is_set() and not store.up
        assert time.monotonic() - stalled_at <= bound + 2.0  # + the app's hand-over, load
        assert store.unsaved["experiences"] == 3000  # back in the buffer, none lost
        proxy.restore()
        back = time.monotonic()
        while not (store.up and store.pending_rows == 0) and time.monotonic() - back < 10:
            await asyncio.sleep(0.02)
        assert store.up and store.pending_rows == 0
        await store.close()
        assert store.unsaved == dict.fromkeys(("episodes", "decisions", "experiences",
                                               "metrics"), 0)  # fmt: skip
    check = create_engine(pg_empty_url)
    try:
        assert await scalar(check, "SELECT count(*) FROM experiences") == 3000
        assert (await store_totals(check, store.agent_id or 0))[1] == 3000 == agent.updates
    finally:
        await check.dispose()
