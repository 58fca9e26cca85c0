"""The write-behind cache between a Q-learning agent and the SQL store (``AgentStore``).

The decision path touches memory only: the agent marks changed Q entries dirty (its
``drain_dirty()``), and the executor appends records through the ``RecordSink`` methods, which
only put them in ordered in-memory buffers. A flush - every ``save_interval_secs`` from a
background task, on demand (``flush()``), at episode end if ``flush_on_episode_end``, and on
``close()`` (SIGTERM/SIGINT included via ``install_signal_handlers``) - writes everything in ONE
transaction:

1. take the agent's next Q revision (on PostgreSQL this locks the agent row: the flushes of
   several processes learning into one agent are serialised);
2. read the rows other processes wrote since our last flush (revision above ours);
3. upsert additive deltas ``q += dq, visits += dv`` of our dirty entries (dq, dv: change since
   the last synced base), stamped with our revision;
4. save epsilon and the update count, append episodes, decisions, experiences, metrics.

After the commit the others' changes are folded into the agent (and our base), so nobody's
learning is lost and updates the agent made while the flush was writing are kept (they are
dirty again and go out with the next flush). Buffers are swapped out before writing, so
decisions keep flowing during a flush.

A failed flush drops nothing: the batch goes back to the front of the buffers, the dirty Q
entries are remembered, and the background task retries with exponential backoff
(``retry_initial_secs`` .. ``retry_max_secs``) while the agent keeps deciding.

Memory policy while the store stays down (``max_pending_rows`` counts buffered append rows):
- Q-value changes are never dropped; they need no buffer (the agent's table is the buffer),
  so they are bounded by the table's size;
- episodes and policy metrics are never dropped (a few per episode);
- above the bound, the OLDEST experiences are dropped first (they only refill the replay
  buffer), then the OLDEST decisions. Every dropped row is counted in ``dropped`` (by kind)
  and logged. A flush in flight holds at most one more batch beside the buffers.

The Q-table in the store is zeros plus its rows: entries without a row are worth q=0, visits=0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rlexec.config import PersistenceConfig
from rlexec.errors import StoreError
from rlexec.records import (
    ACTION_LABELS,
    DecisionRecord,
    EpisodeRecord,
    ExperienceRecord,
    PolicyMetricsRecord,
)
from rlexec.store.engine import session_factory
from rlexec.store.repositories import (
    AgentRepository,
    DecisionRepository,
    EpisodeRepository,
    ExperienceRepository,
    PolicyMetricsRepository,
    QEntry,
    QRevisionEntry,
    QValueRepository,
)

log = logging.getLogger(__name__)

NUM_ACTIONS = len(ACTION_LABELS)
_ACTION_INDEX = {label: i for i, label in enumerate(ACTION_LABELS)}


class _StateKeyLike(Protocol):
    def to_text(self) -> str: ...


class _Discretizer(Protocol):
    @property
    def num_states(self) -> int: ...

    def key_from_index(self, i: int) -> Any: ...


class LearningAgent(Protocol):
    """What the store needs of ``rlexec.rl.q_learning.QTableAgent``."""

    q_values: npt.NDArray[np.float64]
    visits: npt.NDArray[np.int64]
    epsilon: float
    updates: int

    @property
    def discretizer(self) -> Any: ...

    @property
    def training_epsilon(self) -> float:
        """The epsilon training resumes from (stored; not the live one of production or
        evaluation mode)."""
        ...

    def drain_dirty(self) -> npt.NDArray[np.int64]: ...

    def restore(
        self,
        q_values: npt.NDArray[np.float64],
        visits: npt.NDArray[np.int64],
        epsilon: float,
        updates: int,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one committed flush wrote."""

    revision: int
    q_rows: int
    episodes: int
    decisions: int
    experiences: int
    policy_metrics: int
    merged_from_others: int
    seconds: float


@dataclass(frozen=True, slots=True)
class LoadResult:
    agent_id: int
    created: bool
    q_rows: int
    epsilon: float
    updates: int
    experiences: list[ExperienceRecord]


