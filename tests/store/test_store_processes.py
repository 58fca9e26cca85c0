"""Drills with the real CLI and the real agent: kill -9 at random moments, SIGTERM, an outage
through a TCP proxy the test cuts (never the shared server). After each: integrity, the
counts that must match (sum of visits = updates = experiences = decisions), rows lost, and
the learning lost after a kill against the save interval."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from rlexec.store.engine import create_engine
from rlexec.store.migrate import upgrade_database
from rlexec.store.write_behind import WRITER_STOP_SECS
from tests.store import children
from tests.store.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
SAVE_INTERVAL = 0.5
# the promise: one save interval plus one flush, and the table is handed over between
# episodes (measured with 2 CPU burners: flush <= 0.3 s, episode <= 0.3 s); generously
FLUSH_ALLOWANCE = 1.0
ENV = {
    "RLEXEC_PERSISTENCE__SAVE_INTERVAL_SECS": str(SAVE_INTERVAL),
    "RLEXEC_PERSISTENCE__LEARNER_LEASE_SECS": "1.0",
    "RLEXEC_PERSISTENCE__PROBE_INTERVAL_SECS": "0.1",
    "RLEXEC_SIMULATOR__HORIZON_STEPS": "120",
}


def start_train(
    url: str, tmp: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return children.start(
        [sys.executable, "-m", "rlexec.cli.main", "train", "--agent", "drill", "--no-progress",
         "--database-url", url, *extra],
        cwd=tmp,
        env={**os.environ, **ENV, **(env or {}), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def _timestamp(value: object) -> float:
    if isinstance(value, str):  # SQLite: text in UTC
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime), value
    return value.timestamp()


async def state(url: str) -> dict[str, float]:
    """What the store holds for the agent 'drill' (and integrity on SQLite). A read-only
    engine: a reader that took SQLite's write lock (``BEGIN IMMEDIATE``) for these full scans
    would hold up the child's flush, and that wait would count as learning lost."""
    engine = create_engine(url, pool=False, read_only=True)
    sql = {
        "visits": "SELECT coalesce(sum(visits), 0) FROM q_values",
        "updates": "SELECT coalesce(max(updates), 0) FROM agents",
        "experiences": "SELECT count(*) FROM experiences",
        "decisions": "SELECT count(*) FROM decisions",
        "episodes": "SELECT count(*) FROM episodes",
        "seeds": "SELECT count(DISTINCT seed) FROM episodes",
        "revision": "SELECT coalesce(max(q_revision), 0) FROM agents",
    }
    try:
        async with engine.connect() as conn:
            out: dict[str, float] = {
                k: float((await conn.execute(sa.text(q))).scalar_one()) for k, q in sql.items()
            }
            # the newest learning step the store holds (rows and table are of one moment)
            newest = (await conn.execute(sa.text("SELECT max(decided_at) FROM decisions"))).scalar()
            if newest is not None:
                out["learned_until"] = _timestamp(newest)
            if url.startswith("sqlite"):
                ok = (await conn.execute(sa.text("PRAGMA integrity_check"))).scalar_one()
                assert ok == "ok"
                assert (await conn.execute(sa.text("PRAGMA foreign_key_check"))).all() == []
        return out
    finally:
        await engine.dispose()


async def revision(url: str) -> int:
    """The agent's published Q revision (0: none yet); cheap enough to poll."""
    engine = create_engine(url, pool=False, read_only=True)
    try:
        async with engine.connect() as conn:
            sql = "SELECT coalesce(max(q_revision), 0) FROM agents"
            return int((await conn.execute(sa.text(sql))).scalar_one())
    finally:
        await engine.dispose()


def consistent(s: dict[str, float]) -> None:
    # one online update per decision, each with its transition
    assert s["visits"] == s["updates"] == s["experiences"] == s["decisions"], s
    assert s["seeds"] == s["episodes"], s


def wait_for_commits(url: str, proc: subprocess.Popen[bytes], revisions: int = 1) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        try:
            if asyncio.run(revision(url)) >= revisions:
                return
        except Exception:  # the schema may not be there yet
            pass
        time.sleep(0.05)
    raise AssertionError("no commit within 30 s")


