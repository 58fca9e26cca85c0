"""The write-behind store of one agent (``AgentStore``): a thin orchestrator of the pending-rows
buffer (``rlexec.store.pending``), the Q sync/publish step (``rlexec.store.table_sync``) and the
writer thread (``rlexec.store.writer``).

The decision path touches memory only: the executor appends records (the ``RecordSink``
methods put them in the bounded buffer) and the agent marks changed cells dirty. Everything
that talks to the database runs in the writer thread, with its own event loop and connection,
so a CPU-bound training loop does not stretch the flush cadence.

Roles (one per process and agent):
- ``LEARNER`` (the default; single-process training, production, the learner of ``rlexec train
  --workers N``): holds the agent's learner lease (``agents.learner``, renewed every
  ``learner_lease_secs / 3`` by the writer thread; see ``docs/operations.md``). Its own
  transitions are applied by its agent as they happen; the transitions actors queued are
  fetched after each flush and applied in ``seq`` order, episode by episode, through
  ``EpisodeAssembler``. Every
  ``save_interval_secs`` it publishes the changed cells as absolute values with epsilon, the
  update count and the applied queue prefix, in one transaction with the rows. A publish
  checks the lease (fencing): a learner that lost it stops publishing (``lease_lost``).
- ``ACTOR``: decides with the latest published table (refreshed after each flush, put into
  the agent by ``restore_agent``); its transitions are queued (``experiences.seq``, dense and
  committed in order under the agent row's lock) for the learner. It never writes Q-values.
- ``READER`` (evaluation): loads the table, writes nothing.

Flushes: the app's event loop hands the table over (``take_snapshot``, on the agent's thread)
every ``save_interval_secs`` at its next yield, sealing the rows appended up to that moment,
and wakes the writer, which writes table and sealed rows in ONE transaction (so a crash
leaves rows and table of one moment). The writer renews the lease and, for actors, flushes
rows on its own clock when the app does not yield. A failed flush loses nothing: rows go
back to the front of the buffer, the snapshot back into the pending table. While the store
is down the writer probes it every ``probe_interval_secs`` (a ``SELECT 1``) and flushes as
soon as it answers. An agent that appends rows faster than one save interval can hold (a
simulator driving it flat out) asks for a flush at an episode's end once the rows waiting pass
a quarter of ``max_pending_mb`` (``flush_above_bytes``), so the writer flushes back to back
while they pile up; memory stays bounded by ``max_pending_mb`` (the shedding policy of
``rlexec.store.pending``; what is shed is counted in ``dropped`` and logged). Log lines
(``logging``, logger ``rlexec.store``) say when the store goes down, every
``DOWN_LOG_EVERY_SECS`` while it stays down, and when it is back.

Two ways to drive it from the app:
- an asyncio app: ``await load()``, ``start()`` (a task on the app's loop hands the table over
  every ``save_interval_secs``), ``await flush()``, ``await close()``;
- a synchronous app (no event loop of its own: ``rlexec.api.Agent``): ``load_blocking()``,
  then ``pump()`` from the agent's thread as it works (each call costs one clock read; when
  ``save_interval_secs`` has passed it hands the table over and wakes the writer, so nothing
  waits on I/O), ``flush_blocking()``, ``close_blocking()``. The writer thread does the I/O
  either way.

An agent that does not learn (evaluation mode) loads no experiences: they only refill the
replay buffer of a learner.

Signals are the application's business: the store offers ``flush()`` and ``close()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from rlexec.config import PersistenceConfig
from rlexec.errors import StoreError
from rlexec.records import (
    ACTION_LABELS,
    DecisionRecord,
    EpisodeRecord,
    ExperienceRecord,
    PolicyMetricsRecord,
)
from rlexec.store.engine import (
    DEFAULT_COMMAND_TIMEOUT_SECS,
    check_connection,
    parse_url,
    session_factory,
)
from rlexec.store.pending import PendingBatch, PendingRows
from rlexec.store.repositories import (
    AgentRepository,
    ExperienceRepository,
    LeaseLostError,
    PreparedAppends,
    QueuedTransition,
    prepare_appends,
    unit_of_work,
)
from rlexec.store.table_sync import (
    PendingTable,
    StateKeys,
    StoredTable,
    TableAgent,
    TableSnapshot,
    full_snapshot,
    publish,
    read_table,
    restore_agent,
    take_snapshot,
)
from rlexec.store.transitions import EpisodeAssembler, ObservingAgent, next_base_index
from rlexec.store.writer import StoreWriter

log = logging.getLogger("rlexec.store")

DOWN_LOG_EVERY_SECS = 30.0
PROBE_TIMEOUT_SECS = 2.0
WRITER_STOP_SECS = 1.0  # close(): the most it waits for the writer thread to stop
FLUSH_LOOP_END_SECS = 2.0  # close(): the most it waits for the flush loop to end by itself
FETCH_LIMIT = 20_000  # queued transitions fetched at a time


class Role(StrEnum):
    LEARNER = "learner"
    ACTOR = "actor"
    READER = "reader"


class LearnerBusyError(StoreError):
    """Another live process holds the agent's learner lease."""


