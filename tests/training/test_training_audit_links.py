"""Every stored episode links to what re-simulating it needs: its config by hash (configs table)
and the policy snapshot its session started from; a greedy evaluation episode then replays
identically from that snapshot."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.replay.episode import replay_episode
from rlexec.store.engine import create_engine
from rlexec.store.snapshots import get_snapshot, load_config_data
from rlexec.training.evaluate import evaluate_policy
from rlexec.training.train import train
from tests.training.conftest import small_config


async def _rows(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(sql))).all())


async def test_episodes_link_config_and_snapshot_and_evaluation_replays(any_db_url: str) -> None:
    config = small_config(any_db_url)
    await train(config, "linked", episodes=15, progress=False, handle_signals=False)
    await evaluate_policy(config, "linked", seeds=3, store=True)
    engine = create_engine(any_db_url)
    try:
        rows = await _rows(
            engine,
            "SELECT episode_id, mode, config_hash, snapshot_id FROM episodes "
            "WHERE executor LIKE 'rl%' ORDER BY started_at",
        )
        modes = {row.mode for row in rows}
        assert {"training", "evaluation"} <= modes
        for row in rows:
            assert await load_config_data(engine, row.config_hash) is not None
        training = [row for row in rows if row.mode == "training"]
        evaluation = [row for row in rows if row.mode == "evaluation"]
        # a training episode ran the live table, which every episode changes: no snapshot
        # names it (the session-start snapshot would be a different policy)
        assert {row.snapshot_id for row in training} == {None}
        for row in evaluation:  # a greedy evaluation ran exactly its session's snapshot
            assert row.snapshot_id is not None
            assert (await get_snapshot(engine, row.snapshot_id)).id == row.snapshot_id
        for row in evaluation:
            result = await replay_episode(engine, row.episode_id, config)
            assert result.identical, result.mismatch.describe() if result.mismatch else ""
    finally:
        await engine.dispose()


async def test_the_config_an_episode_names_has_the_reward_mode_it_ran(any_db_url: str) -> None:
    """An agent trained with reward_mode='original' while the file says 'shortfall': its
    training episodes, and the evaluation that finds the stored mode, name a configs row that
    says 'original' (the hash is taken after the reward mode is decided)."""
    config = small_config(any_db_url)
    assert str(config.rl_execution.reward.mode) == "shortfall"
    await train(config, "orig", episodes=3, reward_mode="original", progress=False,
                handle_signals=False)  # fmt: skip
    await evaluate_policy(config, "orig", seeds=2, store=True)
    engine = create_engine(any_db_url)
    try:
        rows = await _rows(
            engine,
            "SELECT DISTINCT mode, config_hash, reward_mode FROM episodes "
            "WHERE agent_name = 'orig' AND executor LIKE 'rl%'",
        )
        assert {row.mode for row in rows} == {"training", "evaluation"}
        for row in rows:
            data = await load_config_data(engine, row.config_hash)
            assert data is not None and data["reward"]["mode"] == row.reward_mode == "original"
    finally:
        await engine.dispose()
