"""The public API (``rlexec.Agent`` / ``rlexec.AsyncAgent``) on the real store, SQLite and
PostgreSQL, with a real agent and a simulated venue standing in for an engine's: fills arrive
between books, ``finish`` returns the stored record, missing trades are stored as NULL, the
kill switch still records, bindings are enforced, bad input is one line."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import rlexec
from rlexec.config import AgentMode, Config, StateConfig, parse_config
from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import implementation_shortfall_bps
from rlexec.market.book import Side
from rlexec.replay.episode import replay_episode
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.write_behind import AgentStore
from tests.integration.helpers import Engine

HORIZON_SECS = 60  # 12 decisions of 5 s on a 1 s tick


def config(url: str, *, enabled: bool = True, **sections: dict[str, Any]) -> Config:
    data: dict[str, Any] = {
        "enabled": enabled,
        "database": {"url": url},
        "persistence": {"save_interval_secs": 3600},
        "executor": {"decision_interval_secs": 5.0, "slices": 4},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return parse_config({"rl_execution": data})


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(sa.text(sql), params)).all()]


def open_agent(url: str, name: str = "desk", **kwargs: Any) -> rlexec.Agent:
    cfg = kwargs.pop("cfg", None) or config(url)
    return rlexec.Agent.open(cfg, agent=name, **kwargs)


# ---- the working order -------------------------------------------------------------------


async def test_fills_between_books_and_finish_returns_the_stored_record(
    db_url: str, engine: AsyncEngine
) -> None:
    def run() -> tuple[rlexec.OrderResult, Engine, int]:
        with open_agent(db_url, mode="training") as agent:
            eng = Engine(seed=4)
            order = agent.start_order("sell", 900, HORIZON_SECS, eng.book, now=0.0)
            result = eng.work(order)
            assert agent.active_orders == 0
            return result, eng, agent.status.updates

    result, eng, updates = await asyncio.to_thread(run)
    assert eng.between_books > 0  # resting children filled while the market moved
    assert result.complete and result.filled_quantity == 900
    record = result.record
    expected = implementation_shortfall_bps(Side.SELL, Decimal(900), record.arrival_mid, eng.fills)
    assert record.implementation_shortfall_bps == pytest.approx(expected, abs=1e-9)
    assert result.implementation_shortfall_bps == record.implementation_shortfall_bps
    assert record.market == "external" and record.horizon_steps == HORIZON_SECS // 5
    assert record.terminated and not record.truncated
    assert updates == HORIZON_SECS // 5  # one update per decision, the last at finish
    stored = await rows(
        engine,
        "SELECT implementation_shortfall_bps, child_orders, config_hash FROM episodes "
        "WHERE episode_id = :id",
        id=record.episode_id,
    )
    assert stored == [
        (pytest.approx(record.implementation_shortfall_bps), record.child_orders,
         record.config_hash)
    ]  # fmt: skip
    (count,) = await rows(engine, "SELECT COUNT(*) FROM configs WHERE config_hash = :h",
                          h=record.config_hash)  # fmt: skip
    assert count == (1,)  # replay can find the config by hash
    decisions = await rows(
        engine, "SELECT COUNT(*) FROM decisions WHERE episode_id = :id", id=record.episode_id
    )
    assert decisions == [(HORIZON_SECS // 5,)]


@pytest.mark.parametrize("trades", [False, True])
async def test_missing_trades_are_stored_as_null(
    db_url: str, engine: AsyncEngine, trades: bool
) -> None:
    def run() -> str:
        with open_agent(db_url) as agent:
            eng = Engine(seed=2, trades=trades)
            order = agent.start_order("buy", 600, HORIZON_SECS, eng.book, now=0.0)
            return eng.work(order).record.episode_id

    episode_id = await asyncio.to_thread(run)
    values = [
        r[0]
        for r in await rows(
            engine,
            "SELECT seconds_since_last_trade FROM decisions WHERE episode_id = :id ORDER BY seq",
            id=episode_id,
        )
    ]
    assert len(values) == HORIZON_SECS // 5
    if not trades:
        assert values == [None] * len(values)  # never a made-up 0.0
    else:
        assert values[0] is None  # no trade seen yet at the first decision
        assert any(v is not None and v >= 0 for v in values[1:])


async def test_disabled_agent_records_its_base_and_keeps_no_memory(
    db_url: str, engine: AsyncEngine
) -> None:
    cfg = config(db_url, enabled=False)

    def run() -> tuple[str, int, rlexec.Agent]:
        with rlexec.Agent.open(cfg, agent="killed") as agent:
            eng = Engine(seed=7)
            order = agent.start_order("buy", 800, HORIZON_SECS, eng.book, now=0.0)
            episode_id = eng.work(order).record.episode_id
            return episode_id, agent.status.updates, agent

    episode_id, updates, agent = await asyncio.to_thread(run)
    executor = agent._executor
    assert executor._meta == {} and executor._runs == {} and executor.builder.active_parents == 0
    assert updates == 0
    (episode,) = await rows(
        engine, "SELECT executor, terminated FROM episodes WHERE episode_id = :id", id=episode_id
    )
    assert episode == ("twap", True)  # the base's own name: the kill switch is visible
    decisions = await rows(
        engine,
        "SELECT action, schedule_action, action_probability, explored, epsilon "
        "FROM decisions WHERE episode_id = :id",
        id=episode_id,
    )
    assert len(decisions) == HORIZON_SECS // 5
    assert all(a == s and p == 1.0 and not x and e == 0.0 for a, s, p, x, e in decisions)
    assert await rows(engine, "SELECT COUNT(*) FROM experiences") == [(0,)]


async def test_a_base_cancel_logs_what_the_base_then_sends(
    db_url: str, engine: AsyncEngine
) -> None:
    """The passive base behind schedule cancels what rests and crosses the shortfall: the
    decision's schedule_quantity is that child (it said 0: the cancelled children were still
    counted as resting when the base's action was read)."""
    cfg = config(db_url, enabled=False)

    def run() -> None:
        with rlexec.Agent.open(cfg, agent="killed") as agent:
            for seed in range(6):
                eng = Engine(seed=seed)
                eng.work(agent.start_order("buy", 3000, HORIZON_SECS, eng.book, now=0.0))

    await asyncio.to_thread(run)
    cancels = await rows(
        engine,
        "SELECT schedule_quantity, child_quantity FROM decisions WHERE schedule_action = 'Cancel'",
    )
    assert cancels, "no base cancel in these paths: the test needs one"
    assert all(s == (c or 0) for s, c in cancels), cancels
    assert any(c for _, c in cancels)  # a cancel that re-sent something


