"""Async repositories, one per aggregate: agents, Q-values, experiences, episodes, decisions,
policy metrics.

A repository never opens or commits a session: the caller owns the unit of work
(``async with factory() as session, session.begin(): ...``, or ``unit_of_work(engine, what)``,
which also wraps the errors of the COMMIT). Every database error is wrapped into
``StoreError`` (message without password). Bulk writes are chunked executemany; Q-values
use the dialect's ``INSERT .. ON CONFLICT DO UPDATE`` with the *absolute* values the agent's
one learner publishes (never deltas: summing several processes' temporal-difference changes
is wrong). On PostgreSQL large appends of decisions and experiences use asyncpg's COPY.

The learner lease, the transition queue counters and training seed allocation live on the
``agents`` row (``AgentRepository``); times of the lease are the database's clock, in seconds
since the epoch, so that processes on several machines agree.

Columns derived from a record when it is written (one definition each, on the record or
here): ``episodes.forced_completion`` and ``decisions.deviated`` / ``slippage_bps`` (record
properties), the decisions' state key parts (``state_key_buckets``) and the policy metrics'
greedy-action counts (``PolicyMetricsRecord.greedy_counts``).

Unknown variances travel as NaN in memory and are stored as NULL (and read back as NaN).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from rlexec.errors import InvalidInputError, StoreError
from rlexec.names import check_agent_name
from rlexec.records import (
    STATE_FEATURES,
    DecisionRecord,
    EpisodeRecord,
    ExperienceRecord,
    PolicyMetricsRecord,
    utc_now,
)
from rlexec.rl.state import StateKey
from rlexec.store.engine import describe_error, redact_url, session_factory
from rlexec.store.inserts import (
    PreparedInsert,
    chunks,
    insert_prepared,
    prepare_insert,
    sqlite_multirow,
)
from rlexec.store.models import (
    GREEDY_COLUMNS,
    Q_COLUMNS,
    STATE_BUCKET_COLUMNS,
    Agent,
    Decision,
    Episode,
    ExperienceRow,
    PolicyMetric,
    QValue,
    sqlite_time_text,
)


@asynccontextmanager
async def wrap_errors(session: AsyncSession, what: str) -> AsyncIterator[None]:
    """Turn any database or driver error inside the block into a StoreError naming ``what``."""
    try:
        yield
    except StoreError:
        raise
    except (SQLAlchemyError, OSError, TimeoutError, ConnectionError) as exc:
        bind = session.bind
        url = bind.url if isinstance(bind, AsyncEngine) else None
        where = f" on {redact_url(url)!r}" if url is not None else ""
        raise StoreError(f"{what} failed{where}: {describe_error(exc, url)}") from exc
    except Exception as exc:
        # asyncpg raises its own exception types for some connection failures
        if type(exc).__module__.startswith("asyncpg"):
            raise StoreError(f"{what} failed: {describe_error(exc)}") from exc
        raise


@asynccontextmanager
async def unit_of_work(
    engine: AsyncEngine, what: str, *, write: bool = True
) -> AsyncIterator[AsyncSession]:
    """A session for the caller's unit of work (one transaction when ``write``), in which every
    database or driver error is a StoreError naming ``what``: also those of the COMMIT and of
    closing the session, which no repository call sees (a connection lost at COMMIT)."""
    session = session_factory(engine)()
    async with wrap_errors(session, what), session:
        if write:
            async with session.begin():
                yield session
        else:
            yield session


def _table(model: type[Any]) -> sa.Table:
    return cast(sa.Table, model.__table__)


def _dialect(session: AsyncSession) -> str:
    if session.bind is None:
        raise StoreError("session is not bound to an engine")
    return session.bind.dialect.name


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: int
    name: str
    config_snapshot: dict[str, Any]
    epsilon: float
    updates: int
    q_revision: int
    created_at: datetime
    updated_at: datetime
    learner: str | None = None
    transitions_queued: int = 0
    transitions_applied: int = 0


class LeaseLostError(StoreError):
    """This process no longer holds the agent's learner lease (another learner took it)."""


