"""Validation and promotion of an agent an engine trained through the public API, on the
engine's own simulator (``Agent.validate`` / ``AsyncAgent.validate``), on the real store
(SQLite and PostgreSQL) with a real agent: the runs are paired, the verdict is training's rule,
the snapshot is the table measured, a production agent acts on what was promoted, and an
engine that gets the protocol wrong is told in one line."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any, TypedDict

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import rlexec
from rlexec.errors import InvalidInputError
from rlexec.store.promotions import list_promotions
from rlexec.store.snapshots import load_snapshot_policy
from tests.integration.helpers import Engine
from tests.integration.test_public_api import HORIZON_SECS, config, rows

VALIDATION_FIRST_SEED = 1_000_000  # held out: training below uses seeds from 0


class Parent(TypedDict, total=False):
    """``run_parent``'s keywords."""

    market: str
    quantity: int
    horizon_secs: float


# the default parent of the prediction market: 2000 shares over 300 s (60 decisions of 5 s)
PM: Parent = {"market": "prediction_market", "quantity": 2000, "horizon_secs": 300}


def run_parent(market: str, quantity: int = 500, horizon_secs: float = HORIZON_SECS) -> Any:
    """The engine's side of a validation: one parent on its simulator seeded with ``seed``."""

    def run(desk: rlexec.OrderDesk, seed: int) -> None:
        engine = Engine(seed, market=market)
        side = ("buy", "sell")[seed % 2]
        engine.work(desk.start_order(side, quantity, horizon_secs, engine.book, now=0.0))

    return run


def train(agent: rlexec.Agent, parents: int, **parent: Any) -> None:
    work = run_parent(**{"market": "equity", **parent})
    for seed in range(parents):
        work(agent, seed)


async def test_an_engine_trained_agent_is_validated_promoted_and_acted_on(
    db_url: str, engine: AsyncEngine
) -> None:
    cfg = config(db_url)
    with rlexec.Agent.open(cfg, agent="engine-trained", mode="training", create=True) as agent:
        train(agent, 300, **PM)
    # a production agent with nothing promoted runs its base; it validates what it learned
    with rlexec.Agent.open(cfg, agent="engine-trained", mode="production") as production:
        assert production._persistent.snapshot_id is None and production.status.epsilon == 0.0
        verdict = production.validate(run_parent(**PM), first_seed=VALIDATION_FIRST_SEED, seeds=200)
        assert verdict.table is not None
        measured = verdict.table.q.copy()
        (row,) = await list_promotions(engine, "engine-trained")
        # promoted: it acts on the snapshot at once, explored as production is
        assert production._persistent.snapshot_id == row.snapshot_id is not None
        assert production.status.epsilon == 0.05
    measurement = verdict.confirmation
    assert measurement is not None
    d = measurement.difference
    # the rule of `rlexec train`: promoted exactly when the paired CI lies below 0
    assert verdict.promoted == (d.high < 0)
    # on this market the learner beats its passive base by tens of bps (docs/learning.md)
    assert verdict.promoted, verdict.summary()
    assert measurement.seeds == tuple(range(VALIDATION_FIRST_SEED, VALIDATION_FIRST_SEED + 200))
    assert len(measurement.base_bps) == 200 and measurement.episodes_trained == 300
    assert row.promoted
    stored_verdict = row.record
    assert stored_verdict.validation_seed_first == VALIDATION_FIRST_SEED
    assert stored_verdict.validation_seed_count == 200
    assert stored_verdict.mean_difference_bps == pytest.approx(d.mean)
    assert stored_verdict.difference_ci_high_bps == pytest.approx(d.high)
    assert stored_verdict.episodes_trained == 300
    assert stored_verdict.base_executor == verdict.base
    assert row.snapshot_id is not None
    _, stored = await load_snapshot_policy(engine, row.snapshot_id, cfg.rl_execution.state)
    assert np.array_equal(stored.q, measured)  # the snapshot is the table that was measured

    with rlexec.Agent.open(cfg, agent="engine-trained", mode="production") as production:
        assert production._persistent.snapshot_id == row.snapshot_id
        assert production.status.epsilon == 0.05
        run_parent(**PM)(production, 5)
        assert production.active_orders == 0
        # the same block again is refused before anything runs: re-used, it picks on noise
        with pytest.raises(InvalidInputError, match="was validated on seeds 1000000-1000199") as no:
            production.validate(run_parent(**PM), first_seed=VALIDATION_FIRST_SEED + 199, seeds=2)
        assert str(no.value).endswith("the first unused block of 2 from it starts at 1000200")
        # a fresh block: the promoted policy (the champion) works each seed too, third
        seen: list[int] = []
        work = run_parent(**PM)

        def counted(desk: rlexec.OrderDesk, seed: int) -> None:
            seen.append(seed)
            work(desk, seed)

        again = production.validate(counted, first_seed=VALIDATION_FIRST_SEED + 200, seeds=20)
        assert seen == [s for s in range(VALIDATION_FIRST_SEED + 200, VALIDATION_FIRST_SEED + 220)
                        for _ in range(3)]  # fmt: skip
        # the champion is the same table (nothing learned since): never cheaper than it
        assert "is cheaper than it" not in again.reason
    assert len(await list_promotions(engine, "engine-trained")) == 2


