"""Policy snapshots and stored configs: versioned copies of an agent's Q-table, and the config
snapshot behind each ``config_hash``, so that an episode can be re-simulated later.

- ``SnapshotRepository.create`` copies the agent's ``q_values`` rows (q, visits, variance)
  into ``policy_snapshot_entries`` with one ``INSERT .. SELECT`` inside the caller's
  transaction (what the store holds, i.e. after the last flush), numbered ``version`` 1, 2, ...
  per agent. Snapshots are never changed afterwards.
- ``ConfigRepository.put`` stores a config snapshot under its hash once (insert-or-ignore).
  ``hash_config_data`` is the same hash as ``rlexec.training.session.config_hash``: sha256 of
  the JSON of ``rl_execution`` (database excluded, keys sorted), first 16 hex digits.

The engine-level helpers (``create_snapshot``, ``list_snapshots``, ``load_snapshot_policy``,
``restore_snapshot``, ``export_snapshot``, ``save_config``) open their own unit of work, for
the CLI and training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from rlexec.config import Config, StateConfig
from rlexec.errors import InvalidInputError, StoreError
from rlexec.records import ACTION_LABELS, utc_now
from rlexec.rl.policy import PolicyTable
from rlexec.rl.state import StateDiscretizer
from rlexec.store.engine import session_factory
from rlexec.store.models import Agent, PolicySnapshot, PolicySnapshotEntry, QValue, StoredConfig
from rlexec.store.repositories import (
    AgentRepository,
    QEntry,
    QValueRepository,
    null_to_nan,
    require_agent_id,
    wrap_errors,
)

LABEL_MAX = 200
BIG_LITERAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTION_INDEX = {label: i for i, label in enumerate(ACTION_LABELS)}


def config_data(config: Config) -> dict[str, Any]:
    """The part of the config that is hashed and stored: ``rl_execution`` without the database
    section (its URL may hold a password)."""
    return config.rl_execution.model_dump(mode="json", exclude={"database"})


def hash_config_data(data: Mapping[str, Any]) -> str:
    """The config hash episodes carry (same as ``rlexec.training.session.config_hash``)."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    id: int
    agent_id: int
    agent_name: str
    version: int
    label: str
    created_at: datetime
    epsilon: float
    updates: int
    q_revision: int
    entries: int


def _insert(session: AsyncSession, table: sa.Table) -> Any:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class ConfigRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, config_hash: str, data: Mapping[str, Any]) -> None:
        """Store ``data`` under ``config_hash`` unless that hash is already stored."""
        table = StoredConfig.__table__
        stmt = (
            _insert(self.session, table)  # type: ignore[arg-type]
            .values(config_hash=config_hash, config=dict(data), created_at=utc_now())
            .on_conflict_do_nothing()
        )
        async with wrap_errors(self.session, f"storing config {config_hash}"):
            await self.session.execute(stmt)

    async def get(self, config_hash: str) -> dict[str, Any] | None:
        stmt = sa.select(StoredConfig.config).where(StoredConfig.config_hash == config_hash)
        async with wrap_errors(self.session, f"reading config {config_hash}"):
            value = await self.session.scalar(stmt)
        return None if value is None else dict(value)


_SNAPSHOT_COLUMNS = (
    PolicySnapshot.id,
    PolicySnapshot.agent_id,
    Agent.name,
    PolicySnapshot.version,
    PolicySnapshot.label,
    PolicySnapshot.created_at,
    PolicySnapshot.epsilon,
    PolicySnapshot.updates,
    PolicySnapshot.q_revision,
    PolicySnapshot.entries,
)


def _snapshot_row(row: Any) -> SnapshotRow:
    return SnapshotRow(
        id=int(row[0]),
        agent_id=int(row[1]),
        agent_name=str(row[2]),
        version=int(row[3]),
        label=str(row[4]),
        created_at=row[5],
        epsilon=float(row[6]),
        updates=int(row[7]),
        q_revision=int(row[8]),
        entries=int(row[9]),
    )


class SnapshotRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, agent_id: int, label: str) -> SnapshotRow:
        """Copy the agent's stored Q-table into a new snapshot (next version); returns it."""
        if not isinstance(label, str) or len(label) > LABEL_MAX:
            raise InvalidInputError(
                f"snapshot label = {label!r}: expected text of at most {LABEL_MAX} characters"
            )
        session = self.session
        async with wrap_errors(session, f"creating a snapshot of agent id {agent_id}"):
            agent = (
                await session.execute(
                    sa.select(Agent.epsilon, Agent.updates, Agent.q_revision)
                    .where(Agent.id == agent_id)
                    .with_for_update()  # PostgreSQL: one snapshot version at a time per agent
                )
            ).first()
            if agent is None:
                raise StoreError(f"agent id {agent_id} does not exist")
            latest = await session.scalar(
                sa.select(sa.func.max(PolicySnapshot.version)).where(
                    PolicySnapshot.agent_id == agent_id
                )
            )
            snapshot_id = (
                await session.execute(
                    sa.insert(PolicySnapshot)
                    .values(
                        agent_id=agent_id,
                        version=int(latest or 0) + 1,
                        label=label,
                        created_at=utc_now(),
                        epsilon=float(agent[0]),
                        updates=int(agent[1]),
                        q_revision=int(agent[2]),
                        entries=0,
                    )
                    .returning(PolicySnapshot.id)
                )
            ).scalar_one()
            entries = cast(sa.Table, PolicySnapshotEntry.__table__)
            q = cast(sa.Table, QValue.__table__)
            copy = sa.insert(entries).from_select(
                ["snapshot_id", "state_key", "action", "q", "visits", "variance"],
                sa.select(
                    sa.literal(snapshot_id, BIG_LITERAL), q.c.state_key, q.c.action, q.c.q,
                    q.c.visits, q.c.variance,
                ).where(q.c.agent_id == agent_id),
            )  # fmt: skip
            result = await session.execute(copy)
            copied = int(getattr(result, "rowcount", 0) or 0)
            if copied < 0:  # drivers that do not report it
                copied = int(
                    await session.scalar(
                        sa.select(sa.func.count())
                        .select_from(PolicySnapshotEntry)
                        .where(PolicySnapshotEntry.snapshot_id == snapshot_id)
                    )
                    or 0
                )
            await session.execute(
                sa.update(PolicySnapshot)
                .where(PolicySnapshot.id == snapshot_id)
                .values(entries=copied)
            )
        row = await self.get(int(snapshot_id))
        if row is None:  # pragma: no cover - just inserted
            raise StoreError(f"snapshot {snapshot_id} vanished")
        return row

    async def get(self, snapshot_id: int) -> SnapshotRow | None:
        stmt = (
            sa.select(*_SNAPSHOT_COLUMNS)
            .join(Agent, Agent.id == PolicySnapshot.agent_id)
            .where(PolicySnapshot.id == snapshot_id)
        )
        async with wrap_errors(self.session, f"reading snapshot {snapshot_id}"):
            row = (await self.session.execute(stmt)).first()
        return None if row is None else _snapshot_row(row)

    async def list_for(self, agent_id: int | None = None) -> list[SnapshotRow]:
        """Snapshots (of one agent, or all), oldest first."""
        stmt = sa.select(*_SNAPSHOT_COLUMNS).join(Agent, Agent.id == PolicySnapshot.agent_id)
        if agent_id is not None:
            stmt = stmt.where(PolicySnapshot.agent_id == agent_id)
        stmt = stmt.order_by(PolicySnapshot.id)
        async with wrap_errors(self.session, "listing snapshots"):
            rows = (await self.session.execute(stmt)).all()
        return [_snapshot_row(row) for row in rows]

    async def entries(self, snapshot_id: int) -> list[QEntry]:
        t = PolicySnapshotEntry
        stmt = sa.select(t.state_key, t.action, t.q, t.visits, t.variance).where(
            t.snapshot_id == snapshot_id
        )
        async with wrap_errors(self.session, f"reading entries of snapshot {snapshot_id}"):
            rows = (await self.session.execute(stmt)).all()
        return [QEntry(r[0], r[1], float(r[2]), int(r[3]), null_to_nan(r[4])) for r in rows]


def table_from_entries(
    entries: Sequence[QEntry], state_config: StateConfig, *, source: str = "snapshot"
) -> PolicyTable:
    """The dense table of ``entries`` (missing entries: q and visits 0, variance unknown)."""
    discretizer = StateDiscretizer(state_config)
    q = np.zeros((discretizer.num_states, len(ACTION_LABELS)), dtype=np.float64)
    visits = np.zeros_like(q, dtype=np.int64)
    variances = np.full_like(q, np.nan)
    for entry in entries:
        try:
            s = discretizer.index_from_text(entry.state_key)
        except (InvalidInputError, ValueError, KeyError, IndexError):
            raise InvalidInputError(
                f"{source}: state key {entry.state_key!r} does not fit the configured "
                f"[rl_execution.state] (expected keys like "
                f"{discretizer.key_from_index(0).to_text()!r})"
            ) from None
        a = _ACTION_INDEX.get(entry.action)
        if a is None:
            raise InvalidInputError(
                f"{source}: action {entry.action!r}: expected one of {', '.join(ACTION_LABELS)}"
            )
        q[s, a] = entry.q
        visits[s, a] = entry.visits
        variances[s, a] = entry.variance
    return PolicyTable(q, visits, variances)


