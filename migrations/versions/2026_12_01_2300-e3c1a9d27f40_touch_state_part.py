"""touch state part: how far our resting children are behind the near touch

What changes, and how existing rows are filled (NULL meanings: rlexec/store/models.py and
docs/analytics.md):

- ``decisions`` gains the state feature ``resting_behind_ticks`` (ticks the limit of our resting
  child farthest from the near touch is behind it; 0 when nothing of ours rests behind it),
  NULL on old rows (not observed), and the state key's new part ``touch_bucket`` (0 nothing
  behind the touch, 1 some child is): 0 on old rows whose key is of the discretizer's form (a
  key without ``.b<n>`` means b0, exactly as the current parser reads it and as the Q-table
  stores it; 1 for a key ending in ``.b1``, a row written at this revision before a downgrade),
  NULL where the other bucket columns are NULL (a key of another form).
- the view ``decision_outcomes`` adds both columns at its end; the other views are unchanged.

Both backends add the columns in place (no table rebuild); the one UPDATE that fills
``touch_bucket`` passes the append-only update trigger of revision d41c7a9e2b18 (PostgreSQL:
disabled for that statement; SQLite: dropped and created again, word for word).

Downgrade drops the columns and restores the view of revision d5605856a764 word for word. The
SQL is written out here, not imported: a released migration must not change with the code.

Revision ID: e3c1a9d27f40
Revises: d5605856a764
Create Date: 2026-12-01 23:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "e3c1a9d27f40"
down_revision: str | None = "d5605856a764"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTCOMES = """
SELECT d.episode_id, d.seq, d.step, d.decided_at, d.agent_id, a.name AS agent_name,
       e.executor, e.mode, e.market, e.run_id, e.reward_mode, d.side, d.arrival_mid,
       d.state_key, d.state_index, d.remaining_bucket, d.time_bucket, d.spread_bucket,
       d.imbalance_bucket, d.hour_bucket, d.urgency, d.volatility_bucket, d.queue_depth_bucket,
       d.action, d.schedule_action, d.schedule_quantity, d.deviated, d.greedy_action,
       d.explored, d.epsilon, d.action_probability,
       d.hour_of_day, d.minute_of_hour, d.time_elapsed_pct, d.remaining_size,
       d.bid_ask_spread, d.tick_size, d.orderbook_imbalance, d.recent_volatility, d.mid_price,
       d.child_quantity, d.child_price, d.child_filled_quantity, d.filled_quantity,
       d.fill_price, d.slippage_bps,
       CASE WHEN d.child_quantity > 0 THEN d.child_filled_quantity / d.child_quantity END
           AS child_fill_ratio,
       d.fill_rate_reward, d.slippage_penalty, d.time_penalty, d.market_impact_penalty,
       d.reward_total,
       d.own_orders_bucket, d.schedule_bucket, d.resting_share, d.schedule_lag{extra}
FROM decisions d
LEFT JOIN agents a ON a.id = d.agent_id
LEFT JOIN episodes e ON e.episode_id = d.episode_id
"""
# new columns at the end: PostgreSQL's CREATE OR REPLACE VIEW could only have added them there
OUTCOMES_VIEW = _OUTCOMES.format(extra=", d.resting_behind_ticks, d.touch_bucket")
PREVIOUS_OUTCOMES_VIEW = _OUTCOMES.format(extra="")

# revision d41c7a9e2b18's update trigger of decisions (SQLite), word for word
SQLITE_NO_UPDATE = (
    "CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions BEGIN "
    "SELECT RAISE(ABORT, 'decisions are append-only (the audit trail): UPDATE refused; "
    "remove old rows with rlexec db prune --before DATE'); END"
)
# a row written at this revision, downgraded and upgraded again: its key still says b1
_KEY_SAYS_BEHIND = "remaining_bucket IS NOT NULL AND state_key LIKE '%.b1'"
NEW_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("resting_behind_ticks", sa.Double()),
    ("touch_bucket", sa.SmallInteger()),
)


def _dialect() -> str:
    return op.get_bind().dialect.name


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS decision_outcomes")
    if _dialect() == "postgresql":
        # a constant default fills the old rows without rewriting them (PostgreSQL >= 11);
        # only the rows with a key of another form are then updated
        op.add_column("decisions", sa.Column("resting_behind_ticks", sa.Double(), nullable=True))
        op.add_column("decisions", sa.Column("touch_bucket", sa.SmallInteger(), nullable=True,
                                             server_default=sa.text("0")))  # fmt: skip
        op.alter_column("decisions", "touch_bucket", existing_type=sa.SmallInteger(),
                        server_default=None)  # fmt: skip
        op.execute("ALTER TABLE decisions DISABLE TRIGGER decisions_no_update")
        op.execute("UPDATE decisions SET touch_bucket = NULL WHERE remaining_bucket IS NULL")
        op.execute(f"UPDATE decisions SET touch_bucket = 1 WHERE {_KEY_SAYS_BEHIND}")
        op.execute("ALTER TABLE decisions ENABLE TRIGGER decisions_no_update")
    else:
        for name, kind in NEW_COLUMNS:
            op.add_column("decisions", sa.Column(name, kind, nullable=True))
        fill = (
            f"UPDATE decisions SET touch_bucket = CASE WHEN {_KEY_SAYS_BEHIND} THEN 1 ELSE 0 END "
            "WHERE remaining_bucket IS NOT NULL"
        )
        op.execute("DROP TRIGGER IF EXISTS decisions_no_update")
        op.execute(fill)
        op.execute(SQLITE_NO_UPDATE)
    op.execute(f"CREATE VIEW decision_outcomes AS {OUTCOMES_VIEW}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS decision_outcomes")
    # plain ALTER TABLE .. DROP COLUMN (SQLite >= 3.35): no table rebuild, triggers kept
    for name, _ in reversed(NEW_COLUMNS):
        op.execute(f"ALTER TABLE decisions DROP COLUMN {name}")
    op.execute(f"CREATE VIEW decision_outcomes AS {PREVIOUS_OUTCOMES_VIEW}")
