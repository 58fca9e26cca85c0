"""Programmatic Alembic, and the one rule for when a database may be used, created or must be
upgraded first.

The migrations ship inside the package as ``rlexec.migrations`` (the repository keeps them in
the top-level ``migrations/`` folder, which setuptools maps into the package), so an installed
wheel migrates like a checkout. These helpers open an async engine for the URL, pass its
connection to Alembic in ``config.attributes["connection"]`` and run the command inside
``connection.run_sync``.

No command migrates silently (``require_schema``):

- a database at this rlexec's head revision is used as it is;
- a new SQLite file (missing, or empty: no tables) is created and migrated only when the caller
  opts in with ``create=True``, with a one-line notice (a warning on the ``rlexec.store.migrate``
  logger, which Python prints on stderr when logging is not configured);
- an existing database behind head is refused: "schema at X, this rlexec needs Y: run
  `rlexec db upgrade`"; one ahead of the code (a revision this rlexec does not know) is refused:
  "database is newer than this rlexec (revision X)"; a database without rlexec's schema (a new
  PostgreSQL database) is refused with the same advice, and a missing one is an error unless
  ``create``.

``rlexec db upgrade`` (``upgrade_database``) is the explicit upgrade.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

from rlexec.errors import StoreError
from rlexec.logs import NOTICE
from rlexec.store.engine import (
    create_engine,
    create_sqlite_folder,
    describe_error,
    parse_url,
    redact_url,
    sqlite_path,
)

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "rlexec.migrations"
UPGRADE_HINT = "run `rlexec db upgrade`"


def migrations_dir() -> Path:
    """The folder of the shipped migrations (``rlexec/migrations`` in a wheel; the
    repository's ``migrations/`` in an editable install)."""
    try:
        folder = Path(str(importlib.resources.files(MIGRATIONS_PACKAGE)))
    except ModuleNotFoundError:
        raise StoreError(
            f"the migrations ({MIGRATIONS_PACKAGE}) are not installed with rlexec: reinstall it "
            "(pip install . or pip install -e .)"
        ) from None
    return folder


def alembic_config(url: str | URL | None = None) -> AlembicConfig:
    """Alembic's Config for rlexec's migrations; ``url`` (if given) wins over the rlexec config."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["skip_logging_setup"] = True
    if url is not None:
        rendered = parse_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision of the shipped migrations."""
    head = _scripts().get_current_head()
    if head is None:
        raise StoreError(f"no migrations found in {migrations_dir()}")
    return head


async def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (creating the schema if empty, and a
    SQLite file with its folder if missing)."""
    create_sqlite_folder(url)
    await _run(url, lambda cfg: command.upgrade(cfg, revision), f"upgrade to {revision}")


async def downgrade_database(url: str | URL, revision: str) -> None:
    """Take the database at ``url`` down to ``revision`` ("base" drops every table)."""
    await _run(url, lambda cfg: command.downgrade(cfg, revision), f"downgrade to {revision}")


async def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None for a database without rlexec tables."""
    return (await _inspect(url))[0]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands against this rlexec's migrations."""

    url: str  # masked
    exists: bool  # False: a SQLite file that does not exist (nothing was created)
    revision: str | None  # None: no rlexec schema
    head: str  # this rlexec's newest revision
    known: bool  # the revision is one of this rlexec's migrations
    empty: bool  # no tables at all (a new database)

    @property
    def at_head(self) -> bool:
        return self.revision == self.head

    @property
    def newer(self) -> bool:
        """The database is at a revision this rlexec does not know (a newer rlexec's)."""
        return self.revision is not None and not self.known

    def describe(self) -> str:
        """One line: the revision and whether it is at head (``rlexec db current``)."""
        if not self.exists:
            return f"{self.url}: does not exist"
        if self.revision is None:
            return f"{self.url}: no rlexec schema; this rlexec needs {self.head}: {UPGRADE_HINT}"
        if self.at_head:
            return f"{self.url}: {self.revision} (head)"
        if self.newer:
            return (
                f"{self.url}: database is newer than this rlexec (revision {self.revision}; "
                f"this rlexec's head is {self.head}): upgrade rlexec"
            )
        return (
            f"{self.url}: schema at {self.revision}, this rlexec needs {self.head}: {UPGRADE_HINT}"
        )


async def schema_status(url: str | URL) -> SchemaStatus:
    """Inspect the database without changing it (a missing SQLite file is not created)."""
    head = head_revision()
    shown = redact_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return SchemaStatus(shown, False, None, head, False, True)
    revision, tables = await _inspect(url)
    known = revision is not None and _is_known(revision)
    return SchemaStatus(shown, True, revision, head, known, tables == 0)


async def require_schema(url: str | URL, *, create: bool = False) -> SchemaStatus:
    """THE rule for using a database (see the module doc): returns its status at head, creates
    and migrates a new SQLite database only with ``create=True``, else raises ``StoreError``
    saying what to do."""
    status = await schema_status(url)
    if status.at_head:
        return status
    new_sqlite = sqlite_path(url) is not None and (not status.exists or status.empty)
    if new_sqlite and create:
        await upgrade_database(url)
        log.warning(
            "rlexec: created a new database %s (schema %s)", status.url, status.head, extra=NOTICE
        )
        return await schema_status(url)
    if not status.exists:
        raise StoreError(
            f"database {status.url} does not exist: create it with `rlexec db upgrade` "
            "(or start with `rlexec train`)"
        )
    if status.revision is None:
        raise StoreError(
            f"database {status.url} has no rlexec schema, this rlexec needs {status.head}: "
            f"{UPGRADE_HINT}"
        )
    if status.newer:
        raise StoreError(
            f"{status.url}: database is newer than this rlexec (revision {status.revision}): "
            "upgrade rlexec, or use a database of this version"
        )
    raise StoreError(
        f"database {status.url}: schema at {status.revision}, this rlexec needs "
        f"{status.head}: {UPGRADE_HINT}"
    )


def _is_known(revision: str) -> bool:
    return any(script.revision == revision for script in _scripts().walk_revisions())


async def _inspect(url: str | URL) -> tuple[str | None, int]:
    """(revision or None, number of tables) of an existing database (a reader: it never holds
    up a running trainer's flush)."""
    engine = create_engine(url, pool=False, read_only=True)

    def read(sync: Connection) -> tuple[str | None, int]:
        revision = MigrationContext.configure(sync).get_current_revision()
        return revision, len(sa.inspect(sync).get_table_names())

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    except StoreError:
        raise
    except Exception as exc:  # driver errors differ per backend (OSError, asyncpg, SQLAlchemy)
        raise StoreError(
            f"cannot read the schema revision of {redact_url(engine.url)!r}: "
            f"{describe_error(exc, engine.url)}"
        ) from None
    finally:
        await engine.dispose()


async def _run(url: str | URL, action: Callable[[AlembicConfig], None], what: str) -> None:
    engine = create_engine(url, pool=False)
    cfg = alembic_config(url)

    def run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        action(cfg)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    except StoreError:
        raise
    except Exception as exc:  # driver errors differ per backend (OSError, asyncpg, SQLAlchemy)
        raise StoreError(
            f"{what} failed on {redact_url(engine.url)!r}: {describe_error(exc, engine.url)}"
        ) from None
    finally:
        await engine.dispose()
