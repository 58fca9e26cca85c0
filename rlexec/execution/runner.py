"""Drives one parent order through a market and always completes it.

``EpisodeDriver`` is the synchronous core (market, open orders, fills, running cost).
``EpisodeLoop`` drives an ``ExecutionAlgorithm`` over it one step at a time: ``run_episode``
runs the loop to the end, the gymnasium environment pauses it at the RL executor's decisions
(so both run the same executor: one MDP). Per step:

1. build the ``ExecutionContext`` (book snapshot, recent trades, our fills, open orders, fill
   progress, clock) and report the previous step's fills through ``record_fill``;
2. ask ``cancel_requests`` and apply them;
3. ask ``get_next_order`` and submit it, capped at the quantity neither filled nor resting;
   immediate fills are reported at once (with a context whose fill progress is updated);
4. ``advance()`` the market.

The last step (``horizon_steps - 1``) ends, instead of advancing, with the horizon: every
resting order is cancelled and the remainder is completed by a market order that walks the book
at that step's prices (id ``<parent_id>-completion``; its fills are reported through
``record_fill`` too, so a learner sees the completion cost), then ``finish`` is called. A parent
thus has exactly ``horizon_steps`` trading steps, like the Almgren-Chriss model's N intervals.

Speed: the context's ``our_fills`` and ``open_orders`` are live views of the driver's list and
dict (not copies), so building a context costs one snapshot and one small object.
"""

from __future__ import annotations

from decimal import Decimal

from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import EpisodeResult
from rlexec.execution.types import (
    ExecutionAlgorithm,
    ExecutionContext,
    Order,
    ParentOrder,
    RestingOrder,
)
from rlexec.market.base import Market
from rlexec.market.book import BookSnapshot, Fill
from rlexec.rl.reward import Shortfall

ZERO = Decimal(0)


