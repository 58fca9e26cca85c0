"""Schedules add up exactly to the parent, in whole lots, for every executor and profile."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.errors import InvalidInputError
from rlexec.execution.ac_schedule import AlmgrenChrissSchedule
from rlexec.execution.base import split_quantity
from rlexec.execution.submit_and_leave import SubmitAndLeave
from rlexec.execution.twap import TWAP, ScheduledExecutor, Style
from rlexec.execution.types import ExecutionContext, ParentOrder
from rlexec.execution.vwap import VWAP, VolumeProfile
from rlexec.market.almgren_chriss import EQUITY_INTRADAY
from rlexec.market.book import BookLevel, BookSnapshot, Side

BOOK = BookSnapshot(
    step=0,
    time_of_day_secs=10 * 3600,
    bids=(BookLevel(Decimal("99.99"), Decimal(500)),),
    asks=(BookLevel(Decimal("100.01"), Decimal(400)),),
    tick_size=Decimal("0.01"),
)


def context(parent: ParentOrder, step: int = 0, filled: Decimal = Decimal(0)) -> ExecutionContext:
    return ExecutionContext(
        parent=parent,
        step=step,
        time_of_day_secs=BOOK.time_of_day_secs + step,
        book=BOOK,
        arrival_mid=BOOK.mid,
        filled_quantity=filled,
        step_seconds=1.0,
    )


@settings(max_examples=200, deadline=None)
@given(
    total=st.decimals(min_value=1, max_value=10**7, places=2),
    weights=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=60).filter(
        lambda w: sum(w) > 0
    ),
)
def test_split_quantity_sums_exactly(total: Decimal, weights: list[float]) -> None:
    slices = split_quantity(total, weights)
    assert sum(slices) == total
    assert len(slices) == len(weights)
    assert all(s >= 0 for s in slices)
    assert all(s == s.to_integral_value() for s in slices[:-1])  # whole lots, last takes the rest


@settings(max_examples=300, deadline=None)
@given(
    total=st.decimals(min_value=1, max_value=10**9, places=2),
    weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=60).filter(lambda w: sum(w) > 0),
    lot=st.sampled_from([Decimal(1), Decimal(100), Decimal("0.01")]),
)
def test_whole_weights_split_as_the_numpy_path_does(
    total: Decimal, weights: list[int], lot: Decimal
) -> None:
    # whole-number weights take the plain-float path; numpy floats (not ``float`` itself) the
    # numpy one: the slices must be the same to the last lot
    as_numpy = [np.float64(w) for w in weights]
    for whole in (weights, [float(w) for w in weights]):
        assert split_quantity(total, whole, lot) == split_quantity(total, as_numpy, lot)
    assert split_quantity(total, [1.0] * 10, lot) == split_quantity(
        total, [np.float64(1.0)] * 10, lot
    )


def test_split_quantity_rejects_bad_weights() -> None:
    with pytest.raises(InvalidInputError, match="weights"):
        split_quantity(Decimal(10), [0.0, 0.0])
    with pytest.raises(InvalidInputError, match="weights"):
        split_quantity(Decimal(10), [1.0, -1.0])
    with pytest.raises(InvalidInputError, match="total"):
        split_quantity(Decimal(0), [1.0])


executors = st.one_of(
    st.builds(
        TWAP,
        slices=st.one_of(st.none(), st.integers(1, 400)),
        style=st.sampled_from(list(Style)),
        time_jitter=st.floats(0, 1),
        size_jitter=st.floats(0, 0.99),
        seed=st.integers(0, 100),
    ),
    st.builds(
        VWAP,
        profile=st.sampled_from([p for p in VolumeProfile if p is not VolumeProfile.CUSTOM]),
        slices=st.one_of(st.none(), st.integers(1, 400)),
        time_jitter=st.floats(0, 1),
        size_jitter=st.floats(0, 0.99),
    ),
    st.builds(
        VWAP,
        profile=st.just("custom"),
        custom_weights=st.lists(st.floats(0, 10), min_size=1, max_size=26).filter(
            lambda w: sum(w) > 0
        ),
        slices=st.integers(1, 50),
    ),
    st.builds(AlmgrenChrissSchedule, st.just(EQUITY_INTRADAY), risk_aversion=st.floats(0, 1e-2)),
)


@settings(max_examples=150, deadline=None)
@given(executor=executors, quantity=st.integers(1, 10**6), horizon=st.integers(1, 400))
def test_schedules_sum_exactly_to_the_parent(
    executor: ScheduledExecutor, quantity: int, horizon: int
) -> None:
    parent = ParentOrder("p", Side.BUY, Decimal(quantity), horizon)
    schedule = executor.schedule(context(parent))
    assert schedule.cumulative[-1] == parent.quantity
    assert sum(schedule.slice_sizes) == parent.quantity
    assert all(size >= 0 and size == int(size) for size in schedule.slice_sizes)
    assert list(schedule.steps) == sorted(schedule.steps)
    assert schedule.steps[0] >= 0 and schedule.steps[-1] < horizon
    assert executor.schedule_quantity(context(parent, horizon - 1)) == parent.quantity


def test_twap_slices_are_equal_and_queryable_without_side_effects() -> None:
    parent = ParentOrder("p", Side.BUY, Decimal(1000), 100)
    twap = TWAP(slices=4)
    assert twap.schedule(context(parent)).slice_sizes == [Decimal(250)] * 4
    assert twap.schedule_quantity(context(parent, 24)) == 250
    assert twap.schedule_quantity(context(parent, 25)) == 500
    assert twap.limit_price(context(parent)) == Decimal("100.01")  # aggressive: far touch
    assert twap.schedule_quantity(context(parent, 25)) == 500  # unchanged by the queries


async def test_passive_style_posts_at_the_near_touch_and_crosses_when_behind() -> None:
    parent = ParentOrder("p", Side.BUY, Decimal(1000), 100)
    twap = TWAP(slices=4, style="passive")
    first = await twap.get_next_order("p", context(parent, 0))
    assert first is not None and first.limit_price == Decimal("99.99") and first.quantity == 250
    behind = context(parent, 25, filled=Decimal(100))
    assert twap.is_behind(behind)
    catch_up = await twap.get_next_order("p", behind)
    assert catch_up is not None
    assert catch_up.limit_price == Decimal("100.01") and catch_up.quantity == 150


def test_vwap_u_shape_puts_more_at_the_open() -> None:
    parent = ParentOrder("p", Side.BUY, Decimal(100_000), 23_400)
    ctx = ExecutionContext(
        parent=parent, step=0, time_of_day_secs=9.5 * 3600, book=BOOK,
        arrival_mid=BOOK.mid, filled_quantity=Decimal(0), step_seconds=1.0,
    )  # fmt: skip
    sizes = VWAP(profile="u_shaped", slices=13).schedule(ctx).slice_sizes
    assert sizes[0] > 2 * sizes[6] and sizes[-1] > 2 * sizes[6]
    front = VWAP(profile="front_loaded", slices=13).schedule(ctx).slice_sizes
    assert front[0] > front[-1]
    back = VWAP(profile="back_loaded", slices=13).schedule(ctx).slice_sizes
    assert back[0] < back[-1]


def test_vwap_custom_profile_is_validated() -> None:
    with pytest.raises(InvalidInputError, match=r"custom_weights\[1\]"):
        VWAP(profile="custom", custom_weights=[1.0, -2.0])
    with pytest.raises(InvalidInputError, match="sum > 0"):
        VWAP(profile="custom", custom_weights=[0.0, 0.0])
    with pytest.raises(InvalidInputError, match="profile"):
        VWAP(profile="w_shaped")
    with pytest.raises(InvalidInputError, match="style"):
        TWAP(style="sneaky")


async def test_participation_cap_limits_child_size() -> None:
    from rlexec.market.book import Trade

    parent = ParentOrder("p", Side.BUY, Decimal(1000), 10)
    vwap = VWAP(profile="uniform", slices=1, participation_cap=0.1)
    ctx = ExecutionContext(
        parent=parent, step=0, time_of_day_secs=36_000, book=BOOK, arrival_mid=BOOK.mid,
        filled_quantity=Decimal(0),
        recent_trades=(Trade(0, BOOK.best_ask, Decimal(305), Side.BUY),), step_seconds=1.0,
    )  # fmt: skip
    order = await vwap.get_next_order("p", ctx)
    assert order is not None and order.quantity == 30


async def test_submit_and_leave_posts_once() -> None:
    parent = ParentOrder("p", Side.SELL, Decimal(700), 10)
    executor = SubmitAndLeave(offset_ticks=5)
    order = await executor.get_next_order("p", context(parent))
    assert order is not None and order.quantity == 700
    assert order.limit_price == Decimal("100.00")  # 100.01 - 5 ticks, capped at bid + 1 tick
    assert await executor.get_next_order("p", context(parent, 1)) is None