async def test_async_face(db_url: str, engine: AsyncEngine) -> None:
    async with rlexec.AsyncAgent.open(config(db_url), agent="asyncio") as agent:
        eng = Engine(seed=5)
        order = agent.start_order("buy", 500, 30, eng.book, now=0.0, urgency="high")
        result = eng.work(order)
        await agent.flush()
        assert await rows(
            engine, "SELECT urgency FROM episodes WHERE episode_id = :id",
            id=result.record.episode_id,
        ) == [(2,)]  # fmt: skip
    again = await rlexec.AsyncAgent.open(config(db_url), agent="asyncio")
    try:
        assert again.loaded.updates == 30 // 5 and not again.loaded.created
    finally:
        await again.close()


async def test_an_outside_engine_episode_is_said_not_to_be_re_simulable(
    db_url: str, engine: AsyncEngine
) -> None:
    def run() -> str:
        with open_agent(db_url) as agent:
            eng = Engine(seed=1)
            return eng.work(agent.start_order("buy", 300, 20, eng.book, now=0.0)).order_id

    episode_id = await asyncio.to_thread(run)
    with pytest.raises(InvalidInputError, match="cannot be re-simulated") as info:
        await replay_episode(engine, episode_id, config(db_url))
    assert "config hash" not in str(info.value)


