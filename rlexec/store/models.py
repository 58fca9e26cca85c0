"""The relational schema: SQLAlchemy 2 declarative models of every table rlexec stores.

One ``MetaData`` with a naming convention (so Alembic can name, alter and drop every
constraint, SQLite included). The schema is created only by the Alembic migrations in
``migrations/``; these models describe it (and the migration tests check that they match).

Conventions: plural snake_case table names, timestamps named ``*_at`` (timezone-aware, UTC),
money (quantities and prices) as NUMERIC, actions as their labels ("Wait" .. "Cancel"),
state keys as their stable text form ("r3.t5.s1.i2.h2.u1.v0.q0.o1.l2"; the older 8-part form
without ``.o<n>.l<n>`` means o0 l0), JSON as ``jsonb`` on PostgreSQL.

Units, used in every column description below (and in docs/analytics.md):
- *shares*: a quantity of the traded instrument (shares or contracts), NUMERIC;
- *price units*: a price in the instrument's currency (0.01-tick books: dollars), NUMERIC
  for prices we traded at, DOUBLE for market features;
- *fraction*: a share in [0, 1] (0.25 = 25 %); *bps*: 1/100 of a percent;
- *steps*: simulator (or engine) steps since the parent started, from 0.

SQLite specifics (``MONEY``, ``UtcDateTime``): money is stored as REAL (DOUBLE affinity), so a
whole number is a float and ``a / b`` divides like PostgreSQL's NUMERIC (no integer division);
timestamps are stored as ISO-8601 text ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``, the very text
``rlexec export`` writes, so a filter written in the exported form compares correctly.

``decisions.episode_id`` carries no foreign key on purpose: decisions are flushed while their
episode is still running, and the episode row is written when the episode ends.

``decisions`` and ``episodes`` are the audit trail and append-only: triggers refuse UPDATE,
DELETE and (SQLite) INSERT OR REPLACE / (PostgreSQL) TRUNCATE; the only way to remove rows is
``rlexec db prune --before DATE`` (``rlexec.analytics.retention``), which logs itself in
``audit_prunes``. An agent with an audit trail can therefore not be deleted.

``promotions`` (revision ``b5b71e82dddf``) is append-only too (UPDATE, DELETE, INSERT OR
REPLACE, TRUNCATE refused, no prune): the record of which policy was allowed into production
and on what evidence. Its foreign keys are ON DELETE RESTRICT, so neither the agent nor a
promoted snapshot can be deleted while a promotion names it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
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
# On SQLite a DOUBLE (REAL affinity) read back as Decimal: NUMERIC affinity would store 500.0 as
# the integer 500, and SQL divisions of two such columns would truncate.
MONEY = sa.Numeric(20, 8).with_variant(sa.Double(asdecimal=True, decimal_return_scale=8), "sqlite")
# Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ORDER_ID_LENGTH = 64  # episodes.order_id: an outside engine's own id of a parent order
# JSON documents: jsonb on PostgreSQL (=, DISTINCT and ORDER BY work on it), JSON text on SQLite.
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# SQLite timestamp text: ISO-8601 in UTC with microseconds and the offset, as exported.
SQLITE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"
_SQLITE_STORAGE = (
    "%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d+00:00"
)
_SQLITE_PARSE = r"(\d+)-(\d+)-(\d+)[T ](\d+):(\d+):(\d+)(?:\.(\d{6}))?"


def sqlite_time_text(value: datetime) -> str:
    """The text SQLite stores for a timezone-aware timestamp (raw driver fast paths)."""
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value!r}: expected a timezone-aware datetime")
    return value.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE that always hands back timezone-aware UTC datetimes.

    SQLite keeps no zone, so values are converted to UTC on the way in, stored as
    ``SQLITE_TIME_FORMAT`` text and marked UTC on the way out; PostgreSQL stores
    ``timestamptz`` natively.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(
                sqlite.DATETIME(  # type: ignore[no-untyped-call]
                    storage_format=_SQLITE_STORAGE, regexp=_SQLITE_PARSE
                )
            )
        return dialect.type_descriptor(sa.DateTime(timezone=True))

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

    - ``config_snapshot``: the agent's ``rl_execution`` config as created (JSON; its reward
      mode is the one the agent keeps);
    - ``epsilon``: the training exploration rate as of the last publish (fraction);
    - ``updates``: online Q-learning updates so far, as of the last publish (count);
    - ``q_revision``: publishes of its Q-table (count; see ``QValue.revision``);
    - ``learner`` holds the learner lease until ``learner_expires_at`` (seconds since the
      epoch, the database's clock);
    - ``transitions_queued`` counts the transitions actors queued (``ExperienceRow.seq``) and
      ``transitions_applied`` how many of them, in ``seq`` order, the published table reflects;
    - ``next_training_seed``: the next training seed to hand out (NULL until the first
      allocation).
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    config_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON_DOC)
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
    last wrote the row (how actors refresh only what changed).

    ``q``: the action value in reward units (``shortfall`` reward: bps of the arrival value,
    negative = cost); ``visits``: online updates of the pair (count); ``variance`` (revision
    ``b5b71e82dddf``): the learner's estimate of the variance of ``q`` (reward units squared;
    NULL: unknown, e.g. a row published before the agent kept variances)."""

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
    variance: Mapped[float | None] = mapped_column(sa.Double)


