"""The state builder without what a live venue may not supply: no typical queue depth (it is
estimated from the books seen), no trades feed (seconds since the last trade is missing, never
a made-up 0); and an execution context without a clock is refused."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from rlexec.errors import InvalidInputError
from rlexec.execution.state_builder import DEPTH_WINDOW, StateBuilder
from rlexec.execution.types import ExecutionContext, ParentOrder
from rlexec.market.book import BookLevel, BookSnapshot, Side, Trade

PARENT = ParentOrder("p", Side.BUY, Decimal(1000), 60)


def book(bid_size: int, ask_size: int, step: int = 0) -> BookSnapshot:
    return BookSnapshot(
        step=step,
        time_of_day_secs=36_000.0 + step,
        bids=(BookLevel(Decimal("99.99"), Decimal(bid_size)),),
        asks=(BookLevel(Decimal("100.01"), Decimal(ask_size)),),
        tick_size=Decimal("0.01"),
    )


def context(snapshot: BookSnapshot, trades: tuple[Trade, ...] = ()) -> ExecutionContext:
    return ExecutionContext(
        parent=PARENT, step=snapshot.step, time_of_day_secs=snapshot.time_of_day_secs,
        book=snapshot, arrival_mid=Decimal(100), filled_quantity=Decimal(0),
        recent_trades=trades, step_seconds=1.0,
    )  # fmt: skip


def test_typical_queue_depth_is_an_exponential_mean_of_the_touch_sizes() -> None:
    builder = StateBuilder()
    assert builder.typical_queue_depth is None
    builder.observe_market(context(book(100, 300)))
    assert builder.typical_queue_depth == 200.0  # the first book starts it
    builder.observe_market(context(book(500, 500, step=1)))
    weight = 2.0 / (DEPTH_WINDOW + 1)
    assert builder.typical_queue_depth == pytest.approx(200.0 + weight * 300.0)
    for step in range(2, 3000):  # a new level: the old one is forgotten within the window
        builder.observe_market(context(book(1000, 1000, step)))
    assert builder.typical_queue_depth == pytest.approx(1000.0, rel=1e-3)
    state = builder.build(context(book(1000, 1000, 3000)))
    assert state.typical_queue_depth == builder.typical_queue_depth


def test_a_given_typical_queue_depth_is_kept() -> None:
    builder = StateBuilder(typical_queue_depth=321.0)
    builder.observe_market(context(book(5, 5)))
    assert builder.build(context(book(5, 5))).typical_queue_depth == 321.0
    with pytest.raises(InvalidInputError, match="typical_queue_depth = 0"):
        StateBuilder(typical_queue_depth=0.0)


def test_seconds_since_last_trade_is_missing_until_a_trade_is_seen() -> None:
    builder = StateBuilder()
    for step in range(3):
        snapshot = book(100, 100, step)
        builder.observe_market(context(snapshot))
        assert builder.build(context(snapshot)).seconds_since_last_trade is None
    trade = Trade(3, Decimal("100.01"), Decimal(10), Side.BUY)
    builder.observe_market(context(book(100, 100, 3), (trade,)))
    builder.observe_market(context(book(100, 100, 5), (trade,)))
    assert builder.build(context(book(100, 100, 5))).seconds_since_last_trade == 2.0


def test_an_execution_context_needs_a_clock() -> None:
    snapshot = book(1, 1)
    with pytest.raises(TypeError, match="step_seconds"):
        ExecutionContext(PARENT, 0, 0.0, snapshot, Decimal(100), Decimal(0))  # type: ignore[call-arg]
    for bad in (0.0, -1.0, float("nan"), True):
        with pytest.raises(InvalidInputError, match="step_seconds"):
            dataclasses.replace(context(snapshot), step_seconds=bad)
