"""episode order id: an outside engine's own id of a parent order, apart from the episode id

What changes, and how existing rows are filled (NULL meanings: rlexec/store/models.py and
docs/analytics.md):

- ``episodes`` gains ``order_id`` (VARCHAR(64), NULL), the id an outside engine gave the parent
  (``start_order(order_id=...)``), with the index ``ix_episodes_order_id``. The episode id is
  rlexec's own from this revision on, so an engine whose ids restart (every day, say) no longer
  collides with an episode it stored before. Old rows get NULL: an engine-given id, if any, is
  their ``episode_id`` (the column cannot tell which old ids were an engine's).

Both backends add the column in place (no table rebuild; the append-only triggers and the
views are untouched: no view reads the new column). Downgrade drops the index and the column
(SQLite >= 3.35: plain ALTER TABLE .. DROP COLUMN), keeping every row.

Revision ID: f7d2c4b8a913
Revises: e3c1a9d27f40
Create Date: 2026-12-02 16:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f7d2c4b8a913"
down_revision: str | None = "e3c1a9d27f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("episodes", sa.Column("order_id", sa.String(length=64), nullable=True))
    op.create_index("ix_episodes_order_id", "episodes", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_episodes_order_id", table_name="episodes")
    op.execute("ALTER TABLE episodes DROP COLUMN order_id")
