"""Load logged decisions from the store in bulk, as the arrays off-policy evaluation needs.

One query, ordered by (episode_id, seq) so that the decisions of an episode are contiguous
and in time order::

    SELECT episode_id, state_index, <action label as 0..5>, action_probability, reward_total,
           <schedule_action label as 0..5, -1 when NULL>
    FROM decisions [WHERE agent_id = ... AND decided_at >= ...] ORDER BY episode_id, seq

``schedule_action`` is the base schedule's action at the decision: a candidate's choice
depends on it (``rlexec.rl.policy``), so the policy that ran can be reconstructed only where it
is logged. Rows written before it was logged and that the migration could not derive hold
NULL; ``decision_log()`` refuses a selection with such rows, naming how many.

Episode ids (uuid text) become integers 0, 1, 2, ... in that order (``episode_index``); the
texts are kept in ``episode_ids``.

``load_reward_check`` says what the logged rewards are measured in: per reward mode of the
logged episodes (``episodes.reward_mode``), how many episodes there are and how many have
rewards that sum to minus their implementation shortfall (``episodes.total_reward`` against
``implementation_shortfall_bps``). That sum holds for the ``shortfall`` reward mode (rewards
are minus the cost of each decision's fills in bps of the arrival value, the completion
included); it fails for the ``original`` mode (reward units of its fill/slippage/time/impact
mix) and for shortfall rewards taken relative to the base run (``reward.paired_baseline``).

Speed: on SQLite the rows are read with the standard library's ``sqlite3`` in a worker thread
(read-only connection to the same file), which is what a bare ``SELECT`` costs plus the
conversion to numpy columns; other backends go through SQLAlchemy (asyncpg).
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.analytics.selection import parse_time
from rlexec.errors import InvalidInputError, StoreError
from rlexec.evaluation.off_policy import DecisionLog
from rlexec.records import ACTION_LABELS
from rlexec.store.engine import describe_error, redact_url
from rlexec.store.models import Agent, Decision, Episode, sqlite_time_text


def _label_case(column: str) -> str:
    """SQL mapping an action label column to 0..5 (-1 for NULL or anything else)."""
    cases = " ".join(f"WHEN '{label}' THEN {i}" for i, label in enumerate(ACTION_LABELS))
    return f"CASE {column} {cases} ELSE -1 END"


_ACTION_CASE = _label_case("action")
_SCHEDULE_CASE = _label_case("schedule_action")


@dataclass(frozen=True, eq=False)
class LoadedLog:
    """Logged decisions as columns (ordered by episode, seq) and the episodes' uuid texts."""

    state_indices: npt.NDArray[np.int64]
    actions: npt.NDArray[np.int64]
    logging_probabilities: npt.NDArray[np.float64]
    rewards: npt.NDArray[np.float64]
    episode_index: npt.NDArray[np.int64]
    episode_ids: list[str]
    base_actions: npt.NDArray[np.int64]  # the schedule's action, -1 where not logged

    @property
    def n_decisions(self) -> int:
        return int(self.state_indices.shape[0])

    def decision_log(self) -> DecisionLog:
        """The validated ``DecisionLog`` (raises InvalidInputError on bad logged values)."""
        if self.n_decisions == 0:
            raise InvalidInputError(
                "no logged decisions match the selection (check --agent / --since)"
            )
        bad = np.flatnonzero(self.actions < 0)
        if bad.size:
            raise InvalidInputError(
                f"decision {int(bad[0])} of the selection has an unknown action label: "
                f"expected one of {', '.join(ACTION_LABELS)}"
            )
        unknown = int(np.count_nonzero(self.base_actions < 0))
        if unknown:
            first = int(np.flatnonzero(self.base_actions < 0)[0])
            raise InvalidInputError(
                f"{unknown} of the {self.n_decisions} selected decisions have no logged "
                f"schedule action (the first: decision {first} of episode "
                f"{self.episode_ids[int(self.episode_index[first])]}); the candidate's choice "
                "there cannot be reconstructed: select later decisions (--since)"
            )
        return DecisionLog(
            self.state_indices,
            self.actions,
            self.logging_probabilities,
            self.rewards,
            self.episode_index,
            self.base_actions,
        )


def parse_since(text: str | None) -> datetime | None:
    """The ``--since`` time (ISO-8601, UTC if it has no offset) or None."""
    return parse_time(text, "--since")


def _query(agent: bool, since: bool, placeholder: str) -> str:
    where = []
    if agent:
        where.append(f"agent_id = (SELECT id FROM agents WHERE name = {placeholder.format(1)})")
    if since:
        where.append(f"decided_at >= {placeholder.format(2 if agent else 1)}")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT episode_id, state_index, {_ACTION_CASE}, action_probability, reward_total, "
        f"{_SCHEDULE_CASE} FROM decisions{clause} ORDER BY episode_id, seq"
    )


