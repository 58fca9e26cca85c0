"""Replaying recorded CSV data: loading, validation errors, fills against recorded trades, and
held-out time ranges (training and evaluation seeds never replay the same steps)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rlexec.errors import InvalidInputError
from rlexec.market import Side, make_market
from rlexec.market.recorded import RecordedMarket, SeedBand, TimeSplit, write_recorded_csv

DATA = Path(__file__).parent / "data"
SNAPS, TRADES = DATA / "sample_snapshots.csv", DATA / "sample_trades.csv"
TICK = Decimal("0.01")
FIRST_EVAL = 1_000_000_000
SPLIT = TimeSplit.training_evaluation(0.7, FIRST_EVAL)  # 600 rows: training 0..419, eval 420..599


def _market(snaps: Path = SNAPS, **kwargs: object) -> RecordedMarket:
    kwargs.setdefault("split", SPLIT)
    return RecordedMarket(snaps, TRADES, tick_size=TICK, **kwargs)  # type: ignore[arg-type]


def test_sample_files_are_small_and_match_the_generator(tmp_path: Path) -> None:
    assert SNAPS.stat().st_size + TRADES.stat().st_size < 200_000
    market = make_market("equity")
    market.reset(42, start_time_of_day_secs=10 * 3600)
    write_recorded_csv(market, 600, tmp_path / "s.csv", tmp_path / "t.csv")
    assert (tmp_path / "s.csv").read_text() == SNAPS.read_text()
    assert (tmp_path / "t.csv").read_text() == TRADES.read_text()


def test_replay_follows_the_recording_and_the_seed_picks_the_start() -> None:
    market = _market(episode_steps=100)
    first = market.reset(1)
    again = _market(episode_steps=100).reset(1)
    assert first == again
    assert market.step_index == 0
    market.advance()
    assert market.step_index == 1
    assert market.snapshot().step == first.step + 1
    assert market.time_of_day_secs == first.time_of_day_secs + 1
    starts = {_market(episode_steps=100).reset(seed).step for seed in range(10)}
    assert len(starts) > 1 and all(0 <= s <= 320 for s in starts)  # training rows 0..419


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
        RecordedMarket(path, tick_size=TICK, split=SPLIT)
    assert f"{path}:2" in str(info.value)


def test_prediction_market_bounds_and_step_gaps(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", HEADER + "0,1,0.50,5,1.00,5\n")
    with pytest.raises(InvalidInputError, match=r"inside \(0, 1\)"):
        RecordedMarket(path, tick_size=TICK, split=SPLIT, price_bounds=(Decimal(0), Decimal(1)))
    path = _write(tmp_path / "g.csv", HEADER + "0,1,0.50,5,0.51,5\n2,2,0.50,5,0.51,5\n")
    with pytest.raises(InvalidInputError, match=r"g.csv:3: column step = 2: expected 1"):
        RecordedMarket(path, tick_size=TICK, split=SPLIT)


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
            RecordedMarket(snaps, trades, tick_size=TICK, split=SPLIT)
    with pytest.raises(InvalidInputError, match="missing column"):
        RecordedMarket(
            _write(tmp_path / "bad.csv", "step,price\n1,2\n"), tick_size=TICK, split=SPLIT
        )


# ---------------------------------------------------------------------- held-out time ranges


def _episode_rows(market: RecordedMarket, seed: int) -> list[int]:
    """The recorded steps an episode of ``seed`` sees, advancing past its length too."""
    rows = [market.reset(seed).step]
    for _ in range(market.episode_steps + 50):
        market.advance()
        rows.append(market.snapshot().step)
    return rows


def test_training_and_evaluation_seeds_replay_disjoint_time_ranges() -> None:
    market = _market(episode_steps=60)
    training = {step for seed in range(200) for step in _episode_rows(market, seed)}
    evaluation = {
        step for seed in range(FIRST_EVAL, FIRST_EVAL + 200) for step in _episode_rows(market, seed)
    }
    assert training <= set(range(0, 420))  # the first 70% of the 600 recorded steps
    assert evaluation <= set(range(420, 600))
    assert not training & evaluation
    # the ranges are used, not a corner of them: starts spread over the whole range
    starts = [market.reset(seed).step for seed in range(FIRST_EVAL, FIRST_EVAL + 200)]
    assert min(starts) < 440 and max(starts) > 520
    assert max(market.reset(seed).step for seed in range(200)) > 300


def test_typical_queue_depth_comes_from_the_training_range_only(tmp_path: Path) -> None:
    lines = SNAPS.read_text().splitlines(keepends=True)
    header = lines[0].split(",")
    size_columns = [i for i, name in enumerate(header) if "_size_" in name]

    def scaled(rows: range, factor: int, name: str) -> Path:
        out = [lines[0]]
        for i, line in enumerate(lines[1:]):
            fields = line.rstrip("\n").split(",")
            if i in rows:
                for c in size_columns:
                    if fields[c]:
                        fields[c] = str(Decimal(fields[c]) * factor)
            out.append(",".join(fields) + "\n")
        return _write(tmp_path / name, "".join(out))

    depth = _market().typical_queue_depth
    assert _market(scaled(range(420, 600), 7, "future.csv")).typical_queue_depth == depth
    assert _market(scaled(range(0, 420), 7, "past.csv")).typical_queue_depth == 7 * depth


def test_a_validation_band_is_a_third_range() -> None:
    split = TimeSplit(
        (
            SeedBand("training", 0, 0.6),
            SeedBand("validation", 500_000_000, 0.8),
            SeedBand("evaluation", FIRST_EVAL, 1.0),
        )
    )
    assert split.step_ranges(600) == [(0, 360), (360, 480), (480, 600)]
    assert [split.band_of(s) for s in (0, 499_999_999, 500_000_000, FIRST_EVAL, 2**40)] == [
        0, 0, 1, 2, 2,
    ]  # fmt: skip
    market = _market(split=split, episode_steps=60)
    for seed, (low, high) in (
        (7, (0, 360)),
        (500_000_007, (360, 480)),
        (FIRST_EVAL + 7, (480, 600)),
    ):
        assert all(low <= step < high for step in _episode_rows(market, seed))


def test_the_products_split_has_three_ranges_cut_where_the_shares_say() -> None:
    split = TimeSplit.held_out(0.7, 0.15, 900_000_000, FIRST_EVAL)
    assert split.step_ranges(600) == [(0, 420), (420, 510), (510, 600)]
    # (0.01 + 0.06) * 100 is 6.999... in floats: the cut is still row 7
    assert TimeSplit.held_out(0.01, 0.06, 1, 2).step_ranges(100) == [(0, 1), (1, 7), (7, 100)]
    assert [b.name for b in split.bands] == ["training", "validation", "evaluation"]
    assert [split.band_of(s) for s in (899_999_999, 900_000_000, FIRST_EVAL - 1, FIRST_EVAL)] == [
        0, 1, 1, 2,
    ]  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"expected a sum below 1"):
        TimeSplit.held_out(0.8, 0.2, 900_000_000, FIRST_EVAL)
    with pytest.raises(InvalidInputError, match=r"validation_share = 0"):
        TimeSplit.held_out(0.8, 0, 900_000_000, FIRST_EVAL)


def test_bad_splits_and_short_ranges_are_refused() -> None:
    with pytest.raises(
        InvalidInputError, match=r"evaluation range .* 180 steps, fewer than episode_steps = 300"
    ):
        _market(episode_steps=300)
    with pytest.raises(InvalidInputError, match=r"training_share = 1\.0"):
        TimeSplit.training_evaluation(1.0, FIRST_EVAL)
    with pytest.raises(InvalidInputError, match="must start after band training"):
        TimeSplit((SeedBand("training", 0, 0.5), SeedBand("evaluation", 0, 1.0)))
    with pytest.raises(InvalidInputError, match="expected 1"):
        TimeSplit((SeedBand("training", 0, 0.5),))
    with pytest.raises(InvalidInputError, match="seed = -1"):
        _market().reset(-1)
