"""The Q sync/publish step: how an agent's table moves between memory and the store.

Every persisted per-cell array of the agent (``q``, ``visits`` and ``variances``: NaN =
unknown, stored as NULL) and its scalars (training epsilon, update count) pass through this
module and nowhere else:

- ``take_snapshot`` copies the cells the agent changed since the last snapshot (its
  ``drain_dirty()``), on the agent's own thread, so that the copy is consistent;
- ``PendingTable`` merges snapshots waiting for the store (newest values win) and takes a
  failed one back; it is bounded by the table's size, never shed;
- ``publish`` writes a snapshot as absolute values with the learner's lease checked (fencing)
  in the caller's transaction; only the agent's one learner ever publishes;
- ``read_table`` reads the stored table (whole, or what changed since a revision: actors
  refresh that way) into a ``StoredTable``;
- ``restore_agent`` is the one place that puts a stored table into an agent.

Cells are flat indices ``state_index * 6 + action``; ``StateKeys`` maps them to the stored
``(state_key, action)`` text and back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession

from rlexec.errors import InvalidInputError, StoreError
from rlexec.records import ACTION_LABELS
from rlexec.store.repositories import AgentRepository, QEntry, QRevisionEntry, QValueRepository

NUM_ACTIONS = len(ACTION_LABELS)
_ACTION_INDEX = {label: i for i, label in enumerate(ACTION_LABELS)}


class TableAgent(Protocol):
    """What this module needs of ``rlexec.rl.q_learning.QTableAgent``."""

    @property
    def q_values(self) -> npt.NDArray[np.float64]: ...

    @property
    def visits(self) -> npt.NDArray[np.int64]: ...

    @property
    def variances(self) -> npt.NDArray[np.float64]: ...

    @property
    def training_epsilon(self) -> float: ...

    @property
    def discretizer(self) -> Any: ...

    updates: int

    def drain_dirty(self) -> npt.NDArray[np.int64]: ...

    def restore(
        self,
        q_values: npt.NDArray[np.float64],
        visits: npt.NDArray[np.int64],
        epsilon: float,
        updates: int,
        variances: npt.NDArray[np.float64] | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class TableSnapshot:
    """Changed cells and the scalars of one moment of the learner's agent."""

    cells: npt.NDArray[np.int64]
    q: npt.NDArray[np.float64]
    visits: npt.NDArray[np.int64]
    variances: npt.NDArray[np.float64]
    epsilon: float
    updates: int
    applied_through: int  # queued transitions (by seq) the table reflects


@dataclass(frozen=True, slots=True)
class StoredTable:
    """A whole table as the store holds it (dense, agent-shaped; variances NaN: unknown)."""

    q: npt.NDArray[np.float64]
    visits: npt.NDArray[np.int64]
    variances: npt.NDArray[np.float64]
    epsilon: float
    updates: int
    revision: int
    applied_through: int

    def copy(self) -> StoredTable:
        return replace(
            self, q=self.q.copy(), visits=self.visits.copy(), variances=self.variances.copy()
        )


def take_snapshot(agent: TableAgent, applied_through: int) -> TableSnapshot:
    """The cells changed since the last snapshot and the scalars; call on the agent's thread."""
    cells = agent.drain_dirty()
    return TableSnapshot(
        cells=cells,
        q=agent.q_values.reshape(-1)[cells].copy(),
        visits=agent.visits.reshape(-1)[cells].copy(),
        variances=agent.variances.reshape(-1)[cells].copy(),
        epsilon=float(agent.training_epsilon),
        updates=int(agent.updates),
        applied_through=applied_through,
    )


def full_snapshot(agent: TableAgent, applied_through: int) -> TableSnapshot:
    """Every cell (a model import makes the stored agent exactly this table)."""
    agent.drain_dirty()
    cells = np.arange(agent.q_values.size, dtype=np.int64)
    return TableSnapshot(
        cells=cells,
        q=agent.q_values.reshape(-1).copy(),
        visits=agent.visits.reshape(-1).copy(),
        variances=agent.variances.reshape(-1).copy(),
        epsilon=float(agent.training_epsilon),
        updates=int(agent.updates),
        applied_through=applied_through,
    )


def restore_agent(agent: TableAgent, table: StoredTable) -> None:
    """Put a stored table into the agent (the one place that does)."""
    agent.restore(
        table.q.reshape(agent.q_values.shape),
        table.visits.reshape(agent.visits.shape),
        table.epsilon,
        table.updates,
        table.variances.reshape(agent.variances.shape),
    )
    agent.drain_dirty()


