"""learner lease, transition queue, training seed allocation (actors and one learner)

- ``agents.learner`` / ``agents.learner_expires_at``: the learner lease (who may apply
  transitions and publish the Q-table; expiry in seconds since the epoch by the database's
  clock);
- ``agents.transitions_queued`` / ``agents.transitions_applied``: the agent's transition queue
  (``experiences`` rows with a ``seq``): how many were queued by actors, and how many of them
  (a prefix, by ``seq``) the published Q-table reflects;
- ``agents.next_training_seed``: the next training seed to hand out (NULL: not yet allocated;
  the first allocation starts after the agent's highest stored training seed);
- ``experiences.seq``: 1, 2, ... per agent for transitions queued by an actor; NULL for
  transitions the writing process learned from itself.

Revision ID: 5b7e2f41c9a3
Revises: cc4de567fc6d
Create Date: 2026-11-25 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2f41c9a3"
down_revision: str | None = "cc4de567fc6d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("learner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("learner_expires_at", sa.Double(), nullable=True))
        batch_op.add_column(
            sa.Column("transitions_queued", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("transitions_applied", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_training_seed", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("experiences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_experiences_agent_id_seq", ["agent_id", "seq"], unique=True)


def downgrade() -> None:
    # Plain ALTER TABLE .. DROP COLUMN (SQLite >= 3.35 has it): a batch "move and copy" of
    # agents would drop the table, and ON DELETE CASCADE would take every agent's rows with it.
    op.drop_index("ix_experiences_agent_id_seq", table_name="experiences")
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


_COLUMNS = (
    ("experiences", "seq"),
    ("agents", "next_training_seed"),
    ("agents", "transitions_applied"),
    ("agents", "transitions_queued"),
    ("agents", "learner_expires_at"),
    ("agents", "learner"),
)
