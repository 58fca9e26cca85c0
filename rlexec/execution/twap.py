"""TWAP and the schedule machinery shared by every slicing executor (VWAP, Almgren-Chriss).

A schedule is a list of slices: slice ``i`` becomes due at step ``t_i`` and raises the
cumulative target to ``C_i``; the slice sizes are whole lots and ``C_last`` equals the parent size
exactly (``split_quantity``). The schedule is built once per parent on first use, from the
parent, the clock at that moment and a seeded random stream, and can be queried without side
effects (``schedule_quantity``, ``limit_price``), which is what the RL executor that wraps a base
schedule needs.

Styles:
- ``aggressive`` (default): each step, whatever the schedule wants done by now and is neither
  filled nor resting is sent as a marketable limit at the far touch; leftovers that did not fill
  (the touch was too thin) are cancelled next step and re-sent at the new far touch.
- ``passive``: each slice is posted at the near touch and keeps its queue place. When the
  parent falls behind its schedule (less filled than the previous slices' target), the resting
  orders are cancelled and the shortfall crosses the spread; the current slice is posted again
  passively the step after. ``catches_up`` is the one place that decides "cross the shortfall
  now" (passive TWAP/VWAP: whenever behind); a subclass can ask for more evidence first (the
  imbalance rule also wants the book to predict an adverse move).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import numpy as np

from rlexec.errors import InvalidInputError
from rlexec.execution.base import (
    ONE_LOT,
    BaseExecutor,
    parent_rng,
    share_in_lots,
    split_quantity,
    tape_volume,
)
from rlexec.execution.types import ExecutionContext, Order

ZERO = Decimal(0)
DEFAULT_SLICES = 10  # capped at the horizon; None = one slice per step


class Style(StrEnum):
    AGGRESSIVE = "aggressive"
    PASSIVE = "passive"


@dataclass(frozen=True, slots=True)
class Schedule:
    """Slice due steps (ascending, may repeat) and cumulative targets (last = parent size)."""

    steps: tuple[int, ...]
    cumulative: tuple[Decimal, ...]

    def target(self, step: int) -> Decimal:
        """What should be done by the end of ``step`` (0 before the first slice)."""
        i = bisect.bisect_right(self.steps, step) - 1
        return self.cumulative[i] if i >= 0 else ZERO

    def previous_target(self, step: int) -> Decimal:
        """The target of the slices due strictly before the latest slice due at ``step``."""
        i = bisect.bisect_right(self.steps, step) - 1
        if i < 0:
            return ZERO
        j = bisect.bisect_left(self.steps, self.steps[i]) - 1
        return self.cumulative[j] if j >= 0 else ZERO

    @property
    def slice_sizes(self) -> list[Decimal]:
        previous = ZERO
        sizes = []
        for c in self.cumulative:
            sizes.append(c - previous)
            previous = c
        return sizes


class ScheduledExecutor(BaseExecutor):
    """Works a parent along a schedule of slices; subclasses choose the slice weights."""

    name = "scheduled"
    use_market_orders = False  # True: send market orders instead of marketable limits

    def __init__(
        self,
        *,
        slices: int | None = DEFAULT_SLICES,
        style: Style | str = Style.AGGRESSIVE,
        time_jitter: float = 0.0,
        size_jitter: float = 0.0,
        seed: int = 0,
        lot: Decimal = ONE_LOT,
        participation_cap: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if name is not None:
            self.name = name
        if slices is not None and (not isinstance(slices, int) or slices < 1):
            raise InvalidInputError(f"slices = {slices!r}: expected an integer >= 1 or None")
        try:
            self.style = Style(style)
        except ValueError:
            raise InvalidInputError(
                f"style = {style!r}: expected one of {', '.join(s.value for s in Style)}"
            ) from None
        if not 0.0 <= time_jitter <= 1.0:
            raise InvalidInputError(f"time_jitter = {time_jitter!r}: expected a value in [0, 1]")
        if not 0.0 <= size_jitter < 1.0:
            raise InvalidInputError(f"size_jitter = {size_jitter!r}: expected a value in [0, 1)")
        if participation_cap is not None and not 0.0 < participation_cap <= 1.0:
            raise InvalidInputError(
                f"participation_cap = {participation_cap!r}: expected a share in (0, 1] or None"
            )
        self.slices = slices
        self.time_jitter = time_jitter
        self.size_jitter = size_jitter
        self.seed = seed
        self.lot = lot
        self.participation_cap = participation_cap
        self._schedules: dict[str, Schedule] = {}

    # -- what subclasses provide
    def slice_weights(self, context: ExecutionContext, bounds: Sequence[int]) -> list[float]:
        """Weight of each slice; slice ``i`` covers steps ``bounds[i] .. bounds[i+1] - 1``."""
        return [1.0] * (len(bounds) - 1)

    # -- the schedule
    def schedule(self, context: ExecutionContext) -> Schedule:
        """The parent's schedule (built on first use, then cached until ``finish``)."""
        parent = context.parent
        cached = self._schedules.get(parent.parent_id)
        if cached is None:
            cached = self.build_schedule(context)
            self._schedules[parent.parent_id] = cached
        return cached

    def build_schedule(self, context: ExecutionContext) -> Schedule:
        parent = context.parent
        horizon = parent.horizon_steps
        n = min(self.slices or horizon, horizon)
        bounds = [(i * horizon) // n for i in range(n)] + [horizon]
        weights: list[float] = self.slice_weights(context, bounds)
        due: list[int] = bounds[:-1]
        if self.time_jitter > 0 or self.size_jitter > 0:
            rng = parent_rng(self.seed, parent.parent_id)
            array = np.asarray(weights, dtype=np.float64)
            steps = np.asarray(due, dtype=np.float64)
            if self.time_jitter > 0:
                spacing = horizon / n
                steps = steps + np.rint(rng.uniform(-0.5, 0.5, n) * self.time_jitter * spacing)
                steps = np.sort(np.clip(steps, 0, horizon - 1))
            if self.size_jitter > 0:
                array = array * (1.0 + self.size_jitter * rng.uniform(-1.0, 1.0, n))
            weights = array.tolist()
            due = [int(s) for s in steps]
        sizes = split_quantity(parent.quantity, weights, self.lot)
        cumulative: list[Decimal] = []
        total = ZERO
        for size in sizes:
            total += size
            cumulative.append(total)
        return Schedule(tuple(due), tuple(cumulative))

    def schedule_quantity(self, context: ExecutionContext) -> Decimal:
        """What the schedule wants done (filled) by the end of this step. No side effects."""
        return self.schedule(context).target(context.step)

    def is_behind(self, context: ExecutionContext) -> bool:
        """Passive style: less is filled than the slices before the current one asked for."""
        return context.filled_quantity < self.schedule(context).previous_target(context.step)

    def catches_up(self, context: ExecutionContext) -> bool:
        """Passive style: cancel what rests and cross the shortfall now (here: when behind)."""
        return self.is_behind(context)

    def crosses(self, context: ExecutionContext) -> bool:
        return self.style is Style.AGGRESSIVE or self.catches_up(context)

    def limit_price(self, context: ExecutionContext) -> Decimal:
        """The price this step's child would take: far touch when crossing, else near touch."""
        side = context.parent.side
        book = context.book
        return book.far_touch(side).price if self.crosses(context) else book.near_touch(side).price

    def wanted_quantity(self, context: ExecutionContext) -> Decimal:
        """The size of this step's child before the participation cap (no side effects)."""
        resting = context.resting_quantity
        if self.style is Style.PASSIVE and self.catches_up(context):
            target = self.schedule(context).previous_target(context.step)
        else:
            target = self.schedule_quantity(context)
        return target - context.filled_quantity - resting

    # -- the protocol's synchronous core (the schedule touches memory only)
    def cancels(self, context: ExecutionContext) -> list[str]:
        """Ids of resting children to cancel this step."""
        if not context.open_orders:
            return []
        if self.style is Style.AGGRESSIVE or self.use_market_orders or self.catches_up(context):
            return list(context.open_orders)
        return []

    def next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        """This step's child order, if any."""
        return self.order_for(parent_id, context, self.wanted_quantity(context))

    def order_for(self, parent_id: str, context: ExecutionContext, wanted: Decimal) -> Order | None:
        """``next_order`` for a ``wanted_quantity(context)`` already known (the RL executor
        asked it for the base's action at this step): capped by the participation cap, at
        this step's limit price."""
        quantity = wanted
        if self.participation_cap is not None:
            observed = tape_volume(context.recent_trades)
            quantity = min(quantity, share_in_lots(self.participation_cap, observed, self.lot))
        if quantity <= 0:
            return None
        price = None if self.use_market_orders else self.limit_price(context)
        return Order(parent_id, self.next_order_id(parent_id), context.parent.side, quantity, price)

    def forget(self, parent_id: str) -> None:
        """Drop the parent's schedule (its end)."""
        self._schedules.pop(parent_id, None)

    # -- the protocol
    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        return self.cancels(context)

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        return self.next_order(parent_id, context)

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        self.forget(parent_id)


class TWAP(ScheduledExecutor):
    """Equal slices over the horizon (``slices`` of them, default 10, None = one per step),
    optionally jittered in time and size with a seeded stream."""

    name = "twap"
