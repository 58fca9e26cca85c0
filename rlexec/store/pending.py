"""Rows waiting for the store: a pure, thread-safe buffer bounded in bytes (no I/O).

The decision path appends episodes, decisions, experiences and policy metrics here (memory
only); the store's writer takes everything out for one flush and puts it back at the front if
the flush fails, so order is kept and nothing is lost by a failed write.

The bound (``persistence.max_pending_mb``) is in bytes. Each row is charged an estimate of its
memory, measured once per kind on its first record (the object, its fields, one deque slot;
shared objects such as action labels are counted every time, so the estimate errs high).
``scripts/bench/bench_drills.py`` compares it with the process's real memory per pending row.

Shedding policy when the bound is passed (the store is down, or slower than the agent):
- episodes and policy metrics are never shed (a few per episode);
- the ``shed_order`` kinds are shed oldest first, the first kind until it is empty, then the
  next. A learner sheds experiences first (it has already learned from them; they only refill
  the replay buffer), then decisions; an actor sheds decisions first (audit rows), then
  experiences (the transitions its learner needs).
Every shed row is counted in ``dropped`` (by kind); ``append`` returns how many it shed so the
caller can report it.

``seal()`` marks the rows appended so far; ``take(sealed_only=True)`` takes only those. A
learner seals at the moment it snapshots its table, so one flush writes rows and table of the
same moment (after a crash: sum of visits = updates = experiences = decisions).
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from rlexec.records import DecisionRecord, EpisodeRecord, ExperienceRecord, PolicyMetricsRecord

KINDS = ("episodes", "decisions", "experiences", "metrics")
SHEDDABLE = ("experiences", "decisions")
DEQUE_SLOT_BYTES = 8


@dataclass
class PendingBatch:
    """Everything taken out for one flush, in append order per kind."""

    episodes: list[EpisodeRecord] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    experiences: list[ExperienceRecord] = field(default_factory=list)
    metrics: list[PolicyMetricsRecord] = field(default_factory=list)

    def rows(self) -> int:
        return len(self.episodes) + len(self.decisions) + len(self.experiences) + len(self.metrics)


def record_bytes(record: Any) -> int:
    """An estimate of the memory one record holds: the object and each field's value (the
    items of a tuple or mapping too), plus one deque slot."""
    total = sys.getsizeof(record) + DEQUE_SLOT_BYTES
    for f in fields(record):
        value = getattr(record, f.name)
        total += sys.getsizeof(value)
        if isinstance(value, tuple):
            total += sum(sys.getsizeof(v) for v in value)
        elif isinstance(value, Mapping):
            total += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in value.items())
    return total


class PendingRows:
    """The bounded buffer (see the module doc). All methods are thread-safe."""

    def __init__(self, max_bytes: int, shed_order: tuple[str, ...] = SHEDDABLE) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes = {max_bytes}: expected >= 1")
        if sorted(shed_order) != sorted(SHEDDABLE):
            raise ValueError(f"shed_order = {shed_order!r}: expected an order of {SHEDDABLE}")
        self.max_bytes = max_bytes
        self.shed_order = shed_order
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Any]] = {kind: deque() for kind in KINDS}
        self._row_bytes: dict[str, int] = {}
        self._bytes = 0
        self._sealed: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.dropped: dict[str, int] = dict.fromkeys(SHEDDABLE, 0)

    @property
    def rows(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    @property
    def bytes(self) -> int:
        """The estimated memory of the rows held."""
        return self._bytes

    def counts(self) -> dict[str, int]:
        """Rows held, by kind."""
        with self._lock:
            return {kind: len(q) for kind, q in self._queues.items()}

    def row_bytes(self, kind: str) -> int | None:
        """The per-row estimate of ``kind`` (None before its first record)."""
        return self._row_bytes.get(kind)

    def append(self, kind: str, record: Any) -> int:
        """Add one row of ``kind``; returns the number of rows shed to stay within the bound."""
        with self._lock:
            size = self._row_bytes.get(kind)
            if size is None:
                size = self._row_bytes[kind] = record_bytes(record)
            self._queues[kind].append(record)
            self._bytes += size
            return self._shed() if self._bytes > self.max_bytes else 0

    def seal(self) -> None:
        """Mark everything held now as ready for ``take(sealed_only=True)``."""
        with self._lock:
            self._sealed = {kind: len(q) for kind, q in self._queues.items()}

    def take(self, *, sealed_only: bool = False) -> PendingBatch:
        """The rows held (all, or those sealed), for one flush; they leave the buffer."""
        with self._lock:
            taken: dict[str, list[Any]] = {}
            for kind, queue in self._queues.items():
                n = self._sealed[kind] if sealed_only else len(queue)
                taken[kind] = [queue.popleft() for _ in range(n)]
                self._bytes -= n * self._row_bytes.get(kind, 0)
            self._sealed = dict.fromkeys(KINDS, 0)
            return PendingBatch(**taken)

    def put_back(self, batch: PendingBatch) -> int:
        """Return a batch whose flush failed to the front (older than anything appended since);
        returns the number of rows shed to stay within the bound."""
        with self._lock:
            for kind in KINDS:
                rows: list[Any] = getattr(batch, kind)
                if rows:
                    self._queues[kind].extendleft(reversed(rows))
                    self._bytes += len(rows) * self._row_bytes.get(kind, 0)
                    self._sealed[kind] += len(rows)
            return self._shed() if self._bytes > self.max_bytes else 0

    def _shed(self) -> int:
        shed = 0
        for kind in self.shed_order:
            queue = self._queues[kind]
            size = self._row_bytes.get(kind, 0)
            while queue and self._bytes > self.max_bytes:
                queue.popleft()
                self._bytes -= size
                self._sealed[kind] = max(0, self._sealed[kind] - 1)
                self.dropped[kind] += 1
                shed += 1
        return shed
