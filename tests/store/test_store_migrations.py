"""Migrations: the pytest-alembic suite on SQLite and PostgreSQL, and the pattern for checking
that an upgrade keeps existing rows.

Data-preservation pattern (reuse it for every new revision): migrate to the revision *before*
the one under test, insert representative rows with plain SQL (the tables as they were then),
upgrade to head, and assert the rows are still there and read correctly through the current
repositories. ``seed_rows_at`` lists the rows per starting revision; add an entry when a new
revision (e.g. policy_snapshots) lands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
from pytest_alembic import Config, MigrationContext, runner, tests
from sqlalchemy.engine import Connectable
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import (
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from rlexec.store.repositories import AgentRepository, ExperienceRepository, QValueRepository
from tests.store.conftest import drop_pg_database, new_pg_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def sync_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        return
    url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def alembic_runner(sync_db_url: str) -> Iterator[MigrationContext]:
    engine: AsyncEngine = create_engine(sync_db_url, pool=False)
    config = Config(at_revision_data=None)
    # pytest-alembic runs an AsyncEngine (its executor checks for one) though it annotates
    # ``engine`` as a synchronous Connectable
    with runner(config=config, engine=cast(Connectable, engine)) as r:
        yield r
    asyncio.run(engine.dispose())


def test_single_head_revision(alembic_runner: MigrationContext) -> None:
    tests.test_single_head_revision(alembic_runner)


def test_upgrade(alembic_runner: MigrationContext) -> None:
    tests.test_upgrade(alembic_runner)


def test_model_definitions_match_ddl(alembic_runner: MigrationContext) -> None:
    tests.test_model_definitions_match_ddl(alembic_runner)


def test_up_down_consistency(alembic_runner: MigrationContext) -> None:
    tests.test_up_down_consistency(alembic_runner)


# ---- data preservation -------------------------------------------------------------------

# revision -> SQL inserting representative rows into the schema as it is at that revision
seed_rows_at: dict[str, list[str]] = {
    "60cb4f8afbb3": [
        "INSERT INTO agents (id, name, config_snapshot, epsilon, updates, q_revision, "
        "created_at, updated_at) VALUES (1, 'kept', '{\"alpha\": 0.1}', 0.2, 7, 3, "
        "'2024-01-01 00:00:00', '2024-01-01 00:00:00')",
        "INSERT INTO q_values (agent_id, state_key, action, q, visits, revision, updated_at) "
        "VALUES (1, 'r1.t1.s1.i1.h1.u1.v0.q0', 'Wait', -0.5, 4, 3, '2024-01-01 00:00:00')",
    ],
}
# the learner-lease revision adds columns to agents and experiences: rows there must stay
seed_rows_at["cc4de567fc6d"] = [
    *seed_rows_at["60cb4f8afbb3"],
    "INSERT INTO experiences (agent_id, state_key, action, reward, next_state_key, terminated, "
    "truncated, created_at) VALUES (1, 'r1.t1.s1.i1.h1.u1.v0.q0', 'Wait', -1.0, "
    "'r1.t1.s1.i1.h1.u1.v0.q0', true, false, '2024-01-01 00:00:00')",
]
# the audit-trail revision rewrites SQLite timestamps and rebuilds tables: a held lease, queue
# counters and queued transitions (with a seq) must come through it unchanged
seed_rows_at["5b7e2f41c9a3"] = [
    *seed_rows_at["cc4de567fc6d"],
    "UPDATE agents SET learner = 'host:1', learner_expires_at = 1700000000.5, "
    "transitions_queued = 2, transitions_applied = 1, next_training_seed = 42 WHERE id = 1",
    *(
        "INSERT INTO experiences (agent_id, state_key, action, reward, next_state_key, "
        "terminated, truncated, created_at, seq) VALUES (1, 'r1.t1.s1.i1.h1.u1.v0.q0', "
        f"'PlaceSmall', -2.0, 'r0.t2.s1.i1.h1.u1.v0.q0', false, false, '2024-01-01 00:00:0{seq}', "
        f"{seq})"
        for seq in (1, 2)
    ),
]
# the learning-policy revision rebuilds decisions on SQLite and adds columns to q_values and
# experiences: the same rows must come through it (tests/store/test_learning_policy_migration.py
# seeds every table)
seed_rows_at["d41c7a9e2b18"] = list(seed_rows_at["5b7e2f41c9a3"])
seed_rows_at["b5b71e82dddf"] = list(seed_rows_at["d41c7a9e2b18"])  # then views only change
# revision -> (learner, transitions_queued, transitions_applied, next_training_seed, queued seqs)
# after the upgrade (the defaults where the revision predates the columns)
queue_at = {
    "5b7e2f41c9a3": ("host:1", 2, 1, 42, (1, 2)),
    "d41c7a9e2b18": ("host:1", 2, 1, 42, (1, 2)),
    "b5b71e82dddf": ("host:1", 2, 1, 42, (1, 2)),
}


async def upgrade_keeps_rows(url: str, from_revision: str) -> None:
    """Seed rows at ``from_revision``, upgrade to head, read them through the repositories."""
    await upgrade_database(url, from_revision)
    engine = create_engine(url, pool=False)
    try:
        async with engine.begin() as conn:
            for statement in seed_rows_at[from_revision]:
                await conn.execute(sa.text(statement))
        await upgrade_database(url, "head")
        assert await current_revision(url) == head_revision()
        async with session_factory(engine)() as session:
            agent = await AgentRepository(session).get_by_name("kept")
            assert agent is not None
            assert (agent.epsilon, agent.updates, agent.q_revision) == (0.2, 7, 3)
            rows = await QValueRepository(session).load(agent.id)
            assert [(r.state_key, r.q, r.visits) for r in rows] == [
                ("r1.t1.s1.i1.h1.u1.v0.q0", -0.5, 4)
            ]
            learner, queued, applied, next_seed, seqs = queue_at.get(
                from_revision, (None, 0, 0, None, ())
            )
            assert (agent.learner, agent.transitions_queued, agent.transitions_applied) == (
                learner,
                queued,
                applied,
            )
            kept = await ExperienceRepository(session).newest(agent.id, 10)
            seeded = [x for x in seed_rows_at[from_revision] if "INTO experiences" in x]
            assert len(kept) == len(seeded)
        async with engine.connect() as conn:
            query = "SELECT next_training_seed FROM agents WHERE id = 1"
            assert (await conn.execute(sa.text(query))).scalar_one() == next_seed
            query = "SELECT seq FROM experiences ORDER BY id"
            expected = [None] * (len(seeded) - len(seqs)) + list(seqs)
            assert list((await conn.execute(sa.text(query))).scalars()) == expected
    finally:
        await engine.dispose()


@pytest.mark.parametrize("from_revision", sorted(seed_rows_at))
async def test_upgrade_keeps_existing_rows(empty_db_url: str, from_revision: str) -> None:
    await upgrade_keeps_rows(empty_db_url, from_revision)


async def test_downgrade_to_base_and_back(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url)
    assert await current_revision(empty_db_url) == head_revision()
    await downgrade_database(empty_db_url, "base")
    assert await current_revision(empty_db_url) is None
    await upgrade_database(empty_db_url)
    assert await current_revision(empty_db_url) == head_revision()
