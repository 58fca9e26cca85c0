"""Actors and one learner: value correctness with 1, 2 and 4 actor processes, the learner's
table equal to one agent's on the same transitions in the learner's order (a hypothesis
property test over interleavings), and learner failover under SIGKILL."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import QLearningConfig
from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import upgrade_database
from rlexec.store.repositories import ExperienceRepository
from rlexec.store.table_sync import StateKeys
from rlexec.store.transitions import EpisodeAssembler
from rlexec.store.write_behind import AgentStore, Role, lease_poll_secs
from tests.store import children
from tests.store.agents import make_agent, random_transitions, table_agent
from tests.store.queue_worker import PERSIST, STOCHASTIC_STATES

ROOT = Path(__file__).resolve().parents[2]
ALPHA = QLearningConfig().alpha
# the documented takeover time (docs/operations.md section 11: within learner_lease_secs plus
# the standby's lease polling), measured in the database (the lease row changing hands), plus
# a stated margin for this test's own 20 ms poll and for the standby's writer thread waiting
# for a core on a loaded 2-core machine (the suite runs with -n 2 beside other work)
TAKEOVER_MARGIN_SECS = 1.5
TAKEOVER_BOUND = (
    PERSIST.learner_lease_secs + lease_poll_secs(PERSIST.learner_lease_secs) + TAKEOVER_MARGIN_SECS
)


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return children.start(
        [sys.executable, "-m", "tests.store.queue_worker", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
    )  # fmt: skip


async def counters(engine: AsyncEngine, name: str) -> tuple[int, int, int, int]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT a.transitions_queued, a.transitions_applied, a.updates, "
                    "(SELECT coalesce(sum(visits), 0) FROM q_values q WHERE q.agent_id = a.id) "
                    "FROM agents a WHERE a.name = :n"
                ),
                {"n": name},
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def lease_holder(engine: AsyncEngine, name: str) -> str | None:
    """Who holds the agent's learner lease now (None: nobody, or it expired)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text("SELECT learner FROM agents WHERE name = :n"),
                {"n": name},
            )
        ).one_or_none()
    return None if row is None else row[0]


async def learn_until_applied(store: AgentStore, total: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while store.transitions_applied < total and time.monotonic() < deadline:
        if not await store.fetch_and_apply():
            await asyncio.sleep(0.02)
    await store.flush()


async def single_agent_replay(
    engine: AsyncEngine, agent_id: int, seed: int, *, replay: bool = False
) -> np.ndarray:
    """One agent learning the queued transitions in seq order (the learner's order)."""
    agent = make_agent(seed=seed, replay=replay)
    keys = StateKeys(agent.discretizer, "replayed")
    async with session_factory(engine)() as session:
        queued = await ExperienceRepository(session).queued_after(agent_id, 0, 10**9)
    episodes = EpisodeAssembler()
    for item in queued:
        episodes.apply(agent, item, keys)
    return agent.q_values.copy()


@pytest.mark.parametrize("actors", [1, 2, 4])
@pytest.mark.parametrize("kind", ["deterministic", "stochastic"])
async def test_value_is_right_with_several_actor_processes(
    db_url: str, engine: AsyncEngine, actors: int, kind: str
) -> None:
    name = f"{kind}-{actors}"
    per_actor = 400 // actors
    learner = AgentStore(make_agent(seed=1), engine, agent_name=name, persistence=PERSIST)
    await learner.load()
    procs = [spawn("actor", db_url, name, str(per_actor), kind, str(i)) for i in range(actors)]
    total = per_actor * actors
    await learn_until_applied(learner, total)
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode() if proc.stderr else ""
    await learn_until_applied(learner, total)
    await learner.close()
    queued, applied, updates, visits = await counters(engine, name)
    assert queued == applied == updates == visits == total  # each applied exactly once
    q = learner.agent.q_values
    if kind == "deterministic":
        assert q[0, 1] == pytest.approx(-10.0, abs=10 * (1 - ALPHA) ** total + 1e-9)
    else:
        n = total // STOCHASTIC_STATES
        # each cell is an exponential average of n rewards of std 10: its stationary std is
        # 10 sqrt(alpha / (2 - alpha)); the mean of 40 such cells has 1/sqrt(40) of it, plus
        # the start-up bias 10 (1 - alpha)^n
        tolerance = 4 * 10 * math.sqrt(ALPHA / (2 - ALPHA)) / math.sqrt(STOCHASTIC_STATES)
        tolerance += 10 * (1 - ALPHA) ** n
        assert float(q[:STOCHASTIC_STATES, 1].mean()) == pytest.approx(-10.0, abs=tolerance)
    replayed = await single_agent_replay(engine, learner.agent_id or 0, seed=1)
    np.testing.assert_array_equal(q, replayed)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(schedule=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 30)), min_size=1,
                         max_size=8), learn_every=st.integers(1, 4))  # fmt: skip
