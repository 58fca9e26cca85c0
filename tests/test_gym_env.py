"""The gymnasium environment passes gymnasium's checker and its rewards sum to minus IS."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlexec.gym_env import FEATURES, ExecutionEnv
from rlexec.market import make_market
from rlexec.market.almgren_chriss import EQUITY_INTRADAY, AlmgrenChrissMarket
from rlexec.rl.types import ExecutionAction

FACTORIES = {
    "equity": lambda: make_market("equity"),
    "prediction_market": lambda: make_market("prediction_market"),
    "almgren_chriss": lambda: AlmgrenChrissMarket(EQUITY_INTRADAY),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_check_env_passes(name: str) -> None:
    env = ExecutionEnv(FACTORIES[name], quantity=300, horizon_steps=20)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (len(FEATURES),)
    assert env.action_space.n == len(ExecutionAction)


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_rewards_sum_to_minus_implementation_shortfall(name: str, side: str) -> None:
    env = ExecutionEnv(FACTORIES[name], side=side, quantity=400, horizon_steps=30)
    rng = np.random.default_rng(0)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        total, done, steps, info = 0.0, False, 0, {}
        while not done:
            obs, reward, done, truncated, info = env.step(int(rng.integers(6)))
            assert not truncated
            total += reward
            steps += 1
        assert steps == 30
        assert total == pytest.approx(-info["is_bps"], abs=1e-9)
        assert obs[FEATURES.index("remaining_size")] == 0.0


def test_place_all_then_wait_fills_or_completes() -> None:
    env = ExecutionEnv(FACTORIES["equity"], quantity=100, horizon_steps=5)
    env.reset(seed=1)
    env.step(ExecutionAction.PLACE_ALL)
    assert env._driver.unplaced == 0
    for _ in range(4):
        _, _, done, _, info = env.step(ExecutionAction.WAIT)
    assert done and 0.0 <= info["fill_rate"] <= 1.0
