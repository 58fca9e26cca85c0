"""learning policy columns: variances, the learner's new state parts, promotions

What changes, and how existing rows are filled (NULL meanings: rlexec/store/models.py and
docs/analytics.md):

- ``q_values.variance`` and ``policy_snapshot_entries.variance`` (DOUBLE): the learner's
  variance estimate of the cell's Q-value (reward units squared); NULL = unknown (every old
  row: the old agent kept none).
- ``decisions`` gains the state features ``resting_share`` (fraction of the remaining parent
  quantity resting in our own child orders) and ``schedule_lag`` (the base schedule's target
  filled share minus ours, of the parent quantity; positive = behind), NULL on old rows (not
  observed), and the state key's new parts ``own_orders_bucket`` / ``schedule_bucket``: 0 and
  0 on old rows whose key is of the discretizer's form (an 8-part key ``r..q<n>`` means o0 l0,
  exactly as the current parser reads it and as the Q-table stores it), NULL where the other
  bucket columns are NULL (a key of another form). Tell "none resting / on schedule" from "not
  observed" with ``resting_share IS NULL``.
- ``decisions.seconds_since_last_trade`` becomes nullable (NULL: the engine supplied no
  trades).
- ``experiences.next_schedule_action`` (label): the base's action at the next state; NULL on
  old rows and for terminal transitions.
- table ``promotions``: one row per validation of a trained policy against its base, whether
  it was promoted or not; append-only (triggers refuse UPDATE, DELETE and, on SQLite, INSERT
  OR REPLACE; on PostgreSQL TRUNCATE). A promoted policy's snapshot and agent cannot be deleted
  (foreign keys ON DELETE RESTRICT).
- the four views are redefined: ``decision_outcomes`` adds ``resting_share``, ``schedule_lag``,
  ``own_orders_bucket`` and ``schedule_bucket``; the other three are unchanged (dropped and
  recreated because SQLite rebuilds ``decisions``).

SQLite rebuilds ``decisions`` (a column cannot drop NOT NULL in place): its append-only
triggers of revision d41c7a9e2b18 go with the old table and are created again, word for word.
On PostgreSQL the columns are altered in place and the update trigger is disabled only for the
one statement that fills the buckets of rows with a key of another form.

Downgrade restores revision d41c7a9e2b18 exactly (its views and triggers) and drops what was
added; a NULL ``seconds_since_last_trade`` becomes 0.0 (what that revision's code wrote when
no trade had been seen). The SQL is written out here, not imported: a released migration must
not change with the code.

Revision ID: b5b71e82dddf
Revises: d41c7a9e2b18
Create Date: 2026-12-01 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "b5b71e82dddf"
down_revision: str | None = "d41c7a9e2b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# ---- the views (the last three are revision d41c7a9e2b18's, unchanged) ------------------------

_ACTION_STATS = """COUNT(*) AS decisions,
       AVG(d.reward_total) AS mean_reward,
       AVG(CASE WHEN d.explored THEN 1.0 ELSE 0.0 END) AS explored_share,
       AVG(CASE WHEN d.deviated THEN 1.0 WHEN NOT d.deviated THEN 0.0 END) AS deviated_share,
       AVG(d.action_probability) AS mean_action_probability,
       AVG(d.slippage_bps) AS mean_slippage_bps,
       SUM(d.child_quantity) AS child_quantity,
       SUM(d.child_filled_quantity) AS child_filled_quantity,
       SUM(d.filled_quantity) AS filled_quantity"""
UNCHANGED_VIEWS: dict[str, str] = {
    "action_stats_by_hour": f"""
SELECT d.agent_id, a.name AS agent_name, d.hour_of_day, d.action,
       {_ACTION_STATS}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
GROUP BY d.agent_id, a.name, d.hour_of_day, d.action
""",
    "action_stats_by_spread": f"""
SELECT d.agent_id, a.name AS agent_name,
       CASE WHEN d.tick_size <= 0 THEN NULL
            WHEN d.bid_ask_spread / d.tick_size < 1.5 THEN 1
            WHEN d.bid_ask_spread / d.tick_size < 2.5 THEN 2
            WHEN d.bid_ask_spread / d.tick_size < 4.5 THEN 3
            ELSE 5 END AS spread_ticks,
       d.action,
       {_ACTION_STATS}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
