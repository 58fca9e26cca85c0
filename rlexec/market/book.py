"""Market data at the boundary: book snapshots, trades and fills, validated on the way in.

Prices and sizes are Decimal here (the money boundary). Simulators work in integer ticks and
integer lots inside their step loop and convert when they hand out a snapshot or a fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import NamedTuple

from rlexec.errors import InvalidInputError
from rlexec.slots import unchecked_constructor


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: cost = sign * (price - reference)."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class BookLevel(NamedTuple):
    """One price level (a NamedTuple: simulators build twenty of these every step)."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The visible book: bids best first (descending), asks best first (ascending)."""

    step: int
    time_of_day_secs: float
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    tick_size: Decimal
    price_bounds: tuple[Decimal, Decimal] | None = None  # (0, 1) on a prediction market

    def __post_init__(self) -> None:
        validate_book(self)

    @classmethod
    def trusted(
        cls,
        step: int,
        time_of_day_secs: float,
        bids: tuple[BookLevel, ...],
        asks: tuple[BookLevel, ...],
        tick_size: Decimal,
        price_bounds: tuple[Decimal, Decimal] | None = None,
    ) -> BookSnapshot:
        """Build without validation, for simulators whose books are valid by construction (their
        property tests check every invariant ``validate_book`` would). Data from outside goes
        through the normal constructor."""
        return _unchecked_book((step, time_of_day_secs, bids, asks, tick_size, price_bounds))

    @property
    def best_bid(self) -> Decimal:
        return self.bids[0].price

    @property
    def best_ask(self) -> Decimal:
        return self.asks[0].price

    @property
    def mid(self) -> Decimal:
        return (self.best_bid + self.best_ask) / 2

    @property
    def spread(self) -> Decimal:
        return self.best_ask - self.best_bid

    @property
    def imbalance(self) -> float:
        """(bid size - ask size) / (bid size + ask size) at the touch, in [-1, 1]."""
        bid, ask = self.bids[0].size, self.asks[0].size
        return float((bid - ask) / (bid + ask))

    def near_touch(self, side: Side) -> BookLevel:
        """Where a passive order of ``side`` joins: best bid for a buy, best ask for a sell."""
        return self.bids[0] if side is Side.BUY else self.asks[0]

    def far_touch(self, side: Side) -> BookLevel:
        return self.asks[0] if side is Side.BUY else self.bids[0]


_unchecked_book = unchecked_constructor(BookSnapshot)


def validate_book(book: BookSnapshot, where: str | None = None) -> None:
    """Raise ``InvalidInputError`` for a book no venue would publish; ``where`` names the book
    in the message (default: ``book at step N``)."""
    label = f"book at step {book.step}" if where is None else where
    if not book.bids or not book.asks:
        raise InvalidInputError(f"{label}: both sides need at least one level")
    if not book.tick_size.is_finite() or book.tick_size <= 0:
        raise InvalidInputError(f"tick_size = {book.tick_size}: expected a positive number")
    for name, levels in (("bids", book.bids), ("asks", book.asks)):
        for i, level in enumerate(levels):
            at = f"{label}: {name}[{i}]"
            if not level.price.is_finite() or not level.size.is_finite():
                raise InvalidInputError(f"{at} = {level}: price and size must be finite")
            if level.size <= 0:
                raise InvalidInputError(f"{at}.size = {level.size}: expected a size > 0")
            if level.price % book.tick_size != 0:
                raise InvalidInputError(
                    f"{at}.price = {level.price}: not on the tick grid of {book.tick_size}"
                )
            if book.price_bounds is not None:
                low, high = book.price_bounds
                if not low < level.price < high:
                    raise InvalidInputError(
                        f"{at}.price = {level.price}: expected a price strictly inside "
                        f"({low}, {high})"
                    )
            elif level.price <= 0:
                raise InvalidInputError(f"{at}.price = {level.price}: expected a price > 0")
    _check_sorted(label, "bids", [lv.price for lv in book.bids], descending=True)
    _check_sorted(label, "asks", [lv.price for lv in book.asks], descending=False)
    if book.bids[0].price >= book.asks[0].price:
        kind = "locked" if book.bids[0].price == book.asks[0].price else "crossed"
        raise InvalidInputError(
            f"{label} is {kind}: best bid {book.bids[0].price} >= best ask {book.asks[0].price}"
        )


def _check_sorted(label: str, name: str, prices: list[Decimal], *, descending: bool) -> None:
    for a, b in pairwise(prices):
        if (a <= b) if descending else (a >= b):
            order = "descending" if descending else "ascending"
            raise InvalidInputError(
                f"{label}: {name} prices must be strictly {order}, got {a} then {b}"
            )


@dataclass(frozen=True, slots=True)
class Trade:
    """A trade printed by the market (anyone's). ``aggressor`` is the side that crossed."""

    step: int
    price: Decimal
    quantity: Decimal
    aggressor: Side


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill of one of our child orders."""

    order_id: str
    step: int
    quantity: Decimal
    price: Decimal
    passive: bool
