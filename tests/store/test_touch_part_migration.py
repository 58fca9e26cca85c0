"""Migration e3c1a9d27f40 adds the touch state part to ``decisions`` in place: the feature
``resting_behind_ticks`` NULL on old rows, the bucket ``touch_bucket`` 0 for a key of the
discretizer's form (1 for a key that says ``.b1``: a row written at this revision, downgraded
and upgraded again) and NULL for a key of another form; ``decision_outcomes`` ends with both;
the append-only triggers, the indexes and the other views come through word for word; the
downgrade restores d5605856a764 exactly, keeping every row; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import current_revision, downgrade_database, upgrade_database
from rlexec.store.repositories import DecisionRepository
from tests.store import records_factory as rf
from tests.store.test_learning_policy_migration import (
    _all,
    _audit_trail_refuses_changes,
    _counts,
    _schema_objects,
    seed_every_table,
)

BEFORE = "d5605856a764"
REVISION = "e3c1a9d27f40"


async def test_upgrade_in_place_and_downgrade_exactly(empty_db_url: str) -> None:
    await upgrade_database(empty_db_url, BEFORE)
    engine = create_engine(empty_db_url, pool=False)
    try:
        counts = await seed_every_table(engine)  # seq 1: an 8-part key; seq 2: another form
        before = await _schema_objects(engine)

        await upgrade_database(empty_db_url, REVISION)
        assert await current_revision(empty_db_url) == REVISION
        assert await _counts(engine) == counts
        columns = "seq, resting_behind_ticks, touch_bucket, remaining_bucket"
        expected = [(1, None, 0, 1), (2, None, None, None)]
        assert await _all(engine, f"SELECT {columns} FROM decisions ORDER BY seq") == expected
        outcomes = await _all(engine, f"SELECT {columns} FROM decision_outcomes ORDER BY seq")
        assert outcomes == expected
        after = await _schema_objects(engine)
        for kind in ("trigger", "index"):
            assert after[kind] == before[kind], kind
        for name in ("action_stats_by_hour", "action_stats_by_spread", "episode_summary"):
            assert after["view"][name] == before["view"][name], name
        await _audit_trail_refuses_changes(engine)

        # a row only this revision can hold: written by today's repository, read back
        behind = dataclasses.replace(
            rf.decision("e1", 3), state_key="r2.t2.s1.i1.h3.u1.v0.q0.o2.l1.b1",
            resting_behind_ticks=4.0,
        )  # fmt: skip
        async with session_factory(engine)() as session, session.begin():
            await DecisionRepository(session).append(1, [behind])
        outcomes = await _all(engine, f"SELECT {columns} FROM decision_outcomes WHERE seq = 3")
        assert outcomes == [(3, 4.0, 1, 2)]  # r2
        async with session_factory(engine)() as session:
            decisions = await DecisionRepository(session).for_episode("e1")
        assert [d.resting_behind_ticks for d in decisions if d.seq == 3] == [4.0]

        await downgrade_database(empty_db_url, BEFORE)
        assert await current_revision(empty_db_url) == BEFORE
        assert await _counts(engine) == {**counts, "decisions": counts["decisions"] + 1}
        assert await _schema_objects(engine) == before
        await _audit_trail_refuses_changes(engine)

        await upgrade_database(empty_db_url, REVISION)  # seq 3's key still says b1
        assert await _all(engine, "SELECT seq, touch_bucket FROM decisions ORDER BY seq") == [
            (1, 0), (2, None), (3, 1)
        ]  # fmt: skip
    finally:
        await engine.dispose()
