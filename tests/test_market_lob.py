"""Invariants and stylised facts of the limit-order-book simulator (both presets)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlexec.errors import InvalidInputError
from rlexec.market import LobMarket, Side, make_market
from rlexec.market.book import Fill
from rlexec.market.presets import PRESETS

PRESET_NAMES = sorted(PRESETS)


def _path(market: LobMarket, seed: int, steps: int) -> list[tuple[Decimal, Decimal, Decimal]]:
    market.reset(seed)
    out = []
    for _ in range(steps):
        book = market.snapshot()
        out.append((book.best_bid, book.best_ask, book.bids[0].size))
        market.advance()
    return out


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_same_seed_gives_the_same_path(name: str) -> None:
    a, b = make_market(name), make_market(name)
    assert _path(a, 7, 600) == _path(b, 7, 600)
    assert _path(a, 7, 600) != _path(a, 8, 600)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_our_orders_do_not_change_the_exogenous_draws(name: str) -> None:
    quiet, busy = make_market(name), make_market(name)
    quiet.reset(11)
    busy.reset(11)
    for step in range(5000):
        if step % 50 == 0:
            book = busy.snapshot()
            busy.submit_market(f"m{step}", Side.BUY, Decimal(300))
            busy.submit_limit(f"l{step}", Side.SELL, Decimal(100), book.best_ask)
        quiet.advance()
        busy.advance()
        if step % 997 == 0:
            assert quiet._blk_mo == busy._blk_mo
            assert quiet._blk_lo == busy._blk_lo
            assert quiet._blk_cx == busy._blk_cx
            assert quiet._blk_vol == busy._blk_vol and quiet._blk_liq == busy._blk_liq
    assert quiet.time_of_day_secs == busy.time_of_day_secs


def test_an_order_placed_and_cancelled_leaves_the_path_unchanged() -> None:
    plain, touched = make_market("equity"), make_market("equity")
    plain.reset(3)
    touched.reset(3)
    for step in range(300):
        if step % 10 == 0:
            price = touched.snapshot().best_bid - Decimal("0.05")
            touched.submit_limit(f"o{step}", Side.BUY, Decimal(10), price)
            assert touched.cancel(f"o{step}") == Decimal(10)
        plain.advance()
        touched.advance()
        assert plain.snapshot() == touched.snapshot()


def test_queue_position_is_fifo_and_starts_at_the_back() -> None:
    market = make_market("equity")
    book = market.reset(5)
    price, visible = book.best_bid, book.bids[0].size
    market.submit_limit("first", Side.BUY, Decimal(200), price)
    market.submit_limit("second", Side.BUY, Decimal(200), price)
    assert market.queue_ahead("first") == visible
    assert market.queue_ahead("second") == visible + 200
    filled: dict[str, Decimal] = defaultdict(Decimal)
    for _ in range(3000):
        for fill in market.advance():
            if fill.order_id == "second":
                assert filled["first"] == 200, "the later order filled before the earlier one"
            filled[fill.order_id] += fill.quantity
            assert fill.price == price and fill.passive
        if filled["second"] == 200:
            break
    assert filled["first"] == 200
    assert market.resting_quantity("first") == 0


def test_cancel_loses_the_place_and_returns_the_rest() -> None:
    market = make_market("equity")
    book = market.reset(9)
    market.submit_limit("a", Side.SELL, Decimal(50), book.best_ask)
    ahead = market.queue_ahead("a")
    assert market.cancel("a") == Decimal(50)
    assert market.cancel("a") == Decimal(0)
    market.submit_limit("a", Side.SELL, Decimal(50), book.best_ask)
    assert market.queue_ahead("a") >= ahead


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_a_market_order_always_fills_completely(name: str) -> None:
    market = make_market(name)
    market.reset(1)
    for side in (Side.BUY, Side.SELL):
        fills = market.submit_market(f"big-{side}", side, Decimal(200_000))
        assert sum(f.quantity for f in fills) == Decimal(200_000)
        prices = [f.price for f in fills]
        assert prices == sorted(prices, reverse=side is Side.SELL)
        market.snapshot()  # still a valid book (not crossed, on the grid, inside (0, 1))


def test_walking_the_book_has_temporary_and_permanent_impact() -> None:
    market = make_market("equity")
    book = market.reset(21)
    mid0 = book.mid
    market.submit_market("walk", Side.BUY, Decimal(8_000))
    right_after = market.snapshot().mid
    assert right_after > mid0
    mids = []
    for _ in range(120):
        market.advance()
        mids.append(market.snapshot().mid)
    assert min(mids[60:]) < right_after  # part of the impact decays ...
    quiet = make_market("equity")
    quiet.reset(21)
    for _ in range(120):
        quiet.advance()
    assert market.snapshot().mid > quiet.snapshot().mid  # ... and part stays


def test_marketable_limit_fills_up_to_its_price_and_rests() -> None:
    market = make_market("equity")
    book = market.reset(4)
    price = book.best_ask + Decimal("0.01")
    fills = market.submit_limit("x", Side.BUY, Decimal(50_000), price)
    assert fills and all(f.price <= price and not f.passive for f in fills)
    rest = market.resting_quantity("x")
    assert rest == Decimal(50_000) - sum(f.quantity for f in fills) and rest > 0
    after = market.snapshot()
    assert after.best_bid == price and after.best_ask > price


actions = st.lists(
    st.tuples(
        st.sampled_from(["limit", "market", "cancel", "advance", "advance", "advance"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=3000),
        st.integers(min_value=-3, max_value=4),  # ticks away from the near touch, <0 crosses
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from([*PRESET_NAMES, "low_prediction"]),
    seed=st.integers(0, 2**31),
    script=actions,
)
def test_invariants_under_random_order_flow(
    name: str, seed: int, script: list[tuple[str, Side, int, int]]
) -> None:
    if name == "low_prediction":  # a prediction market near its lower bound
        market = make_market("prediction_market", init_mid_low=0.02, init_mid_high=0.04)
    else:
        market = make_market(name)
    market.reset(seed)
    submitted: dict[str, tuple[Side, Decimal, Decimal | None]] = {}
    filled: dict[str, Decimal] = defaultdict(Decimal)
    cancelled: dict[str, Decimal] = defaultdict(Decimal)
    fills: list[Fill] = []
    for n, (kind, side, size, offset) in enumerate(script):
        book = market.snapshot()
        qty = Decimal(size)
        if kind == "limit":
            near = book.near_touch(side).price
            price = near - side.sign * offset * market.tick_size
            if not market.tick_size <= price < (1 if market.price_bounds else 10**9):
                continue
            submitted[f"o{n}"] = (side, qty, price)
            fills += market.submit_limit(f"o{n}", side, qty, price)
        elif kind == "market":
            submitted[f"o{n}"] = (side, qty, None)
            got = market.submit_market(f"o{n}", side, qty)
            assert sum(f.quantity for f in got if f.order_id == f"o{n}") == qty
            fills += got
        elif kind == "cancel" and submitted:
            oid = list(submitted)[size % len(submitted)]
            cancelled[oid] += market.cancel(oid)
        else:
            fills += market.advance()
        after = market.snapshot()  # validates: on the grid, not crossed, inside (0, 1)
        assert after.best_bid < after.best_ask
    for fill in fills:
        side, qty, limit = submitted[fill.order_id]
        assert fill.quantity > 0
        assert fill.price % market.tick_size == 0
        if market.price_bounds:
            assert 0 < fill.price < 1
        if limit is not None:
            assert fill.price <= limit if side is Side.BUY else fill.price >= limit
        filled[fill.order_id] += fill.quantity
    for oid, (_, qty, _) in submitted.items():
        # conservation: what we sent = filled + cancelled + still resting, nothing negative
        resting = market.resting_quantity(oid)
        assert filled[oid] + cancelled[oid] + resting == qty
        assert min(filled[oid], cancelled[oid], resting) >= 0


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_touch_imbalance_predicts_the_next_mid_move(name: str) -> None:
    market = make_market(name)
    imbalance, moves = [], []
    for seed in range(3):
        book = market.reset(100 + seed)
        for _ in range(8000):
            before = book
            market.advance()
            book = market.snapshot()
            imbalance.append(before.imbalance)
            moves.append(float(book.mid - before.mid))
    correlation = float(np.corrcoef(imbalance, moves)[0, 1])
    assert correlation > 0.05, correlation


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_market_order_arrivals_follow_the_intraday_u_profile(name: str) -> None:
    market = make_market(name)
    p = market.params
    window = 1800
    starts = {
        "open": p.session_open_secs,
        "midday": (p.session_open_secs + p.session_close_secs) / 2 - window / 2,
        "close": p.session_close_secs - window,
    }
    volume = {}
    for label, start in starts.items():
        total = Decimal(0)
        for seed in range(3):
            market.reset(200 + seed, start_time_of_day_secs=start)
            for _ in range(window):
                market.advance()
                total += sum((t.quantity for t in market.recent_trades()), Decimal(0))
        volume[label] = total
    assert volume["open"] > Decimal("1.5") * volume["midday"], volume
    assert volume["close"] > Decimal("1.5") * volume["midday"], volume


def test_reset_draws_start_times_inside_the_session() -> None:
    market = make_market("equity")
    times = set()
    for seed in range(20):
        market.reset(seed)
        times.add(market.time_of_day_secs)
        assert PRESETS["equity"].session_open_secs <= market.time_of_day_secs
        assert market.time_of_day_secs <= PRESETS["equity"].session_close_secs - 3600
    assert len(times) > 10


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InvalidInputError, match=r"'crypto'.*equity"):
        make_market("crypto")
    with pytest.raises(InvalidInputError, match=r"lob\.mo_rat: unknown"):
        make_market("equity", mo_rat=1.0)
    with pytest.raises(InvalidInputError, match=r"lob\.cancel_rate = 2.0"):
        make_market("equity", cancel_rate=2.0)
    market = make_market("prediction_market")
    with pytest.raises(InvalidInputError, match="reset"):
        market.snapshot()
    market.reset(0)
    with pytest.raises(InvalidInputError, match="tick grid"):
        market.submit_limit("a", Side.BUY, Decimal(1), Decimal("0.505"))
    with pytest.raises(InvalidInputError, match=r"inside \(0, 1\)"):
        market.submit_limit("a", Side.BUY, Decimal(1), Decimal("1.00"))
    with pytest.raises(InvalidInputError, match="whole number of lots"):
        market.submit_market("a", Side.BUY, Decimal("0.5"))
    market.submit_limit("a", Side.BUY, Decimal(1), Decimal("0.01"))
    with pytest.raises(InvalidInputError, match="resting"):
        market.submit_limit("a", Side.BUY, Decimal(1), Decimal("0.01"))


def test_typical_queue_depth_matches_the_simulated_touch() -> None:
    market = make_market("equity")
    market.reset(0)
    sizes = []
    for _ in range(5000):
        market.advance()
        sizes.append(float(market.snapshot().bids[0].size))
    assert 0.5 < float(np.median(sizes)) / market.typical_queue_depth < 2.0


def test_config_overrides_of_simulator_parameters_are_checked() -> None:
    from rlexec.config import parse_config
    from rlexec.errors import ConfigError

    config = parse_config({"rl_execution": {"simulator": {"lob": {"mo_rate": 2}}}})
    overrides = config.rl_execution.simulator.lob
    assert make_market("equity", **overrides).params.mo_rate == 2.0
    with pytest.raises(ConfigError, match=r"rl_execution\.simulator\.lob\.mo_rat: unknown"):
        parse_config({"rl_execution": {"simulator": {"lob": {"mo_rat": 2}}}})
    with pytest.raises(ConfigError, match=r"lob\.gap_prob = 3.0: expected in \[0, 1\]"):
        parse_config({"rl_execution": {"simulator": {"lob": {"gap_prob": 3.0}}}})