class ExperienceRow(Base):
    """A transition: for the replay buffer across restarts (newest loaded on start) and, with
    a ``seq``, queued by an actor for the agent's learner (applied in ``seq`` order);
    ``reward`` in reward units (as ``QValue.q``); ``next_schedule_action`` (revision
    ``b5b71e82dddf``): the base schedule's action label at the next state (NULL: a terminal
    transition, or a row written before it was recorded)."""

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
    next_schedule_action: Mapped[str | None] = mapped_column(sa.String(16))


class Episode(Base):
    """One parent order worked by one executor (RL or a baseline). Append-only.

    - ``executor``: ``rl-twap`` / ``rl:<agent>`` (the learning executor) or a baseline name;
      ``mode``: ``training`` / ``evaluation`` / ``production``; ``market``: the simulator
      (``external`` for an outside engine); ``side``: ``buy`` / ``sell``;
    - ``quantity``, ``filled_by_policy``, ``completion_quantity``: shares (the parent's size,
      what its own children filled, what the forced completion at the horizon filled);
    - ``arrival_mid``, ``avg_price``: price units (mid at the start; average fill price, the
      completion included);
    - ``implementation_shortfall_bps``, ``completion_cost_bps``: bps of the arrival value
      (``quantity * arrival_mid``), positive = cost;
    - ``seed``: the market seed; ``horizon_steps``: steps; ``child_orders``: count;
      ``total_reward``: the sum of the decisions' rewards (reward units);
    - ``config_hash`` -> ``configs``; ``snapshot_id`` -> ``policy_snapshots``: the policy the
      episode ran, by ``mode`` (``rlexec.agent``, ``act_on_mode_policy``): ``evaluation`` (and
      comparison) the snapshot taken when the session opened, which the agent acts on;
      ``production`` the latest promoted snapshot it acts on, NULL when nothing was promoted
      (it ran its base); ``training`` NULL: the live table, which every episode changes, is no
      stored snapshot; NULL for baseline executors (no policy) and for rows stored before the
      mode's policy was recorded.

    Added by revision ``d41c7a9e2b18`` (NULL on older rows unless said otherwise):
    - ``run_id``: the train / evaluate / compare invocation (uuid text; NULL: before runs were
      recorded);
    - ``reward_mode``: the learning executor's reward mode (NULL: a baseline executor, or an
      episode stored before the reward mode was recorded);
    - ``urgency``: the parent's urgency (0 low, 1 normal, 2 high: table ``urgencies``; old rows:
      taken from the episode's first decision, NULL for old baseline episodes);
    - ``completed_step``: the step (from 0) at which the parent was fully filled
      (``horizon_steps - 1`` when the completion forced it; old rows: that when forced, else
      NULL: not recorded);
    - ``forced_completion``: whether the horizon's market order completed the parent
      (``completion_quantity > 0``; filled on every row).

    Added by revision ``f7d2c4b8a913``: ``order_id``, the outside engine's own id of the parent
    (``start_order(order_id=...)``), which it may reuse (ids that restart every day); NULL when
    none was given and on older rows (whose engine-given id, if any, is the ``episode_id``).
    """

    __tablename__ = "episodes"

    episode_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    agent_id: Mapped[int | None] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    agent_name: Mapped[str] = mapped_column(sa.String(200), index=True)
    executor: Mapped[str] = mapped_column(sa.String(64), index=True)
    mode: Mapped[str] = mapped_column(sa.String(16), index=True)
    market: Mapped[str] = mapped_column(sa.String(64))
    side: Mapped[str] = mapped_column(sa.String(4))
    quantity: Mapped[Decimal] = mapped_column(MONEY)
    arrival_mid: Mapped[Decimal] = mapped_column(MONEY)
    seed: Mapped[int] = mapped_column(sa.BigInteger, index=True)
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
    run_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    reward_mode: Mapped[str | None] = mapped_column(sa.String(16))
    urgency: Mapped[int | None] = mapped_column(sa.SmallInteger)
    completed_step: Mapped[int | None] = mapped_column(sa.Integer)
    forced_completion: Mapped[bool] = mapped_column(sa.Boolean)
    order_id: Mapped[str | None] = mapped_column(sa.String(ORDER_ID_LENGTH), index=True)


