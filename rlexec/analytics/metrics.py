"""The periodic ``policy_metrics`` rows of an agent: the latest one and a trend.

Rows are written by training, evaluation and outside engines (``PolicyMetricsRecord``): states
visited, mean Q over visited pairs, greedy action mix, epsilon, estimated improvement and the
update count at the time. Each row's source and mode are shown: an evaluation row's epsilon is
the greedy run's 0, not the agent's exploration rate.
"""

from __future__ import annotations

import math

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.errors import InvalidInputError
from rlexec.records import PolicyMetricsRecord
from rlexec.store.engine import session_factory
from rlexec.store.repositories import AgentRepository, PolicyMetricsRepository


async def read_metrics(engine: AsyncEngine, agent_name: str) -> list[PolicyMetricsRecord]:
    """Every policy metrics row of ``agent_name``, oldest first."""
    async with session_factory(engine)() as session:
        agent = await AgentRepository(session).get_by_name(agent_name)
        if agent is None:
            raise InvalidInputError(f"--agent = {agent_name!r}: not in the store")
        return await PolicyMetricsRepository(session).for_agent(agent.id)


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def format_metrics(agent_name: str, rows: list[PolicyMetricsRecord], last: int = 10) -> str:
    """The latest row in full, then the last ``last`` rows as a trend table."""
    if not rows:
        return f"agent {agent_name!r}: no policy metrics yet (they are written while training)"
    latest = rows[-1]
    mix = ", ".join(f"{k} {v:.1%}" for k, v in sorted(latest.action_distribution.items()))
    lines = [
        f"agent {agent_name!r}: {len(rows)} policy metrics rows; latest at "
        f"{latest.recorded_at.isoformat()}",
        f"  states visited          {latest.states_visited}",
        f"  mean Q                  {_number(latest.mean_q)}",
        f"  epsilon                 {_number(latest.epsilon)} (mode {latest.mode or '-'}, "
        f"source {latest.source or '-'})",
        f"  updates                 {latest.updates}",
        f"  estimated improvement   {_number(latest.estimated_improvement_bps, 3)} bps",
        f"  greedy action mix       {mix or '-'}",
        "",
        f"trend (last {min(last, len(rows))} rows):",
        f"{'recorded_at':<26} {'source':<10} {'updates':>10} {'epsilon':>8} {'states':>7} "
        f"{'mean_q':>10} {'improv_bps':>10}",
    ]
    for row in rows[-last:]:
        lines.append(
            f"{row.recorded_at.strftime('%Y-%m-%d %H:%M:%S'):<26} {row.source or '-':<10} "
            f"{row.updates:>10} "
            f"{_number(row.epsilon):>8} {row.states_visited:>7} {_number(row.mean_q):>10} "
            f"{_number(row.estimated_improvement_bps, 3):>10}"
        )
    if len(rows) >= 2:
        first = rows[-min(last, len(rows))]
        lines.append(
            f"change over the window: mean Q {latest.mean_q - first.mean_q:+.4f}, "
            f"states visited {latest.states_visited - first.states_visited:+d}, "
            f"epsilon {latest.epsilon - first.epsilon:+.4f}"
        )
    return "\n".join(lines)
