"""``require_schema``, the one rule for using a database, on SQLite and PostgreSQL: at head it
is used; a new SQLite file is created only on request; an empty, older or newer database is
refused with what to do; nothing is ever migrated by it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from rlexec.cli.main import main
from rlexec.errors import StoreError
from rlexec.store.engine import create_engine, redact_url
from rlexec.store.migrate import (
    current_revision,
    head_revision,
    require_schema,
    schema_status,
    upgrade_database,
)

FIRST = "60cb4f8afbb3"


async def _set_revision(url: str, revision: str) -> None:
    engine = create_engine(url, pool=False)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision}
            )
    finally:
        await engine.dispose()


async def test_an_empty_database_is_refused_without_create(empty_db_url: str) -> None:
    with pytest.raises(StoreError, match=r"run `rlexec db upgrade`|does not exist"):
        await require_schema(empty_db_url)
    assert await current_revision(empty_db_url) is None


async def test_create_makes_only_a_new_sqlite_database(empty_db_url: str) -> None:
    if empty_db_url.startswith("sqlite"):
        status = await require_schema(empty_db_url, create=True)
        assert status.at_head and status.revision == head_revision()
    else:  # a PostgreSQL database is created and upgraded explicitly, never by a command
        expected = f"has no rlexec schema, this rlexec needs {head_revision()}"
        with pytest.raises(StoreError, match=expected):
            await require_schema(empty_db_url, create=True)
        assert await current_revision(empty_db_url) is None


async def test_behind_head_is_refused_and_left_alone(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url, FIRST)
    for create in (False, True):
        expected = f"schema at {FIRST}, this rlexec needs {head_revision()}: run `rlexec db"
        with pytest.raises(StoreError, match=expected):
            await require_schema(empty_db_url, create=create)
    assert await current_revision(empty_db_url) == FIRST
    await upgrade_database(empty_db_url)
    assert (await require_schema(empty_db_url)).at_head


async def test_newer_than_the_code_is_refused(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url)
    await _set_revision(empty_db_url, "0123456789ab")
    with pytest.raises(
        StoreError,
        match=r"database is newer than this rlexec \(revision "
        r"0123456789ab\)",
    ):
        await require_schema(empty_db_url, create=True)
    status = await schema_status(empty_db_url)
    assert status.newer and "newer than this rlexec" in status.describe()


async def test_a_missing_sqlite_file_is_not_created_by_looking(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'x.db'}"
    status = await schema_status(url)
    assert not status.exists and status.describe().endswith("does not exist")
    with pytest.raises(StoreError, match="does not exist: create it with `rlexec db upgrade`"):
        await require_schema(url)
    assert not (tmp_path / "no").exists()


def test_db_current_exit_status_tells_a_deploy_script_whether_to_upgrade(
    empty_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 at head; 1 when this rlexec cannot use the database as it is; 2 on an error."""

    def current() -> tuple[int, str]:
        code = main(["db", "current", "--database-url", empty_db_url])
        return code, capsys.readouterr().out

    code, out = current()
    if empty_db_url.startswith("sqlite"):
        assert code == 2 and out == ""  # the file does not exist: an error, nothing created
    else:
        assert code == 1 and "no rlexec schema" in out
    asyncio.run(upgrade_database(empty_db_url, FIRST))
    code, out = current()
    assert code == 1 and f"schema at {FIRST}, this rlexec needs {head_revision()}" in out
    asyncio.run(upgrade_database(empty_db_url))
    assert current() == (0, f"{redact_url(empty_db_url)}: {head_revision()} (head)\n")
    asyncio.run(_set_revision(empty_db_url, "ffffffffffff"))
    code, out = current()
    assert code == 1 and "newer than this rlexec" in out