class Decision(Base):
    """The audit trail: one row per decision, append-only, indexed for analytics.

    - ``seq``: 1, 2, ... within the episode; ``step``: steps; ``decided_at``: UTC;
    - raw state features (``rlexec.rl.types.ExecutionState``): ``remaining_size`` and
      ``time_elapsed_pct`` (fractions of the parent and of the horizon), ``urgency`` (0 low,
      1 normal, 2 high: table ``urgencies``), ``bid_ask_spread`` and ``recent_volatility``
      (price units; volatility is the std of mid changes per step), ``orderbook_imbalance``
      ((bid size - ask size) / (bid size + ask size) at the touch, in [-1, 1]),
      ``queue_depth_at_price`` and ``typical_queue_depth`` (shares), ``hour_of_day`` (0-23),
      ``minute_of_hour`` (0-59), ``seconds_since_last_trade`` (seconds; NULL since revision
      ``b5b71e82dddf``: no trade seen since the parent started), ``recent_fill_rate``
      (fraction of our recent child quantity that filled), ``avg_slippage_last_n`` (bps against
      the mid, positive = cost), ``tick_size`` and ``mid_price`` (price units);
    - the state: ``state_key`` (``r<remaining>.t<time>.s<spread>.i<imbalance>.h<hour>.u<urgency>
      .v<volatility>.q<queue depth>.o<own orders>.l<schedule>`` buckets; the older 8-part key
      without ``.o<n>.l<n>`` means o0 l0), its parts as the ``*_bucket`` columns (bucket numbers
      from 0; NULL for a key of another form) and ``state_index`` (the dense index);
    - the choice: ``action`` (label), ``epsilon`` (fraction), ``action_probability`` (the
      probability the policy gave ``action``, in (0, 1]), ``q_wait`` .. ``q_cancel`` (reward
      units), ``explored``;
    - the child order: ``child_quantity`` (shares), ``child_price`` (limit, price units); NULL
      when nothing was placed;
    - the outcome until the next decision: ``filled_quantity`` (shares; every fill of the
      parent in the interval: earlier children still resting and, for the last decision, the
      forced completion included), ``fill_price`` (their average, price units; NULL: no fill)
      and the reward parts (reward units; ``reward_total`` = fill_rate_reward -
      slippage_penalty - time_penalty - market_impact_penalty).

    Added by revision ``d41c7a9e2b18`` (NULL on older rows unless said otherwise):
    - ``schedule_action`` (label) and ``schedule_quantity`` (shares): what the base schedule
      would have done at this step; ``deviated``: ``action <> schedule_action``. Old rows:
      ``schedule_action`` is filled only where the old tie rule proves it (a greedy decision
      whose action ties for the maximum with a lower action, or all six Q-values equal), with
      ``deviated`` false; NULL elsewhere (not logged), ``schedule_quantity`` NULL;
    - ``greedy_action`` (label): the action the decision rule preferred. Old rows: ``action``
      when not explored; for an explored decision the unique argmax of the logged Q-values,
      NULL when the maximum is tied (the tie-break used the unlogged schedule action);
    - ``side`` (``buy`` / ``sell``) and ``arrival_mid`` (price units): the parent's. Old rows:
      from the episode row, NULL when it is missing;
    - ``slippage_bps``: ``sign * (fill_price - mid_price) / mid_price * 1e4``, sign +1 buy / -1
      sell: the interval's fills against the mid *at the decision*, positive = cost. NULL when
      nothing filled (or the side is unknown). Against the arrival mid, compute
      ``sign * (fill_price - arrival_mid) / arrival_mid * 1e4`` from the columns;
    - ``child_filled_quantity`` (shares): the part of this decision's own child that filled
      before the next decision; NULL when no child was placed, and on every older row (not
      recorded: ``filled_quantity`` mixes in the fills of earlier children);
    - ``remaining_bucket`` .. ``queue_depth_bucket``: the state key's parts (filled on old rows).

    Added by revision ``b5b71e82dddf``:
    - ``resting_share`` (fraction): the share of the remaining parent quantity resting in our own
      child orders at the decision, in [0, 1]; ``schedule_lag`` (fraction of the parent
      quantity, in [-1, 1]): the base schedule's target filled share minus our filled share,
      positive = behind schedule. NULL on older rows (not observed);
    - ``own_orders_bucket`` (0 nothing resting, 1 some, 2 all the unfilled quantity rests) and
      ``schedule_bucket`` (0 on schedule, 1 behind, 2 ahead): the key's ``o`` and ``l`` parts.
      An 8-part key means o0 l0, so older rows hold 0 and 0 (NULL where the other bucket
      columns are NULL); ``resting_share IS NULL`` tells such a row from one that observed
      "nothing resting, on schedule".

    Added by revision ``e3c1a9d27f40``:
    - ``resting_behind_ticks`` (ticks, >= 0): how far the limit of our resting child farthest
      from the near touch is behind it (a buy's bid below the best bid, a sell's ask above the
      best ask); 0 when nothing of ours rests behind the touch. NULL on older rows (not
      observed);
    - ``touch_bucket`` (0 nothing of ours behind the touch, 1 some child is): the key's ``b``
      part. A key without it (10 or 8 parts) means b0, so older rows hold 0 (NULL where the
      other bucket columns are NULL).
    """

    __tablename__ = "decisions"
    __table_args__ = (sa.Index("ix_decisions_agent_id_decided_at", "agent_id", "decided_at"),)

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
    seconds_since_last_trade: Mapped[float | None] = mapped_column(sa.Double)
    recent_fill_rate: Mapped[float] = mapped_column(sa.Double)
    avg_slippage_last_n: Mapped[float] = mapped_column(sa.Double)
    tick_size: Mapped[float] = mapped_column(sa.Double)
    mid_price: Mapped[float] = mapped_column(sa.Double)
    typical_queue_depth: Mapped[float] = mapped_column(sa.Double)
    state_key: Mapped[str] = mapped_column(sa.String(64), index=True)
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
    schedule_action: Mapped[str | None] = mapped_column(sa.String(16))
    schedule_quantity: Mapped[Decimal | None] = mapped_column(MONEY)
    deviated: Mapped[bool | None] = mapped_column(sa.Boolean)
    greedy_action: Mapped[str | None] = mapped_column(sa.String(16))
    side: Mapped[str | None] = mapped_column(sa.String(4))
    arrival_mid: Mapped[Decimal | None] = mapped_column(MONEY)
    slippage_bps: Mapped[float | None] = mapped_column(sa.Double)
    child_filled_quantity: Mapped[Decimal | None] = mapped_column(MONEY)
    remaining_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    time_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    spread_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    imbalance_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    hour_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    volatility_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    queue_depth_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    resting_share: Mapped[float | None] = mapped_column(sa.Double)
    schedule_lag: Mapped[float | None] = mapped_column(sa.Double)
    own_orders_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    schedule_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)
    resting_behind_ticks: Mapped[float | None] = mapped_column(sa.Double)
    touch_bucket: Mapped[int | None] = mapped_column(sa.SmallInteger)