class EpisodeDriver:
    """One parent order in one market: submits, cancels, advances, accounts for every fill."""

    def __init__(self, market: Market, parent: ParentOrder) -> None:
        self.market = market
        self.parent = parent
        self.sign = parent.side.sign
        self.arrival_mid = ZERO
        self.filled = ZERO
        self.notional = ZERO
        self.shortfall = Shortfall(self.sign, parent.quantity, Decimal(1))  # set by start
        self.placed = ZERO
        self.child_orders = 0
        self.resting = ZERO
        self.open_orders: dict[str, RestingOrder] = {}
        self.fills: list[Fill] = []
        self.completion_quantity = ZERO
        self.completion_cost = ZERO
        self.completed_step: int | None = None
        self.seed = 0
        self.done = False
        self._start_step = 0

    # -- lifecycle
    def start(self, seed: int) -> BookSnapshot:
        """Reset the market with ``seed``; the arrival mid is the mid now."""
        book = self.market.reset(seed)
        self.seed = seed
        self.arrival_mid = book.mid
        self.shortfall = Shortfall(self.sign, self.parent.quantity, self.arrival_mid)
        self._start_step = self.market.step_index
        self.filled = self.notional = self.placed = self.resting = ZERO
        self.completion_quantity = self.completion_cost = ZERO
        self.completed_step = None
        self.child_orders = 0
        self.open_orders = {}
        self.fills = []
        self.done = False
        return book

    @property
    def step(self) -> int:
        """Steps since the parent started."""
        return self.market.step_index - self._start_step

    @property
    def at_last_step(self) -> bool:
        """The current step is the parent's last: it ends with the forced completion."""
        return self.step >= self.parent.horizon_steps - 1

    @property
    def unplaced(self) -> Decimal:
        """Quantity neither filled nor resting: what a new child may still ask for."""
        return self.parent.quantity - self.filled - self.resting

    def context(self, book: BookSnapshot | None = None) -> ExecutionContext:
        market = self.market
        return ExecutionContext(
            parent=self.parent,
            step=self.step,
            time_of_day_secs=market.time_of_day_secs,
            book=market.snapshot() if book is None else book,
            arrival_mid=self.arrival_mid,
            filled_quantity=self.filled,
            recent_trades=market.recent_trades(),
            our_fills=self.fills,
            open_orders=self.open_orders,
            step_seconds=market.step_seconds,
        )

    @property
    def cost(self) -> Decimal:
        """``sign * sum q (p - arrival mid)``: the IS numerator, in money."""
        return self.shortfall.cost

    def cost_bps(self, cost: Decimal) -> float:
        """A money cost in bps of the parent's arrival value."""
        return float(self.shortfall.bps(cost))

    # -- actions
    def cancel(self, order_id: str) -> Decimal:
        resting = self.open_orders.pop(order_id, None)
        if resting is None:
            return ZERO
        self.market.cancel(order_id)
        self.resting -= resting.remaining
        return resting.remaining

    def cancel_all(self) -> None:
        for order_id in list(self.open_orders):
            self.cancel(order_id)

    def submit(self, order: Order) -> list[Fill]:
        """Submit a child capped at ``unplaced``; its immediate fills ([] if capped to 0)."""
        if self.done:
            raise InvalidInputError(f"parent {self.parent.parent_id} is complete: no more orders")
        if order.side is not self.parent.side:
            raise InvalidInputError(
                f"order {order.order_id} side = {order.side}: expected the parent's side "
                f"{self.parent.side}"
            )
        if order.order_id in self.open_orders:
            raise InvalidInputError(f"order {order.order_id}: this id is already resting")
        quantity = min(order.quantity, self.unplaced)
        if quantity <= 0:
            return []
        self.child_orders += 1
        self.placed += quantity
        if order.limit_price is None:
            fills = self.market.submit_market(order.order_id, order.side, quantity)
        else:
            fills = self.market.submit_limit(
                order.order_id, order.side, quantity, order.limit_price
            )
        done = ZERO
        for fill in fills:
            if fill.order_id == order.order_id:
                done += fill.quantity
                self._account(fill)
            else:  # the market matched one of our own resting orders
                self._resting_fill(fill)
        if done < quantity and order.limit_price is not None:
            self.open_orders[order.order_id] = RestingOrder(order, quantity - done)
            self.resting += quantity - done
        return fills

    def advance(self) -> list[Fill]:
        """One market step; fills of our resting orders are accounted and returned."""
        fills = self.market.advance()
        for fill in fills:
            self._resting_fill(fill)
        return fills

    def _resting_fill(self, fill: Fill) -> None:
        resting = self.open_orders.get(fill.order_id)
        if resting is None:
            raise InvalidInputError(
                f"market filled order {fill.order_id}, which is not resting for parent "
                f"{self.parent.parent_id}"
            )
        left = resting.remaining - fill.quantity
        if left < 0:
            raise InvalidInputError(
                f"market filled {fill.quantity} of order {fill.order_id}, which had only "
                f"{resting.remaining} resting"
            )
        self.resting -= fill.quantity
        if left == 0:
            del self.open_orders[fill.order_id]
        else:
            self.open_orders[fill.order_id] = RestingOrder(resting.order, left)
        self._account(fill)

    def complete(self) -> list[Fill]:
        """Cancel everything resting and buy/sell the remainder with a market order."""
        self.cancel_all()
        remaining = self.parent.quantity - self.filled
        fills: list[Fill] = []
        if remaining > 0:
            order_id = f"{self.parent.parent_id}-completion"
            fills = self.market.submit_market(order_id, self.parent.side, remaining)
            got = sum((f.quantity for f in fills), ZERO)
            if got != remaining:
                raise InvalidInputError(
                    f"completion order {order_id}: market filled {got} of {remaining}; a market "
                    "order must fill completely"
                )
            before = self.cost
            for fill in fills:
                self._account(fill)
            self.completion_quantity = remaining
            self.completion_cost = self.cost - before
        self.done = True
        return fills

    def _account(self, fill: Fill) -> None:
        self.filled += fill.quantity
        if self.filled > self.parent.quantity:
            raise InvalidInputError(
                f"parent {self.parent.parent_id}: filled {self.filled} > parent quantity "
                f"{self.parent.quantity}"
            )
        if self.filled == self.parent.quantity:
            self.completed_step = self.step
        self.notional += fill.quantity * fill.price
        self.shortfall.add_fill(fill.quantity, fill.price)
        self.fills.append(fill)

    # -- result
    def result(self, executor_name: str) -> EpisodeResult:
        parent = self.parent
        policy_filled = self.filled - self.completion_quantity
        return EpisodeResult(
            executor=executor_name,
            seed=self.seed,
            side=parent.side,
            quantity=parent.quantity,
            arrival_mid=self.arrival_mid,
            is_bps=self.cost_bps(self.cost),
            filled_quantity=self.filled,
            fill_rate=float(policy_filled / parent.quantity),
            placed_fill_rate=float(policy_filled / self.placed) if self.placed > 0 else 0.0,
            child_orders=self.child_orders,
            avg_fill_price=self.notional / self.filled if self.filled > 0 else ZERO,
            completion_quantity=self.completion_quantity,
            completion_cost_bps=self.cost_bps(self.completion_cost),
            steps=self.step + 1 if self.done else self.step,  # trading steps, last included
            completed_step=self.completed_step,
        )