class LearningAgent(TableAgent, ObservingAgent, Protocol):
    """What the store needs of ``rlexec.rl.q_learning.QTableAgent``."""

    @property
    def learning(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one committed flush wrote."""

    revision: int | None  # the Q revision published (None: nothing published)
    q_rows: int
    episodes: int
    decisions: int
    experiences: int
    policy_metrics: int
    seconds: float


NOTHING_FLUSHED = FlushResult(None, 0, 0, 0, 0, 0, 0.0)


@dataclass(frozen=True, slots=True)
class LoadResult:
    agent_id: int
    created: bool
    q_rows: int
    epsilon: float
    updates: int
    experiences: list[ExperienceRecord]


async def wait_event(event: asyncio.Event, timeout_secs: float) -> None:
    """Wait until ``event`` is set or ``timeout_secs`` have passed.

    Not ``asyncio.wait_for(event.wait(), ...)``: on Python 3.11 that swallows a cancellation
    which lands in the loop iteration where the event is set (CPython gh-86296, fixed in
    3.12); the hand-over task then never ended and ``close()``, which cancels it, waited for
    ever (a SIGTERM'd ``rlexec train`` that never exits). ``asyncio.timeout`` awaits the event
    itself, so a cancellation always comes through.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, timeout_secs)):
            await event.wait()


def lease_poll_secs(lease_secs: float) -> float:
    """How often a waiting learner tries the lease: a dead learner's successor holds it at
    most this long after it expired (``docs/operations.md``: "within learner_lease_secs plus
    one second of polling")."""
    return min(1.0, lease_secs / 5)


