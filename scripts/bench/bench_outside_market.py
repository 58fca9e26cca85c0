"""The learning claim on a market rlexec was not built for, through the public API only.

``outside_market.py`` is a limit-order book written by colleagues without reading rlexec's
simulators (see its doc). This script is the engine's side: it drives ``rlexec.Agent`` against
that venue (books with their trades, child orders, fills between books, venue cancels, the
completion), trains agents in ``mode="training"``, scores them greedy in ``mode="evaluation"``
on held-out seeds, and prints them paired, on the same seeds, beside simple strategies run on
the same venue in the same run: peg everything at the near touch (re-pegged every decision
interval), passive TWAP (re-pegged or not), crossing TWAP, submit-and-leave, one market order,
and rlexec's own base (the kill switch, ``enabled = false``).

Usage: .venv/bin/python scripts/bench/bench_outside_market.py [--runs 3] [--parents 10000]
       [--seeds 1000] [--checkpoints 1] [--set q_learning.deviation_confidence=2 ...]

``--checkpoints K`` trains each run in K equal parts, scoring it after each (the agent is
closed and reopened in between, as an engine restarting would). One run of 10,000 parents takes
about 5 minutes on one core. The parent: buy 2000 over 150 s, one book per 1 s step, a decision
every 5 s (about 27 % of the opposing market-order flow). Measured on 2026-12-02 (three runs of
10,000 parents, 1000 seeds): the agent 0.05-0.16 bps better than its base on 2 of 3, 0.2-0.3 bps
worse than pegging everything (docs/learning.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from bench_learning import parse_set  # beside this script (its folder is on sys.path)
from outside_market import Market

import rlexec

QTY = 2000
HORIZON = 150  # seconds, one simulator step each
INTERVAL = 5  # seconds between decisions
TOD0 = 10 * 3600  # 10:00 local
HELD_OUT = 50_000_000  # held-out seeds start here; training run r uses r * 1_000_000 + i


def px(ticks: int) -> str:
    return f"{ticks / 100:.2f}"


def to_ticks(price: Decimal | None) -> int | None:
    return None if price is None else int((price * 100).to_integral_value())


def snapshot(m: Market, t: int) -> rlexec.BookSnapshot:
    bids, asks = m.levels()
    return rlexec.book(
        [(px(p), q) for p, q in bids], [(px(p), q) for p, q in asks],
        tick_size="0.01", time_of_day_secs=TOD0 + t,
    )  # fmt: skip


def make_config(
    *, enabled: bool = True, overrides: dict[str, dict[str, Any]] | None = None
) -> rlexec.Config:
    """The default config, a decision every ``INTERVAL`` s; ``overrides``: --set sections."""
    sections: dict[str, Any] = {"executor": {"decision_interval_secs": float(INTERVAL)}}
    for name, values in (overrides or {}).items():
        sections[name] = {**sections.get(name, {}), **values}
    return rlexec.parse_config({"rl_execution": {"enabled": enabled, **sections}})


def shortfall_bps(fills: list[tuple[int, int]], arrival_ticks: float) -> float:
    """Buy side, over the whole parent (completion included): the engine's own figure."""
    quantity = sum(q for _, q in fills)
    average = sum(p * q for p, q in fills) / quantity
    return (average - arrival_ticks) / arrival_ticks * 1e4


def run_agent(agent: rlexec.Agent, seed: int, m: Market) -> float:
    """One parent worked by ``agent`` on ``seed``; its IS (checked against rlexec's own)."""
    m.reset(seed)
    arrival = m.mid_ticks()
    fills: list[tuple[int, int]] = []
    order = agent.start_order("buy", QTY, horizon_secs=HORIZON, book=snapshot(m, 0), now=0.0)
    for t in range(HORIZON + 1):
        trades = [(px(p), q, side) for p, q, side in m.take_trades()]
        todo = order.on_book(snapshot(m, t), now=float(t), trades=trades)
        for child_id in todo.cancel:
            m.cancel(child_id)
        for child in todo.place:
            for p, q in m.submit(child.order_id, child.side, int(child.quantity),
                                 to_ticks(child.limit_price)):  # fmt: skip
                order.on_fill(child.order_id, q, px(p), passive=False, at=float(t))
                fills.append((p, q))
        if todo.completing:
            break
        m.step()
        for child_id, q, p in m.take_fills():
            order.on_fill(child_id, q, px(p), passive=True, at=t + 0.5)
            fills.append((p, q))
    result = order.finish()
    mine = shortfall_bps(fills, arrival)
    assert abs(mine - result.implementation_shortfall_bps) < 1e-6, (mine, result)
    return mine


