"""The imbalance rule crosses exactly when the parent is behind its schedule AND the touch
imbalance predicts an adverse move; otherwise it posts at the near touch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.errors import InvalidInputError
from rlexec.execution.imbalance import ImbalanceRule
from rlexec.execution.runner import run_episode
from rlexec.execution.types import ExecutionContext, Order, ParentOrder, RestingOrder
from rlexec.market import make_market
from rlexec.market.book import BookLevel, BookSnapshot, Side


def book(bid_size: int, ask_size: int) -> BookSnapshot:
    return BookSnapshot(
        step=0,
        time_of_day_secs=36_000.0,
        bids=(BookLevel(Decimal("99.99"), Decimal(bid_size)),),
        asks=(BookLevel(Decimal("100.01"), Decimal(ask_size)),),
        tick_size=Decimal("0.01"),
    )


def context(
    parent: ParentOrder, step: int, snapshot: BookSnapshot, filled: int,
    resting: dict[str, RestingOrder] | None = None,
) -> ExecutionContext:  # fmt: skip
    return ExecutionContext(
        parent=parent, step=step, time_of_day_secs=36_000.0 + step, book=snapshot,
        arrival_mid=snapshot.mid, filled_quantity=Decimal(filled), open_orders=resting or {},
        step_seconds=1.0,
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(list(Side)),
    bid_size=st.integers(1, 5000),
    ask_size=st.integers(1, 5000),
    step=st.integers(0, 99),
    filled=st.integers(0, 1000),
    threshold=st.floats(0.05, 1.0),
)
async def test_crosses_exactly_when_behind_and_the_book_is_adverse(
    side: Side, bid_size: int, ask_size: int, step: int, filled: int, threshold: float
) -> None:
    parent = ParentOrder("p", side, Decimal(1000), 100)
    rule = ImbalanceRule(threshold=threshold, slices=4)  # slices of 250 due at 0, 25, 50, 75
    snapshot = book(bid_size, ask_size)
    # independent of the code: what the slices before the current one asked for, the imbalance
    previous_target = 250 * (step // 25)
    imbalance = (bid_size - ask_size) / (bid_size + ask_size)
    adverse = imbalance >= threshold if side is Side.BUY else imbalance <= -threshold
    should_cross = filled < previous_target and adverse
    resting_order = Order("p", "p-old", side, Decimal(10), snapshot.near_touch(side).price)
    resting = {"p-old": RestingOrder(resting_order, Decimal(10))} if filled <= 990 else {}
    ctx = context(parent, step, snapshot, filled, resting)
    assert rule.catches_up(ctx) is should_cross
    cancels = await rule.cancel_requests("p", ctx)
    assert cancels == (list(resting) if should_cross else [])
    after_cancels = context(parent, step, snapshot, filled, {} if should_cross else resting)
    order = await rule.get_next_order("p", after_cancels)
    if should_cross:
        assert order is not None
        assert order.limit_price == snapshot.far_touch(side).price
        assert order.quantity == previous_target - filled  # exactly the shortfall
    elif order is not None:
        assert order.limit_price == snapshot.near_touch(side).price


async def test_on_a_real_book_it_crosses_only_on_its_conditions() -> None:
    """Equity preset, 2000 shares over 300 steps in 10 slices: every step, the rule's order is at
    the far touch if and only if filled < 200 * (step // 30) and the imbalance >= 0.5."""
    market = make_market("equity")
    rule = ImbalanceRule(threshold=0.5, slices=10)
    checked = {"cross": 0, "post": 0}

    def should_cross(ctx: ExecutionContext) -> bool:
        return ctx.filled_quantity < 200 * (ctx.step // 30) and ctx.book.imbalance >= 0.5

    class Audit:
        name = rule.name

        async def get_next_order(self, parent_id: str, ctx: ExecutionContext) -> Order | None:
            order = await rule.get_next_order(parent_id, ctx)
            if should_cross(ctx):
                assert not ctx.open_orders  # everything resting was cancelled first
                assert order is not None and order.limit_price == ctx.book.best_ask
                checked["cross"] += 1
            elif order is not None:
                assert order.limit_price == ctx.book.best_bid
                checked["post"] += 1
            return order

        async def record_fill(self, *args: object) -> None:
            return None

        async def cancel_requests(self, parent_id: str, ctx: ExecutionContext) -> list[str]:
            cancels = await rule.cancel_requests(parent_id, ctx)
            assert cancels == (list(ctx.open_orders) if should_cross(ctx) else [])
            return cancels

        async def finish(self, parent_id: str, ctx: ExecutionContext) -> None:
            await rule.finish(parent_id, ctx)

    for seed in range(6):
        parent = ParentOrder(f"p{seed}", Side.BUY, Decimal(2000), 300)
        assert (await run_episode(Audit(), market, parent, seed)).completed
    assert checked["cross"] > 0 and checked["post"] > 0


def test_threshold_is_validated() -> None:
    for bad in (0.0, 1.5, -0.2, True):
        with pytest.raises(InvalidInputError, match="threshold"):
            ImbalanceRule(threshold=bad)