# The state key's parts as decisions columns, in key order (the urgency part is ``urgency``).
STATE_BUCKET_COLUMNS: tuple[str, ...] = (
    "remaining_bucket",
    "time_bucket",
    "spread_bucket",
    "imbalance_bucket",
    "hour_bucket",
    "volatility_bucket",
    "queue_depth_bucket",
    "own_orders_bucket",
    "schedule_bucket",
    "touch_bucket",
)


class PolicyMetric(Base):
    """A periodic snapshot of the policy's shape and learning progress.

    - ``states_visited``: states with at least one visit (count); ``mean_q``: mean Q over the
      visited (state, action) pairs (reward units); ``epsilon``: the agent's exploration rate
      in ``mode`` (fraction); ``updates``: online updates (count);
    - ``estimated_improvement_bps``: the paired improvement over the base from a greedy
      evaluation (bps, positive = cheaper; NULL: not evaluated);
    - ``action_distribution``: JSON label -> fraction of the visited states whose greedy action
      it is; the same as counts in ``greedy_wait`` .. ``greedy_cancel`` (states).

    Added by revision ``d41c7a9e2b18``: ``mode`` (the agent's mode: ``training``,
    ``production``, ``evaluation``), ``source`` (``training``, ``evaluation``, ``engine``: see
    ``PolicyMetricsRecord``) and ``run_id``. Old rows with an estimated improvement were
    written by an evaluation (mode and source ``evaluation``); on the other old rows mode and
    source are NULL (the training loop or an outside engine; they cannot be told apart) and
    ``run_id`` is NULL everywhere. The greedy counts are filled on every row.
    """

    __tablename__ = "policy_metrics"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    states_visited: Mapped[int] = mapped_column(sa.Integer)
    mean_q: Mapped[float] = mapped_column(sa.Double)
    action_distribution: Mapped[dict[str, float]] = mapped_column(JSON_DOC)
    epsilon: Mapped[float] = mapped_column(sa.Double)
    estimated_improvement_bps: Mapped[float | None] = mapped_column(sa.Double)
    updates: Mapped[int] = mapped_column(sa.BigInteger)
    mode: Mapped[str | None] = mapped_column(sa.String(16))
    source: Mapped[str | None] = mapped_column(sa.String(16))
    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    greedy_wait: Mapped[int] = mapped_column(sa.Integer)
    greedy_place_small: Mapped[int] = mapped_column(sa.Integer)
    greedy_place_medium: Mapped[int] = mapped_column(sa.Integer)
    greedy_place_large: Mapped[int] = mapped_column(sa.Integer)
    greedy_place_all: Mapped[int] = mapped_column(sa.Integer)
    greedy_cancel: Mapped[int] = mapped_column(sa.Integer)


