"""Baseline executors over paired seeds: TWAP (aggressive and passive), VWAP, submit-and-leave on
each limit-order-book preset, and on the Almgren-Chriss model the optimal schedule against TWAP
and the closed-form E*.

    .venv/bin/python scripts/bench/bench_baselines.py [--seeds 1000] [--horizon 300]

Seeds start at the evaluation range (1,000,000,000) so they never overlap training seeds. Prints
one Markdown table per market and the wall-clock time of each.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np

from rlexec.execution import (
    TWAP,
    VWAP,
    AlmgrenChrissSchedule,
    SubmitAndLeave,
    compare,
    render_table,
)
from rlexec.execution.types import ExecutionAlgorithm, ParentOrder
from rlexec.market import make_market
from rlexec.market.almgren_chriss import (
    AlmgrenChrissMarket,
    cost_variance,
    expected_cost,
    optimal_expected_cost,
    optimal_variance,
    preset,
)
from rlexec.market.book import Side

FIRST_EVAL_SEED = 1_000_000_000


def lob_executors() -> dict[str, Callable[[], ExecutionAlgorithm]]:
    return {
        "twap": lambda: TWAP(),
        "twap_passive": lambda: TWAP(style="passive"),
        "vwap": lambda: VWAP(profile="u_shaped"),
        "vwap_passive": lambda: VWAP(profile="u_shaped", style="passive"),
        "submit_and_leave": lambda: SubmitAndLeave(),
    }


async def bench_lob(name: str, quantity: int, horizon: int, seeds: range) -> None:
    parent = ParentOrder(f"bench-{name}", Side.BUY, Decimal(quantity), horizon)
    started = time.perf_counter()
    comparison = await compare(lob_executors(), lambda: make_market(name), seeds, parent)
    elapsed = time.perf_counter() - started
    steps = len(seeds) * horizon * len(comparison.summaries)
    print(f"\n### {name}: buy {quantity} over {horizon} steps, {len(seeds)} paired seeds")
    print(render_table(comparison))
    print(f"({elapsed:.1f} s, {steps / elapsed:,.0f} runner steps/s including the market)")


async def bench_ac(preset_name: str, quantity: int, horizon: int, seeds: range) -> None:
    params = preset(preset_name)
    parent = ParentOrder(f"bench-ac-{preset_name}", Side.BUY, Decimal(quantity), horizon)
    value = quantity * params.initial_price / 1e4  # money per bps
    e_star = optimal_expected_cost(quantity, horizon, params) / value
    sd_star = optimal_variance(quantity, horizon, params) ** 0.5 / value
    twap_trades = np.full(horizon, quantity / horizon)
    e_twap = expected_cost(twap_trades, params) / value
    sd_twap = cost_variance(twap_trades, params) ** 0.5 / value
    started = time.perf_counter()
    comparison = await compare(
        {
            "twap": lambda: TWAP(slices=None),
            "almgren_chriss_optimal": lambda: AlmgrenChrissSchedule(params),
        },
        lambda: AlmgrenChrissMarket(params),
        seeds,
        parent,
    )
    elapsed = time.perf_counter() - started
    lam = params.risk_aversion
    print(
        f"\n### Almgren-Chriss `{preset_name}` (lambda = {lam:g}): buy {quantity} over {horizon} "
        f"steps, {len(seeds)} paired seeds"
    )
    print(
        render_table(
            comparison,
            extra={
                "twap": f"closed form E = {e_twap:.2f} bps, sd {sd_twap:.2f}",
                "almgren_chriss_optimal": f"closed form E* = {e_star:.2f} bps, sd* {sd_star:.2f}",
            },
        )
    )
    for s in comparison.summaries:
        objective = s.mean_bps * value + lam * (s.std_bps * value) ** 2
        print(f"- {s.name}: simulated E + lambda V = {objective:,.0f} (money units)")
    print(f"({elapsed:.1f} s)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--horizon", type=int, default=300)
    parser.add_argument("--equity-quantity", type=int, default=2000)
    parser.add_argument("--prediction-quantity", type=int, default=500)
    parser.add_argument("--skip-lob", action="store_true")
    args = parser.parse_args()
    seeds = range(FIRST_EVAL_SEED, FIRST_EVAL_SEED + args.seeds)
    if not args.skip_lob:
        await bench_lob("equity", args.equity_quantity, args.horizon, seeds)
        await bench_lob("prediction_market", args.prediction_quantity, args.horizon, seeds)
    await bench_ac("paper", 1_000_000, 5, seeds)
    await bench_ac("equity_intraday", args.equity_quantity, args.horizon, seeds)


if __name__ == "__main__":
    asyncio.run(main())