async def test_an_engine_faster_than_the_save_interval_gets_early_flushes_and_sheds_nothing(
    db_url: str, engine: AsyncEngine
) -> None:
    """Rows past a quarter of max_pending_mb ask for a flush at the next episode's end: with a
    save interval of an hour nothing would be written before close, and the rows past the
    bound would be shed, though the store is up."""
    cfg = config(db_url, persistence={"save_interval_secs": 3600, "max_pending_mb": 0.25})
    parents = 24

    def run() -> tuple[int, dict[str, int], int, int]:
        with open_agent(db_url, "fast", cfg=cfg, mode="training") as agent:
            store = agent._persistent.store
            most = 0
            for seed in range(parents):
                eng = Engine(seed=seed)
                eng.work(agent.start_order("buy", 600, HORIZON_SECS, eng.book, now=0.0))
                most = max(most, store.pending_bytes)
                time.sleep(0.05)  # the engine's next parent comes a little later
            return store.flushes, agent.status.dropped, most, store.rows.max_bytes

    flushes, dropped, most, bound = await asyncio.to_thread(run)
    assert dropped == {"experiences": 0, "decisions": 0}
    assert flushes >= 2  # before close, with an hour's save interval
    assert most < bound
    decisions = HORIZON_SECS // 5 * parents
    assert await rows(engine, "SELECT COUNT(*) FROM decisions") == [(decisions,)]
    assert await rows(engine, "SELECT COUNT(*) FROM experiences") == [(decisions,)]
    assert await rows(engine, "SELECT COUNT(*) FROM episodes") == [(parents,)]