Q_COLUMNS: tuple[str, ...] = (
    "q_wait",
    "q_place_small",
    "q_place_medium",
    "q_place_large",
    "q_place_all",
    "q_cancel",
)
# policy_metrics' greedy-action counts, in ACTION_LABELS order.
GREEDY_COLUMNS: tuple[str, ...] = tuple(f"greedy_{c[2:]}" for c in Q_COLUMNS)


# ---- revision 2: configs, policy snapshots (migration ``policy_snapshots_configs_views``) ----


class StoredConfig(Base):
    """A config snapshot by hash (``EpisodeRecord.config_hash``): what replay re-simulates
    an episode with. Written once per hash, never changed."""

    __tablename__ = "configs"

    config_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON_DOC)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PolicySnapshot(Base):
    """A versioned copy of an agent's Q-table and visits (rows in ``policy_snapshot_entries``).

    ``version`` counts the agent's snapshots from 1; ``q_revision`` is the agent's Q revision
    the copy was taken at; ``entries`` the number of copied rows; ``epsilon`` (fraction) and
    ``updates`` (count) the agent's at the time."""

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
    """One Q-table entry of a policy snapshot (the same shape and units as ``q_values``;
    ``variance`` NULL: unknown, as on every entry copied before revision ``b5b71e82dddf``)."""

    __tablename__ = "policy_snapshot_entries"

    snapshot_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("policy_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    state_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    action: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    q: Mapped[float] = mapped_column(sa.Double)
    visits: Mapped[int] = mapped_column(sa.BigInteger)
    variance: Mapped[float | None] = mapped_column(sa.Double)


# ---- revision d41c7a9e2b18: lookups and retention (migration ``audit_trail_truth``) ----


class UrgencyName(Base):
    """Lookup of ``urgency`` values: 0 ``low``, 1 ``normal``, 2 ``high``."""

    __tablename__ = "urgencies"

    urgency: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(sa.String(16), unique=True)


class AuditPrune(Base):
    """One ``rlexec db prune --before DATE``: what it removed (the only sanctioned removal of
    audit rows). ``pruned_before``: episodes that ended, and decisions decided, before it were
    removed (decisions of an episode that ended later are kept with it);
    ``decisions_removed`` / ``episodes_removed``: counts; ``first_removed_at`` /
    ``last_removed_at``: the range of the removed decisions' ``decided_at`` (NULL: none);
    ``finished_at`` NULL only while the prune runs (the delete triggers let rows go only then).
    Rows are never deleted."""

    __tablename__ = "audit_prunes"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    pruned_before: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decisions_removed: Mapped[int] = mapped_column(sa.BigInteger)
    episodes_removed: Mapped[int] = mapped_column(sa.BigInteger)
    first_removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# ---- revision b5b71e82dddf: promotions (migration ``learning_policy_columns``) ----


class Promotion(Base):
    """One validation of a trained policy against its base, and whether it was promoted for
    production (append-only: the promotion log).

    - ``agent_id`` -> ``agents``; ``snapshot_id`` -> ``policy_snapshots``: the policy validated
      (always set when ``promoted``; NULL when nothing was promoted and no snapshot was kept
      of the refused candidate); ``run_id``: the ``rlexec train`` invocation that validated it
      (NULL: not made by a recorded run); ``created_at``: UTC;
    - ``promoted``: whether this policy goes to production; a refused candidate leaves the
      agent's latest promotion in force (with none, the executor runs its base); ``reason``:
      why, in words (the gate's verdict);
    - ``validation_seed_first``, ``validation_seed_count``: the validation seeds, ``first ..
      first + count - 1`` (disjoint from training and evaluation seeds);
    - ``base_executor``: the base's executor name (as ``episodes.executor``, e.g.
      ``twap_passive``);
    - ``policy_mean_is_bps``, ``base_mean_is_bps``: mean implementation shortfall over the
      validation seeds (bps of the arrival value, positive = cost);
    - ``mean_difference_bps``: the paired mean of policy IS minus base IS on the same seeds
      (bps; negative = the policy is cheaper) and ``difference_ci_low_bps`` /
      ``difference_ci_high_bps`` its 95 % confidence interval (a policy that beats its base
      with a CI excluding 0 has ``difference_ci_high_bps < 0``);
    - ``episodes_trained``: training episodes the agent had learned from at the time (count);
    - ``config_hash`` -> ``configs`` (the config the policy was trained and validated with; no
      foreign key, as ``episodes.config_hash``).
    """

    __tablename__ = "promotions"
    __table_args__ = (
        sa.CheckConstraint("snapshot_id IS NOT NULL OR NOT promoted", name="promoted_has_snapshot"),
        sa.CheckConstraint("difference_ci_low_bps <= difference_ci_high_bps", name="ci_ordered"),
        sa.CheckConstraint("validation_seed_count > 0", name="validation_seeds_positive"),
        sa.CheckConstraint("episodes_trained >= 0", name="episodes_trained_non_negative"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(
        BIG_ID, sa.ForeignKey("agents.id", ondelete="RESTRICT"), index=True
    )
    snapshot_id: Mapped[int | None] = mapped_column(
        BIG_ID, sa.ForeignKey("policy_snapshots.id", ondelete="RESTRICT")
    )
    run_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    promoted: Mapped[bool] = mapped_column(sa.Boolean)
    reason: Mapped[str] = mapped_column(sa.Text)
    validation_seed_first: Mapped[int] = mapped_column(sa.BigInteger)
    validation_seed_count: Mapped[int] = mapped_column(sa.Integer)
    base_executor: Mapped[str] = mapped_column(sa.String(64))
    policy_mean_is_bps: Mapped[float] = mapped_column(sa.Double)
    base_mean_is_bps: Mapped[float] = mapped_column(sa.Double)
    mean_difference_bps: Mapped[float] = mapped_column(sa.Double)
    difference_ci_low_bps: Mapped[float] = mapped_column(sa.Double)
    difference_ci_high_bps: Mapped[float] = mapped_column(sa.Double)
    episodes_trained: Mapped[int] = mapped_column(sa.BigInteger)
    config_hash: Mapped[str] = mapped_column(sa.String(64))
