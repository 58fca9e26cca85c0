"""Training seeds allocated through the store, so that no two processes (actors, or runs of
one agent) ever train on the same seed.

The allocator takes ``persistence.seed_block`` seeds at a time from the agent's row
(``agents.next_training_seed``) and fetches the next block in the background when half of
the current one is used. If the store is down when a block runs out, training goes on with
the seeds right after it and claims them when the store answers again: if nobody took seeds
meanwhile the claim gets exactly those seeds; otherwise a warning says how many seeds may
repeat another process's (a partition during which others kept allocating).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from rlexec.errors import InvalidInputError, StoreError
from rlexec.store.write_behind import AgentStore

log = logging.getLogger("rlexec.training")


class SeedAllocator:
    def __init__(self, store: AgentStore, *, block: int, first_seed: int, limit: int) -> None:
        self.store = store
        self.block = block
        self.first_seed = first_seed
        self.limit = limit
        self._current = range(0)
        self._pos = 0
        self._next: range | None = None
        self._prefetch: asyncio.Task[None] | None = None
        self._unclaimed: list[int] = []  # used past a block while the store was down
        self.first: int | None = None
        self.last: int | None = None

    async def start(self) -> None:
        """Take the first block (the store must answer)."""
        self._current = await self._allocate(self.block)
        self._pos = 0

    async def _allocate(self, count: int) -> range:
        seeds = await self.store.allocate_seeds(count, self.first_seed)
        if seeds.start >= self.limit:
            raise InvalidInputError(
                f"agent {self.store.agent_name!r}: the next training seed {seeds.start} reaches "
                f"evaluation.validation_first_seed = {self.limit} (held-out seeds); raise "
                "evaluation.validation_first_seed (and evaluation.first_seed above it)"
            )
        return range(seeds.start, min(seeds.stop, self.limit))

    def next(self) -> int | None:
        """The next seed to train on (None once the held-out range is reached)."""
        if self._pos >= len(self._current):
            if self._next is not None:
                self._current, self._next, self._pos = self._next, None, 0
            else:
                seed = self._current.stop if not self._unclaimed else self._unclaimed[-1] + 1
                if seed >= self.limit:
                    return None
                if not self._unclaimed:
                    log.warning(
                        "agent %r: seed block used up while the store is down; going on with "
                        "seeds from %d (claimed when the store answers)",
                        self.store.agent_name, seed,
                    )  # fmt: skip
                self._unclaimed.append(seed)
                self._schedule()
                return self._note(seed)
        seed = self._current[self._pos]
        self._pos += 1
        # prefetch the next block at half of this one, unless this one ends at the held-out
        # seeds (no block after it can be used)
        if len(self._current) - self._pos < self.block // 2 and self._current.stop < self.limit:
            self._schedule()
        return self._note(seed)

    def _note(self, seed: int) -> int:
        if self.first is None:
            self.first = seed
        self.last = seed
        return seed

    def _schedule(self) -> None:
        if self._prefetch is None or self._prefetch.done():
            self._prefetch = asyncio.get_running_loop().create_task(self._fetch_next())

    async def _fetch_next(self) -> None:
        with contextlib.suppress(StoreError):
            if self._unclaimed:
                used = self._unclaimed
                claimed = await self._allocate(len(used))
                if claimed.start != used[0]:
                    log.warning(
                        "agent %r: %d seeds (%d..%d) were used while the store was down and "
                        "others allocated meanwhile: they may repeat another process's seeds",
                        self.store.agent_name, len(used), used[0], used[-1],
                    )  # fmt: skip
                self._unclaimed = []
            if self._next is None:
                self._next = await self._allocate(self.block)

    async def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError, InvalidInputError):
                await self._prefetch
