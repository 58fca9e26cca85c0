"""Orders, the execution context and the ``ExecutionAlgorithm`` protocol of the original design."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from rlexec.errors import InvalidInputError
from rlexec.market.book import BookSnapshot, Fill, Side, Trade
from rlexec.rl.types import Urgency


@dataclass(frozen=True, slots=True)
class ParentOrder:
    parent_id: str
    side: Side
    quantity: Decimal
    horizon_steps: int
    urgency: Urgency = Urgency.NORMAL

    def __post_init__(self) -> None:
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise InvalidInputError(f"parent quantity = {self.quantity}: expected > 0")
        if self.horizon_steps < 1:
            raise InvalidInputError(f"horizon_steps = {self.horizon_steps}: expected >= 1")
        if not isinstance(self.urgency, Urgency):
            raise InvalidInputError(f"urgency = {self.urgency!r}: expected an Urgency")


@dataclass(frozen=True, slots=True)
class Order:
    """A child order. ``limit_price`` None means a market order."""

    parent_id: str
    order_id: str
    side: Side
    quantity: Decimal
    limit_price: Decimal | None

    def __post_init__(self) -> None:
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise InvalidInputError(
                f"order {self.order_id} quantity = {self.quantity}: expected > 0"
            )


@dataclass(frozen=True, slots=True)
class RestingOrder:
    order: Order
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """Everything a state builder or an executor may look at when deciding."""

    parent: ParentOrder
    step: int  # steps since the parent started, 0 .. horizon_steps - 1
    time_of_day_secs: float
    book: BookSnapshot
    arrival_mid: Decimal
    filled_quantity: Decimal
    recent_trades: Sequence[Trade] = ()
    our_fills: Sequence[Fill] = ()
    open_orders: Mapping[str, RestingOrder] = field(default_factory=dict)
    price_after_fill: Decimal | None = None
    # market time per step, required (VWAP reads its profile by time of day through it; an
    # engine without a clock is refused rather than assumed to step once a second)
    step_seconds: float = field(kw_only=True)

    def __post_init__(self) -> None:
        step = self.step
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise InvalidInputError(f"step = {step!r}: expected an integer >= 0 (the parent's)")
        seconds = self.step_seconds
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise InvalidInputError(
                f"step_seconds = {seconds!r}: expected the market time per step in seconds, > 0"
            )

    @property
    def remaining_quantity(self) -> Decimal:
        return self.parent.quantity - self.filled_quantity

    @property
    def resting_quantity(self) -> Decimal:
        """What our child orders still have resting."""
        return sum((r.remaining for r in self.open_orders.values()), Decimal(0))

    def behind_touch(self) -> dict[str, Decimal]:
        """Our resting children whose limit is behind the near touch (a buy's bid below the
        best bid, a sell's ask above the best ask), by id: how far behind, in price units."""
        if not self.open_orders:
            return {}
        side = self.parent.side
        touch = self.book.near_touch(side).price
        behind: dict[str, Decimal] = {}
        for order_id, resting in self.open_orders.items():
            limit = resting.order.limit_price
            if limit is None:  # a market order never rests behind
                continue
            gap = touch - limit if side is Side.BUY else limit - touch
            if gap > 0:
                behind[order_id] = gap
        return behind

    @property
    def time_elapsed_pct(self) -> float:
        return min(1.0, self.step / self.parent.horizon_steps)

    @property
    def steps_left(self) -> int:
        return self.parent.horizon_steps - self.step


class ExecutionAlgorithm(Protocol):
    """The original design's interface, plus cancels and an end-of-parent notification."""

    name: str

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None: ...

    async def record_fill(
        self,
        parent_id: str,
        order_id: str,
        filled: Decimal,
        price: Decimal,
        context: ExecutionContext,
    ) -> None: ...

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        """Ids of resting child orders to cancel before the next order (baselines: none)."""
        ...

    async def finish(self, parent_id: str, context: ExecutionContext) -> object:
        """Called once after the horizon's forced completion. What it returns is the
        executor's own business (the RL executor returns the episode's ``EpisodeRecord``);
        the runner ignores it."""
        ...
