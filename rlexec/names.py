"""Agent names: the one rule for what an agent may be called, checked wherever a name is taken
(CLI arguments, sessions, model import/export, snapshots, the store's agent creation); and how
an evaluation names the policy of an agent it scores (``PolicyChoice``).

A name is 1 to 200 printable characters (no newline, tab or other control character), with no
space at either end and no comma (``rlexec compare --agents a,b`` separates names by commas).
"""

from __future__ import annotations

from typing import Any

from rlexec.errors import InvalidInputError

AGENT_NAME_MAX = 200  # the agents.name column is VARCHAR(200); SQLite does not enforce it


def check_agent_name(name: Any) -> str:
    """``name`` if it is a valid agent name, else ``InvalidInputError`` saying why."""
    problem = _problem(name)
    if problem is not None:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise InvalidInputError(f"agent name = {shown}: {problem}")
    return str(name)


def _problem(name: Any) -> str | None:
    if not isinstance(name, str):
        return "expected a name (text)"
    if not name:
        return "expected a non-empty name"
    if len(name) > AGENT_NAME_MAX:
        return f"{len(name)} characters, expected at most {AGENT_NAME_MAX}"
    if not name.isprintable():
        return "expected printable characters only (no newline, tab or control character)"
    if name != name.strip():
        return "expected no space at the start or end"
    if "," in name:
        return "expected no comma (--agents separates names by commas)"
    return None


# The table an evaluation scores: the current (live) table, the latest promoted snapshot (what
# production runs), or a snapshot by id.
CURRENT_POLICY = "current"
PROMOTED_POLICY = "promoted"
PolicyChoice = str | int


def parse_policy_choice(text: str) -> PolicyChoice:
    """``current``, ``promoted`` or a snapshot id (an integer >= 1)."""
    if text in (CURRENT_POLICY, PROMOTED_POLICY):
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInputError(
            f"policy = {text!r}: expected current, promoted or a snapshot id (an integer >= 1; "
            "see rlexec snapshot list)"
        )
    return value
