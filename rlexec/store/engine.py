"""Async engines for the two supported backends, and safe handling of database URLs.

- ``sqlite+aiosqlite`` (the embedded default): WAL journal, ``synchronous=NORMAL``, foreign
  keys on, a busy timeout, and every transaction opened with ``BEGIN IMMEDIATE`` (a deferred
  transaction that later upgrades to a write fails at once with "database is locked",
  whatever the timeout). An engine never creates a missing database file or folder: only
  ``rlexec.store.migrate.require_schema(..., create=True)`` and ``rlexec db upgrade`` do.
- ``read_only=True``: an engine that only reads. On SQLite its transactions start with a plain
  (deferred) ``BEGIN`` and ``PRAGMA query_only`` refuses writes, so it never takes the write
  lock: in WAL mode such a reader and the writer never wait for each other. (An ``IMMEDIATE``
  reader holds the lock for its whole transaction, and a training process's flush waits for
  it: measured, seconds for a reader that scans the file.) On PostgreSQL its sessions are
  ``default_transaction_read_only``.
- ``postgresql+asyncpg`` for production (several processes, one store); the driver comes with
  the ``postgres`` extra (``pip install 'rlexec[postgres]'``).

A URL is only ever shown through ``redact_url`` (password masked); errors are ``StoreError``
and name the URL without its password.

For pandas and other synchronous tools (``pandas.read_sql`` cannot use an async engine: it
fails with MissingGreenlet), ``sync_engine(url)`` opens the same database through the
synchronous driver: the standard library's ``sqlite3``, or ``psycopg`` (3) for PostgreSQL,
installed by the ``postgres`` extra. ``sync_url`` is the matching URL.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from rlexec.config import DatabaseConfig
from rlexec.errors import StoreError
from rlexec.redact import mask_passwords

log = logging.getLogger(__name__)

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
# The Python package each driver needs, and how to install it.
DRIVER_PACKAGES = {
    "sqlite+aiosqlite": ("aiosqlite", "pip install aiosqlite (a dependency of rlexec)"),
    "postgresql+asyncpg": ("asyncpg", "pip install 'rlexec[postgres]'"),
}
SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg"}
SQLITE_BUSY_TIMEOUT_MS = 30_000
DEFAULT_COMMAND_TIMEOUT_SECS = 60.0  # = DatabaseConfig.command_timeout_secs
# closing a healthy pool takes milliseconds, but seconds on a starved machine (each aiosqlite
# close is a hop to its thread): generous; a store known to hang is abandoned instead
DISPOSE_TIMEOUT_SECS = 10.0


def parse_url(url: str | URL) -> URL:
    """Parse and check a database URL; a bad one raises StoreError (password masked)."""
    if isinstance(url, URL):
        parsed = url
    else:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
            reason = "the port is not a number" if isinstance(exc, ValueError) else "not a URL"
            raise StoreError(
                f"database URL {mask_passwords(url)!r} is not a valid URL ({reason}; expected "
                f"e.g. sqlite+aiosqlite:///data/rlexec.db or postgresql+asyncpg://user@host/db)"
            ) from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise StoreError(
            f"database URL {redact_url(parsed)!r}: driver {parsed.drivername!r} is not "
            f"supported (expected one of: {', '.join(SUPPORTED_DRIVERS)})"
        )
    return parsed


def redact_url(url: str | URL) -> str:
    """The URL as text with any password (``user:password@``, a ``password=`` query
    parameter) replaced by ``***``; safe to log and print."""
    if isinstance(url, URL):
        return mask_passwords(url.render_as_string(hide_password=True))
    try:
        return mask_passwords(make_url(url).render_as_string(hide_password=True))
    except (ArgumentError, ValueError):
        return mask_passwords(url)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a file-backed SQLite URL (None for PostgreSQL, ``:memory:`` and ``file:``
    URIs)."""
    parsed = parse_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_sqlite_folder(url: str | URL) -> None:
    """Create the folder of a SQLite database file if it is missing (new databases only)."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"database URL {redact_url(url)!r}: cannot create folder {path.parent}: {exc.strerror}"
        ) from None


def create_engine(
    url: str | URL,
    *,
    connect_timeout_secs: float = 10.0,
    command_timeout_secs: float = DEFAULT_COMMAND_TIMEOUT_SECS,
    pool: bool = True,
    echo: bool = False,
    read_only: bool = False,
) -> AsyncEngine:
    """An AsyncEngine for ``url`` with the backend's settings applied (see the module doc).

    ``pool=False`` uses NullPool (one connection per checkout: migrations, short CLI runs).
    ``read_only=True``: a reader that never holds the write lock (see the module doc).
    ``command_timeout_secs``: PostgreSQL: asyncpg's client-side ``command_timeout``, the longest
    any statement (a COPY included) may wait for the server, which also ends the wait on a
    server or network that hangs without an error (SQLite's waits are bounded by its busy
    timeout).
    Creating the engine does not connect; use ``check_connection`` to fail early.
    """
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if not pool:
        kwargs["poolclass"] = NullPool
    if parsed.drivername.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["connect_args"] = {
            "timeout": connect_timeout_secs,
            "command_timeout": command_timeout_secs,
        }
        if read_only:
            kwargs["connect_args"]["server_settings"] = {"default_transaction_read_only": "on"}
        if pool:
            kwargs["pool_pre_ping"] = True
    try:
        engine = create_async_engine(parsed, **kwargs)
    except ImportError:
        package, install = DRIVER_PACKAGES[parsed.drivername]
        raise StoreError(
            f"database URL {redact_url(parsed)!r}: its driver {package} is not installed: {install}"
        ) from None
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(
            f"cannot create an engine for {redact_url(parsed)!r}: {describe_error(exc, parsed)}"
        ) from None
    if parsed.drivername.startswith("sqlite"):
        _configure_sqlite(engine, read_only=read_only)
    return engine


def engine_for(database: DatabaseConfig, *, read_only: bool = False) -> AsyncEngine:
    """The engine of a config's ``[rl_execution.database]`` section: its URL, connect and
    command timeouts (``read_only``: see ``create_engine``)."""
    return create_engine(
        database.url,
        connect_timeout_secs=database.connect_timeout_secs,
        command_timeout_secs=database.command_timeout_secs,
        read_only=read_only,
    )


def sync_url(url: str | URL) -> URL:
    """The synchronous-driver URL of the same database (see the module doc)."""
    parsed = parse_url(url)
    return parsed.set(drivername=SYNC_DRIVERS[parsed.drivername])


def sync_engine(url: str | URL, *, connect_timeout_secs: float = 10.0) -> Engine:
    """A synchronous SQLAlchemy Engine on the same database, for pandas::

    pd.read_sql("SELECT * FROM episode_summary", sync_engine(config_url))
    """
    target = sync_url(url)
    args: dict[str, Any] = {}
    if target.drivername.startswith("postgresql"):
        args["connect_timeout"] = max(1, round(connect_timeout_secs))
    else:
        args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
    try:
        return create_sync_engine(target, connect_args=args)
    except (ArgumentError, NoSuchModuleError, ImportError):
        raise StoreError(
            f"cannot open {redact_url(target)!r} synchronously: its driver is not installed "
            "(pip install 'rlexec[postgres]' brings psycopg)"
        ) from None


async def dispose_engine(
    engine: AsyncEngine, timeout_secs: float = DISPOSE_TIMEOUT_SECS, *, abandon: bool = False
) -> bool:
    """``engine.dispose()``, bounded: closing a pooled connection to a server that hangs waits
    for its answer (asyncpg sends Terminate and waits), which must not hold up a process's
    exit. ``abandon`` (the store is known to hang): the pool is dropped without closing its
    connections (the process's end closes their sockets). False: not done in time."""
    if abandon:
        await engine.dispose(close=False)
        return True
    try:
        async with asyncio.timeout(timeout_secs):
            await engine.dispose()
    except TimeoutError:
        log.warning("closing the connections to %s took over %g s; left open",
                    redact_url(engine.url), timeout_secs)  # fmt: skip
        return False
    return True


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for the repositories; the caller owns the unit of work."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def check_connection(engine: AsyncEngine, timeout_secs: float = 10.0) -> None:
    """Connect once and run ``SELECT 1``; an unreachable database raises StoreError."""
    try:
        async with asyncio.timeout(timeout_secs), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        raise StoreError(
            f"database {redact_url(engine.url)!r} did not answer within {timeout_secs:g} s"
        ) from None
    except Exception as exc:  # driver errors differ per backend; all mean "unreachable"
        raise StoreError(
            f"cannot connect to database {redact_url(engine.url)!r}: "
            f"{describe_error(exc, engine.url)}"
        ) from None


def describe_error(exc: BaseException, url: URL | None = None) -> str:
    """A one-line description of a driver error, with any password scrubbed out."""
    message = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
    if url is not None and url.password:
        message = message.replace(str(url.password), "***")
    return mask_passwords(f"{type(exc).__name__}: {message}")[:500]


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool = False) -> None:
    """Pragmas on connect; pysqlite's own transaction handling off; BEGIN IMMEDIATE on begin
    (a read-only engine: ``query_only`` and a deferred BEGIN, which takes no write lock).

    This is SQLAlchemy's documented recipe for "serializable isolation / savepoints" with
    (aio)sqlite: the driver must not emit BEGIN itself, the engine does.
    """
    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)
