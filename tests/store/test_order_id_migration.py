"""Migration f7d2c4b8a913 adds ``episodes.order_id`` in place: NULL on old rows, indexed, the
append-only triggers and the views untouched; today's repository writes and reads it; the
downgrade restores e3c1a9d27f40 exactly, keeping every row; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import current_revision, downgrade_database, upgrade_database
from rlexec.store.repositories import EpisodeRepository
from tests.store import records_factory as rf
from tests.store.test_learning_policy_migration import (
    _all,
    _audit_trail_refuses_changes,
    _counts,
    _schema_objects,
    seed_every_table,
)

BEFORE = "e3c1a9d27f40"
REVISION = "f7d2c4b8a913"


async def test_upgrade_in_place_and_downgrade_exactly(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url, BEFORE)
    engine = create_engine(empty_db_url, pool=False)
    try:
        counts = await seed_every_table(engine)
        before = await _schema_objects(engine)
        old_episodes = await _all(engine, "SELECT episode_id FROM episodes ORDER BY episode_id")

        await upgrade_database(empty_db_url, REVISION)
        assert await current_revision(empty_db_url) == REVISION
        assert await _counts(engine) == counts
        assert await _all(engine, "SELECT order_id FROM episodes") == [(None,)] * len(old_episodes)
        after = await _schema_objects(engine)
        assert after["trigger"] == before["trigger"] and after["view"] == before["view"]
        added = set(after["index"]) - set(before["index"])
        assert added == {"ix_episodes_order_id"}
        await _audit_trail_refuses_changes(engine)

        # a row only this revision can hold: written by today's repository, read back
        reused = dataclasses.replace(rf.episode("e-new"), order_id="ORD-1")
        async with session_factory(engine)() as session, session.begin():
            await EpisodeRepository(session).append(1, [reused])
        async with session_factory(engine)() as session:
            stored = await EpisodeRepository(session).get("e-new")
        assert stored is not None and stored.order_id == "ORD-1"

        await downgrade_database(empty_db_url, BEFORE)
        assert await current_revision(empty_db_url) == BEFORE
        assert await _counts(engine) == {**counts, "episodes": counts["episodes"] + 1}
        assert await _schema_objects(engine) == before
        await _audit_trail_refuses_changes(engine)
    finally:
        await engine.dispose()
