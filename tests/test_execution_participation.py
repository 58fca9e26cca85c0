"""Participation (POV): never ahead of its share of the observed volume, posts at the near
touch, crosses exactly the shortfall of the lagged allowance when behind."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import pytest

from rlexec.errors import InvalidInputError
from rlexec.execution.participation import Participation
from rlexec.execution.runner import run_episode
from rlexec.execution.types import ExecutionContext, Order, ParentOrder, RestingOrder
from rlexec.market import make_market
from rlexec.market.book import BookLevel, BookSnapshot, Side, Trade

BOOK = BookSnapshot(
    step=0,
    time_of_day_secs=36_000.0,
    bids=(BookLevel(Decimal("99.99"), Decimal(500)),),
    asks=(BookLevel(Decimal("100.01"), Decimal(400)),),
    tick_size=Decimal("0.01"),
)


def tape(quantity: int, step: int) -> tuple[Trade, ...]:
    return (Trade(step, BOOK.best_ask, Decimal(quantity), Side.BUY),)


def context(
    parent: ParentOrder,
    step: int,
    trades: Sequence[Trade] = (),
    filled: int = 0,
    resting: dict[str, RestingOrder] | None = None,
) -> ExecutionContext:
    return ExecutionContext(
        parent=parent, step=step, time_of_day_secs=36_000.0 + step, book=BOOK,
        arrival_mid=BOOK.mid, filled_quantity=Decimal(filled), recent_trades=tuple(trades),
        open_orders=resting or {}, step_seconds=1.0,
    )  # fmt: skip


class CapAudit:
    """Runs a real ``Participation`` and checks, every step, what it has placed against its own
    count of the tape (volume printed from step 1 on)."""

    def __init__(self, pov: Participation) -> None:
        self.pov = pov
        self.name = pov.name
        self.volume = Decimal(0)
        self.steps = 0
        self.crossed = 0
        self.posted = 0
        self.worst_headroom = math.inf

    def cap(self) -> Decimal:
        return Decimal(math.floor(self.pov.rate * float(self.volume)))

    async def get_next_order(self, parent_id: str, ctx: ExecutionContext) -> Order | None:
        if ctx.step > 0:
            self.volume += sum((t.quantity for t in ctx.recent_trades), Decimal(0))
        self.steps += 1
        resting = sum((r.remaining for r in ctx.open_orders.values()), Decimal(0))
        order = await self.pov.get_next_order(parent_id, ctx)
        placed = ctx.filled_quantity + resting + (order.quantity if order else 0)
        assert placed <= self.cap(), (ctx.step, placed, self.cap())
        self.worst_headroom = min(self.worst_headroom, float(self.cap() - placed))
        if order is not None:
            assert order.limit_price in (ctx.book.near_touch(order.side).price,
                                         ctx.book.far_touch(order.side).price)  # fmt: skip
            if order.limit_price == ctx.book.far_touch(order.side).price:
                self.crossed += 1
            else:
                self.posted += 1
        return order

    async def record_fill(
        self, parent_id: str, order_id: str, filled: Decimal, price: Decimal,
        context: ExecutionContext,
    ) -> None:  # fmt: skip
        await self.pov.record_fill(parent_id, order_id, filled, price, context)

    async def cancel_requests(self, parent_id: str, ctx: ExecutionContext) -> list[str]:
        return await self.pov.cancel_requests(parent_id, ctx)

    async def finish(self, parent_id: str, ctx: ExecutionContext) -> None:
        await self.pov.finish(parent_id, ctx)


@pytest.mark.parametrize(
    ("market_name", "quantity"), [("equity", 2000), ("prediction_market", 500)]
)
async def test_pov_never_exceeds_its_share_of_the_observed_volume(
    market_name: str, quantity: int
) -> None:
    market = make_market(market_name)
    audit = CapAudit(Participation(rate=0.1))
    crossed = posted = 0
    for seed in range(4):
        parent = ParentOrder(f"p{seed}", Side.BUY, Decimal(quantity), 300)
        result = await run_episode(audit, market, parent, seed)
        assert result.completed
        crossed += audit.crossed
        posted += audit.posted
        audit.crossed = audit.posted = 0
        audit.volume = Decimal(0)
    assert audit.steps == 4 * 300
    assert posted > 0 and crossed > 0  # both legs of the rule ran
    assert audit.worst_headroom == 0  # the cap was reached, not just respected from afar


async def test_pov_posts_its_allowance_and_counts_each_tape_once() -> None:
    parent = ParentOrder("p", Side.BUY, Decimal(1000), 100)
    pov = Participation(rate=0.1, grace_share=0.05)  # lag: 5 steps
    assert await pov.get_next_order("p", context(parent, 0, tape(5000, 0))) is None  # pre-arrival
    ctx = context(parent, 1, tape(305, 0))
    order = await pov.get_next_order("p", ctx)
    assert order is not None and order.limit_price == BOOK.best_bid and order.quantity == 30
    assert pov.observed_volume(ctx) == 305  # asked again: the same tape is not counted twice
    resting = {order.order_id: RestingOrder(order, Decimal(30))}
    nxt = await pov.get_next_order("p", context(parent, 2, tape(200, 1), resting=resting))
    assert nxt is not None and nxt.quantity == 20  # 10% of 505, less the 30 resting
    assert await pov.cancel_requests("p", context(parent, 2, resting=resting)) == []


async def test_pov_crosses_the_lagged_shortfall_when_behind() -> None:
    parent = ParentOrder("p", Side.SELL, Decimal(1000), 100)
    pov = Participation(rate=0.1, grace_share=0.05)  # lag: 5 steps
    for step in range(1, 8):
        pov.observed_volume(context(parent, step, tape(100, step - 1)))  # V_t = 100 t
    resting_order = Order("p", "p-pov-1", Side.SELL, Decimal(40), BOOK.best_ask)
    resting = {"p-pov-1": RestingOrder(resting_order, Decimal(40))}
    # step 7: A_2 = 20 and 15 filled -> behind: cancel, cross 20 - 15 = 5 at the far touch (bid)
    behind = context(parent, 7, filled=15, resting=resting)
    assert pov.is_behind(behind)
    assert await pov.cancel_requests("p", behind) == ["p-pov-1"]
    order = await pov.get_next_order("p", context(parent, 7, filled=15))
    assert order is not None and order.limit_price == BOOK.best_bid and order.quantity == 5
    # with 20 filled it is on schedule: post A_7 - filled - resting = 70 - 20 - 40 at the ask
    on_time = context(parent, 7, filled=20, resting=resting)
    assert not pov.is_behind(on_time)
    assert await pov.cancel_requests("p", on_time) == []
    posted = await pov.get_next_order("p", on_time)
    assert posted is not None and posted.limit_price == BOOK.best_ask and posted.quantity == 10


async def test_pov_never_asks_for_more_than_the_parent() -> None:
    parent = ParentOrder("p", Side.BUY, Decimal(50), 10)
    pov = Participation(rate=1.0)
    order = await pov.get_next_order("p", context(parent, 1, tape(10_000, 0), filled=20))
    assert order is not None and order.quantity == 30


def test_pov_parameters_are_validated() -> None:
    with pytest.raises(InvalidInputError, match=r"rate = 0\b"):
        Participation(rate=0)
    with pytest.raises(InvalidInputError, match=r"rate = 1\.5"):
        Participation(rate=1.5)
    with pytest.raises(InvalidInputError, match="grace_share"):
        Participation(grace_share=0.0)