def clean_stderr(err: bytes) -> str:
    text = err.decode()
    assert "Traceback" not in text and "never retrieved" not in text, text[-3000:]
    return text


@pytest.fixture
def drill_url(db_url: str) -> str:
    """A database on each backend, migrated to head (rlexec commands never create the schema
    on PostgreSQL: ``rlexec db upgrade`` does)."""
    return db_url


def kill_drill(url: str, tmp_path: Path, rng: random.Random) -> float:
    """One kill -9 at a random moment; returns the learning lost: seconds from the newest
    decision the store holds to the kill."""
    try:
        before: dict[str, float] | None = asyncio.run(state(url))
    except Exception:  # a fresh database: the first run migrates it
        before = None
    proc = start_train(url, tmp_path, "--episodes", "1000000")
    wait_for_commits(url, proc, 1 + int(before["revision"]) if before else 1)
    time.sleep(rng.uniform(0.1, 1.5))
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait(timeout=10)
    after = asyncio.run(state(url))
    consistent(after)
    assert after["updates"] > (before["updates"] if before else 0)
    return killed_at - after["learned_until"]


@pytest.mark.parametrize("run", range(3))
def test_kill_9_loses_at_most_one_save_interval(drill_url: str, tmp_path: Path, run: int) -> None:
    rng = random.Random()
    lost = kill_drill(drill_url, tmp_path, rng)
    assert 0 <= lost <= SAVE_INTERVAL + FLUSH_ALLOWANCE, f"run {run}: {lost:.2f} s lost"
    # and the agent resumes (the killed learner's lease expires) with new seeds
    before = asyncio.run(state(drill_url))
    proc = start_train(drill_url, tmp_path, "--episodes", "3")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    clean_stderr(err)
    after = asyncio.run(state(drill_url))
    consistent(after)
    assert after["episodes"] == before["episodes"] + 3


@pytest.mark.slow
def test_many_kill_9s_in_a_row(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'drill.db'}"
    rng = random.Random()
    losses = [kill_drill(url, tmp_path, rng) for _ in range(10)]
    assert max(losses) <= SAVE_INTERVAL + FLUSH_ALLOWANCE, losses


def test_sigterm_saves_everything(drill_url: str, tmp_path: Path) -> None:
    proc = start_train(drill_url, tmp_path, "--episodes", "1000000")
    wait_for_commits(drill_url, proc)
    time.sleep(random.uniform(0.0, 0.5))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    clean_stderr(err)
    printed = out.decode()
    assert "stopped by signal" in printed
    episodes = int(printed.split(" episodes")[0].rsplit(" ", 1)[1])
    after = asyncio.run(state(drill_url))
    consistent(after)
    assert after["episodes"] == episodes  # no row lost on a clean stop


@pytest.mark.postgres
def test_outage_of_the_store_during_training(pg_empty_url: str, tmp_path: Path) -> None:
    asyncio.run(upgrade_database(pg_empty_url))
    database = pg_empty_url.rsplit("/", 1)[1]
    with TcpProxy() as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
        proc = start_train(url, tmp_path, "--episodes", "400")
        wait_for_commits(pg_empty_url, proc)
        proxy.cut()
        cut_at = asyncio.run(state(pg_empty_url))
        time.sleep(3.0)  # training goes on; flushes fail; probes every 0.1 s
        assert proc.poll() is None
        proxy.restore()
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    text = clean_stderr(err)
    lines = [x for x in text.splitlines() if "rlexec.store" in x]
    assert any("WARNING" in x and "unreachable" in x for x in lines), text[-2000:]
    assert any("store back after" in x for x in lines), text[-2000:]
    assert all(x[:4].isdigit() for x in lines)  # every line carries its time
    after = asyncio.run(state(pg_empty_url))
    consistent(after)
    assert after["episodes"] == 400 > cut_at["episodes"]  # nothing lost across the outage


STALL_CLOSE_TIMEOUT = 2.0