def test_a_table_the_champion_beats_is_not_promoted_though_it_beats_the_base(
    tmp_path: Any,
) -> None:
    """The rule on a real trial's figures: beating the base is not enough when the policy
    promoted before is cheaper than the new table with confidence."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'v.db'}"
    rng = np.random.default_rng(0)
    base = list(rng.normal(10.0, 1.0, 50))
    with rlexec.Agent.open(config(url), agent="desk", create=True) as agent:
        trial = agent._trial(run_parent("equity"), first_seed=0, seeds=50)
        trial.champion_id = 7
        policy = [b - 1.0 + rng.normal(0, 0.1) for b in base]  # 1 bps cheaper than the base
        for champion_gain in (2.0, 1.0):  # the champion: 2 bps cheaper, then as cheap
            champion = [b - champion_gain + rng.normal(0, 0.1) for b in base]
            trial.costs_bps = [policy, base, champion]
            verdict = trial.verdict()
            assert verdict.confirmation is not None and verdict.confirmation.better
            if champion_gain == 2.0:
                assert not verdict.promoted
                assert "the policy promoted before (snapshot 7) is cheaper than it" in (
                    verdict.reason
                )
            else:
                assert verdict.promoted, verdict.reason


async def test_an_untrained_agent_is_its_base_on_every_seed_and_is_not_promoted(
    db_url: str, engine: AsyncEngine
) -> None:
    """The pairing: an untrained table is its base, so each seed's two runs cost the same."""
    with rlexec.Agent.open(config(db_url), agent="fresh", mode="production", create=True) as a:
        verdict = a.validate(run_parent("equity"), first_seed=7, seeds=12, progress=False)
        assert a._persistent.snapshot_id is None  # nothing promoted: production runs its base
    measurement = verdict.confirmation
    assert measurement is not None
    assert measurement.policy_mean_bps == pytest.approx(measurement.base_mean_bps, abs=1e-9)
    assert measurement.difference.mean == pytest.approx(0.0, abs=1e-9)
    assert not verdict.promoted and "not significantly better" in verdict.reason
    (row,) = await list_promotions(engine, "fresh")
    assert not row.promoted and row.record.validation_seed_first == 7


async def test_the_async_face_validates_with_a_coroutine(db_url: str, engine: AsyncEngine) -> None:
    work = run_parent("equity")
    seen: list[int] = []

    async def run(desk: rlexec.OrderDesk, seed: int) -> None:
        seen.append(seed)
        work(desk, seed)

    async with rlexec.AsyncAgent.open(config(db_url), agent="async", create=True) as agent:
        verdict = await agent.validate(run, first_seed=3, seeds=4, progress=False)
    assert seen == [3, 3, 4, 4, 5, 5, 6, 6]  # each seed twice: the policy, then the base
    assert verdict.confirmation is not None and len(verdict.confirmation.seeds) == 4
    assert len(await list_promotions(engine, "async")) == 1


def _no_order(desk: rlexec.OrderDesk, seed: int) -> None:
    return None


def _unfinished(desk: rlexec.OrderDesk, seed: int) -> None:
    engine = Engine(seed)
    desk.start_order("buy", 100, HORIZON_SECS, engine.book, now=0.0)


async def _a_coroutine(desk: rlexec.OrderDesk, seed: int) -> None:
    return None


LIVE: list[rlexec.Agent] = []  # the agent under validation, for _on_the_agent


def _on_the_agent(desk: rlexec.OrderDesk, seed: int) -> None:
    run_parent("equity")(LIVE[0], seed)  # the engine's mistake: the agent, not the desk