class QEntry(NamedTuple):
    """One Q-table row as stored (``variance`` NaN: unknown, stored as NULL)."""

    state_key: str
    action: str
    q: float
    visits: int
    variance: float = math.nan


class QRevisionEntry(NamedTuple):
    state_key: str
    action: str
    q: float
    visits: int
    revision: int
    variance: float = math.nan


def nan_to_null(value: float) -> float | None:
    """An unknown (NaN) float as SQL NULL."""
    return None if value != value else value


def null_to_nan(value: Any) -> float:
    """A nullable DOUBLE column as a float, NULL as NaN (unknown)."""
    return math.nan if value is None else float(value)


class AgentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_name(self, name: str) -> AgentRow | None:
        async with wrap_errors(self.session, f"reading agent {name!r}"):
            row = await self.session.scalar(sa.select(Agent).where(Agent.name == name))
        return None if row is None else _agent_row(row)

    async def get_by_id(self, agent_id: int) -> AgentRow:
        async with wrap_errors(self.session, f"reading agent id {agent_id}"):
            row = await self.session.get(Agent, agent_id, populate_existing=True)
        if row is None:
            raise StoreError(f"agent id {agent_id} does not exist")
        return _agent_row(row)

    async def get_or_create(
        self, name: str, config_snapshot: Mapping[str, Any], epsilon: float
    ) -> AgentRow:
        """The agent named ``name``; created with this config snapshot and epsilon if new (a
        name that breaks ``rlexec.names``' rule is refused, whatever the caller)."""
        check_agent_name(name)
        existing = await self.get_by_name(name)
        if existing is not None:
            return existing
        now = utc_now()
        values = {
            "name": name,
            "config_snapshot": dict(config_snapshot),
            "epsilon": epsilon,
            "updates": 0,
            "q_revision": 0,
            "created_at": now,
            "updated_at": now,
        }
        table = _table(Agent)
        insert = (
            postgresql.insert(table)
            if _dialect(self.session) == "postgresql"
            else sqlite.insert(table)
        )
        async with wrap_errors(self.session, f"creating agent {name!r}"):
            await self.session.execute(insert.values(values).on_conflict_do_nothing())
        created = await self.get_by_name(name)
        if created is None:
            raise StoreError(f"agent {name!r} could not be created")
        return created

    async def _agent_update(self, agent_id: int, what: str, stmt: Any) -> Any:
        async with wrap_errors(self.session, what):
            value = (await self.session.execute(stmt)).one_or_none()
        if value is None and await self.session.get(Agent, agent_id) is None:
            raise StoreError(f"agent id {agent_id} does not exist")
        return value

    async def acquire_lease(self, agent_id: int, holder: str, ttl_secs: float) -> str | None:
        """Take (or renew) the agent's learner lease for ``holder`` if it is free, expired or
        already ``holder``'s; returns None on success, else the current holder."""
        now = db_epoch(self.session)
        stmt = (
            sa.update(Agent)
            .where(
                Agent.id == agent_id,
                sa.or_(
                    Agent.learner.is_(None),
                    Agent.learner == holder,
                    Agent.learner_expires_at < now,
                ),
            )
            .values(learner=holder, learner_expires_at=now + ttl_secs)
            .returning(Agent.id)
        )
        if await self._agent_update(agent_id, "taking the learner lease", stmt) is not None:
            return None
        async with wrap_errors(self.session, "reading the learner lease"):
            current = await self.session.scalar(
                sa.select(Agent.learner).where(Agent.id == agent_id)
            )
        return str(current)

    async def release_lease(self, agent_id: int, holder: str) -> None:
        stmt = (
            sa.update(Agent)
            .where(Agent.id == agent_id, Agent.learner == holder)
            .values(learner=None, learner_expires_at=None)
        )
        async with wrap_errors(self.session, "releasing the learner lease"):
            await self.session.execute(stmt)

    async def publish(
        self,
        agent_id: int,
        *,
        holder: str,
        ttl_secs: float,
        epsilon: float,
        updates: int,
        transitions_applied: int,
    ) -> int:
        """Record a publish of the Q-table by the lease holder: the next Q revision (returned),
        epsilon, update count, the applied prefix of the transition queue, and the lease renewed
        by ``ttl_secs``. On PostgreSQL this locks the agent row until the transaction ends.
        Raises LeaseLostError when ``holder`` does not hold the lease (fencing)."""
        stmt = (
            sa.update(Agent)
            .where(Agent.id == agent_id, Agent.learner == holder)
            .values(
                q_revision=Agent.q_revision + 1,
                epsilon=epsilon,
                updates=updates,
                transitions_applied=transitions_applied,
                learner_expires_at=db_epoch(self.session) + ttl_secs,
                updated_at=utc_now(),
            )
            .returning(Agent.q_revision)
        )
        row = await self._agent_update(agent_id, "publishing the Q-table", stmt)
        if row is None:
            raise LeaseLostError(
                f"agent id {agent_id}: learner lease lost (held by another learner now); "
                "this process stopped publishing"
            )
        return int(row[0])

    async def queue_transitions(self, agent_id: int, count: int) -> int:
        """Reserve ``count`` queue positions; returns the first ``seq`` (positions are dense
        and, since this locks the agent row until commit, committed in order)."""
        stmt = (
            sa.update(Agent)
            .where(Agent.id == agent_id)
            .values(transitions_queued=Agent.transitions_queued + count)
            .returning(Agent.transitions_queued)
        )
        row = await self._agent_update(agent_id, "queueing transitions", stmt)
        return int(row[0]) - count + 1

    async def allocate_seeds(self, agent_id: int, count: int, first_seed: int) -> int:
        """Hand out ``count`` consecutive training seeds no other process gets; returns the
        first. The first allocation of an agent starts at ``first_seed`` or after its highest
        stored training seed, whichever is higher."""
        stored_max = (
            sa.select(sa.func.max(Episode.seed))
            .where(Episode.agent_id == agent_id, Episode.mode == "training")
            .scalar_subquery()
        )
        # the larger of two values: greatest() on PostgreSQL, the two-argument max() on SQLite
        larger = sa.func.greatest if _dialect(self.session) == "postgresql" else sa.func.max
        after_stored = sa.func.coalesce(stored_max + 1, first_seed)
        start = sa.func.coalesce(Agent.next_training_seed, larger(after_stored, first_seed))
        stmt = (
            sa.update(Agent)
            .where(Agent.id == agent_id)
            .values(next_training_seed=start + count)
            .returning(Agent.next_training_seed)
        )
        row = await self._agent_update(agent_id, "allocating training seeds", stmt)
        return int(row[0]) - count


