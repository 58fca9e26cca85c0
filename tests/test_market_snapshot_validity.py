"""Simulated books skip validation (``BookSnapshot.trusted``); this checks that every snapshot the
simulators hand out would pass it, over many steps with our own orders in the book."""

from decimal import Decimal

import pytest

from rlexec.market.book import Side, validate_book
from rlexec.market.presets import make_market


@pytest.mark.parametrize("preset", ["equity", "prediction_market"])
def test_every_simulated_snapshot_is_a_valid_book(preset: str) -> None:
    market = make_market(preset)
    for seed in range(3):
        market.reset(seed)
        for step in range(3000):
            book = market.snapshot()
            validate_book(book)
            if step % 50 == 0:
                side = Side.BUY if step % 100 == 0 else Side.SELL
                price = book.near_touch(side).price
                market.submit_limit(f"o{seed}-{step}", side, Decimal(100), price)
            if step % 333 == 0:
                market.submit_market(f"m{seed}-{step}", Side.BUY, Decimal(300))
            market.advance()


def test_recent_trades_are_not_carried_across_resets() -> None:
    reused = make_market("equity")
    reused.reset(1)
    for _ in range(50):
        reused.advance()
        reused.recent_trades()
    for seed in (2, 3):
        fresh = make_market("equity")
        fresh.reset(seed)
        reused.reset(seed)
        for _ in range(50):
            assert list(reused.recent_trades()) == list(fresh.recent_trades())
            reused.advance()
            fresh.advance()
