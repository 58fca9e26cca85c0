"""Which audit rows a command works on: ``--agent``, ``--since``, ``--until``, ``--mode``.

``parse_time`` reads a CLI time (ISO-8601; a date alone means midnight; no offset means UTC).
``Selection.where(table)`` gives the SQLAlchemy conditions for one exported table:

- ``--agent NAME``: the rows of that agent (``agent_id``; baseline episodes, which belong to
  no agent, are left out);
- ``--since`` (inclusive) / ``--until`` (exclusive) on the table's time: ``decisions.decided_at``,
  ``episodes.started_at``, ``policy_metrics.recorded_at``, ``q_values.updated_at`` (the last
  write of the entry);
- ``--mode``: ``episodes.mode``; decisions of episodes of that mode (decisions whose episode row
  is missing are left out); ``policy_metrics.mode``; ``q_values`` has no mode and is not
  filtered by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from rlexec.errors import InvalidInputError

MODES = ("training", "evaluation", "production")
TIME_COLUMNS = {
    "decisions": "decided_at",
    "episodes": "started_at",
    "policy_metrics": "recorded_at",
    "q_values": "updated_at",
}


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO-8601 time or date for ``option`` (UTC if it has no offset), or None."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{option} = {text!r}: expected an ISO-8601 time such as 2024-03-01T14:30:00Z "
            "or a date such as 2024-03-01"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Selection:
    """The filters of one command; ``agent_id`` is resolved from the agent name first."""

    agent_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    mode: str | None = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in MODES:
            raise InvalidInputError(f"--mode = {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidInputError(
                f"--since = {self.since.isoformat()} is not before --until = "
                f"{self.until.isoformat()}: nothing would be selected"
            )

    def where(self, table: sa.Table, episodes: sa.Table) -> list[sa.ColumnElement[Any]]:
        """The conditions on ``table`` (``episodes`` is the episodes table, for --mode)."""
        out: list[sa.ColumnElement[Any]] = []
        if self.agent_id is not None:
            out.append(table.c.agent_id == self.agent_id)
        stamp = table.c[TIME_COLUMNS[table.name]]
        if self.since is not None:
            out.append(stamp >= self.since)
        if self.until is not None:
            out.append(stamp < self.until)
        if self.mode is not None:
            if table.name in ("episodes", "policy_metrics"):
                out.append(table.c.mode == self.mode)
            elif table.name == "decisions":
                of_mode = sa.select(episodes.c.episode_id).where(episodes.c.mode == self.mode)
                out.append(table.c.episode_id.in_(of_mode))
        return out
