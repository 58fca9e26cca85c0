"""Fixtures of the training/evaluation/report tests: a small, fast config over a fresh database
(SQLite file, or a PostgreSQL database of its own via the store tests' helpers)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlexec.config import Config, parse_config
from rlexec.store.migrate import upgrade_database
from tests.store.conftest import (  # noqa: F401 (autouse fixtures)
    drop_pg_database,
    new_pg_database,
    no_child_left,
    open_stores,
)


def small_config(url: str, **simulator: Any) -> Config:
    """Short episodes (60 steps of 400 shares), no background flush during a test."""
    return parse_config(
        {
            "rl_execution": {
                "database": {"url": url},
                "persistence": {"save_interval_secs": 3600, "experiences_to_load": 500},
                "simulator": {"parent_quantity": 400, "horizon_steps": 60, **simulator},
                "executor": {"decision_interval_steps": 5, "slices": 5},
                "evaluation": {"seeds": 4},
            }
        }
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'rlexec.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new SQLite file (training creates it), or a PostgreSQL database upgraded to head
    (a command never creates rlexec's schema there: ``rlexec db upgrade`` does)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'rlexec.db'}"
        return
    url = new_pg_database()
    asyncio.run(upgrade_database(url))
    try:
        yield url
    finally:
        drop_pg_database(url)