async def require_agent_id(session: AsyncSession, agent_name: str, hint: str) -> int:
    """The id of agent ``agent_name``; else InvalidInputError naming it, with ``hint`` (what to
    do next)."""
    agent = await AgentRepository(session).get_by_name(agent_name)
    if agent is None:
        raise InvalidInputError(f"agent = {agent_name!r}: not in the store ({hint})")
    return agent.id


def db_epoch(session: AsyncSession) -> Any:
    """The database clock in seconds since the epoch, as a SQL expression."""
    if _dialect(session) == "postgresql":
        return sa.func.extract("epoch", sa.func.clock_timestamp())
    return (sa.func.julianday("now") - 2440587.5) * 86400.0


def _agent_row(row: Agent) -> AgentRow:
    return AgentRow(
        id=row.id,
        name=row.name,
        config_snapshot=dict(row.config_snapshot),
        epsilon=float(row.epsilon),
        updates=int(row.updates),
        q_revision=int(row.q_revision),
        created_at=row.created_at,
        updated_at=row.updated_at,
        learner=row.learner,
        transitions_queued=int(row.transitions_queued or 0),
        transitions_applied=int(row.transitions_applied or 0),
    )


class QValueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _upsert(self) -> Any:
        table = _table(QValue)
        insert = (
            postgresql.insert(table)
            if _dialect(self.session) == "postgresql"
            else sqlite.insert(table)
        )
        return insert.on_conflict_do_update(
            index_elements=list(_Q_KEY),
            set_={name: insert.excluded[name] for name in _Q_UPDATED},
        )

    async def put(
        self,
        agent_id: int,
        deltas: Sequence[QEntry],
        *,
        revision: int,
        updated_at: datetime | None = None,
    ) -> int:
        """Write each entry's q, visits and variance (insert or overwrite), stamped with
        ``revision``. Returns the number of rows written."""
        if not deltas:
            return 0
        stamp = updated_at or utc_now()
        async with wrap_errors(self.session, f"upserting {len(deltas)} Q-values"):
            conn = await self.session.connection()
            if _dialect(self.session) == "sqlite":
                # driver values, multi-row statements (rlexec.store.inserts)
                text = sqlite_time_text(stamp)
                rows = [  # (*_Q_KEY, *_Q_UPDATED) order
                    (agent_id, d[0], d[1], d[2], d[3], revision, text, nan_to_null(d[4]))
                    for d in deltas
                ]
                await sqlite_multirow(
                    conn, "q_values", (*_Q_KEY, *_Q_UPDATED), rows, _SQLITE_Q_ON_CONFLICT
                )
                return len(deltas)
            stmt = self._upsert()
            for chunk in chunks(deltas):
                params = [
                    {
                        "agent_id": agent_id,
                        "state_key": d[0],
                        "action": d[1],
                        "q": d[2],
                        "visits": d[3],
                        "revision": revision,
                        "updated_at": stamp,
                        "variance": nan_to_null(d[4]),
                    }
                    for d in chunk
                ]
                await conn.execute(stmt, params)
                await asyncio.sleep(0)
        return len(deltas)

    async def load(self, agent_id: int) -> list[QRevisionEntry]:
        return await self.changed_since(agent_id, -1)

    async def changed_since(self, agent_id: int, revision: int) -> list[QRevisionEntry]:
        """Rows of the agent written by a flush with a revision above ``revision``."""
        t = _table(QValue)
        stmt = sa.select(
            t.c.state_key, t.c.action, t.c.q, t.c.visits, t.c.revision, t.c.variance
        ).where(t.c.agent_id == agent_id, t.c.revision > revision)
        async with wrap_errors(self.session, "reading Q-values"):
            result = await self.session.execute(stmt)
            return [
                QRevisionEntry(r[0], r[1], float(r[2]), int(r[3]), int(r[4]), null_to_nan(r[5]))
                for r in result
            ]


