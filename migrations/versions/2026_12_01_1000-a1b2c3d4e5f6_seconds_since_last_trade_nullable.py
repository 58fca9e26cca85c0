"""decisions.seconds_since_last_trade becomes nullable

NULL means "no trade seen since the parent started" (the engine supplies no trades, or none
printed yet); before this revision the executor wrote 0.0 there, which cannot be told apart
from a trade this second, so existing rows are left as they are.

SQLite cannot drop a NOT NULL in place: the table is copied (Alembic's batch mode), which
drops its triggers, and renaming the copy fails while views name the table. The views and
the table's triggers are therefore read from ``sqlite_master`` first, dropped, and created
again, exactly as they were, after the copy (PostgreSQL alters the column in place).

Downgrade: NULLs become 0.0 (the old meaning) and the column NOT NULL again. It needs the
append-only triggers out of the way on PostgreSQL for that update (dropped and restored the
same way).

Revision ID: a1b2c3d4e5f6
Revises: d41c7a9e2b18
Create Date: 2026-12-01 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1b2c3d4e5f6"
down_revision: str | None = "d41c7a9e2b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMN = "seconds_since_last_trade"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _sqlite_dependents() -> list[tuple[str, str, str]]:
    """(type, name, sql) of every view, and of every trigger on decisions, in creation order."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND "
            "(type = 'view' OR (type = 'trigger' AND tbl_name = 'decisions')) ORDER BY rowid"
        )
    )
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def _set_nullable(nullable: bool) -> None:
    if not _sqlite():
        op.alter_column("decisions", COLUMN, existing_type=sa.Double(), nullable=nullable)
        return
    saved = _sqlite_dependents()
    for kind, name, _ in reversed(saved):
        op.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
    with op.batch_alter_table("decisions", recreate="always") as batch:
        batch.alter_column(COLUMN, existing_type=sa.Double(), nullable=nullable)
    for _, _, sql in sorted(saved, key=lambda item: item[0] != "trigger"):
        op.execute(sql)


def upgrade() -> None:
    _set_nullable(True)


def downgrade() -> None:
    if _sqlite():
        saved = _sqlite_dependents()
        triggers = [(name, sql) for kind, name, sql in saved if kind == "trigger"]
        for name, _ in triggers:
            op.execute(f'DROP TRIGGER IF EXISTS "{name}"')
        op.execute(f"UPDATE decisions SET {COLUMN} = 0.0 WHERE {COLUMN} IS NULL")
        for _, sql in triggers:
            op.execute(sql)
    else:
        op.execute("ALTER TABLE decisions DISABLE TRIGGER USER")
        op.execute(f"UPDATE decisions SET {COLUMN} = 0.0 WHERE {COLUMN} IS NULL")
        op.execute("ALTER TABLE decisions ENABLE TRIGGER USER")
    _set_nullable(False)
