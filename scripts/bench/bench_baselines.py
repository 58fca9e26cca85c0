"""Every baseline of ``rlexec compare`` on paired evaluation seeds, per market, with the yardsticks
a learner is judged against: the best baseline (paired against its runner-up), every baseline's
paired difference against the best with a 95% CI, the per-seed oracle and the room to it.

    .venv/bin/python scripts/bench/bench_baselines.py [--seeds 1000] [--markets equity,...]
    .venv/bin/python scripts/bench/bench_baselines.py --imbalance-check   # training seeds only

Markets (the default config otherwise; presets are not changed): ``equity`` (2000 shares over
300 one-second steps), ``prediction_market`` (500 contracts), Almgren-Chriss ``ac_paper`` (the
paper's 1,000,000 shares over 5 daily steps) and ``ac_equity_intraday`` (2000 shares / 300 s).
The baselines are exactly ``rlexec.training.evaluate.baseline_factories`` (TWAP, passive TWAP,
VWAP, passive VWAP, submit-and-leave, POV, the imbalance rule; on the AC markets also the AC
optimal schedule at ``--risk-aversion``, default 0 like ``rlexec compare``), run through the
same market builder. Seeds are ``evaluation.first_seed`` onwards (never training seeds).

``--imbalance-check`` measures, on training seeds 0..199 (disjoint from the evaluation seeds)
of each limit-order-book preset with no orders of ours, how often the next mid move is up when
the touch imbalance is >= 0.5, <= -0.5, or anything: the check behind the imbalance rule's
threshold (it was not used to choose it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rlexec.config import Config, parse_config
from rlexec.execution.imbalance import DEFAULT_IMBALANCE_THRESHOLD
from rlexec.execution.metrics import (
    Comparison,
    EpisodeResult,
    compare,
    render_table,
    summarize,
)
from rlexec.execution.types import ParentOrder
from rlexec.execution.yardsticks import best_baseline, per_seed_oracle, room_to_oracle
from rlexec.market import make_market
from rlexec.market.almgren_chriss import optimal_expected_cost, optimal_variance
from rlexec.market.book import Side
from rlexec.training.evaluate import baseline_factories, evaluation_seeds
from rlexec.training.markets import ac_params, build_market


@dataclass(frozen=True, slots=True)
class MarketCase:
    label: str
    simulator: dict[str, Any]  # [rl_execution.simulator] keys


CASES = {
    "equity": MarketCase("equity", {"market": "equity", "parent_quantity": 2000}),
    "prediction_market": MarketCase(
        "prediction_market", {"market": "prediction_market", "parent_quantity": 500}
    ),
    "ac_paper": MarketCase(
        "ac_paper",
        {
            "market": "almgren_chriss",
            "almgren_chriss_preset": "paper",
            "parent_quantity": 1_000_000,
            "horizon_steps": 5,
        },
    ),
    "ac_equity_intraday": MarketCase(
        "ac_equity_intraday",
        {"market": "almgren_chriss", "almgren_chriss_preset": "equity_intraday"},
    ),
}


def case_config(case: MarketCase) -> Config:
    return parse_config({"rl_execution": {"simulator": case.simulator}})


def closed_form_note(config: Config, risk_aversion: float) -> str:
    simulator = config.rl_execution.simulator
    params = ac_params(simulator, risk_aversion)
    quantity = float(simulator.parent_quantity)
    steps = simulator.horizon_steps
    value = quantity * params.initial_price / 1e4  # money per bps
    e_star = optimal_expected_cost(quantity, steps, params) / value
    sd_star = optimal_variance(quantity, steps, params) ** 0.5 / value
    return f"closed form E* = {e_star:.3f} bps, sd* {sd_star:.3f} (lambda {risk_aversion:g})"


async def bench_market(case: MarketCase, n_seeds: int, risk_aversion: float) -> None:
    config = case_config(case)
    rl = config.rl_execution
    seeds = evaluation_seeds(config, n_seeds)
    parent = ParentOrder(
        f"bench-{case.label}", Side.BUY, Decimal(rl.simulator.parent_quantity),
        rl.simulator.horizon_steps,
    )  # fmt: skip
    results: dict[str, tuple[EpisodeResult, ...]] = {}
    started = time.perf_counter()
    for name, factory in baseline_factories(config, risk_aversion=risk_aversion).items():
        t0 = time.perf_counter()
        run = await compare({name: factory}, lambda: build_market(rl), seeds, parent, baseline=None)
        results[name] = run.results[name]
        print(f"{case.label}: {name} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    elapsed = time.perf_counter() - started

    best = best_baseline(results)
    oracle = per_seed_oracle(results)
    summaries = tuple(
        summarize(name, res, None if name == best.name else results[best.name], best.name)
        for name, res in results.items()
    )
    notes = {best.name: "best"}
    if rl.simulator.market == "almgren_chriss":
        optimal = "almgren_chriss_optimal"
        form = closed_form_note(config, risk_aversion)
        notes[optimal] = f"{notes[optimal]}; {form}" if optimal in notes else form
    print(
        f"\n### {case.label}: buy {rl.simulator.parent_quantity} over "
        f"{rl.simulator.horizon_steps} steps, {len(seeds)} paired evaluation seeds "
        f"{seeds[0]}..{seeds[-1]}"
    )
    print(render_table(Comparison(summaries, results, best.name), extra=notes))
    print()
    if best.vs_runner_up is not None:
        p = best.vs_runner_up
        if p.standard_error == 0 and p.mean == 0:
            verdict = "a tie: identical on every seed"
        else:
            verdict = "clear" if best.clear else "NOT clear (the CI includes 0)"
        print(
            f"- best baseline: **{best.name}** {best.mean_bps:.3f} bps; runner-up "
            f"{best.runner_up} {best.runner_up_mean_bps:.3f}; best - runner-up "
            f"{p.mean:+.3f} [{p.low:+.3f}, {p.high:+.3f}] bps: {verdict}"
        )
    wins = ", ".join(f"{name} {count}" for name, count in oracle.wins().items())
    print(
        f"- per-seed oracle (best fixed strategy on each seed): {oracle.mean_bps:.3f} bps; "
        f"room = best - oracle = {room_to_oracle(best, oracle):.3f} bps; seeds won: {wins}"
    )
    print(f"- ({elapsed:.1f} s for {len(results)} baselines x {len(seeds)} seeds)")


def imbalance_check(seeds: range, threshold: float, horizon: int = 300) -> None:
    """P(next mid move is up | touch imbalance) with no orders of ours, training seeds only."""
    print(f"\n### imbalance check: training seeds {seeds.start}..{seeds.stop - 1}, {horizon} steps")
    print("| preset | condition | steps | next mid move up | next move down |")
    print("|---|---|---|---|---|")
    for preset in ("equity", "prediction_market"):
        counts: dict[str, list[int]] = {"I >= t": [0, 0], "I <= -t": [0, 0], "any": [0, 0]}
        market = make_market(preset)
        for seed in seeds:
            book = market.reset(seed)
            books = [book]
            for _ in range(horizon - 1):
                market.advance()
                books.append(market.snapshot())
            mids = [b.mid for b in books]
            for t in range(len(books) - 1):
                nxt = next((m for m in mids[t + 1 :] if m != mids[t]), None)
                if nxt is None:
                    continue
                up = int(nxt > mids[t])
                imbalance = books[t].imbalance
                keys = ["any"]
                if imbalance >= threshold:
                    keys.append("I >= t")
                if imbalance <= -threshold:
                    keys.append("I <= -t")
                for key in keys:
                    counts[key][0] += up
                    counts[key][1] += 1
        for key, (ups, n) in counts.items():
            label = key.replace("t", f"{threshold:g}")
            share = ups / n if n else float("nan")
            print(f"| {preset} | {label} | {n} | {share:.1%} | {1 - share:.1%} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument(
        "--markets", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES)
    )
    parser.add_argument("--risk-aversion", type=float, default=0.0)
    parser.add_argument("--imbalance-check", action="store_true")
    args = parser.parse_args()
    if args.imbalance_check:
        imbalance_check(range(200), DEFAULT_IMBALANCE_THRESHOLD)
        return
    names = [m.strip() for m in args.markets.split(",") if m.strip()]
    unknown = [m for m in names if m not in CASES]
    if unknown:
        parser.error(f"--markets {','.join(unknown)}: expected some of {', '.join(CASES)}")
    for name in names:
        await bench_market(CASES[name], args.seeds, args.risk_aversion)


if __name__ == "__main__":
    asyncio.run(main())