GROUP BY d.agent_id, a.name, 3, d.action
""",
    "episode_summary": """
SELECT e.episode_id, e.agent_id, e.agent_name, e.executor, e.mode, e.market, e.side,
       e.quantity, e.arrival_mid, e.seed, e.config_hash, e.snapshot_id, e.run_id,
       e.reward_mode, e.urgency, e.started_at, e.ended_at, e.horizon_steps, e.completed_step,
       e.forced_completion,
       e.implementation_shortfall_bps, e.completion_cost_bps,
       e.filled_by_policy, e.filled_by_policy / e.quantity AS policy_fill_share,
       e.completion_quantity, e.avg_price, e.child_orders, e.total_reward,
       (SELECT COUNT(*) FROM decisions d WHERE d.episode_id = e.episode_id) AS decisions,
       (SELECT COALESCE(SUM(CASE WHEN d.explored THEN 1 ELSE 0 END), 0) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS explored_decisions,
       (SELECT COALESCE(SUM(CASE WHEN d.deviated THEN 1 ELSE 0 END), 0) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS deviated_decisions,
       (SELECT AVG(d.action_probability) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS mean_action_probability,
       (SELECT SUM(d.reward_total) FROM decisions d
         WHERE d.episode_id = e.episode_id) AS decision_reward
FROM episodes e
""",
}
_OUTCOMES_TAIL = """       d.explored, d.epsilon, d.action_probability,
       d.hour_of_day, d.minute_of_hour, d.time_elapsed_pct, d.remaining_size,
       d.bid_ask_spread, d.tick_size, d.orderbook_imbalance, d.recent_volatility, d.mid_price,
       d.child_quantity, d.child_price, d.child_filled_quantity, d.filled_quantity,
       d.fill_price, d.slippage_bps,
       CASE WHEN d.child_quantity > 0 THEN d.child_filled_quantity / d.child_quantity END
           AS child_fill_ratio,
       d.fill_rate_reward, d.slippage_penalty, d.time_penalty, d.market_impact_penalty,
       d.reward_total{extra}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
LEFT JOIN episodes e ON e.episode_id = d.episode_id
"""
_OUTCOMES_HEAD = """
SELECT d.episode_id, d.seq, d.step, d.decided_at, d.agent_id, a.name AS agent_name,
       e.executor, e.mode, e.market, e.run_id, e.reward_mode, d.side, d.arrival_mid,
       d.state_key, d.state_index, d.remaining_bucket, d.time_bucket, d.spread_bucket,
       d.imbalance_bucket, d.hour_bucket, d.urgency, d.volatility_bucket, d.queue_depth_bucket,
       d.action, d.schedule_action, d.schedule_quantity, d.deviated, d.greedy_action,
"""
# new columns at the end: PostgreSQL's CREATE OR REPLACE VIEW could only have added them there
VIEWS: dict[str, str] = {
    "decision_outcomes": _OUTCOMES_HEAD
    + _OUTCOMES_TAIL.format(
        extra=",\n       d.own_orders_bucket, d.schedule_bucket, d.resting_share, d.schedule_lag"
    ),
    **UNCHANGED_VIEWS,
}
PREVIOUS_VIEWS: dict[str, str] = {
    "decision_outcomes": _OUTCOMES_HEAD + _OUTCOMES_TAIL.format(extra=""),
    **UNCHANGED_VIEWS,
}

# ---- revision d41c7a9e2b18's append-only triggers of decisions (SQLite), word for word -------

REFUSED = "are append-only (the audit trail)"
PRUNE_HINT = "remove old rows with rlexec db prune --before DATE"
SQLITE_DECISION_TRIGGERS: dict[str, str] = {
    "decisions_no_update": (
        "CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions BEGIN "
        f"SELECT RAISE(ABORT, 'decisions {REFUSED}: UPDATE refused; {PRUNE_HINT}'); END"
    ),
    "decisions_no_delete": (
        "CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions "
        "WHEN NOT EXISTS (SELECT 1 FROM audit_prunes p WHERE p.finished_at IS NULL "
        "AND OLD.decided_at < p.pruned_before) BEGIN "
        f"SELECT RAISE(ABORT, 'decisions {REFUSED}: DELETE refused; {PRUNE_HINT}'); END"
    ),
    "decisions_no_replace": (
        "CREATE TRIGGER decisions_no_replace BEFORE INSERT ON decisions "
        "WHEN EXISTS (SELECT 1 FROM decisions t WHERE t.episode_id = NEW.episode_id AND "
        f"t.seq = NEW.seq) BEGIN SELECT RAISE(ABORT, 'decisions {REFUSED}: a row with this "
        "key exists, INSERT OR REPLACE refused'); END"
    ),
}

# ---- promotions ------------------------------------------------------------------------------

PROMOTIONS_REFUSED = "promotions are append-only (the promotion log)"

NEW_DECISION_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("resting_share", sa.Double()),
    ("schedule_lag", sa.Double()),
    ("own_orders_bucket", sa.SmallInteger()),
    ("schedule_bucket", sa.SmallInteger()),
)
NEW_BUCKETS = ("own_orders_bucket", "schedule_bucket")
ADDED_IN_PLACE: tuple[tuple[str, str, sa.types.TypeEngine[Any]], ...] = (
    ("q_values", "variance", sa.Double()),
    ("policy_snapshot_entries", "variance", sa.Double()),
    ("experiences", "next_schedule_action", sa.String(length=16)),
)


def _dialect() -> str:
    return op.get_bind().dialect.name


def _drop_views(names: Iterable[str]) -> None:
    for name in reversed(list(names)):
        op.execute(f"DROP VIEW IF EXISTS {name}")


def _create_views(views: dict[str, str]) -> None:
    for name, sql in views.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")


def _update_decisions(sql: str) -> None:
    """Run one UPDATE of ``decisions`` past its append-only update trigger (PostgreSQL: the
    trigger is disabled for this statement only; SQLite: the caller dropped the triggers)."""
    if _dialect() == "postgresql":
        op.execute("ALTER TABLE decisions DISABLE TRIGGER decisions_no_update")
        op.execute(sql)
        op.execute("ALTER TABLE decisions ENABLE TRIGGER decisions_no_update")
    else:
        op.execute(sql)


def _drop_sqlite_decision_triggers() -> None:
    for name in SQLITE_DECISION_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def _create_sqlite_decision_triggers() -> None:
    for sql in SQLITE_DECISION_TRIGGERS.values():
        op.execute(sql)


def _create_promotions() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("snapshot_id", BIG_ID, nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("validation_seed_first", sa.BigInteger(), nullable=False),
        sa.Column("validation_seed_count", sa.Integer(), nullable=False),
        sa.Column("base_executor", sa.String(length=64), nullable=False),
        sa.Column("policy_mean_is_bps", sa.Double(), nullable=False),
        sa.Column("base_mean_is_bps", sa.Double(), nullable=False),
        sa.Column("mean_difference_bps", sa.Double(), nullable=False),
        sa.Column("difference_ci_low_bps", sa.Double(), nullable=False),
        sa.Column("difference_ci_high_bps", sa.Double(), nullable=False),
        sa.Column("episodes_trained", sa.BigInteger(), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "snapshot_id IS NOT NULL OR NOT promoted",
            name=op.f("ck_promotions_promoted_has_snapshot"),
        ),
        sa.CheckConstraint(
            "difference_ci_low_bps <= difference_ci_high_bps",
            name=op.f("ck_promotions_ci_ordered"),
        ),
        sa.CheckConstraint(
            "validation_seed_count > 0", name=op.f("ck_promotions_validation_seeds_positive")
        ),
        sa.CheckConstraint(
            "episodes_trained >= 0", name=op.f("ck_promotions_episodes_trained_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_promotions_agent_id_agents"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["policy_snapshots.id"],
            name=op.f("fk_promotions_snapshot_id_policy_snapshots"), ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
    )  # fmt: skip
    op.create_index(op.f("ix_promotions_agent_id"), "promotions", ["agent_id"], unique=False)
    if _dialect() == "postgresql":
        op.execute(
            "CREATE FUNCTION rlexec_promotions_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{PROMOTIONS_REFUSED}: % refused', TG_OP; END $$"
        )
        for event, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(
                f"CREATE TRIGGER promotions_no_{event.lower()} BEFORE {event} ON promotions "
                f"FOR EACH {level} EXECUTE FUNCTION rlexec_promotions_refuse()"
            )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER promotions_no_{event.lower()} BEFORE {event} ON promotions BEGIN "
            f"SELECT RAISE(ABORT, '{PROMOTIONS_REFUSED}: {event} refused'); END"
        )
    op.execute(
        "CREATE TRIGGER promotions_no_replace BEFORE INSERT ON promotions "
        "WHEN EXISTS (SELECT 1 FROM promotions t WHERE t.id = NEW.id) BEGIN "
        f"SELECT RAISE(ABORT, '{PROMOTIONS_REFUSED}: a row with this id exists, INSERT OR "
        "REPLACE refused'); END"
    )


def upgrade() -> None:
    sqlite = _dialect() == "sqlite"
    _drop_views(PREVIOUS_VIEWS)
    for table, column, kind in ADDED_IN_PLACE:
        op.add_column(table, sa.Column(column, kind, nullable=True))
    if sqlite:
        _drop_sqlite_decision_triggers()
        with op.batch_alter_table("decisions", recreate="always") as batch:
            for name, kind in NEW_DECISION_COLUMNS:
                batch.add_column(sa.Column(name, kind, nullable=True))
            batch.alter_column("seconds_since_last_trade", existing_type=sa.Double(), nullable=True)
        op.execute(
            "UPDATE decisions SET own_orders_bucket = 0, schedule_bucket = 0 "
            "WHERE remaining_bucket IS NOT NULL"
        )
        _create_sqlite_decision_triggers()
    else:
        # a constant default fills the old rows without rewriting them (PostgreSQL >= 11)
        for name, kind in NEW_DECISION_COLUMNS:
            default = sa.text("0") if name in NEW_BUCKETS else None
            op.add_column("decisions", sa.Column(name, kind, nullable=True,
                                                 server_default=default))  # fmt: skip
        for name in NEW_BUCKETS:
            op.alter_column("decisions", name, existing_type=sa.SmallInteger(),
                            server_default=None)  # fmt: skip
        op.alter_column(
            "decisions", "seconds_since_last_trade", existing_type=sa.Double(), nullable=True
        )
        _update_decisions(
            "UPDATE decisions SET own_orders_bucket = NULL, schedule_bucket = NULL "
            "WHERE remaining_bucket IS NULL"
        )
    _create_promotions()
    _create_views(VIEWS)


def downgrade() -> None:
    sqlite = _dialect() == "sqlite"
    _drop_views(VIEWS)
    op.drop_table("promotions")  # its triggers go with it
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS rlexec_promotions_refuse()")
    fill = (
        "UPDATE decisions SET seconds_since_last_trade = 0.0 WHERE seconds_since_last_trade IS NULL"
    )
    if sqlite:
        _drop_sqlite_decision_triggers()
        op.execute(fill)
        with op.batch_alter_table("decisions", recreate="always") as batch:
            for name, _ in NEW_DECISION_COLUMNS:
                batch.drop_column(name)
            batch.alter_column(
                "seconds_since_last_trade", existing_type=sa.Double(), nullable=False
            )
        _create_sqlite_decision_triggers()
    else:
        _update_decisions(fill)
        for name, _ in NEW_DECISION_COLUMNS:
            op.drop_column("decisions", name)
        op.alter_column(
            "decisions", "seconds_since_last_trade", existing_type=sa.Double(), nullable=False
        )
    # plain ALTER TABLE .. DROP COLUMN (SQLite >= 3.35): a batch copy of these tables is not
    # needed, and would re-create them for nothing
    for table, column, _ in reversed(ADDED_IN_PLACE):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    _create_views(PREVIOUS_VIEWS)
