"""Promotions: the log of every validation of a trained policy against its base, and which
policy production runs (the agent's latest promotion with ``promoted`` true).

Training validates a candidate (a policy snapshot) on validation seeds, paired against its
base, and hands the verdict over as a ``PromotionRecord``, refused candidates included; the
table is append-only (``rlexec.store.models.Promotion``: units and NULL meanings). A refused
candidate leaves the latest promotion in force; with none, the executor runs its base.

- ``PromotionRepository(session)``: ``add``, ``for_agent`` (newest first),
  ``latest_promoted`` / ``latest_promoted_snapshot``; the caller owns the unit of work.
- engine-level helpers for the CLI and training (own unit of work): ``record_promotion``,
  ``list_promotions``, ``latest_promoted_snapshot_of``, ``learned_episodes_of``.

"Newest" is by ``id`` (the order the database took the rows), not by ``created_at``, so that
processes with different clocks cannot reorder the log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from rlexec.errors import InvalidInputError, StoreError
from rlexec.records import utc_now
from rlexec.store.engine import session_factory
from rlexec.store.models import Agent, Episode, PolicySnapshot, Promotion
from rlexec.store.repositories import require_agent_id, wrap_errors

REASON_MAX = 2000
RUN_ID_MAX = 36
BASE_EXECUTOR_MAX = 64
CONFIG_HASH_MAX = 64
MAX_SEED = 2**63 - 1


def _fail(name: str, value: Any, expected: str) -> InvalidInputError:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return InvalidInputError(f"promotion {name} = {shown}: expected {expected}")


def _check_int(name: str, value: Any, low: int, high: int = MAX_SEED) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(name, value, f"an integer in [{low}, {high}]")


def _check_text(name: str, value: Any, limit: int) -> None:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > limit
        or not value.isprintable()
    ):
        raise _fail(name, value, f"one line of non-empty text, at most {limit} characters")


@dataclass(frozen=True, slots=True)
class PromotionRecord:
    """One validation verdict, as training hands it over (checked on construction; a bad value
    raises ``InvalidInputError`` naming the field, the value and what was expected).

    IS figures are bps of the arrival value (positive = cost); ``mean_difference_bps`` is the
    paired mean of policy IS minus base IS over the validation seeds (negative = the policy is
    cheaper) and ``difference_ci_low_bps`` / ``difference_ci_high_bps`` its 95 % confidence
    interval. ``snapshot_id`` is the validated policy's snapshot (required when ``promoted``;
    None allowed for a refused candidate that was not kept); ``run_id`` the invocation that
    validated it; seeds ``validation_seed_first`` .. ``+ validation_seed_count - 1``;
    ``base_executor`` the base's executor name (``episodes.executor``)."""

    promoted: bool
    reason: str
    snapshot_id: int | None
    validation_seed_first: int
    validation_seed_count: int
    base_executor: str
    policy_mean_is_bps: float
    base_mean_is_bps: float
    mean_difference_bps: float
    difference_ci_low_bps: float
    difference_ci_high_bps: float
    episodes_trained: int
    config_hash: str
    run_id: str | None = None
    created_at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if not isinstance(self.promoted, bool):
            raise _fail("promoted", self.promoted, "true or false")
        _check_text("reason", self.reason, REASON_MAX)
        if self.snapshot_id is not None:
            _check_int("snapshot_id", self.snapshot_id, 1)
        elif self.promoted:
            raise _fail("snapshot_id", None, "the promoted policy's snapshot id (promoted)")
        _check_int("validation_seed_first", self.validation_seed_first, 0)
        _check_int("validation_seed_count", self.validation_seed_count, 1)
        _check_text("base_executor", self.base_executor, BASE_EXECUTOR_MAX)
        for name in _FIGURES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _fail(name, value, "a finite number (bps)")
            if not math.isfinite(value):
                raise _fail(name, value, "a finite number (bps)")
        if self.difference_ci_low_bps > self.difference_ci_high_bps:
            raise _fail(
                "difference_ci_low_bps", self.difference_ci_low_bps,
                f"at most difference_ci_high_bps ({self.difference_ci_high_bps})",
            )  # fmt: skip
        _check_int("episodes_trained", self.episodes_trained, 0)
        _check_text("config_hash", self.config_hash, CONFIG_HASH_MAX)
        if self.run_id is not None:
            _check_text("run_id", self.run_id, RUN_ID_MAX)
        if not isinstance(self.created_at, datetime) or self.created_at.tzinfo is None:
            raise _fail("created_at", self.created_at, "a timezone-aware datetime")

    @property
    def seeds(self) -> range:
        """The seeds the policy was confirmed on."""
        first = self.validation_seed_first
        return range(first, first + self.validation_seed_count)