def _columns(rows: list[Any]) -> LoadedLog:
    n = len(rows)
    if n == 0:
        empty_i = np.empty(0, dtype=np.int64)
        empty_f = np.empty(0, dtype=np.float64)
        return LoadedLog(empty_i, empty_i, empty_f, empty_f, empty_i, [], empty_i)
    episodes, states, actions, probabilities, rewards, bases = zip(*rows, strict=True)
    ids = np.array(episodes, dtype=object)
    change = np.empty(n, dtype=bool)
    change[0] = True
    np.not_equal(ids[1:], ids[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    return LoadedLog(
        state_indices=np.array(states, dtype=np.int64),
        actions=np.array(actions, dtype=np.int64),
        logging_probabilities=np.array(probabilities, dtype=np.float64),
        rewards=np.array(rewards, dtype=np.float64),
        episode_index=np.cumsum(change, dtype=np.int64) - 1,
        episode_ids=[str(ids[i]) for i in starts],
        base_actions=np.array(bases, dtype=np.int64),
    )


def _sqlite_file(engine: AsyncEngine) -> Path | None:
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def sqlite_read(
    path: Path, agent_name: str | None = None, since: datetime | None = None
) -> list[Any]:
    """The rows of the log query, read with ``sqlite3`` (read-only); blocking."""
    params: list[Any] = []
    if agent_name is not None:
        params.append(agent_name)
    if since is not None:
        params.append(sqlite_time_text(since))
    sql = _query(agent_name is not None, since is not None, "?")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def load_decision_log(
    engine: AsyncEngine, *, agent_name: str | None = None, since: datetime | None = None
) -> LoadedLog:
    """Every logged decision (of ``agent_name``, decided at or after ``since``), ordered by
    episode then sequence number."""
    path = _sqlite_file(engine)
    try:
        if path is not None:
            if not path.exists():
                raise StoreError(f"database file {path} does not exist")
            rows = await asyncio.to_thread(sqlite_read, path, agent_name, since)
        else:
            sql = _query(agent_name is not None, since is not None, ":p{}")
            params: dict[str, Any] = {}
            if agent_name is not None:
                params["p1"] = agent_name
            if since is not None:
                params["p2" if agent_name is not None else "p1"] = since
            async with engine.connect() as conn:
                rows = list((await conn.execute(sa.text(sql), params)).all())
    except StoreError:
        raise
    except Exception as exc:  # driver errors differ per backend (sqlite3, asyncpg, SQLAlchemy)
        raise StoreError(
            f"reading logged decisions from {redact_url(engine.url)!r} failed: "
            f"{describe_error(exc, engine.url)}"
        ) from None
    return _columns(rows)


UNRECORDED = "unrecorded"  # reward mode of an episode stored before modes were recorded
# |total_reward + IS| within this many bps (plus a relative 1e-9) counts as "sums to -IS"
SUM_TOLERANCE_BPS = 1e-6


@dataclass(frozen=True, slots=True)
class RewardCheck:
    """What the logged rewards are measured in (see the module doc)."""

    episodes: int  # logged episodes that have an episode row
    sum_to_minus_is: int  # of them, those whose rewards sum to minus their IS
    modes: dict[str, int] = field(default_factory=dict)  # reward mode -> episodes

    def in_bps(self, logged_episodes: int) -> bool:
        """Every one of the ``logged_episodes`` has an episode row, the ``shortfall`` mode (or
        none recorded) and rewards that sum to minus its IS."""
        return (
            logged_episodes > 0
            and self.episodes == logged_episodes
            and self.sum_to_minus_is == self.episodes
            and set(self.modes) <= {"shortfall", UNRECORDED}
        )


async def load_reward_check(
    engine: AsyncEngine, *, agent_name: str | None = None, since: datetime | None = None
) -> RewardCheck:
    """The ``RewardCheck`` of the episodes of the decisions ``load_decision_log`` selects."""
    d, e = Decision.__table__, Episode.__table__
    selected = sa.select(d.c.episode_id)
    if agent_name is not None:
        agent_id = sa.select(Agent.id).where(Agent.name == agent_name).scalar_subquery()
        selected = selected.where(d.c.agent_id == agent_id)
    if since is not None:
        selected = selected.where(d.c.decided_at >= since)
    gap = sa.func.abs(e.c.total_reward + e.c.implementation_shortfall_bps)
    sums = gap <= SUM_TOLERANCE_BPS + 1e-9 * sa.func.abs(e.c.implementation_shortfall_bps)
    stmt = (
        sa.select(e.c.reward_mode, sa.func.count(), sa.func.sum(sa.case((sums, 1), else_=0)))
        .where(e.c.episode_id.in_(selected.distinct()))
        .group_by(e.c.reward_mode)
    )
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
    except Exception as exc:  # driver errors differ per backend
        raise StoreError(
            f"reading the logged episodes' reward modes from {redact_url(engine.url)!r} "
            f"failed: {describe_error(exc, engine.url)}"
        ) from None
    modes = {UNRECORDED if mode is None else str(mode): int(n) for mode, n, _ in rows}
    return RewardCheck(
        episodes=sum(int(n) for _, n, _ in rows),
        sum_to_minus_is=sum(int(ok or 0) for _, _, ok in rows),
        modes=modes,
    )