# Every ExperienceRecord field is a column of the same name (a new field needs only its
# column): transitions flow through the queue with all of them.
_EXPERIENCE_FIELDS = tuple(f.name for f in dataclasses.fields(ExperienceRecord))


class QueuedTransition(NamedTuple):
    """A queued transition as the learner applies it: the ``ExperienceRecord`` fields but
    ``created_at`` (the learner does not use it, and parsing one timestamp per row was half
    of the learner's cost of a fetch), with its ``seq``."""

    seq: int
    state_key: str
    action: str
    reward: float
    next_state_key: str
    terminated: bool
    truncated: bool
    next_schedule_action: str | None


_QUEUED_FIELDS = QueuedTransition._fields[1:]


EXPERIENCE_COLUMNS = ("agent_id", "seq", *_EXPERIENCE_FIELDS)
_experience_values = attrgetter(*_EXPERIENCE_FIELDS)


def experience_rows(
    agent_id: int, records: Sequence[ExperienceRecord], first_seq: int | None = None
) -> list[tuple[Any, ...]]:
    """``experiences`` rows in ``EXPERIENCE_COLUMNS`` order (``seq``: None, or queued from
    ``first_seq`` on)."""
    get = _experience_values
    if first_seq is None:
        return [(agent_id, None, *get(r)) for r in records]
    return [(agent_id, first_seq + i, *get(r)) for i, r in enumerate(records)]


class ExperienceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(
        self, agent_id: int, records: Sequence[ExperienceRecord], *, first_seq: int | None = None
    ) -> int:
        """Append transitions; with ``first_seq`` they are queued for the learner as
        ``first_seq``, ``first_seq + 1``, ... (see ``AgentRepository.queue_transitions``)."""
        rows = experience_rows(agent_id, records, first_seq)
        return await _append(self.session, _table(ExperienceRow), EXPERIENCE_COLUMNS, rows)

    async def queued_after(self, agent_id: int, after: int, limit: int) -> list[QueuedTransition]:
        """Queued transitions with ``seq > after``, in ``seq`` order, at most ``limit``."""
        t = _table(ExperienceRow)
        stmt = (
            sa.select(t.c.seq, *(t.c[name] for name in _QUEUED_FIELDS))
            .where(t.c.agent_id == agent_id, t.c.seq > after)
            .order_by(t.c.seq)
            .limit(limit)
        )
        async with wrap_errors(self.session, "reading queued transitions"):
            rows = (await self.session.execute(stmt)).all()
        return [QueuedTransition._make(row) for row in rows]

    async def newest(
        self, agent_id: int, limit: int, *, applied_through: int | None = None
    ) -> list[ExperienceRecord]:
        """The ``limit`` newest experiences of the agent, oldest first (replay order); with
        ``applied_through``, only those the learner has applied (no seq, or seq <= it)."""
        if limit <= 0:
            return []
        t = _table(ExperienceRow)
        stmt = sa.select(*(t.c[name] for name in _EXPERIENCE_FIELDS)).where(
            t.c.agent_id == agent_id
        )
        if applied_through is not None:
            stmt = stmt.where(sa.or_(t.c.seq.is_(None), t.c.seq <= applied_through))
        stmt = stmt.order_by(t.c.id.desc()).limit(limit)
        async with wrap_errors(self.session, "reading experiences"):
            rows = (await self.session.execute(stmt)).all()
        return [ExperienceRecord(*row) for row in reversed(rows)]

    async def prune(self, agent_id: int, keep: int, *, applied_through: int = 0) -> int:
        """Delete all but the ``keep`` newest experiences of the agent, never a queued one the
        learner has not applied yet (seq > ``applied_through``); returns rows deleted."""
        t = _table(ExperienceRow)
        cutoff = (
            sa.select(t.c.id)
            .where(t.c.agent_id == agent_id)
            .order_by(t.c.id.desc())
            .offset(keep)
            .limit(1)
            .scalar_subquery()
        )
        stmt = sa.delete(t).where(
            t.c.agent_id == agent_id,
            t.c.id <= cutoff,
            sa.or_(t.c.seq.is_(None), t.c.seq <= applied_through),
        )
        async with wrap_errors(self.session, "pruning experiences"):
            result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)


_EPISODE_FIELDS = (
    "episode_id",
    "agent_name",
    "executor",
    "mode",
    "market",
    "side",
    "quantity",
    "arrival_mid",
    "seed",
    "horizon_steps",
    "config_hash",
    "snapshot_id",
    "started_at",
    "ended_at",
    "filled_by_policy",
    "avg_price",
    "implementation_shortfall_bps",
    "completion_quantity",
    "completion_cost_bps",
    "child_orders",
    "total_reward",
    "terminated",
    "truncated",
    "run_id",
    "reward_mode",
    "urgency",
    "completed_step",
    "order_id",
)
EPISODE_COLUMNS = ("agent_id", *_EPISODE_FIELDS, "forced_completion")
_episode_values = attrgetter(*_EPISODE_FIELDS)


def episode_rows(agent_id: int | None, records: Sequence[EpisodeRecord]) -> list[tuple[Any, ...]]:
    """``episodes`` rows in ``EPISODE_COLUMNS`` order."""
    get = _episode_values
    return [(agent_id, *get(r), r.forced_completion) for r in records]


class EpisodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, agent_id: int | None, records: Sequence[EpisodeRecord]) -> int:
        rows = episode_rows(agent_id, records)
        return await _append(self.session, _table(Episode), EPISODE_COLUMNS, rows, copy=False)

    async def get(self, episode_id: str) -> EpisodeRecord | None:
        t = _table(Episode)
        stmt = sa.select(*(t.c[n] for n in _EPISODE_FIELDS)).where(t.c.episode_id == episode_id)
        async with wrap_errors(self.session, f"reading episode {episode_id}"):
            row = (await self.session.execute(stmt)).first()
        return None if row is None else EpisodeRecord(*row)

    async def count(self) -> int:
        async with wrap_errors(self.session, "counting episodes"):
            return int(
                await self.session.scalar(sa.select(sa.func.count()).select_from(Episode)) or 0
            )