def run_simple(kind: str, slices: int, seed: int, m: Market) -> float:
    """A simple strategy of the engine's own on ``seed`` (see the module doc)."""
    m.reset(seed)
    arrival = m.mid_ticks()
    fills: list[tuple[int, int]] = []
    resting: dict[str, int] = {}  # child id -> limit ticks
    sizes = [QTY // slices + (1 if i < QTY % slices else 0) for i in range(slices)]
    every = HORIZON // slices
    counter = [0]

    def send(quantity: int, limit: int | None) -> None:
        if quantity <= 0:
            return
        counter[0] += 1
        child_id = f"c{counter[0]}"
        fills.extend(m.submit(child_id, "buy", quantity, limit))
        if limit is not None:
            resting[child_id] = limit

    def repeg() -> None:
        best = m.best_bid()
        for child_id, limit in list(resting.items()):
            if limit != best:
                left = m.cancel(child_id)
                del resting[child_id]
                send(left, best)

    for t in range(HORIZON):
        if kind == "peg_all" and t % INTERVAL == 0:
            if t == 0:
                send(QTY, m.best_bid())
            else:
                repeg()
        elif kind in ("passive_twap", "passive_twap_peg"):
            if kind == "passive_twap_peg" and t % INTERVAL == 0:
                repeg()
            if t % every == 0:
                send(sizes[t // every], m.best_bid())
        elif kind == "crossing_twap" and t % every == 0:
            send(sizes[t // every], None)
        elif kind == "submit_and_leave" and t == 0:
            send(QTY, m.best_bid())
        elif kind == "market_order" and t == 0:
            send(QTY, None)
        m.step()
        fills.extend((p, q) for _, q, p in m.take_fills())
        live = {e[0] for level in m.bids.values() for e in level}
        for child_id in [c for c in resting if c not in live]:
            del resting[child_id]
    for child_id in list(resting):  # the completion at the horizon
        m.cancel(child_id)
    send(QTY - sum(q for _, q in fills), None)
    return shortfall_bps(fills, arrival)


SIMPLE: dict[str, Callable[[int, Market], float]] = {
    "peg everything at the touch": lambda s, m: run_simple("peg_all", 1, s, m),
    "passive TWAP, re-pegged": lambda s, m: run_simple("passive_twap_peg", 10, s, m),
    "passive TWAP": lambda s, m: run_simple("passive_twap", 10, s, m),
    "crossing TWAP": lambda s, m: run_simple("crossing_twap", 10, s, m),
    "submit-and-leave": lambda s, m: run_simple("submit_and_leave", 1, s, m),
    "one market order": lambda s, m: run_simple("market_order", 1, s, m),
}


def paired(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> str:
    d = a - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    return f"{d.mean():+.3f} [{d.mean() - half:+.3f}, {d.mean() + half:+.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="independent training runs")
    parser.add_argument("--parents", type=int, default=10_000, help="training parents per run")
    parser.add_argument("--seeds", type=int, default=1000, help="held-out seeds")
    parser.add_argument("--checkpoints", type=int, default=1, help="scored parts per run")
    parser.add_argument("--first-seed", type=int, default=HELD_OUT,
                        help="the first held-out seed (another block: seeds no earlier "
                        "choice was made on)")  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="config override for the learner (experiments; the base keeps the defaults)",
    )  # fmt: skip
    args = parser.parse_args()
    try:
        learner = make_config(overrides=parse_set(args.set))
    except rlexec.RlexecError as exc:
        parser.error(f"--set: {exc}")
    if args.first_seed < 1_000_000 * (args.runs + 1):
        parser.error(f"--first-seed = {args.first_seed}: expected >= {1_000_000 * (args.runs + 1)}"
                     " (below are the training seeds)")  # fmt: skip
    for name in ("runs", "parents", "seeds", "checkpoints"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} = {getattr(args, name)}: expected >= 1")
    seeds = [args.first_seed + s for s in range(args.seeds)]
    m = Market()
    started = time.perf_counter()
    simple = {name: np.array([run(s, m) for s in seeds]) for name, run in SIMPLE.items()}
    folder = Path(tempfile.mkdtemp(prefix="bench-outside-"))
    base_url = f"sqlite+aiosqlite:///{folder / 'base.db'}"
    with rlexec.Agent.open(make_config(enabled=False), base_url, "base", mode="evaluation",
                           create=True) as base:  # fmt: skip
        base_is = np.array([run_agent(base, s, m) for s in seeds])
    best = min(simple, key=lambda k: float(simple[k].mean()))
    took = time.perf_counter() - started
    print(f"{args.seeds} held-out seeds, buy {QTY} over {HORIZON} s, a decision every "
          f"{INTERVAL} s; baselines {took:.0f} s; stores in {folder}"
          f"{'; learner overrides ' + str(args.set) if args.set else ''}")  # fmt: skip
    print("| strategy | mean IS bps | - rlexec base [95% CI] |\n|---|---|---|")
    for name, values in sorted(simple.items(), key=lambda kv: float(kv[1].mean())):
        print(f"| {name} | {values.mean():.3f} | {paired(values, base_is)} |")
    print(f"| rlexec base (kill switch) | {base_is.mean():.3f} | |")
    print(f"\n| run | parents trained | agent IS | - base [95% CI] | - best ({best}) [95% CI] |")
    print("|---|---|---|---|---|")
    part = args.parents // args.checkpoints
    for run in range(1, args.runs + 1):
        url = f"sqlite+aiosqlite:///{folder / f'run{run}.db'}"
        trained = 0
        for _ in range(args.checkpoints):
            with rlexec.Agent.open(learner, url, f"run-{run}", mode="training",
                                   create=True) as agent:  # fmt: skip
                for i in range(trained, trained + part):
                    run_agent(agent, run * 1_000_000 + i, m)
                dropped = agent.status.dropped
            trained += part
            with rlexec.Agent.open(learner, url, f"run-{run}", mode="evaluation") as agent:
                agent_is = np.array([run_agent(agent, s, m) for s in seeds])
            shed = "" if not any(dropped.values()) else f" (rows shed: {dropped})"
            print(f"| {run} | {trained} | {agent_is.mean():.3f} | {paired(agent_is, base_is)} | "
                  f"{paired(agent_is, simple[best])} |{shed}", flush=True)  # fmt: skip
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