@dataclass
class _Batch:
    episodes: list[EpisodeRecord] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    experiences: list[ExperienceRecord] = field(default_factory=list)
    metrics: list[PolicyMetricsRecord] = field(default_factory=list)

    def rows(self) -> int:
        return len(self.episodes) + len(self.decisions) + len(self.experiences) + len(self.metrics)


class AgentStore:
    """Write-behind persistence of one agent (a ``RecordSink``). See the module doc.

    Usage::

        store = AgentStore(agent, engine, agent_name="rl-exec", persistence=cfg.persistence)
        await store.load()            # create/fetch the agent row, restore Q, visits, epsilon
        store.start()                 # background flushes every save_interval_secs
        store.install_signal_handlers()
        ... executor appends records, agent learns ...
        await store.close()           # final flush (raises StoreError if it cannot be saved)
    """

    def __init__(
        self,
        agent: LearningAgent,
        engine: AsyncEngine,
        *,
        agent_name: str,
        persistence: PersistenceConfig | None = None,
        config_snapshot: Mapping[str, Any] | None = None,
        experiences_retained: int | None = None,
        on_experiences: Callable[[Sequence[ExperienceRecord]], None] | None = None,
    ) -> None:
        self.agent = agent
        self.agent_name = agent_name
        self.persistence = persistence or PersistenceConfig()
        self.config_snapshot = dict(config_snapshot or {})
        self.experiences_retained = experiences_retained
        self.on_experiences = on_experiences
        self.engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self.agent_id: int | None = None
        # buffers (hot path: append only)
        self._episodes: deque[EpisodeRecord] = deque()
        self._decisions: deque[DecisionRecord] = deque()
        self._experiences: deque[ExperienceRecord] = deque()
        self._metrics: deque[PolicyMetricsRecord] = deque()
        self._retry_q = np.empty(0, dtype=np.int64)
        # last synced state
        self._base_q = np.zeros(agent.q_values.size, dtype=np.float64)
        self._base_visits = np.zeros(agent.visits.size, dtype=np.int64)
        self._base_updates = 0
        self._seen_revision = 0
        self._key_texts: dict[int, str] = {}
        self._text_index: dict[str, int] | None = None
        # control
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stop_requested = asyncio.Event()
        self._signal_task: asyncio.Task[None] | None = None
        # counters (exposed)
        self.dropped: dict[str, int] = {"experiences": 0, "decisions": 0}
        self.flushes = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self.last_flush: FlushResult | None = None

    # ---- RecordSink (synchronous, memory only) -------------------------------------------

    def append_episode(self, record: EpisodeRecord) -> None:
        self._episodes.append(record)
        if self.persistence.flush_on_episode_end:
            self._wake.set()

    def append_decision(self, record: DecisionRecord) -> None:
        self._decisions.append(record)
        if self.pending_rows > self.persistence.max_pending_rows:
            self._shed()

    def append_experience(self, record: ExperienceRecord) -> None:
        self._experiences.append(record)
        if self.pending_rows > self.persistence.max_pending_rows:
            self._shed()

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None:
        self._metrics.append(record)

    @property
    def pending_rows(self) -> int:
        """Append rows waiting in memory (not counting a flush in flight)."""
        return (
            len(self._episodes) + len(self._decisions) + len(self._experiences) + len(self._metrics)
        )

    def _shed(self) -> None:
        excess = self.pending_rows - self.persistence.max_pending_rows
        shed_exp = min(excess, len(self._experiences))
        for _ in range(shed_exp):
            self._experiences.popleft()
        shed_dec = min(excess - shed_exp, len(self._decisions))
        for _ in range(shed_dec):
            self._decisions.popleft()
        if shed_exp or shed_dec:
            first = self.dropped["experiences"] + self.dropped["decisions"] == 0
            self.dropped["experiences"] += shed_exp
            self.dropped["decisions"] += shed_dec
            if first or (self.dropped["experiences"] + self.dropped["decisions"]) % 10_000 < (
                shed_exp + shed_dec
            ):
                log.warning(
                    "agent %r: more than max_pending_rows = %d rows wait for the store (it is "
                    "down, or slower than the agent); dropped so far %d experiences, "
                    "%d decisions (oldest first)",
                    self.agent_name,
                    self.persistence.max_pending_rows,
                    self.dropped["experiences"],
                    self.dropped["decisions"],
                )

    # ---- lifecycle -------------------------------------------------------------------------

    async def load(self) -> LoadResult:
        """Create or fetch the agent row, then restore the agent's Q-values, visits, epsilon and
        update count from the store; returns the newest experiences (oldest first), which are
        also handed to ``on_experiences`` if given (to refill the replay buffer)."""
        agent = self.agent
        async with self._sessions() as session, session.begin():
            agents = AgentRepository(session)
            existing = await agents.get_by_name(self.agent_name)
            row = existing or await agents.get_or_create(
                self.agent_name, self.config_snapshot, float(agent.training_epsilon)
            )
            q_rows = await QValueRepository(session).load(row.id)
            experiences = await ExperienceRepository(session).newest(
                row.id, self.persistence.experiences_to_load
            )
        q = np.zeros_like(agent.q_values, dtype=np.float64)
        visits = np.zeros_like(agent.visits, dtype=np.int64)
        flat_q, flat_v = q.reshape(-1), visits.reshape(-1)
        seen = 0
        if q_rows:
            idx = self._flat_indices(q_rows)
            flat_q[idx] = [r.q for r in q_rows]
            flat_v[idx] = [r.visits for r in q_rows]
            seen = max(r.revision for r in q_rows)
        agent.restore(q, visits, float(row.epsilon), int(row.updates))
        agent.drain_dirty()
        self.agent_id = row.id
        self._base_q = flat_q.copy()
        self._base_visits = flat_v.copy()
        self._base_updates = int(row.updates)
        self._seen_revision = seen
        self._retry_q = np.empty(0, dtype=np.int64)
        if self.on_experiences is not None and experiences:
            self.on_experiences(experiences)
        elif experiences and getattr(agent, "replay_buffer", None) is not None:
            self._refill_replay(experiences)
        log.info(
            "agent %r (id %d) loaded: %d Q rows, epsilon %.4f, %d updates, %d experiences",
            self.agent_name, row.id, len(q_rows), row.epsilon, row.updates, len(experiences),
        )  # fmt: skip
        return LoadResult(
            agent_id=row.id,
            created=existing is None,
            q_rows=len(q_rows),
            epsilon=float(row.epsilon),
            updates=int(row.updates),
            experiences=experiences,
        )

    def start(self) -> None:
        """Start the background flush task (needs a running event loop and ``load()`` first)."""
        self._require_loaded()
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"rlexec-store-{self.agent_name}"
            )

    def request_flush(self) -> None:
        """Ask the background task to flush now (returns at once)."""
        self._wake.set()

    async def close(self, *, attempts: int = 3) -> None:
        """Stop the background task and flush everything pending; retries ``attempts`` times
        with backoff, then raises StoreError (the pending data stays in memory)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.agent_id is None:
            return
        delay = self.persistence.retry_initial_secs
        for attempt in range(1, attempts + 1):
            try:
                await self.flush()
                return
            except StoreError:
                if attempt == attempts:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.persistence.retry_max_secs)

    def install_signal_handlers(
        self, signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
    ) -> None:
        """On SIGTERM/SIGINT: set ``stop_requested`` and start the final flush at once. The
        training loop should stop when ``stop_requested`` is set and then ``await close()``
        (which flushes whatever was appended after the signal)."""
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("%s received: final flush of agent %r", sig.name, self.agent_name)
        self.stop_requested.set()
        if self._signal_task is None:
            self._signal_task = asyncio.get_running_loop().create_task(self._signal_flush())

    async def _signal_flush(self) -> None:
        try:
            await self.flush()
        except StoreError as exc:
            log.error("final flush after signal failed: %s", exc)

    def _refill_replay(self, experiences: Sequence[ExperienceRecord]) -> None:
        buffer = self.agent.replay_buffer  # type: ignore[attr-defined]
        if self._text_index is None:
            n = int(self.agent.q_values.shape[0])
            self._text_index = {self._key_text(i): i for i in range(n)}
        for e in experiences:
            s = self._text_index.get(e.state_key)
            s_next = self._text_index.get(e.next_state_key)
            a = _ACTION_INDEX.get(e.action)
            if s is not None and s_next is not None and a is not None:
                buffer.add(s, a, e.reward, s_next, e.terminated, e.truncated)

    def replace_table(
        self,
        q_values: npt.NDArray[np.float64],
        visits: npt.NDArray[np.int64],
        epsilon: float,
        updates: int,
    ) -> None:
        """Replace the agent's whole table (a model-file import); the next flush writes the
        difference to the store so that the stored agent becomes exactly this table."""
        self._require_loaded()
        self.agent.restore(q_values, visits, epsilon, updates)
        self._retry_q = np.arange(self.agent.q_values.size, dtype=np.int64)

    def replace_engine(self, engine: AsyncEngine) -> None:
        """Write through another engine from the next flush on (fail-over, tests)."""
        self.engine = engine
        self._sessions = session_factory(engine)

    async def __aenter__(self) -> AgentStore:
        if self.agent_id is None:
            await self.load()
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self) -> None:
        interval = self.persistence.save_interval_secs
        backoff = self.persistence.retry_initial_secs
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            if self._closing:
                return
            try:
                # shielded: close() cancels this task, but never a flush half-way through
                await asyncio.shield(self.flush())
                backoff = self.persistence.retry_initial_secs
            except StoreError as exc:
                log.warning(
                    "flush of agent %r failed (retry in %.1f s, %d rows pending): %s",
                    self.agent_name, backoff, self.pending_rows, exc,
                )  # fmt: skip
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.persistence.retry_max_secs)
                self._wake.set()  # retry right after the backoff

    # ---- the flush ---------------------------------------------------------------------------

    async def flush(self) -> FlushResult:
        """Write everything pending in one transaction. On failure the batch goes back (nothing
        is dropped) and StoreError is raised."""
        agent_id = self._require_loaded()
        async with self._flush_lock:
            started = time.perf_counter()
            agent = self.agent
            idx = np.union1d(self._retry_q, agent.drain_dirty()).astype(np.int64)
            batch = self._swap_out()
            flat_q = agent.q_values.reshape(-1)
            flat_v = agent.visits.reshape(-1)
            dq = flat_q[idx] - self._base_q[idx]
            dv = flat_v[idx] - self._base_visits[idx]
            changed = (dq != 0.0) | (dv != 0)
            send = idx[changed]
            dq, dv = dq[changed], dv[changed]
            sent_q = flat_q[send].copy()
            entries = self._entries(send, dq, dv)
            epsilon = float(agent.training_epsilon)
            updates_delta = int(agent.updates) - self._base_updates
            try:
                async with self._sessions() as session, session.begin():
                    agents = AgentRepository(session)
                    qrepo = QValueRepository(session)
                    revision = await agents.next_q_revision(agent_id)
                    others = await qrepo.changed_since(agent_id, self._seen_revision)
                    await qrepo.add_deltas(agent_id, entries, revision=revision)
                    await agents.save_progress(agent_id, epsilon, updates_delta)
                    await EpisodeRepository(session).append(agent_id, batch.episodes)
                    await DecisionRepository(session).append(agent_id, batch.decisions)
                    exp_repo = ExperienceRepository(session)
                    await exp_repo.append(agent_id, batch.experiences)
                    if self.experiences_retained is not None and batch.experiences:
                        await exp_repo.prune(agent_id, self.experiences_retained)
                    await PolicyMetricsRepository(session).append(agent_id, batch.metrics)
            except (StoreError, asyncio.CancelledError) as exc:
                self._requeue(batch, idx)
                self.failed_flushes += 1
                if isinstance(exc, StoreError):
                    self.last_error = str(exc)
                raise
            except Exception as exc:  # an unexpected driver error: still drop nothing
                self._requeue(batch, idx)
                self.failed_flushes += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise StoreError(f"flush of agent {self.agent_name!r} failed: {exc}") from exc
            # committed: fold in what the others learned, then advance our base (no awaits here)
            flat_q = self.agent.q_values.reshape(-1)
            learned_during_flush = flat_q[send] - sent_q
            merged = self._fold_others(others)
            self._base_q[send] += dq  # the same IEEE addition the database did
            self._base_visits[send] += dv
            # The agent now holds exactly the stored value (base + dq may differ from the sent
            # value in the last bit) plus what it learned while the flush was writing.
            flat_q[send] = self._base_q[send] + learned_during_flush
            self._base_updates += updates_delta
            self._seen_revision = revision
            result = FlushResult(
                revision=revision,
                q_rows=len(entries),
                episodes=len(batch.episodes),
                decisions=len(batch.decisions),
                experiences=len(batch.experiences),
                policy_metrics=len(batch.metrics),
                merged_from_others=merged,
                seconds=time.perf_counter() - started,
            )
            self.flushes += 1
            self.last_flush = result
            self.last_error = None
            return result

    def _swap_out(self) -> _Batch:
        batch = _Batch(
            episodes=list(self._episodes),
            decisions=list(self._decisions),
            experiences=list(self._experiences),
            metrics=list(self._metrics),
        )
        self._episodes = deque()
        self._decisions = deque()
        self._experiences = deque()
        self._metrics = deque()
        self._retry_q = np.empty(0, dtype=np.int64)
        return batch

    def _requeue(self, batch: _Batch, q_indices: npt.NDArray[np.int64]) -> None:
        self._episodes = deque([*batch.episodes, *self._episodes])
        self._decisions = deque([*batch.decisions, *self._decisions])
        self._experiences = deque([*batch.experiences, *self._experiences])
        self._metrics = deque([*batch.metrics, *self._metrics])
        self._retry_q = np.union1d(self._retry_q, q_indices).astype(np.int64)
        if self.pending_rows > self.persistence.max_pending_rows:
            self._shed()

    def _fold_others(self, others: Sequence[QRevisionEntry]) -> int:
        if not others:
            return 0
        idx = self._flat_indices(others)
        db_q = np.fromiter((r.q for r in others), dtype=np.float64, count=len(others))
        db_v = np.fromiter((r.visits for r in others), dtype=np.int64, count=len(others))
        change_q = db_q - self._base_q[idx]
        change_v = db_v - self._base_visits[idx]
        self.agent.q_values.reshape(-1)[idx] += change_q
        self.agent.visits.reshape(-1)[idx] += change_v
        self._base_q[idx] = db_q
        self._base_visits[idx] = db_v
        return len(others)

    # ---- state keys ----------------------------------------------------------------------------

    def _entries(
        self, flat: npt.NDArray[np.int64], dq: npt.NDArray[np.float64], dv: npt.NDArray[np.int64]
    ) -> list[QEntry]:
        text = self._key_text
        return [
            QEntry(text(i // NUM_ACTIONS), ACTION_LABELS[i % NUM_ACTIONS], q, v)
            for i, q, v in zip(flat.tolist(), dq.tolist(), dv.tolist(), strict=True)
        ]

    def _key_text(self, state_index: int) -> str:
        text = self._key_texts.get(state_index)
        if text is None:
            key = self.agent.discretizer.key_from_index(state_index)
            text = str(key.to_text())
            self._key_texts[state_index] = text
        return text

    def _flat_indices(self, rows: Sequence[QRevisionEntry]) -> npt.NDArray[np.int64]:
        if self._text_index is None:
            n = int(self.agent.q_values.shape[0])
            self._text_index = {self._key_text(i): i for i in range(n)}
        out = np.empty(len(rows), dtype=np.int64)
        for j, r in enumerate(rows):
            s = self._text_index.get(r.state_key)
            a = _ACTION_INDEX.get(r.action)
            if s is None or a is None:
                raise StoreError(
                    f"agent {self.agent_name!r}: stored Q row ({r.state_key!r}, {r.action!r}) "
                    f"does not fit this agent's state config (expected state keys like "
                    f"{self._key_text(0)!r} and actions {', '.join(ACTION_LABELS)}); "
                    f"use another agent name or the same [rl_execution.state] settings"
                )
            out[j] = s * NUM_ACTIONS + a
        return out

    def _require_loaded(self) -> int:
        if self.agent_id is None:
            raise StoreError(f"agent {self.agent_name!r}: call load() before flushing")
        return self.agent_id
