"""Crash and outage drills with the real CLI and agent, as figures.

    .venv/bin/python scripts/bench/bench_drills.py [--kills 5] [--outage-secs 10] [--rows 100000]
        [--stalls 3]

1. kill -9 at random moments of ``rlexec train`` (SQLite, save interval 0.5 s): kills survived
   (store intact and consistent: sum of visits = updates = experiences = decisions) of kills
   tried, and the learning lost per kill (kill time minus the last commit) as median and max
   beside the save interval (the promise: one save interval plus one flush);
2. an outage of ``--outage-secs`` through a TCP proxy in front of a throwaway PostgreSQL
   database (the shared server is never stopped): whether training survived it and the rows
   lost (expected - stored);
3. memory per pending row: RSS growth of this process per decision row held in the
   pending-rows buffer, beside the buffer's own estimate (what ``max_pending_mb`` counts);
4. a store that hangs: the proxy stops forwarding mid-COPY (no error, no closed connection),
   then SIGTERM: the seconds until ``rlexec train`` exited against ``close_timeout_secs``
   (2 s here; the bound is that plus 1 s to stop the writer and the episode in progress), its
   exit code and the rows it reported not saved.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root, for tests/
from rlexec.store.migrate import upgrade_database
from rlexec.store.pending import PendingRows
from tests.store import records_factory as rf
from tests.store.conftest import drop_pg_database, new_pg_database
from tests.store.tcp_proxy import TcpProxy
from tests.store.test_store_processes import (
    SAVE_INTERVAL,
    STALL_CLOSE_TIMEOUT,
    consistent,
    stall_then_stop,
    start_train,
    state,
    wait_for_commits,
)


def kills(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_drills_"))
    url = f"sqlite+aiosqlite:///{folder / 'drill.db'}"
    rng = random.Random()
    survived, lost = 0, []
    for i in range(count):
        proc = start_train(url, folder, "--episodes", "1000000")
        wait_for_commits(url, proc, 1 if i == 0 else int(asyncio.run(state(url))["revision"]) + 1)
        time.sleep(rng.uniform(0.1, 2.0))
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        proc.wait(10)
        after = asyncio.run(state(url))
        try:
            consistent(after)
            survived += 1
        except AssertionError as exc:
            print(f"  kill {i}: inconsistent store: {exc}")
        lost.append(killed_at - after["learned_until"])
    print(
        f"kill -9: {survived}/{count} survived; learning lost per kill median "
        f"{statistics.median(lost):.2f} s, max {max(lost):.2f} s (save interval "
        f"{SAVE_INTERVAL} s)"
    )


def outage(seconds: float) -> None:
    admin_url = new_pg_database()
    folder = Path(tempfile.mkdtemp(prefix="bench_outage_"))
    try:
        asyncio.run(upgrade_database(admin_url))  # rlexec never migrates PostgreSQL by itself
        database = admin_url.rsplit("/", 1)[1]
        with TcpProxy() as proxy:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{database}"
            proc = start_train(url, folder, "--episodes", "1500")
            wait_for_commits(admin_url, proc)
            proxy.cut()
            time.sleep(seconds)
            alive = proc.poll() is None
            proxy.restore()
            proc.communicate(timeout=300)
        after = asyncio.run(state(admin_url))
        expected = 1500
        print(
            f"outage of {seconds:g} s: training "
            f"{'survived' if alive and proc.returncode == 0 else 'FAILED'} "
            f"(rc {proc.returncode}); episodes lost {expected - int(after['episodes'])}, "
            f"decisions - updates = {int(after['decisions'] - after['updates'])}"
        )
    finally:
        drop_pg_database(admin_url)


def stalls(count: int) -> None:
    took, codes, reported = [], [], []
    for _ in range(count):
        admin_url = new_pg_database()
        try:
            seconds, code, err = stall_then_stop(admin_url, Path(tempfile.mkdtemp()))
        finally:
            drop_pg_database(admin_url)
        took.append(seconds)
        codes.append(code)
        line = [x for x in err.splitlines() if "not saved:" in x]
        reported.append(line[0].split("not saved: ")[1].split(" rows")[0] if line else "-")
    print(
        f"store hung mid-COPY, then SIGTERM: exited after median {statistics.median(took):.2f} s, "
        f"max {max(took):.2f} s (close_timeout_secs {STALL_CLOSE_TIMEOUT:g} s); exit codes "
        f"{codes}; rows reported not saved {reported}"
    )


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def memory(rows: int) -> None:
    buffer = PendingRows(2**40)
    before = rss_bytes()
    for i in range(rows):  # distinct record objects, as the executor makes them
        buffer.append("decisions", rf.decision("e" * 36, i))
    measured = (rss_bytes() - before) / rows
    print(
        f"memory per pending decision row: {measured:,.0f} B measured (RSS growth), "
        f"{buffer.row_bytes('decisions'):,} B estimated by the buffer; {rows:,} rows"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="kill -9 drills (0: none)")
    parser.add_argument("--outage-secs", type=float, default=10.0,
                        help="length of the PostgreSQL outage drill (0: none)")  # fmt: skip
    parser.add_argument("--rows", type=int, default=100_000,
                        help="pending rows for the memory figure (0: none)")  # fmt: skip
    parser.add_argument("--stalls", type=int, default=3,
                        help="stalled-store stop drills (0: none)")  # fmt: skip
    args = parser.parse_args()
    if args.rows:
        memory(args.rows)
    if args.kills:
        kills(args.kills)
    if args.outage_secs:
        outage(args.outage_secs)
    if args.stalls:
        stalls(args.stalls)
