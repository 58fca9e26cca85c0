"""The store's writer thread: its own event loop and its own engine (connections), so that the
store's I/O (flushes, retries, probes, lease renewals) runs beside a CPU-bound learner instead
of between its steps.

    writer = StoreWriter(engine.url, connect_timeout_secs=10, name="rlexec-store-desk-1")
    writer.start()
    result = await writer.run(lambda engine: some_coroutine(engine))   # from any event loop
    writer.stop()

A CPU-bound learner holds the GIL; each of a flush's many thread hops (writer loop <-> the
driver's thread) then waits up to the interpreter's switch interval, so ``start()`` lowers it
to ``SWITCH_INTERVAL_SECS`` (process-wide) to keep a flush short.

The thread is a daemon: a process that ends without ``stop()`` is not held up by it (what
was not flushed is then lost, as after a crash).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import (
    DEFAULT_COMMAND_TIMEOUT_SECS,
    create_engine,
    dispose_engine,
)

T = TypeVar("T")
SWITCH_INTERVAL_SECS = 0.001
ABANDON_WAIT_SECS = 0.2


class StoreWriter:
    def __init__(
        self,
        url: URL,
        *,
        connect_timeout_secs: float,
        command_timeout_secs: float = DEFAULT_COMMAND_TIMEOUT_SECS,
        name: str,
    ) -> None:
        self._url = url
        self._connect_timeout = connect_timeout_secs
        self._command_timeout = command_timeout_secs
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None
        self._abandon = False
        self._busy: set[Any] = set()  # connections checked out (see _track_checkouts)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(f"{self.name}: writer thread not started")
        return self._loop

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError(f"{self.name}: writer thread not started")
        return self._engine

    @property
    def reader(self) -> AsyncEngine:
        """The engine for read-only units of work (SQLite: never takes the write lock)."""
        if self._reader is None:
            raise RuntimeError(f"{self.name}: writer thread not started")
        return self._reader

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECS))
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                self._engine = create_engine(
                    self._url,
                    connect_timeout_secs=self._connect_timeout,
                    command_timeout_secs=self._command_timeout,
                )
                # SQLite: reads that must not take the write lock (a learner polling its
                # queue would hold up every actor's flush); PostgreSQL readers never block
                self._reader = (
                    create_engine(
                        self._url,
                        connect_timeout_secs=self._connect_timeout,
                        command_timeout_secs=self._command_timeout,
                        read_only=True,
                    )
                    if self._url.drivername.startswith("sqlite")
                    else self._engine
                )
                for engine in {id(e): e for e in (self._engine, self._reader)}.values():
                    self._track_checkouts(engine)
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                # bounded: closing a connection to a server that hangs waits for an answer
                engines = [self._engine]
                if self._reader is not None and self._reader is not self._engine:
                    engines.append(self._reader)
                for engine in engines:
                    with contextlib.suppress(Exception):
                        loop.run_until_complete(dispose_engine(engine, abandon=self._abandon))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def _track_checkouts(self, engine: AsyncEngine) -> None:
        """Remember the connections in use (checked out of the pool), so that an abandoning
        stop can cut them."""
        busy = self._busy
        event.listen(engine.sync_engine, "checkout", lambda conn, *_: busy.add(conn))
        event.listen(engine.sync_engine, "checkin", lambda conn, *_: busy.discard(conn))

    def _cut_busy_connections(self) -> None:
        """On the writer's loop: abort the connections in use (asyncpg's ``terminate()``:
        the socket closed, no goodbye), so that a job stuck on a server that hangs fails at
        once and its cleanup (the rollback, putting its rows back) runs instead of waiting
        for an answer that never comes."""
        for conn in list(self._busy):
            driver = getattr(conn, "driver_connection", None)
            terminate = getattr(driver, "terminate", None)
            if callable(terminate):
                with contextlib.suppress(Exception):
                    terminate()

    def submit(self, job: Callable[[AsyncEngine], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run ``job(engine)`` on the writer's loop; a future of its result (thread-safe)."""

        async def run() -> T:
            return await job(self.engine)

        return asyncio.run_coroutine_threadsafe(run(), self.loop)

    async def run(self, job: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """Await ``job(engine)`` run on the writer's loop, from another event loop. A caller
        cancelled while it waits stops waiting, but the job runs to its end: cancelled there,
        it could be interrupted inside a driver call (a ``BEGIN IMMEDIATE`` waiting for the
        lock) whose transaction then stays open on a pooled connection, and on SQLite that
        connection holds the write lock against every later flush."""
        done = asyncio.wrap_future(self.submit(job))
        done.add_done_callback(_drop_unawaited)
        return await asyncio.shield(done)

    def call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` on the writer's loop (thread-safe)."""
        self.loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout_secs: float = 10.0, *, abandon: bool = False) -> bool:
        """Cancel what still runs on the writer's loop, dispose its engine, end the thread;
        waits at most ``timeout_secs`` for that. ``abandon``: the store hangs; the jobs get
        ``ABANDON_WAIT_SECS`` to end and the connections are dropped without the goodbye a
        hung server would never answer. False: the thread did not end in time (a job stuck
        where a cancel does not reach; the daemon thread is left to the process's exit)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            return True
        started = time.monotonic()
        self._abandon = abandon
        wait = ABANDON_WAIT_SECS if abandon else timeout_secs / 2

        async def shutdown() -> None:
            if abandon:
                self._cut_busy_connections()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            # a task whose cleanup waits on a hung connection must not hold the caller (not
            # gather: a cancelled gather still waits for every task to end)
            loop = asyncio.get_running_loop()
            if tasks:
                await asyncio.wait(tasks, timeout=wait)
            stuck = {t for t in tasks if not t.done()}
            if not stuck:
                loop.stop()
                return
            # abandoned (e.g. a connection attempt to a server that accepts and says nothing,
            # until connect_timeout_secs): the loop runs on until they end, then stops; its
            # async generators are not torn down under them (tracebacks on stderr)

            def ended(task: asyncio.Task[Any]) -> None:
                stuck.discard(task)
                if not stuck:
                    loop.stop()

            for task in stuck:
                task.add_done_callback(ended)

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(max(0.0, timeout_secs - (time.monotonic() - started)))
        self._thread = None
        self._loop = None
        return not thread.is_alive()


def _drop_unawaited(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a job whose caller stopped waiting (else asyncio logs it as never
    retrieved); the caller that still waits gets it through the shield."""
    if not future.cancelled():
        future.exception()
