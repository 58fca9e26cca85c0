"""A training process for the crash, graceful-stop and two-process tests.

    python -m tests.store.train_worker URL AGENT_NAME LOG_PATH MODE [UPDATES]

MODE ``crash``: train and flush explicitly in a loop; before each flush log
``try <visits> <decisions> <episodes>`` and after its commit ``done ...`` (fsync'd), so the test
knows which states the store may legally hold after a SIGKILL.
MODE ``graceful``: background flushes, signal handlers; on SIGTERM stop and close; log
``final <visits> <decisions> <episodes>`` of everything made.
MODE ``fixed``: make UPDATES updates with background flushes, close, log ``final ...``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from rlexec.config import PersistenceConfig
from rlexec.store.engine import create_engine
from rlexec.store.write_behind import AgentStore
from tests.store import records_factory as rf
from tests.store.agent_double import make_agent, train


def log_line(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())


async def main(url: str, name: str, log_path: str, mode: str, updates: int) -> None:
    interval = 3600.0 if mode == "crash" else 0.05
    persistence = PersistenceConfig(save_interval_secs=interval, retry_initial_secs=0.05)
    engine = create_engine(url)
    agent = make_agent(seed=os.getpid())
    store = AgentStore(agent, engine, agent_name=name, persistence=persistence)
    await store.load()
    decisions = episodes = 0
    made = 0
    if mode != "crash":
        store.start()
        store.install_signal_handlers()
    log_line(log_path, "ready")
    while True:
        ep = rf.episode()
        for seq in range(20):
            store.append_decision(rf.decision(ep.episode_id, seq))
        decisions += 20
        store.append_episode(ep)
        episodes += 1
        step = 50 if mode != "fixed" else min(50, updates - made)
        train(agent, step, seed=made)
        made += step
        if mode == "crash":
            totals = f"{int(agent.visits.sum())} {decisions} {episodes}"
            log_line(log_path, f"try {totals}")
            await store.flush()
            log_line(log_path, f"done {totals}")
        else:
            await asyncio.sleep(0.001)
            if store.stop_requested.is_set() or (mode == "fixed" and made >= updates):
                break
    await store.close()
    await engine.dispose()
    log_line(log_path, f"final {made} {decisions} {episodes}")


if __name__ == "__main__":
    url, name, log_path, mode = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    asyncio.run(main(url, name, log_path, mode, n))
