"""The relational schema: SQLAlchemy 2 declarative models of every table rlexec stores.

One ``MetaData`` with a naming convention (so Alembic can name, alter and drop every
constraint, SQLite included). The schema is created only by the Alembic migrations in
``migrations/``; these models describe it (and the migration tests check that they match).

Conventions: plural snake_case table names, timestamps named ``*_at`` (timezone-aware, UTC),
money (quantities and prices) as NUMERIC, actions as their labels ("Wait" .. "Cancel"),
state keys as their stable text form ("r3.t5.s1.i2.h2.u1.v0.q0").

``decisions.episode_id`` carries no foreign key on purpose: decisions are flushed while their
episode is still running, and the episode row is written when the episode ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Money: 20 digits, 8 after the point (prices of 0.01-tick books, share and contract counts).
MONEY = sa.Numeric(20, 8)
# Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE that always hands back timezone-aware UTC datetimes.

    SQLite keeps no zone, so values are converted to UTC on the way in and marked UTC on the
    way out; PostgreSQL stores ``timestamptz`` natively.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value!r}: expected a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = metadata


class Agent(Base):
    """One learning agent; many agents can share one database.

    ``q_revision`` counts the publishes of its Q-table (see ``QValue.revision``); ``epsilon``
    and ``updates`` are the agent's training exploration rate and online update count as of the
    last publish. ``learner`` holds the learner lease until ``learner_expires_at`` (seconds
    since the epoch, the database's clock); ``transitions_queued`` counts the transitions
    actors queued (``ExperienceRow.seq``) and ``transitions_applied`` how many of them, in
    ``seq`` order, the published table reflects. ``next_training_seed`` is the next training
    seed to hand out (NULL until the first allocation).
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    config_snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    epsilon: Mapped[float] = mapped_column(sa.Double)
    updates: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    q_revision: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    learner: Mapped[str | None] = mapped_column(sa.String(200))
    learner_expires_at: Mapped[float | None] = mapped_column(sa.Double)
    transitions_queued: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    transitions_applied: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    next_training_seed: Mapped[int | None] = mapped_column(sa.BigInteger)


class QValue(Base):
    """One Q-table entry as the agent's learner last published it (absolute values, written
    only by the lease holder); ``revision`` is the agent's ``q_revision`` of the publish that
    last wrote the row (how actors refresh only what changed)."""

    __tablename__ = "q_values"

    agent_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    state_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    action: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    q: Mapped[float] = mapped_column(sa.Double)
    visits: Mapped[int] = mapped_column(sa.BigInteger)
    revision: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExperienceRow(Base):
    """A transition: for the replay buffer across restarts (newest loaded on start) and, with
    a ``seq``, queued by an actor for the agent's learner (applied in ``seq`` order)."""

    __tablename__ = "experiences"
    __table_args__ = (sa.Index("ix_experiences_agent_id_seq", "agent_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    state_key: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(16))
    reward: Mapped[float] = mapped_column(sa.Double)
    next_state_key: Mapped[str] = mapped_column(sa.String(64))
    terminated: Mapped[bool] = mapped_column(sa.Boolean)
    truncated: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seq: Mapped[int | None] = mapped_column(sa.BigInteger)


class Episode(Base):
    """One parent order worked by one executor (RL or a baseline)."""

    __tablename__ = "episodes"

    episode_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    agent_id: Mapped[int | None] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    agent_name: Mapped[str] = mapped_column(sa.String(200))
    executor: Mapped[str] = mapped_column(sa.String(64), index=True)
    mode: Mapped[str] = mapped_column(sa.String(16))
    market: Mapped[str] = mapped_column(sa.String(64))
    side: Mapped[str] = mapped_column(sa.String(4))
    quantity: Mapped[Decimal] = mapped_column(MONEY)
    arrival_mid: Mapped[Decimal] = mapped_column(MONEY)
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    horizon_steps: Mapped[int] = mapped_column(sa.Integer)
    config_hash: Mapped[str] = mapped_column(sa.String(64))
    snapshot_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    filled_by_policy: Mapped[Decimal] = mapped_column(MONEY)
    avg_price: Mapped[Decimal] = mapped_column(MONEY)
    implementation_shortfall_bps: Mapped[float] = mapped_column(sa.Double)
    completion_quantity: Mapped[Decimal] = mapped_column(MONEY)
    completion_cost_bps: Mapped[float] = mapped_column(sa.Double)
    child_orders: Mapped[int] = mapped_column(sa.Integer)
    total_reward: Mapped[float] = mapped_column(sa.Double)
    terminated: Mapped[bool] = mapped_column(sa.Boolean)
    truncated: Mapped[bool] = mapped_column(sa.Boolean)


class Decision(Base):
    """The audit trail: one row per decision, append-only, indexed for analytics."""

    __tablename__ = "decisions"

    episode_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    agent_id: Mapped[int | None] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="SET NULL")
    )
    step: Mapped[int] = mapped_column(sa.Integer)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    remaining_size: Mapped[float] = mapped_column(sa.Double)
    time_elapsed_pct: Mapped[float] = mapped_column(sa.Double)
    urgency: Mapped[int] = mapped_column(sa.SmallInteger)
    bid_ask_spread: Mapped[float] = mapped_column(sa.Double)
    orderbook_imbalance: Mapped[float] = mapped_column(sa.Double)
    recent_volatility: Mapped[float] = mapped_column(sa.Double)
    queue_depth_at_price: Mapped[float] = mapped_column(sa.Double)
    hour_of_day: Mapped[int] = mapped_column(sa.SmallInteger)
    minute_of_hour: Mapped[int] = mapped_column(sa.SmallInteger)
    seconds_since_last_trade: Mapped[float] = mapped_column(sa.Double)
    recent_fill_rate: Mapped[float] = mapped_column(sa.Double)
    avg_slippage_last_n: Mapped[float] = mapped_column(sa.Double)
    tick_size: Mapped[float] = mapped_column(sa.Double)
    mid_price: Mapped[float] = mapped_column(sa.Double)
    typical_queue_depth: Mapped[float] = mapped_column(sa.Double)
    state_key: Mapped[str] = mapped_column(sa.String(64))
    state_index: Mapped[int] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(16), index=True)
    epsilon: Mapped[float] = mapped_column(sa.Double)
    action_probability: Mapped[float] = mapped_column(sa.Double)
    q_wait: Mapped[float] = mapped_column(sa.Double)
    q_place_small: Mapped[float] = mapped_column(sa.Double)
    q_place_medium: Mapped[float] = mapped_column(sa.Double)
    q_place_large: Mapped[float] = mapped_column(sa.Double)
    q_place_all: Mapped[float] = mapped_column(sa.Double)
    q_cancel: Mapped[float] = mapped_column(sa.Double)
    explored: Mapped[bool] = mapped_column(sa.Boolean)
    child_quantity: Mapped[Decimal | None] = mapped_column(MONEY)
    child_price: Mapped[Decimal | None] = mapped_column(MONEY)
    filled_quantity: Mapped[Decimal] = mapped_column(MONEY)
    fill_price: Mapped[Decimal | None] = mapped_column(MONEY)
    fill_rate_reward: Mapped[float] = mapped_column(sa.Double)
    slippage_penalty: Mapped[float] = mapped_column(sa.Double)
    time_penalty: Mapped[float] = mapped_column(sa.Double)
    market_impact_penalty: Mapped[float] = mapped_column(sa.Double)
    reward_total: Mapped[float] = mapped_column(sa.Double)


