"""Builders of valid audit records for the store tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from rlexec.records import (
    DecisionRecord,
    EpisodeRecord,
    ExperienceRecord,
    PolicyMetricsRecord,
)
from rlexec.store.models import Decision, Episode
from rlexec.store.repositories import (
    DECISION_COLUMNS,
    EPISODE_COLUMNS,
    decision_row,
    episode_rows,
)

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def episode(episode_id: str | None = None, agent_name: str = "agent-a") -> EpisodeRecord:
    return EpisodeRecord(
        episode_id=episode_id or str(uuid.uuid4()),
        agent_name=agent_name,
        executor="rl",
        mode="training",
        market="equity",
        side="buy",
        quantity=Decimal("2000"),
        arrival_mid=Decimal("100.005"),
        seed=7,
        horizon_steps=300,
        config_hash="abc123",
        snapshot_id=None,
        started_at=T0,
        ended_at=T0 + timedelta(minutes=5),
        filled_by_policy=Decimal("1500"),
        avg_price=Decimal("100.0125"),
        implementation_shortfall_bps=0.75,
        completion_quantity=Decimal("500"),
        completion_cost_bps=1.5,
        child_orders=12,
        total_reward=-0.75,
        terminated=True,
        truncated=False,
    )


def decision(episode_id: str, seq: int, action: str = "PlaceSmall") -> DecisionRecord:
    return DecisionRecord(
        episode_id=episode_id,
        seq=seq,
        step=seq,
        decided_at=T0 + timedelta(seconds=seq),
        remaining_size=0.5,
        time_elapsed_pct=0.25,
        urgency=1,
        bid_ask_spread=0.02,
        orderbook_imbalance=-0.3,
        recent_volatility=0.011,
        queue_depth_at_price=400.0,
        hour_of_day=14,
        minute_of_hour=30,
        seconds_since_last_trade=1.5,
        recent_fill_rate=0.8,
        avg_slippage_last_n=0.4,
        tick_size=0.01,
        mid_price=100.005,
        typical_queue_depth=500.0,
        state_key="r2.t2.s1.i1.h3.u1.v0.q0",
        state_index=1234,
        action=action,
        epsilon=0.3,
        action_probability=0.75,
        q_values=(0.1, -0.2, 0.3, -0.4, 0.5, -0.6),
        explored=False,
        child_quantity=Decimal("100") if action != "Wait" else None,
        child_price=Decimal("100.00") if action != "Wait" else None,
        filled_quantity=Decimal("60"),
        fill_price=Decimal("100.00"),
        fill_rate_reward=0.6,
        slippage_penalty=0.1,
        time_penalty=0.05,
        market_impact_penalty=0.02,
        reward_total=0.43,
    )


def experience(i: int = 0) -> ExperienceRecord:
    return ExperienceRecord(
        state_key=f"s{i}",
        action="Wait",
        reward=-0.5 + i,
        next_state_key=f"s{i + 1}",
        terminated=i % 2 == 0,
        truncated=False,
        created_at=T0 + timedelta(seconds=i),
    )


def metrics(i: int = 0) -> PolicyMetricsRecord:
    return PolicyMetricsRecord(
        recorded_at=T0 + timedelta(minutes=i),
        states_visited=10 + i,
        mean_q=-0.25,
        action_distribution={"Wait": 0.5, "PlaceSmall": 0.5},
        epsilon=0.2,
        estimated_improvement_bps=None if i else 1.25,
        updates=100 * i,
    )


async def append_decisions_as_of(
    session: AsyncSession, agent_id: int | None, records: Sequence[DecisionRecord]
) -> None:
    """Append ``records`` to a ``decisions`` table of an older revision, as that revision's
    code wrote them: today's row values, for the columns the table has (a migration test's
    database may be behind the repository's column list)."""
    rows = [decision_row(agent_id, r) for r in records]
    await _insert_as_of(session, Decision, DECISION_COLUMNS, rows)


async def append_episodes_as_of(
    session: AsyncSession, agent_id: int | None, records: Sequence[EpisodeRecord]
) -> None:
    """``append_decisions_as_of`` for ``episodes``."""
    await _insert_as_of(session, Episode, EPISODE_COLUMNS, episode_rows(agent_id, records))


async def _insert_as_of(
    session: AsyncSession, model: Any, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    table = cast(sa.Table, model.__table__)  # its column types convert money and times

    def present(connection: sa.Connection) -> set[str]:
        return {c["name"] for c in sa.inspect(connection).get_columns(table.name)}

    connection = await session.connection()
    columns = await connection.run_sync(present)
    kept = [
        {name: value for name, value in zip(names, row, strict=True) if name in columns}
        for row in rows
    ]
    await session.execute(table.insert(), kept)
