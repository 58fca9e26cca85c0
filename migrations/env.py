"""Alembic environment (async template): migrations run through ``connection.run_sync``.

The URL comes from, in order: the ``sqlalchemy.url`` option set by a programmatic caller
(``rlexec.store.migrate``), else the rlexec config (``config/rl_execution.toml`` or
``$RLEXEC_CONFIG``, overridden by ``RLEXEC_DATABASE__URL``). A connection passed in
``config.attributes["connection"]`` is used as is (programmatic upgrades, pytest-alembic).
SQLite gets ``render_as_batch`` so ALTERs become copy-and-move batches.
"""

from __future__ import annotations

import asyncio
import logging.config

from alembic import context
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import load_config
from rlexec.store.engine import create_engine, redact_url
from rlexec.store.models import metadata

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_setup"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    return load_config().rl_execution.database.url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def do_run_migrations(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(engine: AsyncEngine | None = None) -> None:
    own = engine is None
    engine = engine or create_engine(_database_url(), pool=False)
    logging.getLogger("alembic").info("migrating %s", redact_url(engine.url))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        if own:
            await engine.dispose()


def run_migrations_offline() -> None:
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A caller may pass a Connection (programmatic upgrades), or an Engine / AsyncEngine
    # (pytest-alembic passes the engine it was given).
    connectable = config.attributes.get("connection")
    if connectable is None:
        asyncio.run(run_async_migrations())
    elif isinstance(connectable, AsyncEngine):
        asyncio.run(run_async_migrations(connectable))
    elif isinstance(connectable, Engine):
        with connectable.begin() as connection:
            do_run_migrations(connection)
    else:
        do_run_migrations(connectable)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
