"""Integration fixtures: the store's migrated SQLite / PostgreSQL databases, re-exported from
``tests/store/conftest.py`` (one definition, both backends, a fresh database per test), with
its autouse fixtures (stores and child processes a test leaves are stopped)."""

from __future__ import annotations

from tests.store.conftest import db_url, empty_db_url, engine, no_child_left, open_stores

__all__ = ["db_url", "empty_db_url", "engine", "no_child_left", "open_stores"]
