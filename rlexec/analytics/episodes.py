"""The stored episodes, newest last: what ``rlexec episodes list`` prints (ids for
``rlexec replay episode ID``), filtered by agent, mode and executor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import session_factory
from rlexec.store.models import Episode
from rlexec.store.repositories import wrap_errors


@dataclass(frozen=True, slots=True)
class EpisodeLine:
    episode_id: str
    started_at: datetime
    agent_name: str
    executor: str
    mode: str
    market: str
    seed: int
    side: str
    implementation_shortfall_bps: float
    child_orders: int


async def list_episodes(
    engine: AsyncEngine,
    *,
    agent: str | None = None,
    mode: str | None = None,
    executor: str | None = None,
    last: int = 20,
) -> list[EpisodeLine]:
    """The ``last`` most recent episodes matching the filters, oldest first."""
    t = Episode.__table__.c
    stmt = sa.select(
        t.episode_id, t.started_at, t.agent_name, t.executor, t.mode, t.market, t.seed, t.side,
        t.implementation_shortfall_bps, t.child_orders,
    )  # fmt: skip
    if agent is not None:
        stmt = stmt.where(t.agent_name == agent)
    if mode is not None:
        stmt = stmt.where(t.mode == mode)
    if executor is not None:
        stmt = stmt.where(t.executor == executor)
    stmt = stmt.order_by(t.started_at.desc(), t.episode_id.desc()).limit(last)
    async with session_factory(engine)() as db, wrap_errors(db, "listing episodes"):
        rows = (await db.execute(stmt)).all()
    return [EpisodeLine(*row) for row in reversed(rows)]


def format_episodes(lines: list[EpisodeLine]) -> str:
    if not lines:
        return "no episodes match"
    header = (
        f"{'episode_id':<36} {'started_at (UTC)':<19} {'agent':<16} {'executor':<20} "
        f"{'mode':<10} {'market':<17} {'seed':>10} {'side':<4} {'IS bps':>9} {'children':>8}"
    )
    out = [header]
    for e in lines:
        out.append(
            f"{e.episode_id:<36} {e.started_at:%Y-%m-%d %H:%M:%S} {e.agent_name[:16]:<16} "
            f"{e.executor[:20]:<20} {e.mode:<10} {e.market[:17]:<17} {e.seed:>10} {e.side:<4} "
            f"{e.implementation_shortfall_bps:>9.3f} {e.child_orders:>8}"
        )
    return "\n".join(out)
