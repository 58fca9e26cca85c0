"""Almgren-Chriss closed form against hand computation, its lambda -> 0 limit, and the simulated
mean cost of the optimal schedule against E*."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from rlexec.errors import InvalidInputError
from rlexec.execution.ac_schedule import AlmgrenChrissSchedule
from rlexec.execution.runner import run_episode
from rlexec.execution.twap import TWAP
from rlexec.execution.types import ParentOrder
from rlexec.market.almgren_chriss import (
    PAPER,
    AcParams,
    AlmgrenChrissMarket,
    cost_variance,
    expected_cost,
    kappa,
    optimal_expected_cost,
    optimal_trade_list,
    optimal_trajectory,
    optimal_variance,
    preset,
)
from rlexec.market.book import Side

X = 1_000_000.0
N = 5


def test_paper_example_by_hand() -> None:
    # eta_tilde = 2.5e-6 - 2.5e-7 * 1 / 2; kappa_tilde^2 = 1e-6 * 0.95^2 / eta_tilde = 0.38;
    # cosh(kappa) = 1 + 0.38 / 2 = 1.19  =>  kappa = ln(1.19 + sqrt(1.19^2 - 1)).
    assert PAPER.eta_tilde == pytest.approx(2.375e-6)
    k = math.log(1.19 + math.sqrt(1.19**2 - 1))
    assert kappa(PAPER) == pytest.approx(k, rel=1e-12)
    assert k == pytest.approx(0.607076, abs=1e-6)
    x = optimal_trajectory(X, N, PAPER)
    for j in range(N + 1):
        assert x[j] == pytest.approx(math.sinh(k * (N - j)) / math.sinh(k * N) * X, rel=1e-12)
    n = optimal_trade_list(X, N, PAPER)
    assert n[0] == pytest.approx(458_044.4456, rel=1e-9)
    assert n.sum() == pytest.approx(X, rel=1e-12)
    np.testing.assert_allclose(n, -np.diff(x), rtol=1e-9)


def test_twap_costs_by_hand() -> None:
    # lambda = 0: straight line, E = gamma X^2 / 2 + eps X + eta_tilde X^2 / T
    #   = 125,000 + 62,500 + 475,000; V = sigma^2 (8e5^2 + 6e5^2 + 4e5^2 + 2e5^2) = 0.9025 * 1.2e12
    twap = np.full(N, X / N)
    assert expected_cost(twap, PAPER) == pytest.approx(662_500.0)
    assert cost_variance(twap, PAPER) == pytest.approx(1.083e12)
    assert optimal_expected_cost(X, N, PAPER, 0.0) == pytest.approx(662_500.0)
    assert optimal_variance(X, N, PAPER, 0.0) == pytest.approx(1.083e12)


@pytest.mark.parametrize("lam", [1e-8, 1e-7, 1e-6, 2e-6])
def test_closed_form_equals_generic_cost_of_the_trajectory(lam: float) -> None:
    n = optimal_trade_list(X, N, PAPER, lam)
    assert optimal_expected_cost(X, N, PAPER, lam) == pytest.approx(expected_cost(n, PAPER))
    assert optimal_variance(X, N, PAPER, lam) == pytest.approx(cost_variance(n, PAPER))


def test_optimum_is_optimal_for_its_objective() -> None:
    lam = 1e-6
    n = optimal_trade_list(X, N, PAPER, lam)
    best = expected_cost(n, PAPER) + lam * cost_variance(n, PAPER)
    rng = np.random.default_rng(1)
    for _ in range(50):
        other = n + rng.normal(0, 5_000, N)
        other[-1] = X - other[:-1].sum()
        assert expected_cost(other, PAPER) + lam * cost_variance(other, PAPER) >= best


def test_optimum_tends_to_twap_as_risk_aversion_vanishes() -> None:
    gaps = [np.abs(optimal_trade_list(X, N, PAPER, lam) - X / N).max() for lam in (1e-7, 1e-10)]
    assert gaps[1] < gaps[0] / 50
    assert gaps[1] < 1e-3 * X / N
    assert optimal_expected_cost(X, N, PAPER, 1e-12) == pytest.approx(662_500.0, rel=1e-6)


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="eta"):
        AcParams(eta=1e-8, gamma=1.0)
    with pytest.raises(InvalidInputError, match="sigma"):
        AcParams(sigma=-1.0)
    with pytest.raises(InvalidInputError, match="unknown"):
        preset("paper", colour=1.0)
    with pytest.raises(InvalidInputError, match="steps"):
        optimal_trade_list(X, 0, PAPER)


async def test_simulated_mean_cost_of_the_optimum_matches_e_star() -> None:
    params = preset("paper")
    market = AlmgrenChrissMarket(params)
    executor = AlmgrenChrissSchedule(params)
    parent = ParentOrder("ac", Side.BUY, Decimal(1_000_000), N)
    seeds = range(1500)
    costs = []
    for seed in seeds:
        result = await run_episode(executor, market, parent, seed)
        assert result.completion_quantity == 0
        costs.append(result.is_bps / 1e4 * X * params.initial_price)
    values = np.asarray(costs)
    e_star = optimal_expected_cost(X, N, params)
    v_star = optimal_variance(X, N, params)
    standard_error = math.sqrt(v_star / len(values))
    assert abs(values.mean() - e_star) < 4 * standard_error
    assert values.var(ddof=1) == pytest.approx(v_star, rel=0.15)


async def test_twap_in_the_model_costs_its_expected_cost() -> None:
    params = preset("paper")
    market = AlmgrenChrissMarket(params)
    parent = ParentOrder("tw", Side.SELL, Decimal(1_000_000), N)
    executor = TWAP(slices=None)  # one slice per step, far-touch limits = cross now
    costs = [
        (await run_episode(executor, market, parent, seed)).is_bps / 1e4 * X * 50.0
        for seed in range(800)
    ]
    twap_e = expected_cost(np.full(N, X / N), params)
    twap_v = cost_variance(np.full(N, X / N), params)
    assert abs(np.mean(costs) - twap_e) < 4 * math.sqrt(twap_v / len(costs))


def test_market_orders_pay_the_model_price_and_move_the_price() -> None:
    params = preset("paper", sigma=0.0)
    market = AlmgrenChrissMarket(params)
    market.reset(0)
    fills = market.submit_market("a", Side.BUY, Decimal(1000))
    assert fills[0].price == Decimal("50.065")  # 50 + 0.0625 + 2.5e-6 * 1000
    more = market.submit_market("b", Side.BUY, Decimal(1000))  # same step: marginal pricing
    assert more[0].price == Decimal("50.0700")  # 50 + 0.0625 + 2.5e-6 * (2 * 1000 + 1000)
    market.advance()
    assert market.unaffected_price == pytest.approx(50.0 + 2.5e-7 * 2000)


def test_limit_orders_cross_or_rest_as_documented() -> None:
    market = AlmgrenChrissMarket(preset("paper", sigma=0.0))
    book = market.reset(0)
    assert book.best_ask == Decimal("50.0625") and book.best_bid == Decimal("49.9375")
    crossing = market.submit_limit("x", Side.BUY, Decimal(10), book.best_ask)
    assert len(crossing) == 1 and crossing[0].passive is False
    assert market.submit_limit("p", Side.BUY, Decimal(10), book.best_bid) == []
    assert market.advance() == []  # no price move (sigma 0, tiny impact): still resting
    assert market.cancel("p") == Decimal(10)
    assert market.cancel("p") == Decimal(0)
    # a sell at a price the quote moves through fills passively at its limit
    market.submit_limit("s", Side.SELL, Decimal(5), Decimal("50.0600"))
    market.submit_market("push", Side.BUY, Decimal(1_000_000))  # permanent impact +0.25
    fills = market.advance()
    assert [(f.order_id, f.price, f.passive) for f in fills] == [("s", Decimal("50.0600"), True)]


def test_same_seed_same_path() -> None:
    def path(seed: int) -> list[float]:
        market = AlmgrenChrissMarket(PAPER)
        market.reset(seed)
        prices = []
        for _ in range(10):
            market.advance()
            prices.append(market.unaffected_price)
        return prices

    assert path(7) == path(7)
    assert path(7) != path(8)
