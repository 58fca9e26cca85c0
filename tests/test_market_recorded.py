"""Replaying recorded CSV data: loading, validation errors, fills against recorded trades."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rlexec.errors import InvalidInputError
from rlexec.market import Side, make_market
from rlexec.market.recorded import RecordedMarket, write_recorded_csv

DATA = Path(__file__).parent / "data"
SNAPS, TRADES = DATA / "sample_snapshots.csv", DATA / "sample_trades.csv"
TICK = Decimal("0.01")


def _market(**kwargs: object) -> RecordedMarket:
    return RecordedMarket(SNAPS, TRADES, tick_size=TICK, **kwargs)  # type: ignore[arg-type]


def test_sample_files_are_small_and_match_the_generator(tmp_path: Path) -> None:
    assert SNAPS.stat().st_size + TRADES.stat().st_size < 200_000
    market = make_market("equity")
    market.reset(42, start_time_of_day_secs=10 * 3600)
    write_recorded_csv(market, 600, tmp_path / "s.csv", tmp_path / "t.csv")
    assert (tmp_path / "s.csv").read_text() == SNAPS.read_text()
    assert (tmp_path / "t.csv").read_text() == TRADES.read_text()


def test_replay_follows_the_recording_and_the_seed_picks_the_start() -> None:
    market = _market(episode_steps=300)
    first = market.reset(1)
    again = _market(episode_steps=300).reset(1)
    assert first == again
    assert market.step_index == 0
    market.advance()
    assert market.step_index == 1
    assert market.snapshot().step == first.step + 1
    assert market.time_of_day_secs == first.time_of_day_secs + 1
    starts = {_market(episode_steps=300).reset(seed).step for seed in range(10)}
    assert len(starts) > 1 and all(0 <= s <= 300 for s in starts)


def test_market_orders_walk_the_recorded_book_and_always_complete() -> None:
    market = _market()
    book = market.reset(0)
    fills = market.submit_market("m", Side.BUY, Decimal(1_000_000))
    assert sum(f.quantity for f in fills) == Decimal(1_000_000)
    assert fills[0].price == book.best_ask
    assert [f.price for f in fills] == sorted(f.price for f in fills)
    after = market.snapshot()  # what we took stays taken within the step
    assert after.best_ask > book.best_ask
    market.advance()
    assert market.snapshot() == market._books[market._i]


def test_passive_order_fills_after_the_recorded_queue_ahead() -> None:
    market = _market()
    book = market.reset(0)
    price, ahead = book.best_bid, book.bids[0].size
    market.submit_limit("p", Side.BUY, Decimal(100), price)
    traded_at_or_through = Decimal(0)
    filled = Decimal(0)
    for _ in range(599):
        fills = market.advance()
        for trade in market.recent_trades():
            if trade.aggressor is Side.SELL and trade.price <= price:
                traded_at_or_through += trade.quantity
        for fill in fills:
            assert fill.price == price and fill.passive
            filled += fill.quantity
            if market.snapshot().best_ask > price:
                # only trades (not a crossing book) filled us: they covered the queue ahead
                assert traded_at_or_through >= ahead or any(
                    t.price < price for t in market.recent_trades()
                )
        if filled:
            break
    assert 0 < filled <= 100


def test_a_buy_limit_never_fills_above_its_price() -> None:
    market = _market()
    book = market.reset(3)
    limit = book.best_ask + TICK
    fills = market.submit_limit("x", Side.BUY, Decimal(100_000), limit)
    assert fills and all(f.price <= limit for f in fills)
    assert market.cancel("x") == Decimal(100_000) - sum(f.quantity for f in fills)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


HEADER = "step,time_of_day_secs,bid_price_1,bid_size_1,ask_price_1,ask_size_1\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0,100,1.00,5,1.00,5", "locked"),
        ("0,100,1.01,5,1.00,5", "crossed"),
        ("0,100,1.00,0,1.01,5", "size > 0"),
        ("0,100,1.00,5,NaN,5", r"ask_price_1 = 'NaN'"),
        ("0,100,1.005,5,1.01,5", "tick grid"),
        ("x,100,1.00,5,1.01,5", r"column step = 'x': expected an integer"),
    ],
)
def test_bad_snapshot_rows_name_file_line_and_column(
    tmp_path: Path, row: str, message: str
) -> None:
    path = _write(tmp_path / "s.csv", HEADER + row + "\n")
    with pytest.raises(InvalidInputError, match=message) as info:
        RecordedMarket(path, tick_size=TICK)
    assert f"{path}:2" in str(info.value)


def test_prediction_market_bounds_and_step_gaps(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", HEADER + "0,1,0.50,5,1.00,5\n")
    with pytest.raises(InvalidInputError, match=r"inside \(0, 1\)"):
        RecordedMarket(path, tick_size=TICK, price_bounds=(Decimal(0), Decimal(1)))
    path = _write(tmp_path / "g.csv", HEADER + "0,1,0.50,5,0.51,5\n2,2,0.50,5,0.51,5\n")
    with pytest.raises(InvalidInputError, match=r"g.csv:3: column step = 2: expected 1"):
        RecordedMarket(path, tick_size=TICK)


def test_bad_trade_rows_are_rejected(tmp_path: Path) -> None:
    snaps = _write(tmp_path / "s.csv", HEADER + "0,1,0.50,5,0.51,5\n1,2,0.50,5,0.51,5\n")
    cases = {
        "1,0.50,5,hold": "aggressor = 'hold': expected buy or sell",
        "7,0.50,5,buy": r"step = 7: expected a snapshot step in \[0, 1\]",
        "1,0.50,-5,buy": "expected both > 0",
    }
    for row, message in cases.items():
        trades = _write(tmp_path / "t.csv", "step,price,quantity,aggressor\n" + row + "\n")
        with pytest.raises(InvalidInputError, match=message):
            RecordedMarket(snaps, trades, tick_size=TICK)
    with pytest.raises(InvalidInputError, match="missing column"):
        RecordedMarket(_write(tmp_path / "bad.csv", "step,price\n1,2\n"), tick_size=TICK)