async def test_an_engine_may_reuse_its_order_ids(db_url: str, engine: AsyncEngine) -> None:
    """Ids that restart (every day, after a restart): each order is its own episode, the
    engine's id kept beside it; the store goes on flushing (a reused id was an episode id that
    the append-only table refused at every flush, for ever, and close gave up)."""
    cfg = config(db_url, persistence={"save_interval_secs": 3600, "close_timeout_secs": 5})

    def run() -> list[rlexec.OrderResult]:
        results: list[rlexec.OrderResult] = []
        for _ in range(2):  # the same ids in a second process
            with open_agent(db_url, "daily", cfg=cfg) as agent:
                for order_id in ("ORD-1", "ORD-1", "ORD-2"):
                    eng = Engine(seed=len(results))
                    order = agent.start_order("buy", 300, 20, eng.book, now=0.0, order_id=order_id)
                    assert order.order_id == order_id and order.episode_id != order_id
                    results.append(eng.work(order))
                    agent.flush()
        return results

    results = await asyncio.to_thread(run)
    assert [r.order_id for r in results] == ["ORD-1", "ORD-1", "ORD-2"] * 2
    episode_ids = [r.record.episode_id for r in results]
    assert len(set(episode_ids)) == 6
    stored = await rows(engine, "SELECT episode_id, order_id FROM episodes ORDER BY started_at")
    assert stored == list(zip(episode_ids, [r.order_id for r in results], strict=True))
    decisions = await rows(
        engine, "SELECT e.order_id, COUNT(*) FROM decisions d JOIN episodes e "
        "USING (episode_id) GROUP BY e.order_id ORDER BY e.order_id",
    )  # fmt: skip
    assert decisions == [("ORD-1", 4 * 20 // 5), ("ORD-2", 2 * 20 // 5)]


# ---- the agent: binding, evaluation, input -------------------------------------------------


def _one_episode(url: str, name: str, **kwargs: Any) -> None:
    with open_agent(url, name, **kwargs) as agent:
        eng = Engine(seed=3)
        eng.work(agent.start_order("buy", 400, 30, eng.book, now=0.0))


async def test_an_incompatible_config_is_refused_in_one_line(db_url: str) -> None:
    await asyncio.to_thread(_one_episode, db_url, "bound")
    other_state = config(db_url, state={"time_buckets": 4})
    with pytest.raises(rlexec.InvalidInputError) as info:
        await asyncio.to_thread(rlexec.Agent.open, other_state, agent="bound")
    message = str(info.value)
    default = StateConfig().time_buckets
    assert f"state.time_buckets = {default}" in message and "4" in message
    assert "\n" not in message
    with pytest.raises(rlexec.InvalidInputError, match="reward mode 'shortfall', not 'original'"):
        await asyncio.to_thread(
            rlexec.Agent.open, config(db_url), agent="bound", reward_mode="original"
        )
    # a yardstick is not part of the binding
    yardstick = config(db_url, state={"typical_queue_depth": 250.0})
    agent = await asyncio.to_thread(rlexec.Agent.open, yardstick, agent="bound")
    await asyncio.to_thread(agent.close)


async def test_evaluation_mode_loads_no_experiences(db_url: str) -> None:
    await asyncio.to_thread(_one_episode, db_url, "evaluated", mode="training")
    learner = await asyncio.to_thread(open_agent, db_url, "evaluated", mode="production")
    assert len(learner.loaded.experiences) == 30 // 5
    await asyncio.to_thread(learner.close)
    reader = await asyncio.to_thread(open_agent, db_url, "evaluated", mode="evaluation")
    try:
        assert reader.loaded.experiences == [] and reader.loaded.updates == 30 // 5
    finally:
        await asyncio.to_thread(reader.close)
    # the store itself: a learner whose agent does not learn loads none either
    cfg = config(db_url).rl_execution
    greedy = QTableAgent(cfg.q_learning, cfg.state, mode=AgentMode.EVALUATION)
    store = AgentStore(greedy, db_url, agent_name="evaluated", persistence=cfg.persistence)
    try:
        loaded = await store.load()
        assert loaded.experiences == [] and cfg.persistence.experiences_to_load > 0
    finally:
        await store.close()


def test_after_close_the_agent_and_its_orders_refuse_in_one_line(tmp_path: Any) -> None:
    """Nothing done after close could be stored: flush, start_order and every call of an
    order still working say so in one line (flush waited for ever, the order went on)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'closed.db'}"
    book = rlexec.book([("99.99", 5)], [("100.01", 5)], tick_size="0.01", time_of_day_secs=3600)
    agent = rlexec.Agent.open(config(url), create=True)
    order = agent.start_order("buy", 10, 60, book, now=0)
    todo = order.on_book(book, now=0)
    agent.close()
    raised: list[BaseException] = []

    def flush() -> None:
        try:
            agent.flush()
        except BaseException as exc:
            raised.append(exc)

    flusher = threading.Thread(target=flush, daemon=True)  # a hang fails the test, not CI
    flusher.start()
    flusher.join(10)
    assert not flusher.is_alive(), "flush() after close() hangs"
    assert [type(e) for e in raised] == [rlexec.InvalidInputError] and "is closed" in str(raised[0])
    calls: list[Callable[[], object]] = [
        lambda: agent.start_order("buy", 10, 60, book, now=0),
        lambda: order.on_book(book, now=5),
        lambda: order.on_fill(todo.place[0].order_id, 1, "100.01", at=1),
        lambda: order.on_cancel(todo.place[0].order_id),
        lambda: order.complete(),
        lambda: order.finish(),
    ]
    for call in calls:
        with pytest.raises(rlexec.InvalidInputError, match="'default' is closed") as info:
            call()
        assert "\n" not in str(info.value)


async def test_after_close_the_async_agent_refuses_to_flush(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'closed.db'}"
    async with rlexec.AsyncAgent.open(config(url), create=True) as agent:
        pass
    with pytest.raises(rlexec.InvalidInputError, match="is closed"):
        await asyncio.wait_for(agent.flush(), 10)


def test_an_async_opening_used_before_it_is_awaited_says_so(tmp_path: Any) -> None:
    opening = rlexec.AsyncAgent.open(config(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    with pytest.raises(AttributeError) as info:
        opening.start_order  # noqa: B018
    assert "was not awaited" in str(info.value) and "await AsyncAgent.open" in str(info.value)
    assert not hasattr(opening, "flush")  # hasattr still answers: nothing was opened
    assert not (tmp_path / "x.db").exists()


def test_a_database_behind_head_or_missing_is_refused(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"
    with pytest.raises(rlexec.StoreError, match="does not exist"):
        rlexec.Agent.open(config(url))
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda a, b: a.start_order("hold", 10, 60, b, now=0), "side = 'hold'"),
        (lambda a, b: a.start_order("buy", -5, 60, b, now=0), "quantity = -5"),
        (lambda a, b: a.start_order("buy", 10.5, 60, b, now=0), "expected a whole number"),
        (lambda a, b: a.start_order("buy", "1e-3", 60, b, now=0), "quantity = '1e-3'"),
        (lambda a, b: a.start_order("buy", 10, 0, b, now=0), "horizon_secs = 0"),
        (lambda a, b: a.start_order("buy", 10, 60, "book", now=0), "expected a BookSnapshot"),
        (lambda a, b: a.start_order("buy", 10, 60, b, now=float("nan")), "now = nan"),
        (lambda a, b: a.start_order("buy", 10, 60, b, now=10**400), "now = 1000000000"),
        (lambda a, b: a.start_order("buy", 10, 60, b, now=True), "now = True"),
        (lambda a, b: a.start_order("buy", 10, 60, b, now="9:30"), "now = '9:30'"),
        (lambda a, b: a.start_order("buy", 10, 60, b, now=0, urgency=7), "urgency = 7"),
        (lambda a, b: a.start_order("buy", 10, 60, b, now=0, order_id="x" * 65), "order_id"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Any, call: Any, expected: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bad.db'}"
    book = rlexec.book([("99.99", 5)], [("100.01", 5)], tick_size="0.01", time_of_day_secs=3600)
    with rlexec.Agent.open(config(url), create=True) as agent:
        with pytest.raises(rlexec.InvalidInputError) as info:
            call(agent, book)
        assert expected in str(info.value) and "\n" not in str(info.value)
        assert agent._executor.active_parents == 0  # a refused order leaves nothing behind


def test_the_order_refuses_what_an_engine_gets_wrong(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'order.db'}"
    book = rlexec.book([("99.99", 50)], [("100.01", 50)], tick_size="0.01", time_of_day_secs=3600)
    with rlexec.Agent.open(config(url), create=True) as agent:
        order = agent.start_order("buy", 10, 60, book, now=100.0)
        (child,) = order.on_book(book, now=100.0).place
        with pytest.raises(rlexec.InvalidInputError, match="clock must not go back"):
            order.on_book(book, now=99.0)
        with pytest.raises(rlexec.InvalidInputError, match="not a child of order"):
            order.on_fill("someone-else", 1, "100.01")
        with pytest.raises(rlexec.InvalidInputError, match=r"more than the .* not filled yet"):
            order.on_fill(child.order_id, 11, "100.01")
        with pytest.raises(rlexec.InvalidInputError, match="price = 'abc'"):
            order.on_fill(child.order_id, 1, "abc")
        with pytest.raises(rlexec.InvalidInputError, match=r"at = 0\.0: expected >= the order"):
            order.on_fill(child.order_id, 1, "99.99", at=0.0)  # before the order started
        order.on_cancel(child.order_id)
        assert order.resting == 0
        result = order.finish()  # before the parent is filled: a truncated episode
        assert not result.complete and result.record.truncated
        assert result.filled_quantity == 0 and result.average_price is None  # not a price of 0
        with pytest.raises(rlexec.InvalidInputError, match="is finished"):
            order.on_book(book, now=101.0)
    with pytest.raises(rlexec.InvalidInputError, match="crossed"):
        rlexec.book([("100.02", 5)], [("100.01", 5)], tick_size="0.01", time_of_day_secs=0)
    with pytest.raises(rlexec.InvalidInputError, match=r"bids\[0\] size"):
        rlexec.book([("100.00", 0)], [("100.01", 5)], tick_size="0.01", time_of_day_secs=0)


def test_a_fill_is_checked_against_its_child_and_one_that_raced_a_cancel_counts(
    tmp_path: Any,
) -> None:
    """No more than the child's size, no worse than its limit; a resting child that filled
    before its cancel reached the venue counts, even when the completion (sent for everything
    not filled) takes the parent past its size: the record says what the venue did."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    book = rlexec.book([("99.99", 50)], [("100.01", 50)], tick_size="0.01", time_of_day_secs=3600)
    with rlexec.Agent.open(config(url), create=True) as agent:
        order = agent.start_order("buy", 100, 10, book, now=0.0)
        (child,) = order.on_book(book, now=0.0).place
        assert child.limit_price is not None and child.quantity < 100
        with pytest.raises(rlexec.InvalidInputError, match="not filled yet") as info:
            order.on_fill(child.order_id, child.quantity + 1, child.limit_price)
        assert "\n" not in str(info.value)
        above = child.limit_price + Decimal("0.01")
        with pytest.raises(rlexec.InvalidInputError, match="worse than the limit"):
            order.on_fill(child.order_id, 1, above)
        order.on_fill(child.order_id, 1, child.limit_price)  # a part fill, then the horizon
        todo = order.on_book(book, now=10.0)
        (market,) = todo.place
        assert todo.completing and todo.cancel == (child.order_id,) and market.quantity == 99
        racing = child.quantity - 1  # the rest of the child filled before its cancel arrived
        order.on_fill(child.order_id, racing, child.limit_price)
        order.on_fill(market.order_id, 99, "100.01")
        with pytest.raises(rlexec.InvalidInputError, match="not filled yet"):
            order.on_fill(market.order_id, 1, "100.01")
        result = order.finish()
    assert result.filled_quantity == 100 + racing and order.remaining == 0
    assert result.complete and result.completion_quantity == 99


def test_the_completion_comes_at_the_horizon_not_at_a_whole_interval(tmp_path: Any) -> None:
    """A 7 s horizon with 5 s decisions: decisions at 0 and 5, the completion at 7."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'horizon.db'}"
    book = rlexec.book([("99.99", 50)], [("100.01", 50)], tick_size="0.01", time_of_day_secs=3600)
    with rlexec.Agent.open(config(url), create=True) as agent:
        order = agent.start_order("buy", 10, 7, book, now=100.0)
        assert not order.on_book(book, now=100.0).completing
        assert not order.on_book(book, now=105.0).completing
        assert not order.on_book(book, now=106.9).completing
        done = order.on_book(book, now=107.0)
        assert done.completing and done.place[0].limit_price is None
        order.on_fill(done.place[0].order_id, done.place[0].quantity, "100.01", at=107.0)
        assert order.finish().complete


def test_engine_numbers_are_taken_and_book_errors_name_the_book() -> None:
    """numpy numbers from a simulator feed are numbers; a bad book is named as the engine
    knows it (no internal step number)."""
    book = rlexec.book([("99.99", np.int64(5))], [(np.float64(100.01), np.float32(5))],
                       tick_size="0.01", time_of_day_secs=np.int64(3600))  # fmt: skip
    assert book.bids[0].size == 5 and book.asks[0].price == Decimal("100.01")
    assert book.time_of_day_secs == 3600.0
    with pytest.raises(rlexec.InvalidInputError, match=r"^book: both sides need at least one"):
        rlexec.book([], [("100.01", 5)], tick_size="0.01", time_of_day_secs=0)
    with pytest.raises(rlexec.InvalidInputError, match=r"^book: asks\[0\].price = 100.015"):
        rlexec.book([("100.00", 1)], [("100.015", 5)], tick_size="0.01", time_of_day_secs=0)
    with pytest.raises(rlexec.InvalidInputError, match="size = True: expected a number"):
        rlexec.book([("100.00", True)], [("100.01", 5)], tick_size="0.01", time_of_day_secs=0)
    for when in ("ten", 86_400, -1, float("nan"), 10**400, True):
        with pytest.raises(rlexec.InvalidInputError, match="expected seconds since midnight"):
            rlexec.book([("100.00", 1)], [("100.01", 5)], tick_size="0.01", time_of_day_secs=when)  # type: ignore[arg-type]
    with pytest.raises(rlexec.InvalidInputError, match=r"agent name = 123: expected a name \(text"):
        rlexec.Agent.open(database_url="sqlite+aiosqlite:///never.db", agent=123)  # type: ignore[arg-type]


def test_a_config_comes_from_a_file_or_a_mapping_and_a_mix_up_is_one_line() -> None:
    cfg = rlexec.parse_config({"rl_execution": {"enabled": False}})
    assert cfg.rl_execution.enabled is False
    with pytest.raises(rlexec.ConfigError, match=r"use rlexec\.parse_config"):
        rlexec.load_config({"rl_execution": {}})  # type: ignore[arg-type]


def test_the_public_names_are_exported() -> None:
    for name in rlexec.__all__:
        assert getattr(rlexec, name) is not None
    with pytest.raises(AttributeError):
        _ = rlexec.NoSuchThing
