"""The episode runner: always 100% completion, IS computed right, orders capped, on the AC model
and on both limit-order-book presets."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from rlexec.execution.ac_schedule import AlmgrenChrissSchedule
from rlexec.execution.base import BaseExecutor
from rlexec.execution.metrics import implementation_shortfall_bps
from rlexec.execution.runner import EpisodeDriver, run_episode
from rlexec.execution.submit_and_leave import SubmitAndLeave
from rlexec.execution.twap import TWAP
from rlexec.execution.types import ExecutionAlgorithm, ExecutionContext, Order, ParentOrder
from rlexec.execution.vwap import VWAP
from rlexec.market import make_market
from rlexec.market.almgren_chriss import EQUITY_INTRADAY, AlmgrenChrissMarket, preset
from rlexec.market.base import Market
from rlexec.market.book import Side

MARKETS: dict[str, Callable[[], Market]] = {
    "almgren_chriss": lambda: AlmgrenChrissMarket(EQUITY_INTRADAY),
    "equity": lambda: make_market("equity"),
    "prediction_market": lambda: make_market("prediction_market"),
}
EXECUTORS: dict[str, Callable[[], ExecutionAlgorithm]] = {
    "twap": lambda: TWAP(),
    "twap_passive": lambda: TWAP(style="passive", slices=4),
    "vwap": lambda: VWAP(participation_cap=0.2),
    "submit_and_leave": lambda: SubmitAndLeave(),
    "ac": lambda: AlmgrenChrissSchedule(EQUITY_INTRADAY),
}


class Recorder(BaseExecutor):
    """Records every fill reported and places nothing (everything goes to completion)."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.fills: list[tuple[str, Decimal, Decimal]] = []
        self.finished = False

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        return None

    async def record_fill(
        self, parent_id: str, order_id: str, filled: Decimal, price: Decimal,
        context: ExecutionContext,
    ) -> None:  # fmt: skip
        self.fills.append((order_id, filled, price))

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        self.finished = True


@pytest.mark.parametrize("market_name", list(MARKETS))
@pytest.mark.parametrize("executor_name", list(EXECUTORS))
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_completion_is_always_100_percent(
    market_name: str, executor_name: str, side: Side
) -> None:
    market = MARKETS[market_name]()
    executor = EXECUTORS[executor_name]()
    quantity = Decimal(300 if market_name == "prediction_market" else 1500)
    for seed in range(3):
        parent = ParentOrder(f"{executor_name}-{seed}", side, quantity, 40)
        result = await run_episode(executor, market, parent, seed)
        assert result.completed and result.filled_quantity == quantity
        assert 0.0 <= result.fill_rate <= 1.0 and 0.0 <= result.placed_fill_rate <= 1.0
        assert result.steps == 40
        policy_filled = (1 - result.fill_rate) * float(quantity)
        assert float(result.completion_quantity) == pytest.approx(policy_filled)


async def test_nothing_placed_means_everything_is_completed_and_reported() -> None:
    market = AlmgrenChrissMarket(preset("paper", sigma=0.0))
    recorder = Recorder()
    parent = ParentOrder("idle", Side.BUY, Decimal(1000), 3)
    result = await run_episode(recorder, market, parent, 0)
    assert result.fill_rate == 0.0 and result.child_orders == 0
    assert result.completion_quantity == 1000
    assert recorder.fills == [("idle-completion", Decimal(1000), Decimal("50.065"))]
    assert recorder.finished
    # 50.065 against arrival mid 50: 13 bps, all of it completion cost
    assert result.is_bps == pytest.approx(13.0)
    assert result.completion_cost_bps == pytest.approx(13.0)


@pytest.mark.parametrize("market_name", list(MARKETS))
async def test_runner_is_matches_is_recomputed_from_the_fills(market_name: str) -> None:
    market = MARKETS[market_name]()
    quantity = Decimal(200)
    for side in Side:
        parent = ParentOrder("p", side, quantity, 30)
        driver = EpisodeDriver(market, parent)
        driver.start(11)
        twap = TWAP(style="passive", slices=3)
        for _ in range(30):
            context = driver.context()
            for order_id in await twap.cancel_requests("p", context):
                driver.cancel(order_id)
            order = await twap.get_next_order("p", context)
            if order is not None:
                driver.submit(order)
            driver.advance()
        driver.complete()
        result = driver.result("twap")
        assert sum(f.quantity for f in driver.fills) == quantity
        expected = implementation_shortfall_bps(
            side, quantity, driver.arrival_mid, [(f.quantity, f.price) for f in driver.fills]
        )
        assert result.is_bps == pytest.approx(expected, abs=1e-9)
        total = sum(f.quantity * f.price for f in driver.fills)
        assert result.avg_fill_price == total / quantity


def test_implementation_shortfall_by_hand() -> None:
    fills = [(Decimal(60), Decimal("100.10")), (Decimal(40), Decimal("99.90"))]
    # paid 6006 + 3996 = 10002 for 100 at arrival mid 100: +2 / 10000 = 2 bps for a buy
    assert implementation_shortfall_bps(Side.BUY, Decimal(100), Decimal(100), fills) == (
        pytest.approx(2.0)
    )
    # a sell receiving the same is 2 bps better than arrival: IS = -2 bps
    assert implementation_shortfall_bps(Side.SELL, Decimal(100), Decimal(100), fills) == (
        pytest.approx(-2.0)
    )
    sold_low = [(Decimal(10), Decimal("0.49"))]
    assert implementation_shortfall_bps(Side.SELL, Decimal(10), Decimal("0.50"), sold_low) == (
        pytest.approx(200.0)
    )


async def test_orders_are_capped_at_the_unplaced_quantity() -> None:
    market = AlmgrenChrissMarket(preset("paper", sigma=0.0))
    parent = ParentOrder("cap", Side.BUY, Decimal(100), 5)
    driver = EpisodeDriver(market, parent)
    book = driver.start(0)
    assert driver.submit(Order("cap", "a", Side.BUY, Decimal(70), book.best_bid)) == []
    assert driver.unplaced == 30
    fills = driver.submit(Order("cap", "b", Side.BUY, Decimal(500), None))
    assert sum(f.quantity for f in fills) == 30  # capped: 70 rest, 30 filled
    assert driver.submit(Order("cap", "c", Side.BUY, Decimal(1), None)) == []
    assert driver.child_orders == 2 and driver.placed == 100
    driver.complete()  # cancels the resting 70 and completes them at market
    result = driver.result("x")
    assert result.completed and result.completion_quantity == 70
    assert result.fill_rate == pytest.approx(0.3) and result.placed_fill_rate == pytest.approx(0.3)


async def test_same_seed_same_episode_on_the_lob() -> None:
    parent = ParentOrder("s", Side.BUY, Decimal(800), 50)
    first = await run_episode(TWAP(style="passive"), make_market("equity"), parent, 5)
    second = await run_episode(TWAP(style="passive"), make_market("equity"), parent, 5)
    assert first == second
