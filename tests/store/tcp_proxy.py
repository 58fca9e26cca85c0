"""A TCP proxy the outage tests cut, stall and restore (never the shared PostgreSQL server
itself).

Runs in its own thread and event loop, so a test or a training process connecting through
it sees a real network failure:

- ``cut()`` closes every open connection and refuses new ones until ``restore()`` (a server
  that is gone: the client gets an error at once);
- ``stall()`` keeps every connection open but forwards nothing more, either way, and new
  connections are accepted and then left silent (a server that hangs, a network that drops
  packets: the client gets no error, only silence, until its own timeouts fire);
- ``stall_on(marker)``: forward normally until a client sends bytes containing ``marker``
  (e.g. ``b"COPY"``), then stall at that point, mid-statement (``stalled`` is set);
- ``restore()`` ends a cut or a stall (stalled connections are closed: their state is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.connections = 0
        self._marker: bytes | None = None
        self.stalled = threading.Event()  # set while nothing is forwarded

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()

        async def finish() -> None:  # the pipes end once their connections are dropped
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                await asyncio.wait(tasks, timeout=2)

        self._run(finish())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    def restore(self) -> None:
        async def start() -> None:
            if self.stalled.is_set():
                self._drop_all()
            self.stalled.clear()
            self._marker = None
            if self._server is None:
                self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

        self._run(start())

    def cut(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            self._drop_all()

        self._run(stop())

    def stall(self) -> None:
        self.stalled.set()

    def stall_on(self, marker: bytes) -> None:
        self._marker = marker

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        if self.stalled.is_set():
            return  # accepted, never answered (held open until restore() or cut())
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, client: bool) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    marker = self._marker
                    if client and marker is not None and marker in data:
                        self.stalled.set()
                    while self.stalled.is_set() and not dst.transport.is_closing():
                        await asyncio.sleep(0.05)  # silence until the connection is dropped
                    if dst.transport.is_closing():
                        break
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        finally:
            self._writers.difference_update((writer, up_writer))
