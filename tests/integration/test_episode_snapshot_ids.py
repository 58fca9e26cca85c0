"""An episode's ``snapshot_id`` names the policy that episode ran, in every mode (real store on
SQLite and PostgreSQL, real agent, the public API and the sessions):

- production (``rlexec.Agent``, the engine's face): the latest promoted snapshot, acted on;
  nothing promoted: the base, exactly, and NULL;
- evaluation and comparison: the snapshot taken when the session opened, whose table the
  agent acts on; baseline executors: NULL (no policy);
- training: NULL (the live table, which every episode changes).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import rlexec
from rlexec.config import AgentMode, Config
from rlexec.rl.types import ExecutionAction
from rlexec.store.promotions import record_promotion
from rlexec.store.snapshots import load_snapshot_policy
from rlexec.training.evaluate import run_comparison
from rlexec.training.session import open_session
from tests.integration.helpers import Engine
from tests.integration.test_public_api import HORIZON_SECS
from tests.training.conftest import small_config
from tests.training.test_production_policy import _promotion, _store_policy


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(sql), params)).all())


def _production_order(config: Config, name: str, seed: int) -> str:
    """One parent worked by the public API in production mode; its episode id."""
    with rlexec.Agent.open(config, agent=name, mode="production") as agent:
        eng = Engine(seed=seed)
        result = eng.work(agent.start_order("buy", 400, HORIZON_SECS, eng.book, now=0.0))
        return result.record.episode_id


async def _decisions(engine: AsyncEngine, episode_id: str) -> list[Any]:
    return await _rows(
        engine,
        "SELECT action, schedule_action, greedy_action, explored FROM decisions "
        "WHERE episode_id = :e ORDER BY seq",
        e=episode_id,
    )


async def test_production_episodes_name_the_promoted_snapshot_or_run_the_base(
    db_url: str, engine: AsyncEngine
) -> None:
    config = small_config(db_url)
    # the live table confidently prefers PlaceAll everywhere; it is snapshotted, not promoted
    snapshot_id = await _store_policy(config, "desk", ExecutionAction.PLACE_ALL)

    episode = await asyncio.to_thread(_production_order, config, "desk", 3)
    (stored,) = await _rows(engine, "SELECT snapshot_id FROM episodes WHERE episode_id = :e",
                            e=episode)  # fmt: skip
    assert stored.snapshot_id is None  # nothing promoted: no policy ran, the base did
    decisions = await _decisions(engine, episode)
    assert decisions and all(d.action == d.schedule_action for d in decisions)
    assert not any(d.explored for d in decisions)

    await record_promotion(engine, "desk", _promotion(snapshot_id, True))
    episode = await asyncio.to_thread(_production_order, config, "desk", 4)
    (stored,) = await _rows(engine, "SELECT snapshot_id FROM episodes WHERE episode_id = :e",
                            e=episode)  # fmt: skip
    assert stored.snapshot_id == snapshot_id
    decisions = await _decisions(engine, episode)
    greedy = [d for d in decisions if not d.explored]
    assert greedy and all(d.action == "PlaceAll" for d in greedy)

    # the sessions follow the same rule
    session = await open_session(config, "desk", mode=AgentMode.PRODUCTION)
    try:
        assert session.snapshot_id == snapshot_id
    finally:
        await session.close()
    session = await open_session(config, "desk", mode=AgentMode.TRAINING)
    try:
        assert session.snapshot_id is None
    finally:
        await session.close()


async def test_evaluation_and_comparison_episodes_name_the_snapshot_they_acted_on(
    db_url: str, engine: AsyncEngine
) -> None:
    config = small_config(db_url)
    await _store_policy(config, "judged", ExecutionAction.PLACE_ALL)

    session = await open_session(config, "judged", mode=AgentMode.EVALUATION)
    try:
        assert session.snapshot_id is not None
        state_config = session.agent.state_config
        _, table = await load_snapshot_policy(engine, session.snapshot_id, state_config)
        assert np.array_equal(table.q, session.agent.q_values)
        states = range(session.agent.num_states)
        # the agent acts on the snapshot's table: its greedy choice everywhere is PlaceAll
        assert {session.agent.greedy_index(s, int(ExecutionAction.WAIT)) for s in states} == {
            ExecutionAction.PLACE_ALL
        }
    finally:
        await session.close()

    run = await run_comparison(config, ["judged"], seeds=2)
    assert run.seeds
    rows = await _rows(
        engine,
        "SELECT executor, snapshot_id FROM episodes WHERE mode = 'evaluation' ORDER BY executor",
    )
    agent_rows = [r for r in rows if r.executor == "rl:judged"]
    assert len(agent_rows) == 2
    (compare_snapshot,) = {r.snapshot_id for r in agent_rows}
    assert compare_snapshot is not None and compare_snapshot != session.snapshot_id
    _, compared = await load_snapshot_policy(engine, compare_snapshot, session.agent.state_config)
    assert np.array_equal(compared.q, table.q)  # nothing learned since: the same table
    assert {r.snapshot_id for r in rows if r.executor != "rl:judged"} == {None}
    labels = await _rows(engine, "SELECT label FROM policy_snapshots WHERE id = :i",
                         i=compare_snapshot)  # fmt: skip
    assert labels[0].label.startswith("evaluation session")
