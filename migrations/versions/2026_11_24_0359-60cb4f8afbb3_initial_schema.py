"""initial schema: agents, q_values, experiences, episodes, decisions, policy_metrics

Revision ID: 60cb4f8afbb3
Revises:
Create Date: 2026-11-24 03:59:34.628479+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "60cb4f8afbb3"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("config_snapshot", sa.JSON(), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("updates", sa.BigInteger(), nullable=False),
        sa.Column("q_revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
    )
    op.create_table(
        "decisions",
        sa.Column("episode_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remaining_size", sa.Double(), nullable=False),
        sa.Column("time_elapsed_pct", sa.Double(), nullable=False),
        sa.Column("urgency", sa.SmallInteger(), nullable=False),
        sa.Column("bid_ask_spread", sa.Double(), nullable=False),
        sa.Column("orderbook_imbalance", sa.Double(), nullable=False),
        sa.Column("recent_volatility", sa.Double(), nullable=False),
        sa.Column("queue_depth_at_price", sa.Double(), nullable=False),
        sa.Column("hour_of_day", sa.SmallInteger(), nullable=False),
        sa.Column("minute_of_hour", sa.SmallInteger(), nullable=False),
        sa.Column("seconds_since_last_trade", sa.Double(), nullable=False),
        sa.Column("recent_fill_rate", sa.Double(), nullable=False),
        sa.Column("avg_slippage_last_n", sa.Double(), nullable=False),
        sa.Column("tick_size", sa.Double(), nullable=False),
        sa.Column("mid_price", sa.Double(), nullable=False),
        sa.Column("typical_queue_depth", sa.Double(), nullable=False),
        sa.Column("state_key", sa.String(length=64), nullable=False),
        sa.Column("state_index", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("action_probability", sa.Double(), nullable=False),
        sa.Column("q_wait", sa.Double(), nullable=False),
        sa.Column("q_place_small", sa.Double(), nullable=False),
        sa.Column("q_place_medium", sa.Double(), nullable=False),
        sa.Column("q_place_large", sa.Double(), nullable=False),
        sa.Column("q_place_all", sa.Double(), nullable=False),
        sa.Column("q_cancel", sa.Double(), nullable=False),
        sa.Column("explored", sa.Boolean(), nullable=False),
        sa.Column("child_quantity", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("child_price", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("filled_quantity", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("fill_price", sa.Numeric(precision=20, scale=8), nullable=True),
        sa.Column("fill_rate_reward", sa.Double(), nullable=False),
        sa.Column("slippage_penalty", sa.Double(), nullable=False),
        sa.Column("time_penalty", sa.Double(), nullable=False),
        sa.Column("market_impact_penalty", sa.Double(), nullable=False),
        sa.Column("reward_total", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_decisions_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("episode_id", "seq", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_decisions_decided_at"), ["decided_at"], unique=False)

    op.create_table(
        "episodes",
        sa.Column("episode_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=False),
        sa.Column("executor", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("market", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("arrival_mid", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("horizon_steps", sa.Integer(), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filled_by_policy", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("avg_price", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("implementation_shortfall_bps", sa.Double(), nullable=False),
        sa.Column("completion_quantity", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("completion_cost_bps", sa.Double(), nullable=False),
        sa.Column("child_orders", sa.Integer(), nullable=False),
        sa.Column("total_reward", sa.Double(), nullable=False),
        sa.Column("terminated", sa.Boolean(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_episodes_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("episode_id", name=op.f("pk_episodes")),
    )
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episodes_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_episodes_executor"), ["executor"], unique=False)
        batch_op.create_index(batch_op.f("ix_episodes_started_at"), ["started_at"], unique=False)

    op.create_table(
        "experiences",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("state_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reward", sa.Double(), nullable=False),
        sa.Column("next_state_key", sa.String(length=64), nullable=False),
        sa.Column("terminated", sa.Boolean(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_experiences_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiences")),
    )
    with op.batch_alter_table("experiences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiences_agent_id"), ["agent_id"], unique=False)

    op.create_table(
        "policy_metrics",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("states_visited", sa.Integer(), nullable=False),
        sa.Column("mean_q", sa.Double(), nullable=False),
        sa.Column("action_distribution", sa.JSON(), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("estimated_improvement_bps", sa.Double(), nullable=True),
        sa.Column("updates", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_policy_metrics_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_metrics")),
    )
    with op.batch_alter_table("policy_metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_metrics_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_policy_metrics_recorded_at"), ["recorded_at"], unique=False
        )

    op.create_table(
        "q_values",
        sa.Column("agent_id", BIG_ID, nullable=False),
        sa.Column("state_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("q", sa.Double(), nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_q_values_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "state_key", "action", name=op.f("pk_q_values")),
    )


def downgrade() -> None:
    op.drop_table("q_values")
    with op.batch_alter_table("policy_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_metrics_recorded_at"))
        batch_op.drop_index(batch_op.f("ix_policy_metrics_agent_id"))

    op.drop_table("policy_metrics")
    with op.batch_alter_table("experiences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiences_agent_id"))

    op.drop_table("experiences")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episodes_started_at"))
        batch_op.drop_index(batch_op.f("ix_episodes_executor"))
        batch_op.drop_index(batch_op.f("ix_episodes_agent_id"))

    op.drop_table("episodes")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_decided_at"))
        batch_op.drop_index(batch_op.f("ix_decisions_action"))

    op.drop_table("decisions")
    op.drop_table("agents")