_FIGURES = (
    "policy_mean_is_bps",
    "base_mean_is_bps",
    "mean_difference_bps",
    "difference_ci_low_bps",
    "difference_ci_high_bps",
)
_RECORD_FIELDS = tuple(f.name for f in fields(PromotionRecord))


@dataclass(frozen=True, slots=True)
class PromotionRow:
    """A stored promotion: its id, agent (id and name), the snapshot's version (None without a
    snapshot) and the record as written."""

    id: int
    agent_id: int
    agent_name: str
    snapshot_version: int | None
    record: PromotionRecord

    @property
    def promoted(self) -> bool:
        return self.record.promoted

    @property
    def snapshot_id(self) -> int | None:
        return self.record.snapshot_id


_ROW_COLUMNS = (
    Promotion.id,
    Promotion.agent_id,
    Agent.name,
    PolicySnapshot.version,
    *(getattr(Promotion, name) for name in _RECORD_FIELDS),
)


def _row(values: Any) -> PromotionRow:
    record = dict(zip(_RECORD_FIELDS, values[4:], strict=True))
    record["promoted"] = bool(record["promoted"])
    for name in _FIGURES:
        record[name] = float(record[name])
    return PromotionRow(
        id=int(values[0]),
        agent_id=int(values[1]),
        agent_name=str(values[2]),
        snapshot_version=None if values[3] is None else int(values[3]),
        record=PromotionRecord(**record),
    )


def _select() -> Any:
    return (
        sa.select(*_ROW_COLUMNS)
        .join(Agent, Agent.id == Promotion.agent_id)
        .outerjoin(PolicySnapshot, PolicySnapshot.id == Promotion.snapshot_id)
    )


def fresh_seed_block(start: int, count: int, end: int, used: Iterable[range]) -> range | None:
    """The first block of ``count`` seeds from ``start`` that overlaps no block in ``used``
    and ends below ``end`` (None: no room left)."""
    first = start
    for block in sorted(used, key=lambda r: r.start):
        if block.start < first + count and first < block.stop:
            first = max(first, block.stop)
    return range(first, first + count) if first + count <= end else None


def overlapping(block: range, rows: Iterable[PromotionRow]) -> PromotionRow | None:
    """The first of ``rows`` whose seeds share a seed with ``block`` (None: none does)."""
    for row in rows:
        seeds = row.record.seeds
        if seeds.start < block.stop and block.start < seeds.stop:
            return row
    return None


class PromotionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, agent_id: int, record: PromotionRecord) -> PromotionRow:
        """Append ``record`` for agent ``agent_id``; its snapshot must be one of that agent's
        (InvalidInputError otherwise). Returns the stored row."""
        if not isinstance(record, PromotionRecord):
            raise _fail("record", record, "a PromotionRecord")
        async with wrap_errors(self.session, f"recording a promotion of agent id {agent_id}"):
            if record.snapshot_id is not None:
                owner = await self.session.scalar(
                    sa.select(PolicySnapshot.agent_id).where(
                        PolicySnapshot.id == record.snapshot_id
                    )
                )
                if owner != agent_id:
                    raise _fail(
                        "snapshot_id", record.snapshot_id,
                        f"a snapshot of agent id {agent_id} (see 'rlexec snapshot list')",
                    )  # fmt: skip
            values = {name: getattr(record, name) for name in _RECORD_FIELDS}
            new_id = (
                await self.session.execute(
                    sa.insert(Promotion).values(agent_id=agent_id, **values).returning(Promotion.id)
                )
            ).scalar_one()
        row = await self.get(int(new_id))
        if row is None:  # pragma: no cover - the agent row exists: the insert needed it
            raise StoreError(f"promotion {new_id} vanished")
        return row

    async def get(self, promotion_id: int) -> PromotionRow | None:
        stmt = _select().where(Promotion.id == promotion_id)
        async with wrap_errors(self.session, f"reading promotion {promotion_id}"):
            values = (await self.session.execute(stmt)).first()
        return None if values is None else _row(values)

    async def for_agent(
        self, agent_id: int | None = None, *, last: int | None = None
    ) -> list[PromotionRow]:
        """Promotions of one agent (or of every agent), newest first; at most ``last``."""
        stmt = _select()
        if agent_id is not None:
            stmt = stmt.where(Promotion.agent_id == agent_id)
        stmt = stmt.order_by(Promotion.id.desc())
        if last is not None:
            stmt = stmt.limit(last)
        async with wrap_errors(self.session, "listing promotions"):
            rows = (await self.session.execute(stmt)).all()
        return [_row(values) for values in rows]

    async def latest_promoted(self, agent_id: int) -> PromotionRow | None:
        """The agent's newest promotion that promoted a policy (None: never promoted)."""
        stmt = (
            _select()
            .where(Promotion.agent_id == agent_id, Promotion.promoted.is_(True))
            .order_by(Promotion.id.desc())
            .limit(1)
        )
        async with wrap_errors(self.session, "reading the latest promotion"):
            values = (await self.session.execute(stmt)).first()
        return None if values is None else _row(values)

    async def latest_promoted_snapshot(self, agent_id: int) -> int | None:
        """The snapshot id production should run for the agent (None: run the base)."""
        row = await self.latest_promoted(agent_id)
        return None if row is None else row.snapshot_id


# ---- engine-level helpers (own unit of work) -----------------------------------------------


async def _agent_id(session: AsyncSession, agent_name: str) -> int:
    hint = "train it first, or leave out --agent to list every agent's promotions"
    return await require_agent_id(session, agent_name, hint)


async def record_promotion(
    engine: AsyncEngine, agent_name: str, record: PromotionRecord
) -> PromotionRow:
    """Append ``record`` for agent ``agent_name`` (which must exist) in one transaction."""
    async with session_factory(engine)() as session, session.begin():
        agent_id = await _agent_id(session, agent_name)
        return await PromotionRepository(session).add(agent_id, record)


async def list_promotions(
    engine: AsyncEngine, agent_name: str | None = None, *, last: int | None = None
) -> list[PromotionRow]:
    """Promotions (of ``agent_name``, or every agent's), newest first, at most ``last``."""
    async with session_factory(engine)() as session:
        agent_id = None if agent_name is None else await _agent_id(session, agent_name)
        return await PromotionRepository(session).for_agent(agent_id, last=last)


async def latest_promoted_snapshot_of(engine: AsyncEngine, agent_name: str) -> int | None:
    """The snapshot id of agent ``agent_name``'s latest promotion (None: none promoted)."""
    async with session_factory(engine)() as session:
        agent_id = await _agent_id(session, agent_name)
        return await PromotionRepository(session).latest_promoted_snapshot(agent_id)


async def learned_episodes_of(engine: AsyncEngine, agent_name: str) -> int:
    """The episodes agent ``agent_name`` stored in a mode that learns (training, production):
    the ``episodes_trained`` of a table an engine trained through the API."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(Episode)
        .where(Episode.agent_name == agent_name, Episode.mode.in_(("training", "production")))
    )
    async with (
        session_factory(engine)() as session,
        wrap_errors(session, f"counting agent {agent_name!r}'s episodes"),
    ):
        return int(await session.scalar(stmt) or 0)
