"""The state builder builds its states without validation (``ExecutionState.trusted``): every
state it builds must pass the validating constructor and equal what it builds, on simulator
paths of both presets and on edge contexts (more resting than left, ahead of and far behind the
schedule, children behind the touch, a finished parent). And what enters from outside is still
checked: a negative step, a non-Urgency urgency."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest

from rlexec.errors import InvalidInputError
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.types import ExecutionContext, Order, ParentOrder, RestingOrder
from rlexec.market.book import Side
from rlexec.market.presets import make_market
from rlexec.rl.types import STATE_FEATURES, ExecutionState, Urgency


def revalidated(state: ExecutionState) -> ExecutionState:
    """The same values through the validating constructor (raises if one is out of range)."""
    return ExecutionState(**{name: getattr(state, name) for name in STATE_FEATURES})


@pytest.mark.parametrize("preset", ["equity", "prediction_market"])
def test_every_state_the_builder_builds_is_valid(preset: str) -> None:
    market = make_market(preset)
    rng = np.random.default_rng(7)
    quantity = Decimal(500)
    checked = 0
    for seed in range(3):
        book = market.reset(seed)
        side = (Side.BUY, Side.SELL)[seed % 2]
        parent = ParentOrder(f"p{seed}", side, quantity, 120, Urgency(seed % 3))
        builder = StateBuilder(typical_queue_depth=None if seed else 50.0)
        arrival = book.mid
        filled = Decimal(0)
        for step in range(120):
            book = market.snapshot()
            resting_q = Decimal(int(rng.integers(0, 700)))  # may exceed what is left
            behind = int(rng.integers(0, 3))  # ticks our child rests behind the near touch
            away = book.tick_size * behind * (-1 if side is Side.BUY else 1)
            limit = book.near_touch(side).price + away
            orders = {
                "c": RestingOrder(Order(parent.parent_id, "c", side, Decimal(1), limit), resting_q)
            }
            context = ExecutionContext(
                parent, step, market.time_of_day_secs, book, arrival, filled,
                recent_trades=market.recent_trades(), open_orders=orders,
                step_seconds=market.step_seconds,
            )  # fmt: skip
            builder.observe_market(context)
            if step % 7 == 0:
                builder.record_child(parent.parent_id, float(rng.integers(1, 100)))
                builder.record_fill(
                    parent.parent_id, float(rng.integers(0, 150)), float(rng.normal(0, 20))
                )
            target = Decimal(int(rng.integers(0, 1200)))  # ahead of and far behind schedule
            for state in (
                builder.build(context),
                builder.build(context, resting=resting_q, schedule_target=target),
                builder.build(context, resting=Decimal(0), schedule_target=None),
            ):
                assert revalidated(state) == state
                assert state.resting_behind_ticks == pytest.approx(behind)
                checked += 1
            filled = min(quantity, filled + Decimal(int(rng.integers(0, 12))))
            market.advance()
        done = dataclasses.replace(context, filled_quantity=quantity)  # nothing left
        state = builder.build(done, resting=Decimal(3), schedule_target=quantity)
        assert revalidated(state) == state
        assert (state.remaining_size, state.resting_share, state.schedule_lag) == (0.0, 0.0, 0.0)
    assert checked == 3 * 120 * 3


def test_outside_input_the_builder_trusts_is_checked_where_it_enters() -> None:
    market = make_market("equity")
    book = market.reset(0)
    parent = ParentOrder("p", Side.BUY, Decimal(10), 5)
    with pytest.raises(InvalidInputError, match=r"^step = -1: expected an integer >= 0"):
        ExecutionContext(parent, -1, 0.0, book, book.mid, Decimal(0), step_seconds=1.0)
    with pytest.raises(InvalidInputError, match=r"^step = 1.5: expected an integer >= 0"):
        ExecutionContext(parent, 1.5, 0.0, book, book.mid, Decimal(0), step_seconds=1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"^urgency = 3: expected an Urgency"):
        ParentOrder("p", Side.BUY, Decimal(10), 5, 3)  # type: ignore[arg-type]


def test_the_validating_constructor_still_refuses_what_trusted_would_take() -> None:
    good = StateBuilder(typical_queue_depth=10.0)
    market = make_market("equity")
    book = market.reset(1)
    parent = ParentOrder("p", Side.SELL, Decimal(100), 10)
    context = ExecutionContext(parent, 0, 36_000.0, book, book.mid, Decimal(0), step_seconds=1.0)
    state = good.build(context)
    values = {name: getattr(state, name) for name in STATE_FEATURES}
    with pytest.raises(InvalidInputError, match=r"schedule_lag = 2\.0"):
        ExecutionState(**{**values, "schedule_lag": 2.0})
    with pytest.raises(InvalidInputError, match="urgency = 1: expected an Urgency"):
        ExecutionState(**{**values, "urgency": 1})
