"""Validation of book snapshots coming from outside (rlexec.market.book)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlexec.errors import InvalidInputError
from rlexec.market.book import BookLevel, BookSnapshot, Side

D = Decimal
TICK = D("0.01")
UNIT = (D(0), D(1))


def book(
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    bounds: tuple[Decimal, Decimal] | None = None,
) -> BookSnapshot:
    return BookSnapshot(
        step=3,
        time_of_day_secs=36000.0,
        bids=tuple(BookLevel(D(p), D(s)) for p, s in bids),
        asks=tuple(BookLevel(D(p), D(s)) for p, s in asks),
        tick_size=TICK,
        price_bounds=bounds,
    )


def test_a_valid_book_and_its_derived_values() -> None:
    b = book([("0.49", "30"), ("0.48", "10")], [("0.51", "10")], UNIT)
    assert b.mid == D("0.50") and b.spread == D("0.02")
    assert b.imbalance == pytest.approx(0.5)
    assert b.near_touch(Side.BUY).price == D("0.49")
    assert b.far_touch(Side.BUY).price == D("0.51")


@pytest.mark.parametrize(
    ("bids", "asks", "bounds", "message"),
    [
        ([("1.00", "5")], [("1.00", "5")], None, "locked"),
        ([("1.02", "5")], [("1.01", "5")], None, "crossed"),
        ([("1.00", "NaN")], [("1.01", "5")], None, "finite"),
        ([("1.00", "5")], [("Infinity", "5")], None, "finite"),
        ([("1.00", "0")], [("1.01", "5")], None, r"size = 0: expected a size > 0"),
        ([("1.00", "-3")], [("1.01", "5")], None, "expected a size > 0"),
        ([("1.005", "5")], [("1.01", "5")], None, "tick grid"),
        ([("0.00", "5")], [("0.01", "5")], UNIT, r"strictly inside \(0, 1\)"),
        ([("0.99", "5")], [("1.00", "5")], UNIT, r"asks\[0\].price = 1.00"),
        ([("-0.01", "5")], [("0.01", "5")], None, "price > 0"),
        ([("1.00", "5"), ("1.00", "5")], [("1.01", "5")], None, "strictly descending"),
        ([("1.00", "5")], [("1.02", "5"), ("1.01", "5")], None, "strictly ascending"),
        ([], [("1.01", "5")], None, "both sides"),
    ],
)
def test_invalid_books_are_rejected_with_a_clear_message(
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    bounds: tuple[Decimal, Decimal] | None,
    message: str,
) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        book(bids, asks, bounds)
    assert "step 3" in str(info.value)


@given(
    bid=st.integers(min_value=1, max_value=98),
    width=st.integers(min_value=1, max_value=5),
    size=st.integers(min_value=1, max_value=10_000),
)
def test_every_uncrossed_book_on_the_grid_inside_the_bounds_is_accepted(
    bid: int, width: int, size: int
) -> None:
    ask = min(bid + width, 99)  # bid <= 98, so ask > bid
    b = book([(str(bid * TICK), str(size))], [(str(ask * TICK), str(size))], UNIT)
    assert D(0) < b.best_bid < b.mid < b.best_ask < D(1)
    assert b.imbalance == 0.0