_DECISION_HEAD = ("episode_id", "seq", "step", "decided_at", *STATE_FEATURES)
_DECISION_MIDDLE = ("state_key", "state_index", "action", "epsilon", "action_probability")
_DECISION_TAIL = (
    "explored",
    "child_quantity",
    "child_price",
    "filled_quantity",
    "fill_price",
    "fill_rate_reward",
    "slippage_penalty",
    "time_penalty",
    "market_impact_penalty",
    "reward_total",
    "schedule_action",
    "schedule_quantity",
    "greedy_action",
    "side",
    "arrival_mid",
    "child_filled_quantity",
)
_DECISION_DERIVED = ("deviated", "slippage_bps", *STATE_BUCKET_COLUMNS)
_DECISION_WRITE_ONLY = _DECISION_DERIVED
DECISION_COLUMNS = (
    "agent_id",
    *_DECISION_HEAD,
    *_DECISION_MIDDLE,
    *Q_COLUMNS,
    *_DECISION_TAIL,
    *_DECISION_WRITE_ONLY,
)
_NO_BUCKETS: tuple[None, ...] = (None,) * len(STATE_BUCKET_COLUMNS)


@functools.lru_cache(maxsize=65_536)
def state_key_buckets(state_key: str) -> tuple[int | None, ...]:
    """The key's bucket numbers in ``STATE_BUCKET_COLUMNS`` order (urgency left out: it is the
    ``urgency`` column); a key without the later parts (``.o<n>.l<n>``, ``.b<n>``) has 0 for
    them (as the parser reads it); all None for a key that is not of the discretizer's text form."""
    try:
        key = StateKey.from_text(state_key)
    except InvalidInputError:
        return _NO_BUCKETS
    return (key.remaining, key.time, key.spread, key.imbalance, key.hour, key.volatility,
            key.queue_depth, key.own_orders, key.schedule, key.touch)  # fmt: skip


_decision_head = attrgetter(*_DECISION_HEAD, *_DECISION_MIDDLE)
_decision_tail = attrgetter(*_DECISION_TAIL)


def decision_row(agent_id: int | None, r: DecisionRecord) -> tuple[Any, ...]:
    """The record as a ``decisions`` row in ``DECISION_COLUMNS`` order (derived columns too)."""
    return (
        agent_id,
        *_decision_head(r),
        *r.q_values,
        *_decision_tail(r),
        r.deviated,
        r.slippage_bps,
        *state_key_buckets(r.state_key),
    )


class DecisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, agent_id: int | None, records: Sequence[DecisionRecord]) -> int:
        rows = [decision_row(agent_id, r) for r in records]
        return await _append(self.session, _table(Decision), DECISION_COLUMNS, rows)

    async def for_episode(self, episode_id: str) -> list[DecisionRecord]:
        t = _table(Decision)
        read = DECISION_COLUMNS[1 : len(DECISION_COLUMNS) - len(_DECISION_WRITE_ONLY)]
        stmt = (
            sa.select(*(t.c[n] for n in read)).where(t.c.episode_id == episode_id).order_by(t.c.seq)
        )
        async with wrap_errors(self.session, f"reading decisions of episode {episode_id}"):
            rows = (await self.session.execute(stmt)).all()
        n_head = len(_DECISION_HEAD) + len(_DECISION_MIDDLE)
        out = []
        for row in rows:
            values = dict(zip(_DECISION_HEAD + _DECISION_MIDDLE, row[:n_head], strict=True))
            q = tuple(float(v) for v in row[n_head : n_head + 6])
            values.update(zip(_DECISION_TAIL, row[n_head + 6 :], strict=True))
            out.append(DecisionRecord(q_values=q, **values))  # type: ignore[arg-type]
        return out

    async def count(self, episode_id: str | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(Decision)
        if episode_id is not None:
            stmt = stmt.where(Decision.episode_id == episode_id)
        async with wrap_errors(self.session, "counting decisions"):
            return int(await self.session.scalar(stmt) or 0)


_METRICS_FIELDS = (
    "recorded_at",
    "states_visited",
    "mean_q",
    "action_distribution",
    "epsilon",
    "estimated_improvement_bps",
    "updates",
    "mode",
    "source",
    "run_id",
)
_METRICS_COLUMNS = ("agent_id", *_METRICS_FIELDS, *GREEDY_COLUMNS)
_metrics_values = attrgetter(*_METRICS_FIELDS)


def metrics_rows(agent_id: int, records: Sequence[PolicyMetricsRecord]) -> list[tuple[Any, ...]]:
    """``policy_metrics`` rows in ``_METRICS_COLUMNS`` order."""
    rows = []
    for r in records:
        values = list(_metrics_values(r))
        values[3] = dict(values[3])
        rows.append((agent_id, *values, *r.greedy_counts()))
    return rows


class PolicyMetricsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, agent_id: int, records: Sequence[PolicyMetricsRecord]) -> int:
        rows = metrics_rows(agent_id, records)
        return await _append(self.session, _table(PolicyMetric), _METRICS_COLUMNS, rows, copy=False)

    async def for_agent(self, agent_id: int) -> list[PolicyMetricsRecord]:
        t = _table(PolicyMetric)
        stmt = (
            sa.select(*(t.c[n] for n in _METRICS_FIELDS))
            .where(t.c.agent_id == agent_id)
            .order_by(t.c.id)
        )
        async with wrap_errors(self.session, "reading policy metrics"):
            rows = (await self.session.execute(stmt)).all()
        return [PolicyMetricsRecord(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class PreparedAppends:
    """A flush's append-only rows, made ready for the driver before its transaction."""

    episodes: PreparedInsert
    decisions: PreparedInsert
    experiences: PreparedInsert  # seq None: ``with_column("seq", ...)`` queues them
    metrics: PreparedInsert

    async def insert(self, session: AsyncSession) -> None:
        for prepared in (self.experiences, self.episodes, self.decisions, self.metrics):
            await append_prepared(session, prepared)


def prepare_appends(
    dialect: str,
    agent_id: int,
    *,
    episodes: Sequence[EpisodeRecord],
    decisions: Sequence[DecisionRecord],
    experiences: Sequence[ExperienceRecord],
    metrics: Sequence[PolicyMetricsRecord],
) -> PreparedAppends:
    """The rows of one agent's records, converted for ``dialect`` (no session: call it
    before the transaction, so that the transaction holds only the inserts)."""
    return PreparedAppends(
        episodes=prepare_insert(
            dialect, _table(Episode), EPISODE_COLUMNS, episode_rows(agent_id, episodes),
            copy=False,
        ),
        decisions=prepare_insert(
            dialect, _table(Decision), DECISION_COLUMNS,
            [decision_row(agent_id, r) for r in decisions],
        ),
        experiences=prepare_insert(
            dialect, _table(ExperienceRow), EXPERIENCE_COLUMNS,
            experience_rows(agent_id, experiences),
        ),
        metrics=prepare_insert(
            dialect, _table(PolicyMetric), _METRICS_COLUMNS, metrics_rows(agent_id, metrics),
            copy=False,
        ),
    )  # fmt: skip


async def _append(
    session: AsyncSession,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    copy: bool = True,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in the session's transaction
    (``rlexec.store.inserts``: COPY on PostgreSQL for large batches)."""
    prepared = prepare_insert(_dialect(session), table, columns, rows, copy=copy)
    return await append_prepared(session, prepared)


async def append_prepared(session: AsyncSession, prepared: PreparedInsert) -> int:
    """Insert rows made ready before the transaction (``prepare_insert``)."""
    if not prepared.rows:
        return 0
    what = f"appending {len(prepared.rows)} rows to {prepared.table.name}"
    async with wrap_errors(session, what):
        return await insert_prepared(session, prepared)


_Q_KEY = ("agent_id", "state_key", "action")  # a q_values row's key
_Q_UPDATED = ("q", "visits", "revision", "updated_at", "variance")  # what a put overwrites
_SQLITE_Q_SET = ", ".join(f"{name} = excluded.{name}" for name in _Q_UPDATED)
_SQLITE_Q_ON_CONFLICT = f" ON CONFLICT ({', '.join(_Q_KEY)}) DO UPDATE SET {_SQLITE_Q_SET}"
