"""Submit-and-leave: the classic baseline of the RL-execution literature (Nevmyvaka, Feng &
Kearns 2006). One limit order for the whole parent at the start, at the near touch moved
``offset_ticks`` towards the far side (0 = join the near touch; a buy at ``best bid + offset *
tick``, capped one tick short of the far touch so that it stays passive), then left alone; the
runner completes what is unfilled at the horizon with a market order.
"""

from __future__ import annotations

from decimal import Decimal

from rlexec.errors import InvalidInputError
from rlexec.execution.base import BaseExecutor
from rlexec.execution.types import ExecutionContext, Order
from rlexec.market.book import Side


class SubmitAndLeave(BaseExecutor):
    name = "submit_and_leave"

    def __init__(self, *, offset_ticks: int = 0, name: str | None = None) -> None:
        super().__init__()
        if isinstance(offset_ticks, bool) or not isinstance(offset_ticks, int) or offset_ticks < 0:
            raise InvalidInputError(f"offset_ticks = {offset_ticks!r}: expected an integer >= 0")
        self.offset_ticks = offset_ticks
        self._submitted: set[str] = set()
        if name is not None:
            self.name = name

    def schedule_quantity(self, context: ExecutionContext) -> Decimal:
        """The whole parent from the first step on."""
        return context.parent.quantity

    def limit_price(self, context: ExecutionContext) -> Decimal:
        side = context.parent.side
        book = context.book
        tick = book.tick_size
        near = book.near_touch(side).price
        far = book.far_touch(side).price
        if side is Side.BUY:
            return min(near + self.offset_ticks * tick, far - tick)
        return max(near - self.offset_ticks * tick, far + tick)

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        if parent_id in self._submitted:
            return None
        self._submitted.add(parent_id)
        quantity = context.remaining_quantity
        if quantity <= 0:
            return None
        price = self.limit_price(context)
        return Order(parent_id, self.next_order_id(parent_id), context.parent.side, quantity, price)

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        self._submitted.discard(parent_id)
