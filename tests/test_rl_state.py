"""State discretization: key space, index round trip, monotone buckets, venue independence,
the own-orders, schedule and touch parts, and the text form (the older 8- and 10-part texts
still parse)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.config import StateConfig
from rlexec.errors import InvalidInputError
from rlexec.rl import ExecutionState, StateDiscretizer, StateKey, Urgency
from rlexec.rl.state import queue_depth_edges, spread_edges, volatility_edges

FULL = StateConfig(include_volatility=True, include_queue_depth=True)
ORIGINAL = StateConfig(  # the original design's key: no own orders, no schedule, 6 hours
    spread_buckets=5,
    imbalance_buckets=5,
    time_buckets=10,
    hour_buckets=6,
    include_own_orders=False,
    include_schedule=False,
    include_touch=False,
)
CONFIGS = [
    StateConfig(),
    FULL,
    ORIGINAL,
    StateConfig(
        spread_buckets=2,
        imbalance_buckets=3,
        time_buckets=2,
        remaining_buckets=7,
        hour_buckets=5,
        volatility_buckets=4,
        queue_depth_buckets=2,
        include_volatility=True,
        include_schedule=False,
        schedule_tolerance=0.3,
    ),
]
unit = st.floats(0.0, 1.0, allow_nan=False)
non_negative = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def states(draw: st.DrawFn) -> ExecutionState:
    return ExecutionState(
        remaining_size=draw(unit),
        time_elapsed_pct=draw(unit),
        urgency=draw(st.sampled_from(list(Urgency))),
        bid_ask_spread=draw(non_negative),
        orderbook_imbalance=draw(st.floats(-1.0, 1.0, allow_nan=False)),
        recent_volatility=draw(non_negative),
        queue_depth_at_price=draw(non_negative),
        hour_of_day=draw(st.integers(0, 23)),
        minute_of_hour=draw(st.integers(0, 59)),
        seconds_since_last_trade=draw(st.one_of(st.none(), non_negative)),
        recent_fill_rate=draw(unit),
        avg_slippage_last_n=draw(st.floats(-1e4, 1e4, allow_nan=False)),
        tick_size=draw(st.sampled_from([0.01, 0.001, 0.05, 1.0])),
        mid_price=draw(st.floats(0.01, 1e4)),
        typical_queue_depth=draw(st.floats(0.5, 1e5)),
        resting_share=draw(unit),
        schedule_lag=draw(st.floats(-1.0, 1.0, allow_nan=False)),
        resting_behind_ticks=draw(st.one_of(st.just(0.0), non_negative)),
    )


def base_state(**overrides: object) -> ExecutionState:
    fields: dict[str, object] = dict(
        remaining_size=0.5,
        time_elapsed_pct=0.5,
        urgency=Urgency.NORMAL,
        bid_ask_spread=0.01,
        orderbook_imbalance=0.0,
        recent_volatility=0.01,
        queue_depth_at_price=100.0,
        hour_of_day=12,
        minute_of_hour=0,
        seconds_since_last_trade=1.0,
        recent_fill_rate=0.5,
        avg_slippage_last_n=0.0,
        typical_queue_depth=100.0,
    )
    fields.update(overrides)
    return ExecutionState(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=150, deadline=None)
@given(s=states())
def test_every_valid_state_maps_inside_the_key_space(
    config: StateConfig, s: ExecutionState
) -> None:
    d = StateDiscretizer(config)
    key = d.key(s)
    for digit, radix in zip(key.digits(), d.radices, strict=True):
        assert 0 <= digit < radix
    index = d.index(key)
    assert 0 <= index < d.num_states
    assert d.state_index(s) == index
    assert d.key_from_index(index) == key
    assert StateKey.from_text(key.to_text()) == key


@pytest.mark.parametrize("config", CONFIGS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_index_round_trips(config: StateConfig, data: st.DataObject) -> None:
    d = StateDiscretizer(config)
    i = data.draw(st.integers(0, d.num_states - 1))
    assert d.index(d.key_from_index(i)) == i
    assert d.index_from_text(d.key_from_index(i).to_text()) == i


FEATURES = {
    "remaining_size": ("remaining", unit),
    "time_elapsed_pct": ("time", unit),
    "bid_ask_spread": ("spread", non_negative),
    "orderbook_imbalance": ("imbalance", st.floats(-1.0, 1.0, allow_nan=False)),
    "recent_volatility": ("volatility", non_negative),
    "queue_depth_at_price": ("queue_depth", non_negative),
    "hour_of_day": ("hour", st.integers(0, 23)),
    "resting_share": ("own_orders", unit),
}


@pytest.mark.parametrize("feature", sorted(FEATURES))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_buckets_are_monotone_in_their_feature(feature: str, data: st.DataObject) -> None:
    digit_name, strategy = FEATURES[feature]
    d = StateDiscretizer(FULL)
    s = data.draw(states())
    lo, hi = sorted([data.draw(strategy), data.draw(strategy)])
    # ``feature`` names the field only at run time, so its value cannot be typed per field
    low: dict[str, Any] = {feature: lo}
    high: dict[str, Any] = {feature: hi}
    key_lo = d.key(dataclasses.replace(s, **low))
    key_hi = d.key(dataclasses.replace(s, **high))
    assert getattr(key_lo, digit_name) <= getattr(key_hi, digit_name)


def test_default_key_space_size_and_switched_off_features() -> None:
    d = StateDiscretizer(StateConfig())
    # remaining, time, spread, imbalance, hour (1: out), urgency, own orders, schedule, touch
    assert d.num_states == 5 * 5 * 2 * 2 * 1 * 3 * 3 * 3 * 2
    assert d.describe() == {
        "remaining": 5,
        "time": 5,
        "spread": 2,
        "imbalance": 2,
        "hour": 1,
        "urgency": 3,
        "volatility": 1,
        "queue_depth": 1,
        "own_orders": 3,
        "schedule": 3,
        "touch": 2,
    }
    key = d.key(base_state(recent_volatility=5.0, queue_depth_at_price=1e6, hour_of_day=17))
    assert key.volatility == 0 and key.queue_depth == 0 and key.hour == 0
    assert StateDiscretizer(FULL).num_states == d.num_states * 3 * 3
    assert StateDiscretizer(ORIGINAL).num_states == 5 * 10 * 5 * 5 * 6 * 3
    off = StateDiscretizer(ORIGINAL).key(
        base_state(resting_share=0.5, schedule_lag=0.9, resting_behind_ticks=3.0)
    )
    assert off.own_orders == 0 and off.schedule == 0 and off.touch == 0


def test_own_orders_part_is_none_some_or_all_of_what_is_left() -> None:
    d = StateDiscretizer(StateConfig())
    for share, bucket in ((0.0, 0), (1e-9, 1), (0.5, 1), (0.999, 1), (1.0, 2)):
        assert d.key(base_state(resting_share=share)).own_orders == bucket
        assert d.own_orders_bucket(share) == bucket


def test_schedule_part_is_on_behind_or_ahead_within_the_tolerance() -> None:
    d = StateDiscretizer(StateConfig(schedule_tolerance=0.1))
    cases = {0.0: 0, 0.1: 0, -0.1: 0, 0.1001: 1, 1.0: 1, -0.1001: 2, -1.0: 2}
    for lag, bucket in cases.items():
        assert d.key(base_state(schedule_lag=lag)).schedule == bucket  # 1 behind, 2 ahead
        assert d.schedule_bucket(lag) == bucket
    wide = StateDiscretizer(StateConfig(schedule_tolerance=0.5))
    assert wide.key(base_state(schedule_lag=0.4)).schedule == 0


def test_touch_part_is_whether_a_child_rests_behind_the_touch() -> None:
    d = StateDiscretizer(StateConfig())
    for ticks, bucket in ((0.0, 0), (1e-9, 1), (1.0, 1), (7.0, 1)):
        assert d.key(base_state(resting_share=1.0, resting_behind_ticks=ticks)).touch == bucket
        assert d.touch_bucket(ticks) == bucket
    assert StateDiscretizer(StateConfig(include_touch=False)).touch_bucket(3.0) == 0


def test_the_new_parts_are_the_last_digits_of_the_index() -> None:
    d = StateDiscretizer(StateConfig())
    s = base_state(resting_share=0.0, schedule_lag=0.0)
    index = d.state_index(s)
    assert d.state_index(base_state(resting_behind_ticks=2.0)) == index + 1
    assert d.state_index(base_state(resting_share=0.0, schedule_lag=0.5)) == index + 2
    assert d.state_index(base_state(resting_share=0.0, schedule_lag=-0.5)) == index + 4
    assert d.state_index(base_state(resting_share=0.5, schedule_lag=0.0)) == index + 6
    assert d.state_index(base_state(resting_share=1.0, schedule_lag=0.0)) == index + 12


def test_the_touch_part_is_pooled_with_the_book_features() -> None:
    d = StateDiscretizer(StateConfig())
    pools = d.pools().of_state
    behind = base_state(resting_share=1.0, resting_behind_ticks=2.0)
    at_touch = base_state(resting_share=1.0, bid_ask_spread=0.05)
    assert pools[d.state_index(behind)] == pools[d.state_index(at_touch)]
    assert pools[d.state_index(behind)] != pools[d.state_index(base_state(resting_share=0.5))]


def test_spread_buckets_are_in_ticks_on_both_venues() -> None:
    assert spread_edges(2) == (1.5,)  # the default: one tick, or wider
    assert spread_edges(5) == (1.5, 2.5, 4.5, 8.5)
    for buckets, expected in (
        (2, {0.0: 0, 1: 0, 2: 1, 9: 1, 40: 1}),
        (5, {0.0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4, 40: 4}),
    ):
        d = StateDiscretizer(StateConfig(spread_buckets=buckets))
        for ticks, bucket in expected.items():
            equity = base_state(bid_ask_spread=ticks * 0.01, tick_size=0.01, mid_price=100.0)
            prediction = base_state(bid_ask_spread=ticks * 0.01, tick_size=0.01, mid_price=0.42)
            assert d.key(equity).spread == bucket
            assert d.key(prediction).spread == bucket


def test_other_edges() -> None:
    assert volatility_edges(3) == (0.5, 1.0)
    assert queue_depth_edges(3) == (0.5, 2.0)
    assert queue_depth_edges(2) == (1.0,)
    d = StateDiscretizer(FULL)
    assert d.key(base_state(queue_depth_at_price=40.0)).queue_depth == 0
    assert d.key(base_state(queue_depth_at_price=100.0)).queue_depth == 1
    assert d.key(base_state(queue_depth_at_price=250.0)).queue_depth == 2
    assert d.key(base_state(recent_volatility=0.004)).volatility == 0
    assert d.key(base_state(recent_volatility=0.03)).volatility == 2


def test_hour_blocks_match_the_original_design_with_six_buckets() -> None:
    d = StateDiscretizer(ORIGINAL)
    for hour in range(24):
        assert d.key(base_state(hour_of_day=hour)).hour == hour // 4


def test_end_points_fall_in_the_outer_buckets() -> None:
    for config, time_top, imbalance_top in ((StateConfig(), 4, 1), (ORIGINAL, 9, 4)):
        d = StateDiscretizer(config)
        low = d.key(base_state(remaining_size=0.0, time_elapsed_pct=0.0, orderbook_imbalance=-1.0))
        high = d.key(base_state(remaining_size=1.0, time_elapsed_pct=1.0, orderbook_imbalance=1.0))
        assert (low.remaining, low.time, low.imbalance) == (0, 0, 0)
        assert (high.remaining, high.time, high.imbalance) == (4, time_top, imbalance_top)
        assert d.key(base_state(urgency=Urgency.HIGH)).urgency == 2


def test_text_form_is_stable() -> None:
    key = StateKey(3, 5, 1, 2, 0, 1, own_orders=1, schedule=2, touch=1)
    assert key.to_text() == "r3.t5.s1.i2.h0.u1.v0.q0.o1.l2.b1"
    assert StateKey.from_text("r3.t5.s1.i2.h0.u1.v0.q0.o1.l2.b1") == key


def test_the_older_ten_part_text_still_parses_with_touch_zero() -> None:
    key = StateKey.from_text("r3.t5.s1.i2.h0.u1.v0.q0.o1.l2")
    assert key == StateKey(3, 5, 1, 2, 0, 1, own_orders=1, schedule=2, touch=0)
    d = StateDiscretizer(StateConfig(hour_buckets=1))
    assert d.key_from_index(d.index_from_text("r3.t1.s1.i1.h0.u1.v0.q0.o1.l2")).touch == 0


def test_the_older_eight_part_text_still_parses() -> None:
    # keys stored before the own-orders and schedule parts: both 0, exactly what a config
    # with both switched off produces
    key = StateKey.from_text("r3.t5.s1.i2.h2.u1.v0.q0")
    assert key == StateKey(3, 5, 1, 2, 2, 1, own_orders=0, schedule=0)
    assert key.to_text() == "r3.t5.s1.i2.h2.u1.v0.q0.o0.l0.b0"
    d = StateDiscretizer(ORIGINAL)
    assert d.index_from_text("r3.t5.s1.i2.h2.u1.v0.q0") == d.index(key)
    assert d.key_from_index(d.index(key)) == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "r3.t5",
        "r3.t5.s1.i2.h2.u1.v0.qx",
        "x3.t5.s1.i2.h2.u1.v0.q0",
        "r3.t5.s1.i2.h2.u1.v0.q0.o1",  # one new part without the other
        "r3.t5.s1.i2.h2.u1.v0.q0.l1.o1",  # parts out of order
        "r3.t5.s1.i2.h2.u1.v0.q0.o1.l1.x0",
        "r3.t5.s1.i2.h2.u1.v0.q0.b1",  # the touch part without the two before it
    ],
)
def test_malformed_text_is_rejected(text: str) -> None:
    with pytest.raises(InvalidInputError, match="state key"):
        StateKey.from_text(text)


def test_out_of_range_keys_and_indices_are_rejected() -> None:
    d = StateDiscretizer(StateConfig())
    with pytest.raises(InvalidInputError, match="remaining = 5"):
        d.index(StateKey(5, 0, 0, 0, 0, 0))
    with pytest.raises(InvalidInputError, match="volatility = 1"):
        d.index(StateKey(0, 0, 0, 0, 0, 0, volatility=1))
    with pytest.raises(InvalidInputError, match="hour = 2"):
        d.index(StateKey(0, 0, 0, 0, 2, 0))  # hour is out of the default key
    with pytest.raises(InvalidInputError, match="schedule = 3"):
        d.index(StateKey(0, 0, 0, 0, 0, 0, schedule=3))
    with pytest.raises(InvalidInputError, match="touch = 2"):
        d.index(StateKey(0, 0, 0, 0, 0, 0, touch=2))
    with pytest.raises(InvalidInputError, match="own_orders = 1"):
        StateDiscretizer(ORIGINAL).index(StateKey(0, 0, 0, 0, 0, 0, own_orders=1))
    with pytest.raises(InvalidInputError, match="state index"):
        d.key_from_index(d.num_states)
    with pytest.raises(InvalidInputError, match="state index"):
        d.key_from_index(-1)


def test_key_text_is_the_text_of_the_key_of_an_index() -> None:
    d = StateDiscretizer(StateConfig())
    for i in (0, 1, d.num_states // 2, d.num_states - 1):
        assert d.key_text(i) == d.key_from_index(i).to_text()
        assert d.key_text(i) is d.key_text(i)  # remembered
    with pytest.raises(InvalidInputError):
        d.key_text(d.num_states)
