"""Rewards: the original design's four parts, the shortfall reward, the running ``Shortfall``
and the executor's ``TransitionReward``, by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rlexec.config import RewardConfig, RewardMode
from rlexec.errors import InvalidInputError
from rlexec.rl import ExecutionReward, original_reward, shortfall_cost_bps, shortfall_reward
from rlexec.rl.reward import Shortfall, TransitionReward

WEIGHTS = RewardConfig()  # fill 10, slippage 100, time 50, impact 50


def test_original_reward_parts_before_the_time_threshold() -> None:
    r = original_reward(
        filled=200,
        order_size=1000,
        price=100.05,
        mid_price=100.0,
        time_elapsed_pct=0.5,
        price_after=100.15,
        weights=WEIGHTS,
    )
    assert r.fill_rate_reward == pytest.approx(0.2 * 10)
    assert r.slippage_penalty == pytest.approx(0.05 / 100.0 * 100)
    assert r.time_penalty == 0.0
    assert r.market_impact_penalty == pytest.approx(0.10 / 100.05 * 50)
    assert r.total() == pytest.approx(2.0 - 0.05 - 0.10 / 100.05 * 50)


def test_original_reward_time_penalty_past_ninety_percent_and_custom_weights() -> None:
    weights = RewardConfig(
        fill_weight=1.0, slippage_weight=2.0, time_weight=10.0, impact_weight=0.0
    )
    r = original_reward(
        filled=Decimal("50"),
        order_size=Decimal("100"),
        price=Decimal("0.44"),
        mid_price=Decimal("0.40"),
        time_elapsed_pct=0.95,
        price_after=Decimal("0.5"),
        weights=weights,
    )
    assert r.fill_rate_reward == pytest.approx(0.5)
    assert r.slippage_penalty == pytest.approx(0.04 / 0.40 * 2.0)
    assert r.time_penalty == pytest.approx(0.05 * 10.0)
    assert r.market_impact_penalty == 0.0
    at_threshold = original_reward(
        filled=0,
        order_size=100,
        price=None,
        mid_price=1.0,
        time_elapsed_pct=0.9,
        price_after=None,
        weights=weights,
    )
    assert at_threshold.time_penalty == 0.0


def test_no_fill_gives_no_slippage_or_impact() -> None:
    r = original_reward(
        filled=0,
        order_size=100,
        price=None,
        mid_price=50.0,
        time_elapsed_pct=1.0,
        price_after=None,
        weights=WEIGHTS,
    )
    assert r == ExecutionReward(0.0, 0.0, pytest.approx(5.0), 0.0)  # type: ignore[arg-type]


def test_original_reward_rejects_bad_input() -> None:
    kwargs: dict[str, object] = dict(
        filled=1,
        order_size=10,
        price=1.0,
        mid_price=1.0,
        time_elapsed_pct=0.1,
        price_after=None,
        weights=WEIGHTS,
    )
    for name, bad in [
        ("order_size", 0),
        ("mid_price", -1.0),
        ("filled", float("nan")),
        ("time_elapsed_pct", 1.5),
        ("price", None),
    ]:
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


# ---- Shortfall: the one implementation-shortfall computation -----------------------------


def test_shortfall_realized_and_marked_by_hand() -> None:
    s = Shortfall(1, 1000.0, 100.0)  # buy 1000 at arrival mid 100: value 100000
    assert s.marked_bps(100.0) == 0.0  # S_0 = 0
    assert s.marked_bps(100.5) == pytest.approx(1000 * 0.5 / 100_000 * 1e4)  # 50 bps adverse
    assert s.add_fill(400.0, 100.02) == pytest.approx(400 * 0.02)  # the fill's money cost
    assert s.bps() == pytest.approx(8.0 / 100_000 * 1e4)
    # 600 still to trade, marked at 99.9: 8 - 60 = -52 money units
    assert s.marked_bps(99.9) == pytest.approx(-52.0 / 100_000 * 1e4)
    s.add_fill(600.0, 99.95)
    assert s.marked_bps(123.0) == s.bps()  # nothing left to mark: S_T is the IS
    assert s.bps(7.0) == pytest.approx(7.0 / 100_000 * 1e4)  # any money cost in bps


def test_shortfall_sign_flips_for_a_sell_and_decimal_is_exact() -> None:
    s = Shortfall(-1, Decimal(10), Decimal("0.50"))
    s.add_fill(Decimal(4), Decimal("0.49"))
    s.add_fill(Decimal(6), Decimal("0.52"))
    # sold 4 low (-0.04 for us) and 6 high (+0.12): a gain of 0.08 on a value of 5
    assert s.cost == Decimal("-0.08")
    assert s.bps() == Decimal("-160")
    f = Shortfall(-1, 10.0, 0.50)
    f.add_fill(4.0, 0.49)
    f.add_fill(6.0, 0.52)
    assert f.bps() == pytest.approx(float(s.bps()), abs=1e-9)


# ---- TransitionReward: the reward of the executor's transitions ---------------------------

SHORTFALL = RewardConfig()


def _episode(reward: TransitionReward) -> list[ExecutionReward]:
    """Three transitions of a buy of 300 at arrival 50: a fill at each, the last the
    completion; mids 50.00 -> 50.02 -> 49.99 -> 50.05."""
    parts = []
    reward.open(50.00)
    reward.add_fill(Decimal(100), Decimal("50.01"))
    parts.append(
        reward.close(opened_step=0, step=5, mid=50.02, time_elapsed_pct=0.5, terminated=False)
    )
    reward.open(50.02)
    reward.add_fill(Decimal(100), Decimal("49.98"))
    parts.append(
        reward.close(opened_step=5, step=9, mid=49.99, time_elapsed_pct=0.9, terminated=False)
    )
    reward.open(49.99)
    reward.add_fill(Decimal(100), Decimal("50.06"))  # the forced completion
    parts.append(
        reward.close(opened_step=9, step=9, mid=50.05, time_elapsed_pct=0.9, terminated=True)
    )
    return parts


def test_shortfall_transitions_sum_to_minus_the_implementation_shortfall() -> None:
    reward = TransitionReward(SHORTFALL, sign=1, quantity=Decimal(300), arrival_mid=Decimal(50))
    parts = _episode(reward)
    paid = 100 * (0.01 - 0.02 + 0.06)  # sum q (p - P0)
    assert reward.shortfall.bps() == pytest.approx(paid / (300 * 50) * 1e4)
    assert sum(p.total() for p in parts) == pytest.approx(-reward.shortfall.bps(), abs=1e-12)
    # the first transition: its fill (+1) and 200 still to trade marked 0.02 higher (+4)
    assert parts[0].slippage_penalty == pytest.approx(5.0 / 15_000 * 1e4)
    assert all(p.fill_rate_reward == 0.0 for p in parts)  # no baseline


def test_a_paired_baseline_charges_the_base_change_over_the_same_steps() -> None:
    base_path = [0.0] * 5 + [0.7] * 4 + [-0.2, 1.5]  # S_t per step 0..9 and the base's IS
    reward = TransitionReward(
        SHORTFALL, sign=1, quantity=Decimal(300), arrival_mid=Decimal(50), baseline=base_path
    )
    parts = _episode(reward)
    assert [p.fill_rate_reward for p in parts] == [
        pytest.approx(0.7), pytest.approx(-0.9), pytest.approx(1.7),
    ]  # fmt: skip
    # the episode's total is minus (the agent's IS - the base's)
    total = sum(p.total() for p in parts)
    assert total == pytest.approx(-(reward.shortfall.bps() - base_path[-1]), abs=1e-12)


def test_the_original_mode_rewards_the_transition_fills() -> None:
    config = RewardConfig(mode=RewardMode.ORIGINAL)
    reward = TransitionReward(config, sign=1, quantity=Decimal(300), arrival_mid=Decimal(50))
    reward.open(50.00)
    assert reward.interval_price is None
    empty = reward.close(opened_step=0, step=5, mid=50.02, time_elapsed_pct=0.95, terminated=False)
    assert empty == original_reward(
        filled=0,
        order_size=300,
        price=None,
        mid_price=50.0,
        time_elapsed_pct=0.95,
        price_after=None,
        weights=config,
    )
    reward.open(50.02)
    reward.add_fill(Decimal(100), Decimal("50.03"))
    reward.add_fill(Decimal(50), Decimal("50.06"))
    assert reward.interval_filled == Decimal(150)
    assert reward.interval_price == Decimal("50.04")
    parts = reward.close(
        opened_step=5, step=9, mid=50.10, time_elapsed_pct=0.9, terminated=True
    )  # terminated: the time share counts as 1
    assert parts == original_reward(
        filled=Decimal(150),
        order_size=Decimal(300),
        price=Decimal("50.04"),
        mid_price=50.02,
        time_elapsed_pct=1.0,
        price_after=Decimal("50.10"),
        weights=config,
    )
    assert parts.time_penalty == pytest.approx(0.1 * config.time_weight)
    reward.open(50.10)  # a new transition starts with no fills
    assert (reward.interval_filled, reward.interval_price) == (Decimal(0), None)
