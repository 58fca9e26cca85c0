"""Paired comparison statistics on hand-made numbers, and ``compare`` on real episodes."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import (
    EpisodeResult,
    compare,
    paired_difference,
    render_table,
    summarize,
    t_quantile_95,
)
from rlexec.execution.submit_and_leave import SubmitAndLeave
from rlexec.execution.twap import TWAP
from rlexec.execution.types import ParentOrder
from rlexec.market.almgren_chriss import EQUITY_INTRADAY, AlmgrenChrissMarket
from rlexec.market.book import Side


def episode(seed: int, is_bps: float, name: str = "x") -> EpisodeResult:
    return EpisodeResult(
        executor=name, seed=seed, side=Side.BUY, quantity=Decimal(10), arrival_mid=Decimal(100),
        is_bps=is_bps, filled_quantity=Decimal(10), fill_rate=0.5, placed_fill_rate=1.0,
        child_orders=2, avg_fill_price=Decimal(100), completion_quantity=Decimal(5),
        completion_cost_bps=1.0, steps=3,
    )  # fmt: skip


def test_paired_difference_by_hand() -> None:
    # d = [1, 2, 3, 4]: mean 2.5, sd sqrt(5/3), se sqrt(5/3)/2, t(3) = 3.182
    result = paired_difference([2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0])
    se = math.sqrt(5 / 3) / 2
    assert result.mean == pytest.approx(2.5)
    assert result.standard_error == pytest.approx(se)
    assert result.low == pytest.approx(2.5 - 3.182 * se)
    assert result.high == pytest.approx(2.5 + 3.182 * se)
    assert result.share_better == 0.0 and result.n == 4
    better = paired_difference([0.0, 1.0, 5.0, 3.0], [1.0, 1.0, 1.0, 4.0])
    assert better.share_better == 0.5  # two strictly cheaper, one tie, one dearer
    assert better.mean == pytest.approx(0.5)


def test_t_quantiles() -> None:
    assert t_quantile_95(1) == 12.706
    assert t_quantile_95(30) == 2.042
    assert t_quantile_95(1000) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(InvalidInputError):
        t_quantile_95(0)


def test_summary_by_hand() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    base = [episode(i, 0.0, "twap") for i in range(5)]
    summary = summarize("x", [episode(i, v) for i, v in enumerate(values)], base)
    assert summary.mean_bps == pytest.approx(4.0)
    assert summary.median_bps == pytest.approx(3.0)
    assert summary.std_bps == pytest.approx(math.sqrt((9 + 4 + 1 + 0 + 36) / 4))
    assert summary.p95_bps == pytest.approx(8.8)  # linear interpolation: 4 + 0.8 * (10 - 4)
    assert summary.completion_rate == 1.0
    assert summary.vs_baseline is not None and summary.vs_baseline.mean == pytest.approx(4.0)
    with pytest.raises(InvalidInputError, match="seeds differ"):
        summarize("x", [episode(i + 1, 0.0) for i in range(5)], base)
    with pytest.raises(InvalidInputError, match=">= 2"):
        paired_difference([1.0], [2.0])


async def test_compare_runs_every_executor_on_the_same_seeds() -> None:
    parent = ParentOrder("cmp", Side.BUY, Decimal(300), 20)
    comparison = await compare(
        {"twap": lambda: TWAP(), "sal": lambda: SubmitAndLeave()},
        lambda: AlmgrenChrissMarket(EQUITY_INTRADAY),
        seeds=range(6),
        parent=parent,
    )
    twap, sal = comparison.results["twap"], comparison.results["sal"]
    assert [r.seed for r in twap] == [r.seed for r in sal] == list(range(6))
    assert [r.arrival_mid for r in twap] == [r.arrival_mid for r in sal]
    assert comparison.summary("twap").vs_baseline is None
    paired = comparison.summary("sal").vs_baseline
    assert paired is not None
    assert paired.mean == pytest.approx(
        sum(s.is_bps - t.is_bps for s, t in zip(sal, twap, strict=True)) / 6
    )
    table = render_table(comparison)
    assert table.count("\n") == 3 and "| sal | 6 |" in table
    with pytest.raises(InvalidInputError, match="baseline"):
        await compare({"sal": SubmitAndLeave}, lambda: AlmgrenChrissMarket(), range(2), parent)
