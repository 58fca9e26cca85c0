"""A caller cancelled while its job runs on the store's writer thread stops waiting, but the job
runs to its end: cancelling it there could interrupt a ``BEGIN IMMEDIATE`` waiting for SQLite's
lock, whose transaction would then stay open on a pooled connection and hold the write lock
against every later flush (seen in CI: the final flush of a training run failed after 60 s)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.store.engine import parse_url
from rlexec.store.migrate import upgrade_database
from rlexec.store.repositories import AgentRepository, unit_of_work
from rlexec.store.writer import StoreWriter


async def test_a_cancelled_caller_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "rlexec.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_database(url)
    writer = StoreWriter(parse_url(url), connect_timeout_secs=5, name="test-writer")
    writer.start()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock

        async def job(engine: AsyncEngine) -> int:
            async with unit_of_work(engine, "creating an agent") as session:  # waits for it
                return (await AgentRepository(session).get_or_create("a", {}, 0.3)).id

        caller = asyncio.create_task(writer.run(job))
        await asyncio.sleep(0.5)  # the job waits in BEGIN IMMEDIATE
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)
        holder.execute("COMMIT")  # the lock is free: the job goes on and commits
        deadline = time.monotonic() + 10
        while not holder.execute("SELECT name FROM agents").fetchall():
            assert time.monotonic() < deadline, "the cancelled caller's job never committed"
            await asyncio.sleep(0.05)
        other = sqlite3.connect(path, isolation_level=None, timeout=5)
        try:
            started = time.monotonic()
            other.execute("BEGIN IMMEDIATE")  # fails after 5 s if a transaction stayed open
            waited = time.monotonic() - started
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert waited < 1
    finally:
        holder.close()
        writer.stop()
