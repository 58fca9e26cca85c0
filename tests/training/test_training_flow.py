"""Training into the store and resuming; evaluation never learns; seeds stay out of the
held-out range."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from rlexec.config import AgentMode
from rlexec.errors import InvalidInputError
from rlexec.market.book import Side
from rlexec.store.engine import create_engine
from rlexec.training.evaluate import evaluate_agent, evaluate_policy
from rlexec.training.markets import side_for_seed
from rlexec.training.session import open_session
from rlexec.training.train import train
from tests.training.conftest import small_config


async def _scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(sa.text(sql))).scalar()
    finally:
        await engine.dispose()


async def _table(config: object, agent: str) -> tuple[np.ndarray, np.ndarray, float]:
    session = await open_session(config, agent, mode=AgentMode.EVALUATION, must_exist=True)  # type: ignore[arg-type]
    try:
        return (
            session.agent.q_values.copy(),
            session.agent.visits.copy(),
            session.agent_row.epsilon,
        )
    finally:
        await session.close()


async def test_training_writes_the_store_and_a_resumed_run_continues(any_db_url: str) -> None:
    config = small_config(any_db_url)
    first = await train(config, "agent-a", episodes=30, progress=False, metrics_every=10)
    assert (first.episodes, first.first_seed, first.last_seed) == (30, 0, 29)
    assert first.q_rows_loaded == 0
    assert await _scalar(any_db_url, "select count(*) from episodes where mode = 'training'") == 30
    assert await _scalar(any_db_url, "select count(*) from decisions") > 30 * 5
    q_rows = await _scalar(any_db_url, "select count(*) from q_values")
    assert q_rows > 0
    # every 10 episodes; the 30th episode's row is the final one (no duplicate at the end)
    assert await _scalar(any_db_url, "select count(*) from policy_metrics") == 3
    assert await _scalar(any_db_url, "select count(distinct updates) from policy_metrics") == 3
    assert (
        await _scalar(
            any_db_url,
            "select count(*) from policy_metrics where source = 'training' and mode = 'training' "
            "and run_id is not null",
        )
        == 3
    )
    assert await _scalar(any_db_url, "select count(distinct run_id) from episodes") == 1
    assert await _scalar(any_db_url, "select count(*) from experiences") > 0
    _, visits_before, _ = await _table(config, "agent-a")
    assert visits_before.sum() > 0

    second = await train(config, "agent-a", episodes=10, progress=False)
    # a new block of seeds from the store: after every seed handed out before, contiguous
    assert second.first_seed >= 30 and second.last_seed == second.first_seed + 9
    assert second.q_rows_loaded == q_rows
    seeds = await _scalar(
        any_db_url, "select count(distinct seed) from episodes where mode = 'training'"
    )
    assert seeds == 40
    _, visits_after, _ = await _table(config, "agent-a")
    assert visits_after.sum() > visits_before.sum()  # learning continued from the loaded table
    assert np.all(visits_after >= visits_before)


async def test_evaluation_never_learns_and_stores_paired_episodes(sqlite_url: str) -> None:
    config = small_config(sqlite_url)
    await train(config, "default", episodes=20, progress=False)
    q_before, visits_before, eps_before = await _table(config, "default")
    ev = await evaluate_agent(config, "default", seeds=5)
    q_after, visits_after, eps_after = await _table(config, "default")
    assert np.array_equal(q_before, q_after)
    assert np.array_equal(visits_before, visits_after)
    assert eps_after == eps_before  # the stored training epsilon is not reset to 0
    assert [r.seed for r in ev.agent] == [r.seed for r in ev.base]
    assert ev.agent[0].seed == config.rl_execution.evaluation.first_seed
    assert ev.metrics.estimated_improvement is not None
    base_mean = np.mean([r.is_bps for r in ev.base])
    agent_mean = np.mean([r.is_bps for r in ev.agent])
    assert ev.metrics.estimated_improvement == pytest.approx(base_mean - agent_mean)
    rows = await _scalar(sqlite_url, "select count(*) from episodes where mode = 'evaluation'")
    assert rows == 10
    assert (
        await _scalar(
            sqlite_url,
            "select count(*) from policy_metrics where estimated_improvement_bps is not null",
        )
        == 1
    )
    snapshots = await _scalar(sqlite_url, "select count(*) from policy_snapshots")
    episodes = await _scalar(sqlite_url, "select count(*) from episodes")
    metrics = await evaluate_policy(config, "default", seeds=3, store=False)
    assert metrics.estimated_improvement is not None
    # --no-store writes nothing: no episodes, and no snapshot of the table it acted on
    assert await _scalar(sqlite_url, "select count(*) from policy_snapshots") == snapshots
    assert await _scalar(sqlite_url, "select count(*) from episodes") == episodes


async def test_training_seeds_never_reach_the_held_out_range(sqlite_url: str) -> None:
    """Training stops below the validation seeds (validation_first_seed), which lie below the
    evaluation seeds (first_seed): neither is ever trained on."""
    config = small_config(sqlite_url)
    rl = config.rl_execution
    evaluation = rl.evaluation.model_validate(
        {**rl.evaluation.model_dump(), "validation_first_seed": 5}
    )  # validated: the validation seeds stay below the evaluation seeds
    assert evaluation.first_seed > 5
    config = config.model_copy(
        update={"rl_execution": rl.model_copy(update={"evaluation": evaluation})}
    )
    result = await train(config, "default", episodes=50, progress=False)
    assert result.episodes == 5 and result.last_seed == 4
    with pytest.raises(InvalidInputError, match=r"training seed \d+ reaches .* = 5 \(held-out"):
        await train(config, "default", episodes=1, progress=False)


async def test_evaluating_an_unknown_agent_is_a_clear_error(sqlite_url: str) -> None:
    from rlexec.store.migrate import upgrade_database

    await upgrade_database(sqlite_url)
    with pytest.raises(InvalidInputError, match="train it first"):
        await evaluate_policy(small_config(sqlite_url), "nobody", seeds=2)


def test_random_side_is_drawn_from_the_seed() -> None:
    config = small_config("sqlite+aiosqlite:///unused.db", side="random")
    sides = [side_for_seed(config.rl_execution.simulator, s) for s in range(200)]
    assert sides == [side_for_seed(config.rl_execution.simulator, s) for s in range(200)]
    assert 60 < sides.count(Side.BUY) < 140