@contextlib.contextmanager
def training_through_proxy(
    admin_url: str, tmp: Path, env: dict[str, str], *args: str
) -> Iterator[tuple[TcpProxy, subprocess.Popen[bytes]]]:
    """``rlexec train`` on ``admin_url``'s database (migrated here) through a proxy the test
    cuts or stalls; yields once the first commit is in."""
    asyncio.run(upgrade_database(admin_url))
    database = admin_url.rsplit("/", 1)[1]
    with TcpProxy() as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
        proc = start_train(url, tmp, *args, env=env)
        wait_for_commits(admin_url, proc)
        yield proxy, proc


def stall_then_stop(admin_url: str, tmp: Path) -> tuple[float, int, str]:
    """Train through a proxy on ``admin_url``'s database (migrated here), stall the proxy at
    the next COPY (>= 2000 rows), SIGTERM: (seconds to exit, exit code, stderr)."""
    env = {"RLEXEC_PERSISTENCE__CLOSE_TIMEOUT_SECS": str(STALL_CLOSE_TIMEOUT),
           "RLEXEC_PERSISTENCE__SAVE_INTERVAL_SECS": "2.0"}  # fmt: skip
    with training_through_proxy(admin_url, tmp, env, "--episodes", "1000000") as (proxy, proc):
        proxy.stall_on(b"COPY")
        deadline = time.monotonic() + 30
        while not proxy.stalled.is_set():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        took, err = until_exit(proc)
        proxy.restore()
    return took, proc.returncode, err


def until_exit(proc: subprocess.Popen[bytes]) -> tuple[float, str]:
    """Seconds from now until ``proc`` exits, and its stderr."""
    started = time.monotonic()
    _out, err = proc.communicate(timeout=120)
    return time.monotonic() - started, err.decode()


@pytest.mark.postgres
def test_a_stalled_store_cannot_hang_the_stop(pg_empty_url: str, tmp_path: Path) -> None:
    """The server stops answering mid-COPY (a proxy that forwards nothing more; no error, no
    closed connection): the writer's flush hangs until ``command_timeout_secs`` (60 s here,
    the default). A SIGTERM then still ends the process within ``close_timeout_secs`` plus
    the writer's stop, with what it could not write counted on stderr (exit 2: an error)."""
    bound = STALL_CLOSE_TIMEOUT + WRITER_STOP_SECS + 2.0  # + the episode in progress, loaded
    took, returncode, text = stall_then_stop(pg_empty_url, tmp_path)
    assert took <= bound, f"the stop took {took:.1f} s (bound {bound:.1f} s)"
    assert returncode == 2, text[-2000:]
    assert "Traceback" not in text and "never retrieved" not in text, text[-3000:]
    line = [x for x in text.splitlines() if x.startswith("rlexec: error:")]
    assert len(line) == 1 and "not saved" in line[0] and "decisions" in line[0], text[-2000:]


@pytest.mark.postgres
def test_training_goes_on_while_the_store_hangs(pg_empty_url: str, tmp_path: Path) -> None:
    """Rows pile up past a quarter of max_pending_mb (0.5 MiB here) while the store hangs (a
    proxy that forwards nothing more): the training loop's back-pressure waits at most
    BACKPRESSURE_WAIT_SECS once, not until database.command_timeout_secs (30 s here) per
    episode; the run ends, sheds and counts what did not fit, and reports what was not saved."""
    env = {"RLEXEC_PERSISTENCE__MAX_PENDING_MB": "0.5",
           "RLEXEC_DATABASE__COMMAND_TIMEOUT_SECS": "30",
           "RLEXEC_PERSISTENCE__CLOSE_TIMEOUT_SECS": "1.0"}  # fmt: skip
    with training_through_proxy(pg_empty_url, tmp_path, env, "--episodes", "150") as (proxy, proc):
        proxy.stall()
        took, text = until_exit(proc)
        proxy.restore()
    assert proc.returncode == 2 and "not saved" in text, text[-2000:]
    assert "were shed" in text and "Traceback" not in text, text[-3000:]
    # 150 short episodes take a few seconds; one bounded wait, the close bound, the stop
    assert took <= 25.0, f"{took:.1f} s: training waited on the hung store"