@pytest.mark.parametrize(
    ("run", "first_seed", "seeds", "expected"),
    [
        (_no_order, 0, 5, "started 0 order(s) and finished 0: expected it to work one parent"),
        (_unfinished, 0, 5, "started 1 order(s) and finished 0: expected it to work one parent"),
        (_a_coroutine, 0, 5, "an asyncio engine validates with AsyncAgent.validate"),
        (_no_order, 0, 1, "seeds = 1: expected an integer >= 2"),
        (_no_order, -1, 5, "first_seed = -1: expected an integer >= 0"),
        (_no_order, "0", 5, "first_seed = '0': expected an integer >= 0"),
        (None, 0, 5, "run_parent = None: expected a function (desk, seed)"),
        (_on_the_agent, 0, 5, "started an order on the agent, not on the desk it was given"),
    ],
)
def test_an_engine_that_gets_the_protocol_wrong_is_told_in_one_line(
    tmp_path: Any, run: Any, first_seed: Any, seeds: Any, expected: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'v.db'}"
    with rlexec.Agent.open(config(url), agent="desk", create=True) as agent:
        LIVE[:] = [agent]
        with pytest.raises(InvalidInputError) as caught:
            agent.validate(run, first_seed=first_seed, seeds=seeds, progress=False)
        assert expected in str(caught.value) and "\n" not in str(caught.value)
        train(agent, 1)  # the agent goes on working orders afterwards
    con = sqlite3.connect(tmp_path / "v.db")  # a trial that fails stores nothing
    assert con.execute("SELECT COUNT(*) FROM policy_snapshots").fetchone() == (0,)
    assert con.execute("SELECT COUNT(*) FROM promotions").fetchone() == (0,)
    con.close()


async def test_a_table_that_learned_during_its_validation_is_not_promoted(
    db_url: str, engine: AsyncEngine
) -> None:
    """An order of the agent's own that finishes during the trial changes its table: what was
    measured is no longer the agent's, so nothing is snapshotted and the verdict says why."""
    with rlexec.Agent.open(config(db_url), agent="busy", mode="training", create=True) as agent:
        live = Engine(42)
        order = agent.start_order("buy", 500, HORIZON_SECS, live.book, now=0.0)
        work = run_parent("equity")

        def run(desk: rlexec.OrderDesk, seed: int) -> None:
            work(desk, seed)
            if not order.finished:
                live.work(order)  # the live order finishes: the agent learns from it

        verdict = agent.validate(run, first_seed=10, seeds=3, progress=False)
    assert not verdict.promoted and "changed while it was validated" in verdict.reason
    (row,) = await list_promotions(engine, "busy")
    assert row.snapshot_id is None and not row.promoted
    assert await rows(engine, "SELECT COUNT(*) FROM policy_snapshots") == [(0,)]


def _publish_elsewhere(url: str, agent_name: str) -> None:
    """Another writer of the agent's table (a learner process publishing), from its own thread
    and connection: every stored cell moves."""

    async def publish() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "UPDATE q_values SET q = q + 1, visits = visits + 1 WHERE agent_id = "
                        "(SELECT id FROM agents WHERE name = :name)"
                    ),
                    {"name": agent_name},
                )
        finally:
            await engine.dispose()

    thread = threading.Thread(target=lambda: asyncio.run(publish()))
    thread.start()
    thread.join()


async def test_a_table_changed_in_the_store_during_its_validation_gets_no_snapshot(
    db_url: str, engine: AsyncEngine
) -> None:
    """The stored table is compared with the one measured right before the snapshot: when
    another writer changed it meanwhile, the snapshot would not be what was measured, so none
    is taken and the verdict says why (an asyncio engine's own order finishing and flushing
    after the last run is the same case)."""
    with rlexec.Agent.open(config(db_url), agent="shared", mode="training", create=True) as agent:
        train(agent, 3)
        agent.flush()
        assert await rows(engine, "SELECT COUNT(*) > 0 FROM q_values") == [(True,)]
        work = run_parent("equity")
        published: list[int] = []

        def run(desk: rlexec.OrderDesk, seed: int) -> None:
            work(desk, seed)
            if seed == 12 and not published:  # the last seed
                _publish_elsewhere(db_url, "shared")
                published.append(seed)

        verdict = agent.validate(run, first_seed=10, seeds=3, progress=False)
    assert published and not verdict.promoted
    assert "changed while it was validated" in verdict.reason
    (row,) = await list_promotions(engine, "shared")
    assert row.snapshot_id is None and not row.promoted
    assert await rows(engine, "SELECT COUNT(*) FROM policy_snapshots") == [(0,)]
