"""Processes for the multi-process learning tests, on the real agent and store.

    python -m tests.store.queue_worker actor URL AGENT COUNT KIND SEED
    python -m tests.store.queue_worker learner URL AGENT LOG

``actor``: queue COUNT transitions as an actor; KIND ``deterministic`` (state 0, PlaceSmall,
reward -10, terminated: the true Q is -10) or ``stochastic`` (states 0..39, PlaceSmall, reward
-20 or 0 with probability 1/2, terminated: the true Q is -10 in each). ``learner``: a dedicated
learner (standby until it holds the lease) applying queued transitions until SIGTERM; it
writes ``lease`` to LOG when it holds the lease.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np

from rlexec.config import PersistenceConfig
from rlexec.records import ExperienceRecord
from rlexec.store.engine import create_engine
from rlexec.store.write_behind import AgentStore, LearnerBusyError, Role
from rlexec.training.train import StopSignal
from tests.store.agents import make_agent

PERSIST = PersistenceConfig(save_interval_secs=0.2, learner_lease_secs=1.0, probe_interval_secs=0.1)
STOCHASTIC_STATES = 40
STANDBY_WAIT_SECS = 60.0


def transitions(agent: object, count: int, kind: str, seed: int) -> list[ExperienceRecord]:
    rng = np.random.default_rng(seed)
    key = agent.discretizer.key_from_index  # type: ignore[attr-defined]
    out = []
    for i in range(count):
        s = 0 if kind == "deterministic" else i % STOCHASTIC_STATES
        reward = -10.0 if kind == "deterministic" else float(rng.choice([-20.0, 0.0]))
        text = key(s).to_text()
        out.append(ExperienceRecord(text, "PlaceSmall", reward, text, True, False))
    return out


async def actor(url: str, name: str, count: int, kind: str, seed: int) -> None:
    engine = create_engine(url)
    agent = make_agent(seed=seed)
    store = AgentStore(agent, engine, agent_name=name, persistence=PERSIST, role=Role.ACTOR)
    await store.load()
    store.start()
    for i, record in enumerate(transitions(agent, count, kind, seed)):
        agent.decide_index(agent.discretizer.index_from_text(record.state_key))
        store.append_experience(record)
        if i % 50 == 49:
            await asyncio.sleep(0.001)
    await store.close()
    await engine.dispose()


async def learner(url: str, name: str, log_path: str) -> None:
    stop = StopSignal()
    stop.install()
    engine = create_engine(url)
    while True:
        # a standby waits in one load() (polling the lease), as ``rlexec train`` does
        store = AgentStore(make_agent(), engine, agent_name=name, persistence=PERSIST,
                           lease_wait_secs=STANDBY_WAIT_SECS)  # fmt: skip
        try:
            await store.load()
            break
        except LearnerBusyError:
            if stop.requested:
                return
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write("lease\n")
    store.start()
    while not stop.requested:
        if not await store.fetch_and_apply():
            await asyncio.sleep(0.02)
    await store.close()
    await engine.dispose()


if __name__ == "__main__":
    mode, url, name = sys.argv[1:4]
    if mode == "actor":
        asyncio.run(actor(url, name, int(sys.argv[4]), sys.argv[5], int(sys.argv[6])))
    else:
        asyncio.run(learner(url, name, sys.argv[4]))