def learner_id() -> str:
    """Who holds a lease: host, process id and a random tag (unique per store)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AgentStore:
    """Write-behind persistence of one agent (a ``RecordSink``). See the module doc.

    Usage::

        store = AgentStore(agent, engine, agent_name="desk-1", persistence=cfg.persistence)
        await store.load()       # agent row, lease (learner), table, replay experiences
        store.start()            # hand the table over every save_interval_secs
        ... executor appends records, agent learns ...
        await store.close()      # final flush, lease released, writer thread stopped
    """

    def __init__(
        self,
        agent: LearningAgent,
        engine: AsyncEngine | URL | str,
        *,
        agent_name: str,
        persistence: PersistenceConfig | None = None,
        config_snapshot: Mapping[str, Any] | None = None,
        role: Role | str = Role.LEARNER,
        experiences_retained: int | None = None,
        on_experiences: Callable[[Sequence[ExperienceRecord]], None] | None = None,
        lease_wait_secs: float | None = None,
        connect_timeout_secs: float = 10.0,
        command_timeout_secs: float = DEFAULT_COMMAND_TIMEOUT_SECS,
        accept_existing: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        """``engine``: the database (only its URL is used: the writer thread opens its own
        engine); ``accept_existing``: called with an existing agent row's config snapshot
        before anything else is read or leased, to refuse an incompatible config (it
        raises); ``command_timeout_secs``: the longest one operation of the writer (a flush, a
        renewal, a fetch; also each statement) may take before it fails as if the store were
        down."""
        self.agent = agent
        self.agent_name = agent_name
        self.persistence = persistence or PersistenceConfig()
        self.config_snapshot = dict(config_snapshot or {})
        self.role = Role(role)
        self.experiences_retained = experiences_retained
        self.on_experiences = on_experiences
        p = self.persistence
        # a learner waits up to one lease lifetime: a crashed predecessor's lease expires
        self.lease_wait_secs = (
            p.learner_lease_secs * 1.2 if lease_wait_secs is None else (lease_wait_secs)
        )
        self.holder = learner_id()
        self.keys = StateKeys(agent.discretizer, agent_name)
        shed_order = ("decisions", "experiences") if self.role is Role.ACTOR else None
        self.rows = PendingRows(
            int(p.max_pending_mb * 2**20), shed_order or ("experiences", "decisions")
        )
        # rows piling up past a quarter of the bound: a flush is asked at once (at an episode's
        # end), not at the next save interval, so a healthy store sheds nothing
        self.flush_above_bytes = max(1, self.rows.max_bytes // 4)
        self._early_flush_mark: int | None = None  # flushes + failed when one was last asked
        self.table = PendingTable(int(agent.q_values.size))
        url = engine.url if isinstance(engine, AsyncEngine) else parse_url(engine)
        self.accept_existing = accept_existing
        self.command_timeout_secs = command_timeout_secs
        self.writer = StoreWriter(
            url,
            connect_timeout_secs=connect_timeout_secs,
            command_timeout_secs=command_timeout_secs,
            name=f"rlexec-store-{agent_name}"[:60],
        )
        # the rows and table of the flush being written (counted as unsaved until committed)
        self._in_flight: tuple[PendingBatch, TableSnapshot | None] | None = None
        self._flight_lock = threading.Lock()
        self._pump_due = 0.0  # monotonic time of the next hand-over by pump()
        self.agent_id: int | None = None
        # learner: queued transitions fetched (writer) and applied (app thread), by seq
        self._inbox: deque[QueuedTransition] = deque()
        self._fetched_through = 0
        self._published_through = 0
        self.applied_through = 0
        self.transitions_applied = 0  # learned by this process from the queue (whole episodes)
        self.episodes_applied = 0  # the episodes those transitions make up
        # the learner applies no further than this many episodes (None: no limit); the rest
        # waits in the inbox (the workers' learner validates its table there)
        self.hold_after_episodes: int | None = None
        self._episodes = EpisodeAssembler()  # rebuilds queued episodes for the agent
        # queued rows not learned: one that does not fit the state config, and the earlier
        # transitions of its episode (dropped with it)
        self.transitions_rejected = 0
        self._last_scalars: tuple[float, int, int] | None = None
        # actor: the published table (writer) and the newest one not yet put into the agent
        self._published: StoredTable | None = None
        self._refresh: StoredTable | None = None
        # app-loop side
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._app_wake: asyncio.Event | None = None
        self._sync_task: asyncio.Task[None] | None = None
        # writer side
        self._kick: asyncio.Event | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._fetch_lock: asyncio.Lock | None = None
        self._waiters: list[concurrent.futures.Future[FlushResult]] = []
        self._waiters_lock = threading.Lock()
        self._closing = False
        # health (read by the app, health checks, tests)
        self.up = True
        self.down_since: float | None = None
        self.flushes = 0
        self.failed_flushes = 0
        self.last_error: str | None = None
        self.last_flush: FlushResult | None = None
        self.last_commit_at: float | None = None  # time.time() of the last committed flush
        self.lease_lost: LeaseLostError | None = None
        self._down_logged_at = 0.0
        self._shed_logged_at = 0.0

    # ---- RecordSink (synchronous, memory only) ---------------------------------------------

    def append_episode(self, record: EpisodeRecord) -> None:
        self._append("episodes", record)
        if self.persistence.flush_on_episode_end or self._piled_up():
            self.request_flush()

    def append_decision(self, record: DecisionRecord) -> None:
        self._append("decisions", record)

    def append_experience(self, record: ExperienceRecord) -> None:
        self._append("experiences", record)

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None:
        self._append("metrics", record)

    def _piled_up(self) -> bool:
        """More than ``flush_above_bytes`` waiting, the store up, and no early flush asked
        since the writer last finished one (so a slow flush is not asked again and again)."""
        if self.rows.bytes <= self.flush_above_bytes or not self.up:
            return False
        mark = self.flushes + self.failed_flushes
        if mark == self._early_flush_mark:
            return False
        self._early_flush_mark = mark
        return True

    def _append(self, kind: str, record: Any) -> None:
        if self.role is Role.READER:
            return
        if self.rows.append(kind, record):
            self._report_shed()

    @property
    def pending_rows(self) -> int:
        """Rows waiting in memory (not counting a flush in flight)."""
        return self.rows.rows

    @property
    def pending_bytes(self) -> int:
        return self.rows.bytes

    @property
    def dropped(self) -> dict[str, int]:
        """Rows shed so far, by kind."""
        return dict(self.rows.dropped)

    @property
    def unsaved(self) -> dict[str, int]:
        """Rows not in the store yet, by kind: waiting in memory or in a flush not committed
        (after a failed ``close()``: what the process loses when it ends)."""
        with self._flight_lock:
            counts = self.rows.counts()
            if self._in_flight is not None:
                batch = self._in_flight[0]
                for kind in counts:
                    counts[kind] += len(getattr(batch, kind))
        return counts

    @property
    def unsaved_cells(self) -> int:
        """Q cells changed and not published yet (waiting, or in a flush not committed)."""
        with self._flight_lock:
            snapshot = None if self._in_flight is None else self._in_flight[1]
            return self.table.cells + (0 if snapshot is None else int(snapshot.cells.size))

    def _report_shed(self) -> None:
        now = time.monotonic()
        if self._shed_logged_at and now - self._shed_logged_at < DOWN_LOG_EVERY_SECS:
            return
        self._shed_logged_at = now
        d = self.rows.dropped
        log.warning(
            "agent %r: rows waiting for the store passed max_pending_mb = %g (store %s); "
            "shed so far: %d experiences, %d decisions (oldest first)",
            self.agent_name, self.persistence.max_pending_mb,
            "down" if not self.up else "slower than the agent",
            d["experiences"], d["decisions"],
        )  # fmt: skip

    # ---- lifecycle ---------------------------------------------------------------------------

    async def load(self) -> LoadResult:
        """Create or fetch the agent row, take the learner lease (learner role; waits up to
        ``lease_wait_secs`` for a dead predecessor's lease to expire, then raises
        LearnerBusyError), put the stored table into the agent and return the newest
        experiences (also handed to ``on_experiences``, else put into the replay buffer)."""
        self.writer.start()
        try:
            created, table, experiences = await self.writer.run(self._load)
        except BaseException:
            self.writer.stop()
            raise
        return self._loaded(created, table, experiences)

    def load_blocking(self) -> LoadResult:
        """``load()`` for a synchronous app: blocks until loaded (no event loop needed)."""
        self.writer.start()
        try:
            created, table, experiences = self.writer.submit(self._load).result()
        except BaseException:
            self.writer.stop()
            raise
        self._pump_due = time.monotonic() + self.persistence.save_interval_secs
        return self._loaded(created, table, experiences)

    def _loaded(
        self, created: bool, table: StoredTable, experiences: list[ExperienceRecord]
    ) -> LoadResult:
        """On the agent's thread: put the stored table and experiences into the agent."""
        restore_agent(self.agent, table)
        self.applied_through = table.applied_through
        self._last_scalars = (table.epsilon, table.updates, table.applied_through)
        if self.on_experiences is not None and experiences:
            self.on_experiences(experiences)
        elif experiences and getattr(self.agent, "replay_buffer", None) is not None:
            self._refill_replay(experiences)
        q_rows = int(np.count_nonzero((table.q != 0.0) | (table.visits != 0)))
        log.info(
            "agent %r (id %d) loaded as %s: %d Q rows, epsilon %.4f, %d updates, "
            "%d experiences",
            self.agent_name, self.agent_id, self.role, q_rows, table.epsilon, table.updates,
            len(experiences),
        )  # fmt: skip
        assert self.agent_id is not None
        return LoadResult(
            agent_id=self.agent_id,
            created=created,
            q_rows=q_rows,
            epsilon=table.epsilon,
            updates=table.updates,
            experiences=experiences,
        )

    async def _load(self, engine: AsyncEngine) -> tuple[bool, StoredTable, list[ExperienceRecord]]:
        async with self._unit_of_work(engine, f"loading agent {self.agent_name!r}") as session:
            agents = AgentRepository(session)
            existing = await agents.get_by_name(self.agent_name)
            if existing is not None and self.accept_existing is not None:
                self.accept_existing(existing.config_snapshot)
            row = existing or await agents.get_or_create(
                self.agent_name, self.config_snapshot, float(self.agent.training_epsilon)
            )
        self.agent_id = row.id
        if self.role is Role.LEARNER:
            await self._take_lease(engine)
        reading = f"reading agent {self.agent_name!r}"
        async with self._unit_of_work(engine, reading, write=False) as session:
            table = await read_table(session, row.id, self.keys)
            learns = self.role is Role.LEARNER and self.agent.learning
            to_load = self.persistence.experiences_to_load if learns else 0
            experiences = await ExperienceRepository(session).newest(
                row.id, to_load, applied_through=table.applied_through
            )
        self._fetched_through = table.applied_through
        self._published_through = table.applied_through
        self._published = table if self.role is Role.ACTOR else None
        self._kick = asyncio.Event()
        self._fetch_lock = asyncio.Lock()
        if self.role is not Role.READER:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_loop())
        return existing is None, table.copy(), experiences

    async def _take_lease(self, engine: AsyncEngine) -> None:
        assert self.agent_id is not None
        deadline = time.monotonic() + self.lease_wait_secs
        while True:
            async with self._unit_of_work(engine, "taking the learner lease") as session:
                other = await AgentRepository(session).acquire_lease(
                    self.agent_id, self.holder, self.persistence.learner_lease_secs
                )
            if other is None:
                return
            if time.monotonic() >= deadline:
                raise LearnerBusyError(
                    f"agent {self.agent_name!r}: another learner holds its lease ({other}); "
                    f"only one learner per agent: stop it, add actors to it with "
                    f"'rlexec train --workers N', or use another agent name"
                )
            await asyncio.sleep(lease_poll_secs(self.persistence.learner_lease_secs))

    def start(self) -> None:
        """Hand the table over every ``save_interval_secs`` from the running event loop (the
        agent's). Needs ``load()`` first."""
        self._require_loaded()
        if self.role is Role.READER or (self._sync_task and not self._sync_task.done()):
            return
        self._app_loop = asyncio.get_running_loop()
        self._app_wake = asyncio.Event()
        self._sync_task = self._app_loop.create_task(
            self._sync_loop(), name=f"rlexec-store-sync-{self.agent_name}"
        )

    def request_flush(self) -> None:
        """Flush soon (returns at once; call from the agent's thread)."""
        if self.agent_id is None or self.role is Role.READER:
            return
        self._hand_over()
        self._wake_writer()

    def pump(self) -> None:
        """A synchronous app's hand-over, called from the agent's thread as it works: when
        ``save_interval_secs`` has passed since the last one, hand the table over and wake
        the writer; apply what the writer brought (queued transitions, a newer published
        table). Memory only: it never waits for the store."""
        now = time.monotonic()
        if now < self._pump_due:
            if self._inbox or self._refresh is not None:
                self._apply_inbox()
                self._apply_refresh()
            return
        self._pump_due = now + self.persistence.save_interval_secs
        if self.agent_id is None or self.role is Role.READER:
            return
        self._hand_over()
        self._wake_writer()

    def _flush_waiter(self) -> concurrent.futures.Future[FlushResult] | None:
        """Hand everything over and ask the writer for a flush; the future of its result
        (None for a reader: nothing to write)."""
        self._require_loaded()
        if self.role is Role.READER:
            return None
        if self.lease_lost is not None:
            raise self.lease_lost
        self._hand_over()
        waiter: concurrent.futures.Future[FlushResult] = concurrent.futures.Future()
        with self._waiters_lock:
            self._waiters.append(waiter)
        self._wake_writer()
        return waiter

    async def flush(self) -> FlushResult:
        """Hand everything over and wait for the writer's next flush: its result, or
        StoreError if it failed (nothing is dropped; the writer keeps trying)."""
        waiter = self._flush_waiter()
        if waiter is None:
            return NOTHING_FLUSHED
        result = await asyncio.wrap_future(waiter)
        self._apply_inbox()
        return result

    def flush_blocking(self) -> FlushResult:
        """``flush()`` for a synchronous app: blocks until the writer's flush is done."""
        waiter = self._flush_waiter()
        if waiter is None:
            return NOTHING_FLUSHED
        result = waiter.result()
        self._apply_inbox()
        return result

    async def close(self) -> None:
        """Final flush, then the lease released and the writer stopped. Waits at most
        ``close_timeout_secs`` in all for the final flush (a store that is down is probed, one
        that hangs is abandoned), plus up to ``WRITER_STOP_SECS`` to stop the writer; then
        StoreError says what could not be saved (also in ``unsaved``; it is lost when the
        process ends). Never waits longer."""
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        if self.agent_id is None or not self.writer.running:
            return
        deadline = time.monotonic() + self.persistence.close_timeout_secs
        failure: StoreError | None = None
        if self.role is not Role.READER and self.lease_lost is None:
            while True:
                try:
                    waiter = self._flush_waiter()
                    if waiter is not None:
                        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                            await asyncio.wrap_future(waiter)
                        self._apply_inbox()
                    break
                except TimeoutError:
                    failure = StoreError("the store did not answer")
                    break
                except StoreError as exc:
                    if isinstance(exc, LeaseLostError) or time.monotonic() >= deadline:
                        failure = exc
                        break
                    await asyncio.sleep(self._close_pause(deadline))
        await asyncio.to_thread(self._quiesce, failure)
        if self.role is Role.LEARNER and failure is None:
            with contextlib.suppress(StoreError, TimeoutError, concurrent.futures.CancelledError):
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    await self.writer.run(self._release_lease)
        self._stop_writer(failure)

    def close_blocking(self) -> None:
        """``close()`` for a synchronous app (the same waits and bounds, blocking)."""
        if self.agent_id is None or not self.writer.running:
            return
        deadline = time.monotonic() + self.persistence.close_timeout_secs
        failure: StoreError | None = None
        if self.role is not Role.READER and self.lease_lost is None:
            while True:
                waiter: concurrent.futures.Future[FlushResult] | None = None
                try:
                    waiter = self._flush_waiter()
                    if waiter is not None:
                        waiter.result(timeout=max(0.0, deadline - time.monotonic()))
                        self._apply_inbox()
                    break
                except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError
                    if waiter is not None:
                        waiter.cancel()
                    failure = StoreError("the store did not answer")
                    break
                except StoreError as exc:
                    if isinstance(exc, LeaseLostError) or time.monotonic() >= deadline:
                        failure = exc
                        break
                    time.sleep(self._close_pause(deadline))
        self._quiesce(failure)
        if self.role is Role.LEARNER and failure is None:
            with contextlib.suppress(StoreError, TimeoutError, concurrent.futures.CancelledError):
                self.writer.submit(self._release_lease).result(
                    timeout=max(0.1, deadline - time.monotonic())
                )
        self._stop_writer(failure)

    def _quiesce(self, failure: StoreError | None) -> None:
        """After the final flush: no more flushes or lease renewals (a renewal after the
        release would hold the lease for a successor to wait out); unless the store hangs,
        let the flush loop end between operations rather than cancel it inside one."""
        self._closing = True
        if failure is None or isinstance(failure, LeaseLostError):
            with contextlib.suppress(Exception):
                self.writer.submit(self._end_flush_loop).result(FLUSH_LOOP_END_SECS + 1.0)

    def _close_pause(self, deadline: float) -> float:
        """Between two final-flush attempts on a store that is down: a probe interval, never
        past the deadline."""
        return max(0.0, min(self.persistence.probe_interval_secs, deadline - time.monotonic()))

    def _stop_writer(self, failure: StoreError | None) -> None:
        """Stop the writer (bounded); raise what close() ends with: the lease lost, or what
        could not be saved, counted after the writer stopped (a flush it cancelled has put
        its rows back; one stuck where the cancel did not reach is counted in flight)."""
        self._closing = True
        hung = failure is not None and not isinstance(failure, LeaseLostError)
        stopped = self.writer.stop(WRITER_STOP_SECS, abandon=True) if hung else self.writer.stop()
        if not stopped:
            log.warning(
                "agent %r: the store's writer thread did not stop within %g s (stuck on the "
                "store); left to end with the process",
                self.agent_name, WRITER_STOP_SECS,
            )  # fmt: skip
        dropped = self.rows.dropped
        if any(dropped.values()):
            log.warning(
                "agent %r: %d experiences and %d decisions were shed while the store could "
                "not take them (max_pending_mb = %g)",
                self.agent_name, dropped["experiences"], dropped["decisions"],
                self.persistence.max_pending_mb,
            )  # fmt: skip
        if failure is None:
            return
        if isinstance(failure, LeaseLostError):
            raise failure
        unsaved = self.unsaved
        error = StoreError(
            f"agent {self.agent_name!r}: the final flush did not complete within "
            f"close_timeout_secs = {self.persistence.close_timeout_secs:g} s; not saved: "
            f"{sum(unsaved.values())} rows ({unsaved['episodes']} episodes, "
            f"{unsaved['decisions']} decisions, {unsaved['experiences']} experiences, "
            f"{unsaved['metrics']} policy metrics) and {self.unsaved_cells} Q cells "
            f"(last error: {failure})"
        )
        raise error

    async def _end_flush_loop(self, engine: AsyncEngine) -> None:
        """On the writer: wake the flush loop (``_closing`` is set) and wait for it to return
        (a task cancelled in the middle of a unit of work logs SQLAlchemy's "Exception during
        reset" traceback when its connection goes back to the pool)."""
        task, kick = self._flush_task, self._kick
        if task is None or task.done() or kick is None:
            return
        kick.set()
        await asyncio.wait({task}, timeout=FLUSH_LOOP_END_SECS)

    async def _release_lease(self, engine: AsyncEngine) -> None:
        assert self.agent_id is not None
        async with self._unit_of_work(engine, "releasing the learner lease") as session:
            await AgentRepository(session).release_lease(self.agent_id, self.holder)

    async def __aenter__(self) -> AgentStore:
        if self.agent_id is None:
            await self.load()
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def replace_table(
        self,
        q_values: np.ndarray[Any, np.dtype[np.float64]],
        visits: np.ndarray[Any, np.dtype[np.int64]],
        epsilon: float,
        updates: int,
        variances: np.ndarray[Any, np.dtype[np.float64]] | None = None,
    ) -> None:
        """Replace the agent's whole table (a model-file import, learner role; ``variances``
        None: unknown); the next flush makes the stored agent exactly this table."""
        self._require_loaded()
        if variances is None:
            variances = np.full(q_values.shape, np.nan)
        restore_agent(
            self.agent,
            StoredTable(
                q_values, visits, variances, epsilon, updates, revision=0, applied_through=0
            ),
        )
        self.table.add(full_snapshot(self.agent, self.applied_through))

    async def allocate_seeds(self, count: int, first_seed: int) -> range:
        """``count`` training seeds no other process of this agent gets (StoreError if the
        store is down)."""
        agent_id = self._require_loaded()

        async def job(engine: AsyncEngine) -> int:
            async with self._unit_of_work(engine, "allocating training seeds") as session:
                return await AgentRepository(session).allocate_seeds(agent_id, count, first_seed)

        start = await self.writer.run(job)
        return range(start, start + count)

    async def fetch_and_apply(self) -> int:
        """Learner: fetch the queued transitions after the last one fetched and apply them
        now, in order; returns how many were learned (whole episodes). (A dedicated learner
        calls this in a loop; the training loop's learner gets them after each flush.)"""
        self._require_loaded()
        await self.writer.run(self._fetch)
        return self._apply_inbox()

    # ---- app thread: hand-over -------------------------------------------------------------

    async def _sync_loop(self) -> None:
        assert self._app_wake is not None
        interval = self.persistence.save_interval_secs
        due = time.monotonic() + interval
        while True:
            await wait_event(self._app_wake, due - time.monotonic())
            self._app_wake.clear()
            if time.monotonic() >= due:
                self._hand_over()
                self._wake_writer()
                due = time.monotonic() + interval
            else:  # woken by the writer: new transitions or a newer published table
                self._apply_inbox()
                self._apply_refresh()

    def _hand_over(self) -> None:
        """On the agent's thread: apply what the writer brought, hand the table over."""
        if self.role is Role.ACTOR:
            self._apply_refresh()
            return
        self._apply_inbox()
        if self.lease_lost is not None:
            return
        snapshot = take_snapshot(self.agent, self.applied_through)
        self.rows.seal()  # rows and table of the same moment go out together
        scalars = (snapshot.epsilon, snapshot.updates, snapshot.applied_through)
        if snapshot.cells.size or scalars != self._last_scalars:
            self.table.add(snapshot)
            self._last_scalars = scalars

    def _apply_inbox(self) -> int:
        """Apply what the writer fetched; returns how many transitions were learned (an
        episode's count once it ends: the transitions of one still in progress wait in the
        assembler and count, like ``applied_through``, when its last one arrives)."""
        applied = 0
        while self._inbox:
            hold = self.hold_after_episodes
            if hold is not None and self.episodes_applied >= hold and not self._episodes.pending:
                break
            item = self._inbox.popleft()
            waiting = self._episodes.pending
            if not self._episodes.apply(self.agent, item, self.keys):
                self.transitions_rejected += 1 + waiting  # the episode in progress is dropped
            elif not self._episodes.pending:
                applied += waiting + 1
                self.episodes_applied += 1
            if not self._episodes.pending:  # an episode counts as applied once it is learned
                self.applied_through = item.seq
        self.transitions_applied += applied
        return applied

    def _apply_refresh(self) -> None:
        table, self._refresh = self._refresh, None
        if table is not None:
            restore_agent(self.agent, table)

    def _wake_app(self) -> None:
        """From the writer thread."""
        loop, wake = self._app_loop, self._app_wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def _wake_writer(self) -> None:
        kick = self._kick
        if kick is not None and self.writer.running:
            with contextlib.suppress(RuntimeError):
                self.writer.call(kick.set)

    # ---- writer thread: flushes, probes, lease ---------------------------------------------

    async def _flush_loop(self) -> None:
        assert self._kick is not None
        p = self.persistence
        renew_every = p.learner_lease_secs / 3
        next_flush = time.monotonic() + p.save_interval_secs
        next_renew = time.monotonic() + renew_every
        engine = self.writer.engine
        while True:
            now = time.monotonic()
            if not self.up:
                timeout = p.probe_interval_secs
            else:
                timeout = next_flush - now
                if self.role is Role.LEARNER:
                    timeout = min(timeout, next_renew - now)
            await wait_event(self._kick, timeout)
            kicked = self._kick.is_set()
            self._kick.clear()
            if self._closing:
                return  # close(): its final flush is done (or abandoned)
            if self.lease_lost is not None:
                self._fail_waiters(self.lease_lost)
                return
            if not self.up and not await self._probe(engine):
                self._fail_waiters(StoreError(f"store down: {self.last_error}"))
                continue
            now = time.monotonic()
            due = kicked or not self.up or now >= next_flush
            if not due:
                if self.role is Role.LEARNER and now >= next_renew:
                    await self._renew(engine)
                    next_renew = time.monotonic() + renew_every
                continue
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            try:
                async with self._bounded(f"flushing agent {self.agent_name!r}"):
                    result = await self._flush_once(engine)
            except LeaseLostError as exc:
                self.lease_lost = exc
                log.error("agent %r: %s", self.agent_name, exc)
                self._resolve(waiters, exc)
                self._wake_app()
                return
            except StoreError as exc:
                self._went_down(exc)
                self._resolve(waiters, exc)
                continue
            self._came_back(result)
            self._resolve(waiters, result)
            next_flush = time.monotonic() + p.save_interval_secs
            if self.role is Role.LEARNER:
                next_renew = time.monotonic() + renew_every
                await self._fetch_quietly(engine)
            self._wake_app()

    async def _flush_once(self, engine: AsyncEngine) -> FlushResult:
        assert self.agent_id is not None
        agent_id = self.agent_id
        started = time.perf_counter()
        learner = self.role is Role.LEARNER
        with self._flight_lock:
            batch = self.rows.take(sealed_only=learner)
            snapshot = self.table.take() if learner else None
            self._in_flight = (batch, snapshot)
        revision: int | None = None
        refreshed: StoredTable | None = None
        try:
            # the rows are converted before the transaction: it holds SQLite's write lock,
            # which every other process's flush waits for, only for the inserts
            rows = prepare_appends(
                engine.dialect.name, agent_id, episodes=batch.episodes,
                decisions=batch.decisions, experiences=batch.experiences, metrics=batch.metrics,
            )  # fmt: skip
            async with session_factory(engine)() as session, session.begin():
                if self.role is Role.LEARNER:
                    if snapshot is not None:
                        revision = await publish(
                            session, agent_id, self.keys, snapshot, holder=self.holder,
                            lease_secs=self.persistence.learner_lease_secs,
                        )  # fmt: skip
                    else:
                        await self._renew_in(session)
                await self._write_rows(session, agent_id, rows, snapshot)
                if self.role is Role.ACTOR:
                    refreshed = await read_table(session, agent_id, self.keys, self._published)
        except BaseException as exc:
            with self._flight_lock:
                shed = self.rows.put_back(batch)
                if snapshot is not None:
                    self.table.put_back(snapshot)
                self._in_flight = None
            if shed:
                self._report_shed()
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            raise StoreError(
                f"flush of agent {self.agent_name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        with self._flight_lock:
            self._in_flight = None
        if snapshot is not None:
            self._published_through = snapshot.applied_through
        if refreshed is not None and (
            self._published is None or refreshed.revision != self._published.revision
        ):
            self._published = refreshed
            self._refresh = refreshed.copy()
        return FlushResult(
            revision=revision,
            q_rows=0 if snapshot is None else int(snapshot.cells.size),
            episodes=len(batch.episodes),
            decisions=len(batch.decisions),
            experiences=len(batch.experiences),
            policy_metrics=len(batch.metrics),
            seconds=time.perf_counter() - started,
        )

    async def _write_rows(
        self, session: Any, agent_id: int, rows: PreparedAppends, snapshot: TableSnapshot | None
    ) -> None:
        queued = len(rows.experiences.rows)
        if queued and self.role is Role.ACTOR:
            first_seq = await AgentRepository(session).queue_transitions(agent_id, queued)
            rows = dataclasses.replace(
                rows,
                experiences=rows.experiences.with_column(
                    "seq", range(first_seq, first_seq + queued)
                ),
            )
        await rows.insert(session)
        keep = self.experiences_retained
        if queued and keep is not None and self.role is Role.LEARNER:
            # never a queued transition the stored table does not reflect yet
            applied = self._published_through if snapshot is None else snapshot.applied_through
            await ExperienceRepository(session).prune(agent_id, keep, applied_through=applied)

    async def _renew_in(self, session: Any) -> None:
        assert self.agent_id is not None
        other = await AgentRepository(session).acquire_lease(
            self.agent_id, self.holder, self.persistence.learner_lease_secs
        )
        if other is not None:
            raise LeaseLostError(
                f"agent {self.agent_name!r}: learner lease taken over by {other}; this "
                "process stopped publishing"
            )

    async def _renew(self, engine: AsyncEngine) -> None:
        try:
            async with self._unit_of_work(engine, "renewing the learner lease") as session:
                await self._renew_in(session)
        except LeaseLostError as exc:
            self.lease_lost = exc
            log.error("%s", exc)
            self._wake_app()
        except StoreError as exc:
            self._went_down(exc)

    async def _fetch(self, engine: AsyncEngine) -> int:
        """(``engine`` unused: the writer's reader, which on SQLite never takes the write lock
        and so never holds up an actor's flush however often the learner polls.)"""
        assert self.agent_id is not None and self._fetch_lock is not None
        async with self._fetch_lock:
            fetching = "reading queued transitions"
            reader = self.writer.reader
            async with self._unit_of_work(reader, fetching, write=False) as session:
                rows = await ExperienceRepository(session).queued_after(
                    self.agent_id, self._fetched_through, FETCH_LIMIT
                )
            if rows:
                self._inbox.extend(rows)
                self._fetched_through = rows[-1].seq
            return len(rows)

    async def _fetch_quietly(self, engine: AsyncEngine) -> None:
        try:
            await self._fetch(engine)
        except StoreError as exc:
            self._went_down(exc)

    async def _probe(self, engine: AsyncEngine) -> bool:
        try:
            # a connection takes a few round trips: allow PROBE_TIMEOUT_SECS at least
            timeout = max(PROBE_TIMEOUT_SECS, self.persistence.probe_interval_secs)
            await check_connection(engine, timeout_secs=timeout)
        except StoreError as exc:
            self.last_error = str(exc)
            self._log_still_down()
            return False
        return True

    def _went_down(self, exc: StoreError) -> None:
        self.failed_flushes += 1
        self.last_error = str(exc)
        if self.up:
            self.up = False
            self.down_since = time.monotonic()
            self._down_logged_at = self.down_since
            trouble = (
                "the store refused the rows (a constraint or a value: retrying will not help "
                "until its cause is removed)"
                if isinstance(exc.__cause__, IntegrityError | DataError)
                else "store unreachable"
            )
            log.warning(
                "agent %r: %s (%s); probing every %g s, %d rows (%.1f MiB) waiting in memory",
                self.agent_name, trouble, exc, self.persistence.probe_interval_secs,
                self.pending_rows, self.pending_bytes / 2**20,
            )  # fmt: skip

    def _log_still_down(self) -> None:
        now = time.monotonic()
        if now - self._down_logged_at < DOWN_LOG_EVERY_SECS or self.down_since is None:
            return
        self._down_logged_at = now
        log.warning(
            "agent %r: store still down after %.0f s; %d rows (%.1f MiB) waiting, shed so far "
            "%d; last error: %s",
            self.agent_name, now - self.down_since, self.pending_rows, self.pending_bytes / 2**20,
            sum(self.rows.dropped.values()), self.last_error,
        )  # fmt: skip

    def _came_back(self, result: FlushResult) -> None:
        self.flushes += 1
        self.last_flush = result
        self.last_commit_at = time.time()
        if not self.up:
            down_for = time.monotonic() - (self.down_since or time.monotonic())
            log.warning(
                "agent %r: store back after %.1f s; flushed %d rows",
                self.agent_name, down_for,
                result.episodes + result.decisions + result.experiences + result.policy_metrics,
            )  # fmt: skip
        self.up = True
        self.down_since = None
        self.last_error = None

    def _resolve(self, waiters: list[concurrent.futures.Future[FlushResult]], outcome: Any) -> None:
        for waiter in waiters:
            if waiter.done():
                continue
            if isinstance(outcome, BaseException):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)

    def _fail_waiters(self, exc: StoreError) -> None:
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        self._resolve(waiters, exc)

    # ---- helpers ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _bounded(self, what: str) -> AsyncIterator[None]:
        """Bound one operation of the writer by ``command_timeout_secs``: a server or network
        that hangs raises no error, so without this a flush could wait for ever. An overrun is
        a StoreError (the batch goes back; the store counts as down and is probed)."""
        bound = asyncio.timeout(self.command_timeout_secs)
        try:
            async with bound:
                yield
        except TimeoutError:
            if not bound.expired():
                raise
            raise StoreError(
                f"{what}: no answer from the store within database.command_timeout_secs = "
                f"{self.command_timeout_secs:g} s; abandoned"
            ) from None

    @contextlib.asynccontextmanager
    async def _unit_of_work(
        self, engine: AsyncEngine, what: str, *, write: bool = True
    ) -> AsyncIterator[AsyncSession]:
        """``unit_of_work``, bounded in time (``_bounded``)."""
        async with self._bounded(what), unit_of_work(engine, what, write=write) as session:
            yield session

    def _refill_replay(self, experiences: Sequence[ExperienceRecord]) -> None:
        buffer = self.agent.replay_buffer  # type: ignore[attr-defined]
        actions = {label: i for i, label in enumerate(ACTION_LABELS)}
        for e in experiences:
            s = self.keys.state_index(e.state_key)
            s_next = self.keys.state_index(e.next_state_key)
            a = actions.get(e.action)
            if s is not None and s_next is not None and a is not None:
                buffer.add(s, a, e.reward, s_next, e.terminated, e.truncated, next_base_index(e))

    def _require_loaded(self) -> int:
        if self.agent_id is None:
            raise StoreError(f"agent {self.agent_name!r}: call load() before flushing")
        return self.agent_id
