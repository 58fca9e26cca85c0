"""Rewards: the original design's four parts and the shortfall reward, by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rlexec.config import RewardConfig
from rlexec.errors import InvalidInputError
from rlexec.rl import ExecutionReward, original_reward, shortfall_cost_bps, shortfall_reward

WEIGHTS = RewardConfig()  # fill 10, slippage 100, time 50, impact 50


def test_original_reward_parts_before_the_time_threshold() -> None:
    r = original_reward(
        filled=200, order_size=1000, price=100.05, mid_price=100.0,
        time_elapsed_pct=0.5, price_after=100.15, weights=WEIGHTS,
    )
    assert r.fill_rate_reward == pytest.approx(0.2 * 10)
    assert r.slippage_penalty == pytest.approx(0.05 / 100.0 * 100)
    assert r.time_penalty == 0.0
    assert r.market_impact_penalty == pytest.approx(0.10 / 100.05 * 50)
    assert r.total() == pytest.approx(2.0 - 0.05 - 0.10 / 100.05 * 50)


def test_original_reward_time_penalty_past_ninety_percent_and_custom_weights() -> None:
    weights = RewardConfig(fill_weight=1.0, slippage_weight=2.0, time_weight=10.0,
                           impact_weight=0.0)
    r = original_reward(
        filled=Decimal("50"), order_size=Decimal("100"), price=Decimal("0.44"),
        mid_price=Decimal("0.40"), time_elapsed_pct=0.95, price_after=Decimal("0.5"),
        weights=weights,
    )
    assert r.fill_rate_reward == pytest.approx(0.5)
    assert r.slippage_penalty == pytest.approx(0.04 / 0.40 * 2.0)
    assert r.time_penalty == pytest.approx(0.05 * 10.0)
    assert r.market_impact_penalty == 0.0
    at_threshold = original_reward(filled=0, order_size=100, price=None, mid_price=1.0,
                                   time_elapsed_pct=0.9, price_after=None, weights=weights)
    assert at_threshold.time_penalty == 0.0


def test_no_fill_gives_no_slippage_or_impact() -> None:
    r = original_reward(filled=0, order_size=100, price=None, mid_price=50.0,
                        time_elapsed_pct=1.0, price_after=None, weights=WEIGHTS)
    assert r == ExecutionReward(0.0, 0.0, pytest.approx(5.0), 0.0)  # type: ignore[arg-type]


def test_original_reward_rejects_bad_input() -> None:
    kwargs: dict[str, object] = dict(filled=1, order_size=10, price=1.0, mid_price=1.0,
                                     time_elapsed_pct=0.1, price_after=None, weights=WEIGHTS)
    for name, bad in [("order_size", 0), ("mid_price", -1.0), ("filled", float("nan")),
                      ("time_elapsed_pct", 1.5), ("price", None)]:
        with pytest.raises(InvalidInputError, match=name):
            original_reward(**{**kwargs, name: bad})  # type: ignore[arg-type]


def test_shortfall_reward_for_a_buy_by_hand() -> None:
    # buy 1000 at arrival mid 100: 400 @ 100.02 and 100 @ 99.99
    fills = [(400, 100.02), (100, 99.99)]
    cost = (400 * 0.02 + 100 * -0.01) / (1000 * 100.0) * 1e4
    assert shortfall_cost_bps(1, fills, 100.0, 1000) == pytest.approx(cost)
    r = shortfall_reward(1, fills, 100.0, 1000)
    assert r.slippage_penalty == pytest.approx(cost)
    assert (r.fill_rate_reward, r.time_penalty, r.market_impact_penalty) == (0.0, 0.0, 0.0)
    assert r.total() == pytest.approx(-0.7)


def test_shortfall_reward_sign_flips_for_a_sell() -> None:
    r = shortfall_reward(-1, [(Decimal("10"), Decimal("0.41"))], Decimal("0.40"), 10)
    assert r.total() == pytest.approx(0.01 / 0.40 * 1e4)  # sold above arrival: a gain


def test_step_rewards_sum_to_minus_the_implementation_shortfall() -> None:
    arrival, parent = 50.0, 300
    steps = [[(100, 50.01)], [], [(50, 49.98), (50, 50.00)], [(100, 50.05)]]  # last: completion
    total = sum(shortfall_reward(1, fills, arrival, parent).total() for fills in steps)
    all_fills = [f for fills in steps for f in fills]
    paid = sum(q * p for q, p in all_fills)
    implementation_shortfall = (paid - parent * arrival) / (parent * arrival) * 1e4
    assert total == pytest.approx(-implementation_shortfall)


def test_shortfall_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="side_sign"):
        shortfall_reward(0, [], 1.0, 1)
    with pytest.raises(InvalidInputError, match="arrival_mid"):
        shortfall_reward(1, [], 0.0, 1)
    with pytest.raises(InvalidInputError, match="fill quantity"):
        shortfall_reward(1, [(-1, 1.0)], 1.0, 1)