class PendingTable:
    """Snapshots waiting to be published, merged (thread-safe)."""

    def __init__(self, cells: int) -> None:
        self._lock = threading.Lock()
        self._mask = np.zeros(cells, dtype=bool)
        self._q = np.zeros(cells, dtype=np.float64)
        self._visits = np.zeros(cells, dtype=np.int64)
        self._variances = np.full(cells, np.nan)
        self._scalars: tuple[float, int, int] | None = None

    @property
    def empty(self) -> bool:
        return self._scalars is None

    @property
    def cells(self) -> int:
        return int(self._mask.sum())

    def add(self, snapshot: TableSnapshot) -> None:
        with self._lock:
            self._q[snapshot.cells] = snapshot.q
            self._visits[snapshot.cells] = snapshot.visits
            self._variances[snapshot.cells] = snapshot.variances
            self._mask[snapshot.cells] = True
            self._scalars = (snapshot.epsilon, snapshot.updates, snapshot.applied_through)

    def take(self) -> TableSnapshot | None:
        with self._lock:
            if self._scalars is None:
                return None
            cells = np.flatnonzero(self._mask).astype(np.int64)
            epsilon, updates, applied = self._scalars
            self._mask[cells] = False
            self._scalars = None
            return TableSnapshot(
                cells, self._q[cells].copy(), self._visits[cells].copy(),
                self._variances[cells].copy(), epsilon, updates, applied,
            )  # fmt: skip

    def put_back(self, snapshot: TableSnapshot) -> None:
        """A snapshot whose publish failed: its cells go back unless a newer value is waiting."""
        with self._lock:
            older = snapshot.cells[~self._mask[snapshot.cells]]
            keep = ~self._mask[snapshot.cells]
            self._q[older] = snapshot.q[keep]
            self._visits[older] = snapshot.visits[keep]
            self._variances[older] = snapshot.variances[keep]
            self._mask[older] = True
            if self._scalars is None:
                self._scalars = (snapshot.epsilon, snapshot.updates, snapshot.applied_through)


class StateKeys:
    """Flat cell index <-> stored ``(state_key, action)`` text of one agent's state config."""

    def __init__(self, discretizer: Any, agent_name: str) -> None:
        self.discretizer = discretizer
        self.agent_name = agent_name
        self.num_states = int(discretizer.num_states)
        self._index: dict[str, int] | None = None

    def text(self, state_index: int) -> str:
        return str(self.discretizer.key_text(state_index))  # remembered by the discretizer

    def state_index(self, text: str) -> int | None:
        """The cell row of a stored key, in either spelling (an older 8-part key is the
        10-part one with own orders 0 and schedule 0); None: not a key of this config."""
        if self._index is None:
            self._index = {self.text(i): i for i in range(self.num_states)}
        index = self._index.get(text)
        if index is None:
            try:
                index = int(self.discretizer.index_from_text(text))
            except InvalidInputError:
                return None
            self._index[text] = index
        return index

    def entries(self, snapshot: TableSnapshot) -> list[QEntry]:
        text = self.text
        return [
            QEntry(text(c // NUM_ACTIONS), ACTION_LABELS[c % NUM_ACTIONS], q, v, var)
            for c, q, v, var in zip(
                snapshot.cells.tolist(),
                snapshot.q.tolist(),
                snapshot.visits.tolist(),
                snapshot.variances.tolist(),
                strict=True,
            )
        ]

    def cells(self, rows: list[QRevisionEntry]) -> npt.NDArray[np.int64]:
        out = np.empty(len(rows), dtype=np.int64)
        for j, r in enumerate(rows):
            s = self.state_index(r.state_key)
            a = _ACTION_INDEX.get(r.action)
            if s is None or a is None:
                raise StoreError(
                    f"agent {self.agent_name!r}: stored Q row ({r.state_key!r}, {r.action!r}) "
                    f"does not fit this agent's state config (expected state keys like "
                    f"{self.text(0)!r} and actions {', '.join(ACTION_LABELS)}); "
                    f"use another agent name or the same [rl_execution.state] settings"
                )
            out[j] = s * NUM_ACTIONS + a
        return out


async def read_table(
    session: AsyncSession, agent_id: int, keys: StateKeys, base: StoredTable | None = None
) -> StoredTable:
    """The stored table: ``base`` updated with the rows published after its revision, or the
    whole table when ``base`` is None."""
    agent = await AgentRepository(session).get_by_id(agent_id)
    if base is None:
        cells = keys.num_states * NUM_ACTIONS
        q = np.zeros(cells, dtype=np.float64)
        visits = np.zeros(cells, dtype=np.int64)
        variances = np.full(cells, np.nan)
        since = -1
    else:
        q, visits, since = base.q.copy(), base.visits.copy(), base.revision
        variances = base.variances.copy()
    if agent.q_revision != since:
        rows = await QValueRepository(session).changed_since(agent_id, since)
        if rows:
            idx = keys.cells(rows)
            q[idx] = [r.q for r in rows]
            visits[idx] = [r.visits for r in rows]
            variances[idx] = [r.variance for r in rows]
    return StoredTable(
        q=q,
        visits=visits,
        variances=variances,
        epsilon=agent.epsilon,
        updates=agent.updates,
        revision=agent.q_revision,
        applied_through=agent.transitions_applied,
    )


async def publish(
    session: AsyncSession,
    agent_id: int,
    keys: StateKeys,
    snapshot: TableSnapshot,
    *,
    holder: str,
    lease_secs: float,
) -> int:
    """Write ``snapshot`` in the caller's transaction as the lease holder; returns the new
    revision (LeaseLostError if ``holder`` lost the lease)."""
    revision = await AgentRepository(session).publish(
        agent_id,
        holder=holder,
        ttl_secs=lease_secs,
        epsilon=snapshot.epsilon,
        updates=snapshot.updates,
        transitions_applied=snapshot.applied_through,
    )
    await QValueRepository(session).put(agent_id, keys.entries(snapshot), revision=revision)
    return revision
