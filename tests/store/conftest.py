"""Store fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL.

PostgreSQL tests each get their own database (``rlexec_t_<random>``, dropped afterwards), so
they can run in parallel under pytest-xdist. ``TEST_PG_DSN`` (outside the ``RLEXEC_`` config
prefix, so that it never reaches rlexec's config) names the server's admin database; the new
databases are created on that same server.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import create_engine
from rlexec.store.migrate import upgrade_database
from tests.store.children import no_child_left
from tests.store.open_stores import open_stores, stop_open_stores

# autouse: what a test leaves running (stores, child processes) is stopped when it ends
__all__ = ["no_child_left", "open_stores"]

PG_DSN_VARIABLE = "TEST_PG_DSN"
PG_ADMIN_DSN = os.environ.get(PG_DSN_VARIABLE, "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def new_pg_database() -> str:
    """Create an empty PostgreSQL database; returns its async URL."""
    name = f"rlexec_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    admin = make_url(PG_ADMIN_DSN)
    url = admin.set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop the database (a fixture's teardown), after stopping the stores the test left open
    (``tests.store.open_stores``), so that none of them outlives its database."""
    stop_open_stores()
    name = url.rsplit("/", 1)[1]
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
async def db_url(empty_db_url: str) -> str:
    """A database migrated to head."""
    await upgrade_database(empty_db_url)
    return empty_db_url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()
