"""The interface every market (simulated, Almgren-Chriss, recorded) offers to the episode runner.

One step is one unit of market time (``step_seconds`` of wall-clock market time). Within a step
the runner may submit and cancel our orders; ``advance()`` then lets exogenous flow arrive, fills
our resting orders that the flow reaches, and moves the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from rlexec.market.book import BookSnapshot, Fill, Side, Trade


class Market(Protocol):
    tick_size: Decimal
    step_seconds: float

    def reset(self, seed: int) -> BookSnapshot:
        """Start a new path. Exogenous flow depends on ``seed`` only (common random numbers)."""
        ...

    def snapshot(self) -> BookSnapshot: ...

    @property
    def step_index(self) -> int: ...

    @property
    def time_of_day_secs(self) -> float: ...

    def submit_limit(
        self, order_id: str, side: Side, quantity: Decimal, price: Decimal
    ) -> list[Fill]:
        """Marketable part fills at once against the book; the rest rests at ``price`` at the
        back of the queue."""
        ...

    def submit_market(self, order_id: str, side: Side, quantity: Decimal) -> list[Fill]:
        """Walks the book until ``quantity`` is filled; always fills completely."""
        ...

    def cancel(self, order_id: str) -> Decimal:
        """Remove a resting order (it loses its queue place); returns the quantity cancelled."""
        ...

    def advance(self) -> list[Fill]:
        """One step of exogenous flow; returns fills of our resting orders."""
        ...

    def recent_trades(self) -> Sequence[Trade]: ...