class EpisodeLoop:
    """``run_episode``'s loop, a step at a time: ``start``, then for each of the parent's
    ``horizon_steps`` steps ``open_step`` (the context, with the previous step's fills
    reported) and ``act`` (cancels, the next order, the market advance), then ``complete``
    (the forced completion, reported) and ``finish``."""

    def __init__(self, executor: ExecutionAlgorithm, market: Market, parent: ParentOrder) -> None:
        self.executor = executor
        self.driver = EpisodeDriver(market, parent)
        self.steps_taken = 0
        self._pending: list[Fill] = []

    def start(self, seed: int) -> None:
        self.driver.start(seed)
        self.steps_taken = 0
        self._pending = []

    @property
    def steps_left(self) -> bool:
        """False once every trading step has been acted on: ``complete`` comes next."""
        return self.steps_taken < self.driver.parent.horizon_steps

    async def open_step(self) -> ExecutionContext:
        """This step's context, after reporting the previous step's fills with it."""
        context = self.driver.context()
        pending, self._pending = self._pending, []
        await self._report(pending, context)
        return context

    async def _report(self, fills: list[Fill], context: ExecutionContext) -> None:
        parent_id = self.driver.parent.parent_id
        for fill in fills:
            await self.executor.record_fill(
                parent_id, fill.order_id, fill.quantity, fill.price, context
            )

    async def act(self, context: ExecutionContext) -> None:
        """Cancels and the next order of this step, then the market advance (not at the last
        step: the horizon's completion follows it instead)."""
        driver, executor = self.driver, self.executor
        parent_id = driver.parent.parent_id
        if driver.open_orders:
            for order_id in await executor.cancel_requests(parent_id, context):
                driver.cancel(order_id)
        order = await executor.get_next_order(parent_id, context)
        if order is not None:
            fills = driver.submit(order)
            if fills:
                await self._report(fills, driver.context())
        if self.steps_taken < driver.parent.horizon_steps - 1:
            self._pending = driver.advance()
        self.steps_taken += 1

    async def complete(self) -> ExecutionContext:
        """The horizon: cancel what rests, complete the remainder, report its fills."""
        completion = self.driver.complete()
        context = self.driver.context()
        await self._report(completion, context)
        return context

    async def finish(self, context: ExecutionContext) -> EpisodeResult:
        await self.executor.finish(self.driver.parent.parent_id, context)
        return self.driver.result(self.executor.name)


async def run_episode(
    executor: ExecutionAlgorithm,
    market: Market,
    parent: ParentOrder,
    seed: int,
) -> EpisodeResult:
    """Run ``executor`` on ``market`` (reset with ``seed``) for ``parent``; always 100% complete."""
    loop = EpisodeLoop(executor, market, parent)
    loop.start(seed)
    while loop.steps_left:
        await loop.act(await loop.open_step())
    return await loop.finish(await loop.complete())
