"""Programmatic Alembic: upgrade, downgrade and inspect a database from Python or the CLI.

Migrations live in ``migrations/`` beside ``alembic.ini`` at the project root. These helpers
open an async engine for the URL, pass its connection to Alembic in
``config.attributes["connection"]`` and run the command inside ``connection.run_sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

from rlexec.errors import StoreError
from rlexec.store.engine import create_engine, describe_error, parse_url, redact_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


def alembic_config(url: str | URL | None = None) -> AlembicConfig:
    """Alembic's Config for rlexec's migrations; ``url`` (if given) wins over the rlexec config."""
    cfg = AlembicConfig(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["skip_logging_setup"] = True
    if url is not None:
        rendered = parse_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


async def upgrade_database(url: str | URL, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (creating the schema if empty)."""
    await _run(url, lambda cfg: command.upgrade(cfg, revision), f"upgrade to {revision}")


async def downgrade_database(url: str | URL, revision: str) -> None:
    """Take the database at ``url`` down to ``revision`` ("base" drops every table)."""
    await _run(url, lambda cfg: command.downgrade(cfg, revision), f"downgrade to {revision}")


async def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None for a database without rlexec tables."""
    engine = create_engine(url, pool=False)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
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
