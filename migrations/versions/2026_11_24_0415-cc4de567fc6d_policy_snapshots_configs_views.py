"""policy snapshots, configs by hash, analytics views, append-only decisions

- ``configs``: config snapshots by hash (what replay re-simulates an episode with);
- ``policy_snapshots`` + ``policy_snapshot_entries``: versioned copies of an agent's Q-table
  and visits, with a label and time;
- views ``decision_outcomes``, ``action_stats_by_hour``, ``action_stats_by_spread`` and
  ``episode_summary`` (see docs/analytics.md);
- a trigger refusing UPDATEs of the audit trail's columns in ``decisions`` (``agent_id`` stays
  updatable so that deleting an agent can still SET NULL it).

The view SQL is written out here, not imported: a released migration must not change when the
code does.

Revision ID: cc4de567fc6d
Revises: 60cb4f8afbb3
Create Date: 2026-11-24 04:15:31+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "cc4de567fc6d"
down_revision: str | None = "60cb4f8afbb3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column of ``decisions`` except agent_id (which ON DELETE SET NULL must be able to set).
_AUDIT_COLUMNS = (
    "episode_id, seq, step, decided_at, remaining_size, time_elapsed_pct, urgency, "
    "bid_ask_spread, orderbook_imbalance, recent_volatility, queue_depth_at_price, hour_of_day, "
    "minute_of_hour, seconds_since_last_trade, recent_fill_rate, avg_slippage_last_n, tick_size, "
    "mid_price, typical_queue_depth, state_key, state_index, action, epsilon, "
    "action_probability, q_wait, q_place_small, q_place_medium, q_place_large, q_place_all, "
    "q_cancel, explored, child_quantity, child_price, filled_quantity, fill_price, "
    "fill_rate_reward, slippage_penalty, time_penalty, market_impact_penalty, reward_total"
)
_APPEND_ONLY_MESSAGE = "decisions are append-only (the audit trail), UPDATE refused"

VIEWS: dict[str, str] = {
    "decision_outcomes": """
SELECT d.episode_id, d.seq, d.step, d.decided_at, d.agent_id,
       e.agent_name, e.executor, e.mode, e.market, e.side,
       d.state_key, d.state_index, d.action, d.explored, d.epsilon, d.action_probability,
       d.hour_of_day, d.minute_of_hour, d.time_elapsed_pct, d.remaining_size,
       d.bid_ask_spread, d.tick_size, d.orderbook_imbalance, d.recent_volatility,
       d.child_quantity, d.child_price, d.filled_quantity, d.fill_price,
       CASE WHEN d.child_quantity > 0 THEN d.filled_quantity / d.child_quantity END
           AS child_fill_ratio,
       d.fill_rate_reward, d.slippage_penalty, d.time_penalty, d.market_impact_penalty,
       d.reward_total
FROM decisions d
LEFT JOIN episodes e ON e.episode_id = d.episode_id
""",
    "action_stats_by_hour": """
SELECT agent_id, hour_of_day, action,
       COUNT(*) AS decisions,
       AVG(reward_total) AS mean_reward,
       AVG(CASE WHEN explored THEN 1.0 ELSE 0.0 END) AS explored_share,
       AVG(action_probability) AS mean_action_probability,
       SUM(child_quantity) AS child_quantity,
       SUM(filled_quantity) AS filled_quantity
FROM decisions
GROUP BY agent_id, hour_of_day, action
""",
    "action_stats_by_spread": """
SELECT agent_id, spread_ticks, action,
       COUNT(*) AS decisions,
       AVG(reward_total) AS mean_reward,
       AVG(CASE WHEN explored THEN 1.0 ELSE 0.0 END) AS explored_share,
       SUM(child_quantity) AS child_quantity,
       SUM(filled_quantity) AS filled_quantity
FROM (
    SELECT agent_id, action, explored, reward_total, child_quantity, filled_quantity,
           CASE WHEN tick_size <= 0 THEN NULL
                WHEN bid_ask_spread / tick_size < 1.5 THEN 1
                WHEN bid_ask_spread / tick_size < 2.5 THEN 2
                WHEN bid_ask_spread / tick_size < 4.5 THEN 3
                ELSE 5 END AS spread_ticks
    FROM decisions
) bucketed
GROUP BY agent_id, spread_ticks, action
""",
    "episode_summary": """
SELECT e.episode_id, e.agent_id, e.agent_name, e.executor, e.mode, e.market, e.side,
       e.quantity, e.arrival_mid, e.seed, e.config_hash, e.snapshot_id,
       e.started_at, e.ended_at,
       e.implementation_shortfall_bps, e.completion_cost_bps,
       e.filled_by_policy, e.filled_by_policy / e.quantity AS policy_fill_share,
       e.completion_quantity, e.avg_price, e.child_orders, e.total_reward,
       COUNT(d.seq) AS decisions,
       SUM(CASE WHEN d.explored THEN 1 ELSE 0 END) AS explored_decisions,
       AVG(d.action_probability) AS mean_action_probability,
       SUM(d.reward_total) AS decision_reward
FROM episodes e
LEFT JOIN decisions d ON d.episode_id = e.episode_id
GROUP BY e.episode_id
""",
}


def upgrade() -> None:
    op.create_table(
        "configs",
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("config_hash", name=op.f("pk_configs")),
    )
    op.create_table(
        "policy_snapshots",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("updates", sa.BigInteger(), nullable=False),
        sa.Column("q_revision", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_policy_snapshots_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_snapshots")),
        sa.UniqueConstraint("agent_id", "version", name=op.f("uq_policy_snapshots_agent_id")),
    )
    with op.batch_alter_table("policy_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_snapshots_agent_id"), ["agent_id"], unique=False
        )
    op.create_table(
        "policy_snapshot_entries",
        sa.Column("snapshot_id", BIG_ID, nullable=False),
        sa.Column("state_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("q", sa.Double(), nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["policy_snapshots.id"],
            name=op.f("fk_policy_snapshot_entries_snapshot_id_policy_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "state_key", "action", name=op.f("pk_policy_snapshot_entries")
        ),
    )
    for name, sql in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION rlexec_decisions_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER decisions_append_only BEFORE UPDATE OF {_AUDIT_COLUMNS} "
            "ON decisions FOR EACH ROW EXECUTE FUNCTION rlexec_decisions_append_only()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER decisions_append_only BEFORE UPDATE OF {_AUDIT_COLUMNS} "
            f"ON decisions BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decisions_append_only ON decisions")
        op.execute("DROP FUNCTION IF EXISTS rlexec_decisions_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS decisions_append_only")
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("policy_snapshot_entries")
    with op.batch_alter_table("policy_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_snapshots_agent_id"))
    op.drop_table("policy_snapshots")
    op.drop_table("configs")