def test_interleavings_give_one_agents_table(
    tmp_path_factory: pytest.TempPathFactory, schedule: list[tuple[int, int]], learn_every: int
) -> None:
    """Whatever the actors' interleaving and flush points, the learner's table equals one
    agent's after the same transitions in the learner's (seq) order."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}"

    async def run() -> None:
        await upgrade_database(url)
        engine = create_engine(url)
        learner = AgentStore(make_agent(seed=3, replay=True), engine, agent_name="p",
                             persistence=PERSIST)  # fmt: skip
        await learner.load()
        actors = [
            AgentStore(make_agent(seed=i), engine, agent_name="p", persistence=PERSIST,
                       role=Role.ACTOR)
            for i in range(3)
        ]  # fmt: skip
        for actor in actors:
            await actor.load()
        for step, (who, count) in enumerate(schedule):
            for record in random_transitions(table_agent(actors[who]), count, seed=step):
                actors[who].append_experience(record)
            await actors[who].flush()
            if step % learn_every == 0:
                await learner.fetch_and_apply()
        total = sum(count for _, count in schedule)
        await learn_until_applied(learner, total)
        # the same seed: the single agent's replay draws the same batches
        replayed = await single_agent_replay(engine, learner.agent_id or 0, seed=3, replay=True)
        np.testing.assert_array_equal(learner.agent.q_values, replayed)
        for store in (learner, *actors):
            await store.close()
        await engine.dispose()

    asyncio.run(run())


async def test_learner_failover_after_sigkill(
    db_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    name = "failover"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    first = spawn("learner", db_url, name, str(logs[0]))
    deadline = time.monotonic() + 30
    while not logs[0].exists():
        assert time.monotonic() < deadline and first.poll() is None
        await asyncio.sleep(0.05)
    second = spawn("learner", db_url, name, str(logs[1]))  # standby
    actor = AgentStore(make_agent(seed=9), engine, agent_name=name, persistence=PERSIST,
                       role=Role.ACTOR)  # fmt: skip
    await actor.load()
    for seed in range(3):
        for record in random_transitions(table_agent(actor), 300, seed=seed):
            actor.append_experience(record)
        await actor.flush()
        await asyncio.sleep(0.2)
    observer = create_engine(db_url, read_only=True)  # polls without SQLite's write lock
    first_holder = await lease_holder(observer, name)
    assert first_holder is not None and f":{first.pid}:" in first_holder
    first.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    first.wait(timeout=10)
    while (holder := await lease_holder(observer, name)) in (None, first_holder):
        assert time.monotonic() - killed < TAKEOVER_BOUND + 10, "no takeover"
        await asyncio.sleep(0.02)
    took_over = time.monotonic() - killed
    await observer.dispose()
    assert holder is not None and f":{second.pid}:" in holder
    while not logs[1].exists():
        assert time.monotonic() - killed < 30
        await asyncio.sleep(0.02)
    for seed in range(3, 6):
        for record in random_transitions(table_agent(actor), 300, seed=seed):
            actor.append_experience(record)
        await actor.flush()
    await actor.close()
    while (await counters(engine, name))[1] < 1800 and time.monotonic() - killed < 30:
        await asyncio.sleep(0.1)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0, second.stderr.read().decode() if second.stderr else ""
    queued, applied, updates, visits = await counters(engine, name)
    # every transition applied once: none twice (visits would exceed), none lost
    assert queued == applied == updates == visits == 1800
    assert took_over <= TAKEOVER_BOUND, f"takeover {took_over:.2f} s > {TAKEOVER_BOUND:.2f} s"
