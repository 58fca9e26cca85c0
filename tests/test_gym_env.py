"""The gymnasium environment is the RL executor's MDP: it passes gymnasium's checker, its
rewards sum to minus IS, following ``info["base_action"]`` is the base schedule exactly, and
its observation carries the new features within their bounds."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from rlexec.config import RewardConfig, RewardMode
from rlexec.errors import InvalidInputError
from rlexec.execution.runner import run_episode
from rlexec.execution.twap import TWAP
from rlexec.execution.types import ParentOrder
from rlexec.execution.vwap import VWAP
from rlexec.gym_env import FEATURES, MISSING_SECONDS, ExecutionEnv, state_vector
from rlexec.market import Market, make_market
from rlexec.market.almgren_chriss import EQUITY_INTRADAY, AlmgrenChrissMarket
from rlexec.market.book import Side
from rlexec.rl.types import ExecutionAction, ExecutionState, Urgency

FACTORIES: dict[str, Callable[[], Market]] = {
    "equity": lambda: make_market("equity"),
    "prediction_market": lambda: make_market("prediction_market"),
    "almgren_chriss": lambda: AlmgrenChrissMarket(EQUITY_INTRADAY),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_check_env_passes(name: str) -> None:
    env = ExecutionEnv(FACTORIES[name], quantity=300, horizon_steps=20)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (len(FEATURES),)
    assert isinstance(env.action_space, spaces.Discrete)
    assert env.action_space.n == len(ExecutionAction)


@pytest.mark.parametrize("interval", [1, 5])
@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_rewards_sum_to_minus_implementation_shortfall(name: str, side: str, interval: int) -> None:
    env = ExecutionEnv(
        FACTORIES[name], side=side, quantity=400, horizon_steps=30,
        decision_interval_steps=interval,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        assert 0 <= info["base_action"] < 6
        total, done, steps, info = 0.0, False, 0, {}
        while not done:
            obs, reward, done, truncated, info = env.step(int(rng.integers(6)))
            assert not truncated
            assert env.observation_space.contains(obs)
            total += reward
            steps += 1
        assert steps == math.ceil(30 / interval)  # one step per decision of the executor
        assert total == pytest.approx(-info["is_bps"], abs=1e-9)
        assert obs[FEATURES.index("remaining_size")] == 0.0


@pytest.mark.parametrize("style", ["passive", "aggressive"])
@pytest.mark.parametrize("base_kind", ["twap", "vwap"])
@pytest.mark.parametrize("name", ["equity", "prediction_market"])
def test_following_the_base_action_is_the_base_exactly(
    name: str, base_kind: str, style: str
) -> None:
    """One MDP: the env's actions are the RL executor's, so taking the base's action at every
    decision gives the base schedule's own implementation shortfall, paired, seed by seed."""
    make_base = TWAP if base_kind == "twap" else VWAP
    quantity = 1500 if name == "equity" else 400
    env = ExecutionEnv(
        FACTORIES[name], quantity=quantity, horizon_steps=60,
        base=make_base(slices=10, style=style),
    )  # fmt: skip
    market = FACTORIES[name]()
    for seed in range(8):
        _, info = env.reset(seed=seed)
        done = False
        while not done:
            _, _, done, _, info = env.step(info.get("base_action", 0))
        parent = ParentOrder(str(uuid.uuid4()), Side.BUY, Decimal(quantity), 60)
        alone = asyncio.run(run_episode(make_base(slices=10, style=style), market, parent, seed))
        assert info["is_bps"] == alone.is_bps
        assert info["fill_rate"] == alone.fill_rate


def test_the_reward_is_the_executors() -> None:
    env = ExecutionEnv(
        FACTORIES["equity"], quantity=400, horizon_steps=30,
        reward=RewardConfig(mode=RewardMode.ORIGINAL),
    )  # fmt: skip
    env.reset(seed=2)
    _, reward, *_ = env.step(ExecutionAction.PLACE_ALL)
    assert reward != 0.0  # the original mix: a fill-rate reward for what filled
    assert env.executor.reward_config.mode is RewardMode.ORIGINAL


def test_place_all_then_wait_fills_or_completes() -> None:
    env = ExecutionEnv(FACTORIES["equity"], quantity=100, horizon_steps=5,
                       decision_interval_steps=1)  # fmt: skip
    env.reset(seed=1)
    env.step(ExecutionAction.PLACE_ALL)
    assert env._loop.driver.unplaced == 0
    for _ in range(4):
        _, _, done, _, info = env.step(ExecutionAction.WAIT)
    assert done and 0.0 <= info["fill_rate"] <= 1.0
    with pytest.raises(InvalidInputError, match="reset"):
        env.step(ExecutionAction.WAIT)


def test_reset_in_the_middle_of_an_episode_starts_afresh() -> None:
    env = ExecutionEnv(FACTORIES["equity"], quantity=300, horizon_steps=20)
    env.reset(seed=3)
    env.step(ExecutionAction.PLACE_MEDIUM)
    first, _ = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(first, again)
    assert env.executor.active_parents == 1  # the abandoned parents were finished


def test_the_new_features_are_observed_within_their_bounds() -> None:
    env = ExecutionEnv(FACTORIES["equity"], quantity=1500, horizon_steps=60)
    obs, info = env.reset(seed=4)
    resting, lag = FEATURES.index("resting_share"), FEATURES.index("schedule_lag")
    seen_resting = seen_lag = False
    done = False
    while not done:
        assert 0.0 <= obs[resting] <= 1.0 and -1.0 <= obs[lag] <= 1.0
        seen_resting |= bool(obs[resting] > 0)
        seen_lag |= bool(obs[lag] != 0)
        obs, _, done, _, info = env.step(info.get("base_action", 0))
    assert seen_resting and seen_lag


def test_a_missing_seconds_since_last_trade_is_encoded_explicitly() -> None:
    state = ExecutionState(
        remaining_size=0.5, time_elapsed_pct=0.1, urgency=Urgency.NORMAL, bid_ask_spread=0.01,
        orderbook_imbalance=0.0, recent_volatility=0.0, queue_depth_at_price=10.0,
        hour_of_day=10, minute_of_hour=0, seconds_since_last_trade=None, recent_fill_rate=0.0,
        avg_slippage_last_n=0.0,
    )  # fmt: skip
    vector = state_vector(state)
    assert vector[FEATURES.index("seconds_since_last_trade")] == MISSING_SECONDS == -1.0
    env = ExecutionEnv(FACTORIES["equity"], quantity=100, horizon_steps=5)
    assert env.observation_space.contains(vector)
    assert isinstance(env.observation_space, spaces.Box)
    assert env.observation_space.low[FEATURES.index("seconds_since_last_trade")] == -1.0
