"""``train --workers N`` is one invocation: its N actor processes write one run id."""

from __future__ import annotations

import sqlalchemy as sa

from rlexec.store.engine import create_engine
from rlexec.training.workers import train_workers
from tests.training.conftest import small_config


async def test_the_actors_of_one_workers_run_share_its_run_id(sqlite_url: str) -> None:
    config = small_config(sqlite_url)
    result = await train_workers(config, "crew", 2, episodes=4, handle_signals=False)
    assert len(result.actor_results) == 2 and result.episodes == 4
    run_ids = {r["run_id"] for r in result.actor_results}
    assert len(run_ids) == 1 and None not in run_ids
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            stored = (
                await conn.execute(sa.text("SELECT run_id, COUNT(*) FROM episodes GROUP BY run_id"))
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in stored] == [(run_ids.pop(), 4)]
