"""Retention of the audit trail: ``rlexec db prune --before DATE``, the one sanctioned way to
remove ``episodes`` and ``decisions`` rows (their triggers refuse every other DELETE).

What goes, in one transaction: every episode that *ended* before ``before``, and every decision
decided before it except those of an episode that ended later (an episode is kept whole, its
decisions with it). The prune logs itself first in ``audit_prunes`` (``finished_at`` NULL: the
delete triggers let rows older than ``pruned_before`` go only while such a row exists), then
deletes, then records the counts and the range of the removed decisions and sets
``finished_at``. A failed prune rolls back whole, its log row included. ``dry_run`` counts
without removing or logging anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from rlexec.records import utc_now
from rlexec.store.engine import session_factory
from rlexec.store.models import AuditPrune, Decision, Episode
from rlexec.store.repositories import wrap_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune removed (or, for a dry run, would remove); ``prune_id`` is its
    ``audit_prunes`` row (None for a dry run)."""

    before: datetime
    decisions: int
    episodes: int
    first_removed_at: datetime | None
    last_removed_at: datetime | None
    prune_id: int | None

    def describe(self) -> str:
        verb = "would remove" if self.prune_id is None else "removed"
        span = (
            ""
            if self.first_removed_at is None or self.last_removed_at is None
            else f" (decided {self.first_removed_at.isoformat()} .. "
            f"{self.last_removed_at.isoformat()})"
        )
        logged = "" if self.prune_id is None else f"; logged as audit_prunes id {self.prune_id}"
        return (
            f"prune before {self.before.isoformat()}: {verb} {self.episodes} episodes and "
            f"{self.decisions} decisions{span}{logged}"
        )


def _tables() -> tuple[sa.Table, sa.Table, sa.Table]:
    return (
        cast(sa.Table, Decision.__table__),
        cast(sa.Table, Episode.__table__),
        cast(sa.Table, AuditPrune.__table__),
    )


def _doomed_decisions(before: datetime) -> sa.ColumnElement[bool]:
    decisions, episodes, _ = _tables()
    kept_episode = sa.exists().where(
        episodes.c.episode_id == decisions.c.episode_id, episodes.c.ended_at >= before
    )
    return sa.and_(decisions.c.decided_at < before, ~kept_episode)


async def _measure(session: AsyncSession, before: datetime) -> tuple[int, int, Any, Any]:
    decisions, episodes, _ = _tables()
    doomed = _doomed_decisions(before)
    row = (
        await session.execute(
            sa.select(
                sa.func.count(), sa.func.min(decisions.c.decided_at),
                sa.func.max(decisions.c.decided_at),
            ).where(doomed)
        )
    ).one()  # fmt: skip
    n_episodes = await session.scalar(
        sa.select(sa.func.count()).select_from(episodes).where(episodes.c.ended_at < before)
    )
    return int(row[0]), int(n_episodes or 0), row[1], row[2]


async def prune_audit_trail(
    engine: AsyncEngine, before: datetime, *, dry_run: bool = False
) -> PruneResult:
    """Remove (or count, with ``dry_run``) the audit rows older than ``before``: see the
    module doc."""
    decisions, episodes, prunes = _tables()
    what = f"pruning the audit trail before {before.isoformat()}"
    async with session_factory(engine)() as session, session.begin(), wrap_errors(session, what):
        if dry_run:
            n_dec, n_ep, first, last = await _measure(session, before)
            return PruneResult(before, n_dec, n_ep, first, last, None)
        prune_id = (
            await session.execute(
                sa.insert(prunes)
                .values(pruned_before=before, started_at=utc_now(), finished_at=None,
                        decisions_removed=0, episodes_removed=0)
                .returning(prunes.c.id)
            )
        ).scalar_one()  # fmt: skip
        _, _, first, last = await _measure(session, before)
        gone = await session.execute(sa.delete(decisions).where(_doomed_decisions(before)))
        n_dec = int(getattr(gone, "rowcount", 0) or 0)
        gone = await session.execute(sa.delete(episodes).where(episodes.c.ended_at < before))
        n_ep = int(getattr(gone, "rowcount", 0) or 0)
        await session.execute(
            sa.update(prunes)
            .where(prunes.c.id == prune_id)
            .values(finished_at=utc_now(), decisions_removed=n_dec, episodes_removed=n_ep,
                    first_removed_at=first, last_removed_at=last)
        )  # fmt: skip
    result = PruneResult(before, n_dec, n_ep, first, last, int(prune_id))
    log.warning("%s", result.describe())
    return result