class PolicyMetric(Base):
    """A periodic snapshot of the policy's shape and learning progress."""

    __tablename__ = "policy_metrics"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    states_visited: Mapped[int] = mapped_column(sa.Integer)
    mean_q: Mapped[float] = mapped_column(sa.Double)
    action_distribution: Mapped[dict[str, float]] = mapped_column(sa.JSON)
    epsilon: Mapped[float] = mapped_column(sa.Double)
    estimated_improvement_bps: Mapped[float | None] = mapped_column(sa.Double)
    updates: Mapped[int] = mapped_column(sa.BigInteger)


Q_COLUMNS: tuple[str, ...] = (
    "q_wait",
    "q_place_small",
    "q_place_medium",
    "q_place_large",
    "q_place_all",
    "q_cancel",
)


# ---- revision 2: configs, policy snapshots (migration ``policy_snapshots_configs_views``) ----


class StoredConfig(Base):
    """A config snapshot by hash (``EpisodeRecord.config_hash``): what replay re-simulates
    an episode with. Written once per hash, never changed."""

    __tablename__ = "configs"

    config_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PolicySnapshot(Base):
    """A versioned copy of an agent's Q-table and visits (rows in ``policy_snapshot_entries``).

    ``version`` counts the agent's snapshots from 1; ``q_revision`` is the agent's Q revision
    the copy was taken at; ``entries`` the number of copied rows."""

    __tablename__ = "policy_snapshots"
    __table_args__ = (sa.UniqueConstraint("agent_id", "version"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    label: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    epsilon: Mapped[float] = mapped_column(sa.Double)
    updates: Mapped[int] = mapped_column(sa.BigInteger)
    q_revision: Mapped[int] = mapped_column(sa.BigInteger)
    entries: Mapped[int] = mapped_column(sa.Integer)


class PolicySnapshotEntry(Base):
    """One Q-table entry of a policy snapshot (the same shape as ``q_values``)."""

    __tablename__ = "policy_snapshot_entries"

    snapshot_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("policy_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    state_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    action: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    q: Mapped[float] = mapped_column(sa.Double)
    visits: Mapped[int] = mapped_column(sa.BigInteger)