# ---- engine-level helpers (own unit of work) -----------------------------------------------


async def _agent_id(session: AsyncSession, agent_name: str) -> int:
    hint = "train it first, or see 'rlexec snapshot list' for the agents that have snapshots"
    return await require_agent_id(session, agent_name, hint)


async def create_snapshot(engine: AsyncEngine, agent_name: str, label: str) -> SnapshotRow:
    """Snapshot agent ``agent_name``'s stored Q-table under ``label``."""
    async with session_factory(engine)() as session, session.begin():
        return await SnapshotRepository(session).create(await _agent_id(session, agent_name), label)


async def list_snapshots(engine: AsyncEngine, agent_name: str | None = None) -> list[SnapshotRow]:
    async with session_factory(engine)() as session:
        agent_id = None if agent_name is None else await _agent_id(session, agent_name)
        return await SnapshotRepository(session).list_for(agent_id)


async def get_snapshot(engine: AsyncEngine, snapshot_id: int) -> SnapshotRow:
    async with session_factory(engine)() as session:
        row = await SnapshotRepository(session).get(snapshot_id)
    if row is None:
        raise InvalidInputError(
            f"snapshot id = {snapshot_id}: no such snapshot (see 'rlexec snapshot list')"
        )
    return row


async def load_snapshot_policy(
    engine: AsyncEngine, snapshot_id: int, state_config: StateConfig
) -> tuple[SnapshotRow, PolicyTable]:
    """The snapshot's row and its dense Q-table, visits and variances."""
    row = await get_snapshot(engine, snapshot_id)
    async with session_factory(engine)() as session:
        entries = await SnapshotRepository(session).entries(snapshot_id)
    return row, table_from_entries(entries, state_config, source=f"snapshot {snapshot_id}")


async def load_snapshot_table(
    engine: AsyncEngine, snapshot_id: int, state_config: StateConfig
) -> tuple[SnapshotRow, npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The snapshot's row and its dense Q-table and visits."""
    row, table = await load_snapshot_policy(engine, snapshot_id, state_config)
    return row, table.q, table.visits


async def restore_snapshot(engine: AsyncEngine, snapshot_id: int, agent: Any) -> SnapshotRow:
    """Put snapshot ``snapshot_id`` into ``agent`` (a ``QTableAgent``: its Q-table, visits,
    variances, and the snapshot's epsilon and update count), e.g. the policy an agent's latest
    promotion names (``rlexec.store.promotions.latest_promoted_snapshot``)."""
    row, table = await load_snapshot_policy(engine, snapshot_id, agent.state_config)
    agent.restore(table.q, table.visits, row.epsilon, row.updates, table.variances)
    return row


async def load_current_policy(
    engine: AsyncEngine, agent_name: str, state_config: StateConfig
) -> tuple[PolicyTable, float]:
    """The agent's current stored table (Q-values, visits, variances) and epsilon."""
    async with session_factory(engine)() as session:
        agent = await AgentRepository(session).get_by_name(agent_name)
        if agent is None:
            raise InvalidInputError(f"agent = {agent_name!r}: not in the store")
        rows = await QValueRepository(session).load(agent.id)
    entries = [QEntry(r.state_key, r.action, r.q, r.visits, r.variance) for r in rows]
    table = table_from_entries(entries, state_config, source=f"agent {agent_name!r}")
    return table, agent.epsilon


async def load_current_table(
    engine: AsyncEngine, agent_name: str, state_config: StateConfig
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], float]:
    """The agent's current stored Q-table, visits and epsilon."""
    table, epsilon = await load_current_policy(engine, agent_name, state_config)
    return table.q, table.visits, epsilon


async def export_snapshot(
    engine: AsyncEngine, snapshot_id: int, path: str | Path, state_config: StateConfig
) -> int:
    """Write the snapshot as a JSON model file (``rlexec.store.model_file`` format); returns
    the entries written."""
    from rlexec.config import QLearningConfig
    from rlexec.rl.q_learning import QTableAgent
    from rlexec.store.model_file import export_model

    row, table = await load_snapshot_policy(engine, snapshot_id, state_config)
    agent = QTableAgent(QLearningConfig(), state_config)
    agent.restore(table.q, table.visits, row.epsilon, row.updates, table.variances)
    return export_model(agent, path)


async def save_config(engine: AsyncEngine, config: Config) -> str:
    """Store the config snapshot under its hash (once); returns the hash."""
    data = config_data(config)
    digest = hash_config_data(data)
    async with session_factory(engine)() as session, session.begin():
        await ConfigRepository(session).put(digest, data)
    return digest


async def load_config_data(engine: AsyncEngine, config_hash: str) -> dict[str, Any] | None:
    async with session_factory(engine)() as session:
        return await ConfigRepository(session).get(config_hash)
