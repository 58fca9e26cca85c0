"""Training speed and the issue's targets.

    .venv/bin/python scripts/bench/bench_training.py [--episodes 300]
    .venv/bin/python scripts/bench/bench_training.py --targets [--train-minutes 3] [--seeds 1000]

Speed (default): environment (simulator) steps per second on ONE core (the process is pinned
to CPU 0), equity preset, 2000 shares over 300 one-second steps, measured in the same run:

1. the bare simulator: ``reset`` + ``advance`` + ``snapshot`` per step, nothing else;
2. the RL executor learning (training mode, replay) through the runner with a ``NullSink``;
3. the same through ``rlexec.training.train`` into a fresh SQLite file store (write-behind
   cache: decisions, experiences, episodes, Q-values), the final flush included.

Targets (``--targets``): trains a fresh agent on each market for a wall-clock budget, then
compares it greedily over ``--seeds`` paired held-out seeds (evaluation.first_seed onwards):
equity (mean IS vs TWAP and VWAP, relative reduction and paired 95% CI, IS std ratio vs TWAP,
completion), prediction market (vs TWAP, 500 contracts), Almgren-Chriss risk neutral (mean
cost vs the closed-form E*). Prints one table; every figure is what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rlexec.agent import new_executor, new_q_agent
from rlexec.config import AgentMode, Config, parse_config
from rlexec.execution.rl_executor import EpisodeMeta
from rlexec.execution.runner import run_episode
from rlexec.market.presets import make_market
from rlexec.records import NullSink
from rlexec.training.evaluate import ComparisonRun, run_comparison
from rlexec.training.markets import parent_for_seed
from rlexec.training.train import train

PAIRED = {"paired_baseline": False}  # --paired sets it: the shadow base run is then included


def bench_config(url: str, *, validate: bool = True, **simulator: Any) -> Config:
    """``validate`` False: no validation inside the training loop (the speed figures measure
    training; from ``evaluation.validate_every`` episodes on, a validation would run 200
    greedy episodes inside the timed loop)."""
    evaluation = {} if validate else {"validate_every": 0}
    return parse_config(
        {
            "rl_execution": {
                "database": {"url": url},
                "simulator": simulator,
                "reward": PAIRED,
                "evaluation": evaluation,
            }
        }
    )


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        return f"pinned to CPU {sorted(os.sched_getaffinity(0))[0]}"
    return "not pinned (no sched_setaffinity)"


def bare_simulator(episodes: int, horizon: int) -> float:
    market = make_market("equity")
    started = time.perf_counter()
    for seed in range(episodes):
        market.reset(seed)
        for _ in range(horizon):
            market.advance()
            market.snapshot()
    return episodes * horizon / (time.perf_counter() - started)


async def null_sink(config: Config, episodes: int) -> float:
    rl = config.rl_execution
    market = make_market("equity")
    agent = new_q_agent(config, mode=AgentMode.TRAINING)
    executor = new_executor(
        config,
        agent,
        sink=NullSink(),
        agent_name="bench",
        reward_mode=rl.reward.mode,
        typical_queue_depth=market.typical_queue_depth,
    )
    steps = 0
    started = time.perf_counter()
    for seed in range(episodes):
        parent = parent_for_seed(rl.simulator, seed)
        executor.begin(parent.parent_id, EpisodeMeta(seed=seed, market="equity"))
        steps += (await run_episode(executor, market, parent, seed)).steps
    return steps / (time.perf_counter() - started)


async def with_store(config: Config, episodes: int) -> tuple[float, float]:
    started = time.perf_counter()
    result = await train(config, "bench", episodes=episodes, progress=False)
    total = time.perf_counter() - started  # includes open, migrations check, final flush
    return result.steps / total, result.steps_per_second


async def speed(args: argparse.Namespace) -> None:
    print(pin_one_core())
    horizon = 300
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        config = bench_config(url, validate=False)
        warm = bench_config(f"sqlite+aiosqlite:///{Path(tmp) / 'warm.db'}", validate=False)
        await with_store(warm, 5)
        bare = bare_simulator(args.episodes, horizon)
        nulls = await null_sink(config, args.episodes)
        store_total, store_loop = await with_store(config, args.episodes)
    print(f"\nequity, {args.episodes} episodes x {horizon} steps, one core")
    print("| loop | env steps/s | vs bare simulator |")
    print("|---|---|---|")
    for name, value in (
        ("bare simulator (advance + snapshot)", bare),
        ("RL executor learning, NullSink", nulls),
        ("RL executor learning, SQLite store (loop only)", store_loop),
        ("RL executor learning, SQLite store (incl. open + final flush)", store_total),
    ):
        print(f"| {name} | {value:,.0f} | {value / bare:.2f}x |")
    print(f"\ntarget: >= 20,000 env steps/s with the store's writes: "
          f"{'met' if store_total >= 20_000 else 'MISSED'} ({store_total:,.0f})")  # fmt: skip


async def market_target(
    tmp: Path,
    market: str,
    minutes: float,
    seeds: int,
    quantity: int,
    **sections: dict[str, Any],
) -> tuple[ComparisonRun, Any]:
    simulator = {"market": market, "parent_quantity": quantity, **sections.pop("simulator", {})}
    name = "-".join([market, *(f"{k}" for k in sorted(sections))])
    url = f"sqlite+aiosqlite:///{tmp / f'{name}-{len(list(tmp.iterdir()))}.db'}"
    config = parse_config(
        {"rl_execution": {"database": {"url": url}, "simulator": simulator, **sections}}
    )
    result = await train(config, "default", minutes=minutes, progress=False)
    run = await run_comparison(config, ["default"], seeds=seeds, store=False)
    return run, result


def _ac_row(run: ComparisonRun, e_star: float, label: str) -> str:
    """RL's mean cost against E*. The sampling noise of a mean cost (hundreds of bps on the
    paper's preset) is removed with the paired difference to TWAP, whose expected cost is
    known in closed form (= E* at lambda 0): RL = E*(TWAP) + mean(RL - TWAP)."""
    from rlexec.execution.metrics import paired_difference

    p = paired_difference(
        [r.is_bps for r in run.results["rl:default"]], [r.is_bps for r in run.results["twap"]]
    )
    estimate = e_star + p.mean
    gap, low, high = p.mean / e_star, p.low / e_star, p.high / e_star
    return (
        f"| Almgren-Chriss paper, risk neutral ({label}): RL cost vs E* (within 3%) "
        f"| RL {estimate:.2f} vs E* {e_star:.2f} bps | {gap:+.1%} [{low:+.1%}, {high:+.1%}] "
        f"| {p.mean:+.3f} [{p.low:+.3f}, {p.high:+.3f}] | {'yes' if abs(gap) <= 0.03 else 'no'} |"
    )


def _row(run: ComparisonRun, name: str, against: str) -> str:
    s = {x.name: x for x in run.summaries}
    rl, ref = s["rl:default"], s[against]
    from rlexec.execution.metrics import paired_difference

    p = paired_difference(
        [r.is_bps for r in run.results["rl:default"]], [r.is_bps for r in run.results[against]]
    )
    rel = -p.mean / abs(ref.mean_bps) if ref.mean_bps else float("nan")
    return (
        f"| {name} | RL {rl.mean_bps:.3f} vs {against} {ref.mean_bps:.3f} bps "
        f"| {rel:+.1%} | {p.mean:+.3f} [{p.low:+.3f}, {p.high:+.3f}] "
        f"| {'yes' if p.high < 0 else 'no'} |"
    )


async def targets(args: argparse.Namespace) -> None:
    print(pin_one_core())
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        eq, eq_train = await market_target(tmp, "equity", args.train_minutes, args.seeds, 2000)
        print(f"equity: trained {eq_train.episodes} episodes ({eq_train.steps_per_second:,.0f} "
              f"steps/s) in {eq_train.seconds:.0f} s; compared in "
              f"{time.perf_counter() - t0 - eq_train.seconds:.0f} s")  # fmt: skip
        print(eq.table())
        s = {x.name: x for x in eq.summaries}
        rows.append(_row(eq, "equity: mean IS vs TWAP (target >= 30% lower)", "twap"))
        rows.append(_row(eq, "equity: mean IS vs VWAP (target >= 20% lower)", "vwap"))
        rows.append(_row(eq, "equity: vs TWAP passive (not a target)", "twap_passive"))
        ratio = s["rl:default"].std_bps / s["twap"].std_bps
        rows.append(f"| equity: IS std RL / TWAP (target <= 1.1) | {ratio:.3f} | | | "
                    f"{'yes' if ratio <= 1.1 else 'no'} |")  # fmt: skip
        comp = s["rl:default"].completion_rate
        rows.append(f"| equity: completion (target 100%) | {comp:.1%} | | | "
                    f"{'yes' if comp == 1 else 'no'} |")  # fmt: skip
        pm, pm_train = await market_target(
            tmp, "prediction_market", args.other_minutes, args.seeds, 500
        )
        print(f"\nprediction_market: trained {pm_train.episodes} episodes")
        print(pm.table())
        rows.append(_row(pm, "prediction market: vs TWAP (target: lower, CI excludes 0)", "twap"))
        # The paper's example (1,000,000 shares over 5 daily steps, risk neutral): the RL
        # wraps a 5-slice aggressive TWAP (the lambda -> 0 optimum) and decides every step.
        paper: dict[str, dict[str, Any]] = {
            "simulator": {"almgren_chriss_preset": "paper", "horizon_steps": 5},
            "executor": {"slices": 5, "base_style": "aggressive", "decision_interval_steps": 1},
        }
        variants: list[tuple[str, dict[str, dict[str, Any]]]] = [
            ("default agent config", {}),
            (
                "paired_baseline + remaining_buckets 20",
                {"reward": {"paired_baseline": True}, "state": {"remaining_buckets": 20}},
            ),
        ]
        for label, state in variants:
            ac, ac_train = await market_target(
                tmp, "almgren_chriss", args.other_minutes, args.seeds, 1_000_000, **paper, **state
            )
            print(f"\nalmgren_chriss paper ({label}): trained {ac_train.episodes} episodes")
            print(ac.table())
            assert ac.closed_form is not None
            e_star = ac.closed_form.expected_cost_bps
            rows.append(_ac_row(ac, e_star, label))
    print(f"\n### Targets ({args.seeds} paired held-out seeds; equity trained "
          f"{args.train_minutes:g} min, others {args.other_minutes:g} min)")  # fmt: skip
    print("| target | measured | relative | paired diff [95% CI] bps | met |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--targets", action="store_true")
    parser.add_argument("--train-minutes", type=float, default=3.0)
    parser.add_argument("--other-minutes", type=float, default=1.5)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument(
        "--paired", action="store_true", help="speed with reward.paired_baseline (shadow run)"
    )
    args = parser.parse_args()
    PAIRED["paired_baseline"] = args.paired
    asyncio.run(targets(args) if args.targets else speed(args))


if __name__ == "__main__":
    main()
