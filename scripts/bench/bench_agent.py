"""Latency of the Q-learning agent's decision and update paths, beside a floor measured in the
same run.

Floor: a bare Python dict lookup of a six-float row plus ``max`` over it — the least a tabular
decision can cost in CPython. Every figure is the per-call latency (``time.perf_counter_ns``
around each call, so the timer's own cost is in every figure, the floor's included; it is
printed too). The garbage collector is paused while a loop runs, as ``timeit`` does.

Usage: .venv/bin/python scripts/bench/bench_agent.py [--calls 200000] [--seed 0]

Targets (issue 2): select_action p99 <= 20 us and within 5x of the floor's p99.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import sys
import time

import numpy as np

from rlexec.config import AgentMode, QLearningConfig, ReplayBufferConfig, StateConfig
from rlexec.rl import ExecutionState, QTableAgent, Urgency

Row = tuple[str, list[int]]


def percentiles(samples: list[int]) -> tuple[float, float]:
    a = np.asarray(samples, dtype=np.float64) / 1000.0
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def random_states(rng: np.random.Generator, n: int) -> list[ExecutionState]:
    states = []
    for _ in range(n):
        states.append(
            ExecutionState(
                remaining_size=float(rng.random()),
                time_elapsed_pct=float(rng.random()),
                urgency=Urgency(int(rng.integers(0, 3))),
                bid_ask_spread=0.01 * int(rng.integers(1, 12)),
                orderbook_imbalance=float(rng.uniform(-1, 1)),
                recent_volatility=float(rng.exponential(0.01)),
                queue_depth_at_price=float(rng.exponential(500)),
                hour_of_day=int(rng.integers(0, 24)),
                minute_of_hour=int(rng.integers(0, 60)),
                seconds_since_last_trade=float(rng.exponential(3)),
                recent_fill_rate=float(rng.random()),
                avg_slippage_last_n=float(rng.normal(0, 2)),
                typical_queue_depth=500.0,
            )
        )
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000, help="calls per measured path")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    calls: int = args.calls
    rng = np.random.default_rng(args.seed)

    agent = QTableAgent(
        QLearningConfig(epsilon_decay=1.0),  # keep epsilon at 0.3 throughout
        StateConfig(),
        mode=AgentMode.TRAINING,
        seed=args.seed,
        replay_config=ReplayBufferConfig(),
    )
    n = agent.num_states
    q = rng.normal(size=(n, 6))
    agent.restore(q, np.ones((n, 6), dtype=np.int64), 0.3, 0)

    keys = rng.integers(0, n, size=calls).tolist()
    keys2 = rng.integers(0, n, size=calls).tolist()
    actions = rng.integers(0, 6, size=calls).tolist()
    rewards = rng.normal(size=calls).tolist()
    done = (rng.random(calls) < 0.01).tolist()
    table = {s: q[s].tolist() for s in range(n)}
    states = random_states(rng, 2048)
    n_states = len(states)

    results: list[Row] = []
    clock = time.perf_counter_ns

    # Every loop is written out (no lambda per call) so the floor and the agent's paths pay the
    # same harness cost: two clock reads, one list index, one list store.
    out = [0] * calls
    gc.disable()
    for i in range(calls):
        k = keys[i]
        t0 = clock()
        out[i] = clock() - t0
    results.append(("timer alone (perf_counter_ns pair)", out))

    out = [0] * calls
    for i in range(calls):
        k = keys[i]
        t0 = clock()
        max(table[k])
        out[i] = clock() - t0
    results.append(("FLOOR: dict lookup + max of six floats", out))

    hot = keys[0]
    out = [0] * calls
    for i in range(calls):
        k = hot
        t0 = clock()
        max(table[k])
        out[i] = clock() - t0
    results.append(("FLOOR, one hot key (all in cache)", out))

    decide = agent.decide_index
    out = [0] * calls
    for i in range(calls):
        k = hot
        t0 = clock()
        decide(k)
        out[i] = clock() - t0
    results.append(("decide_index(s), one hot key", out))

    out = [0] * calls
    for i in range(calls):
        k = keys[i]
        t0 = clock()
        decide(k)
        out[i] = clock() - t0
    results.append(("decide_index(s)  [sync fast path]", out))

    out = [0] * calls
    for i in range(calls):
        k = keys[i]
        t0 = clock()
        decide(k, 1)
        out[i] = clock() - t0
    results.append(("decide_index(s, default_action)", out))

    state_index = agent.discretizer.state_index
    out = [0] * calls
    for i in range(calls):
        st = states[i % n_states]
        t0 = clock()
        state_index(st)
        out[i] = clock() - t0
    results.append(("discretizer.state_index(state)", out))

    async def async_paths() -> tuple[list[int], list[int]]:
        select = agent.select_action
        decide_state = agent.decide
        out_select = [0] * calls
        out_decide = [0] * calls
        for i in range(calls):
            st = states[i % n_states]
            t0 = clock()
            await select(st)
            out_select[i] = clock() - t0
        for i in range(calls):
            st = states[i % n_states]
            t0 = clock()
            await decide_state(st)
            out_decide[i] = clock() - t0
        return out_select, out_decide

    select_samples, decide_samples = asyncio.run(async_paths())
    results.append(("await select_action(state)  [async face]", select_samples))
    results.append(("await decide(state)", decide_samples))

    update = agent.update_index
    out = [0] * calls
    for i in range(calls):
        k, k2, a, r, d = keys[i], keys2[i], actions[i], rewards[i], done[i]
        t0 = clock()
        update(k, a, r, k2, d)
        out[i] = clock() - t0
    results.append(("update_index(s, a, r, s2, done)", out))

    observe = agent.observe
    out = [0] * calls
    for i in range(calls):
        k, k2, a, r, d = keys[i], keys2[i], actions[i], rewards[i], done[i]
        t0 = clock()
        observe(k, a, r, k2, d)
        out[i] = clock() - t0
    results.append(("observe(...)  [+ replay add, batch of 32 every 10]", out))
    gc.enable()

    print(
        f"python {platform.python_version()} ({sys.implementation.name}), "
        f"{platform.machine()}, numpy {np.__version__}; {calls} calls per path; "
        f"{n} states x 6 actions"
    )
    _, floor_p99 = percentiles(results[1][1])
    print(f"{'path':52s} {'p50 us':>8s} {'p99 us':>8s} {'p99/floor':>10s}")
    figures: dict[str, tuple[float, float]] = {}
    for name, samples in results:
        p50, p99 = percentiles(samples)
        figures[name] = (p50, p99)
        print(f"{name:52s} {p50:8.3f} {p99:8.3f} {p99 / floor_p99:10.1f}x")

    print()
    _, hot_p99 = figures["FLOOR, one hot key (all in cache)"]
    checks = [
        ("decide_index(s)  [sync fast path]", floor_p99, "random-key floor"),
        ("await select_action(state)  [async face]", floor_p99, "random-key floor"),
        ("decide_index(s), one hot key", hot_p99, "hot-key floor"),
        ("await select_action(state)  [async face]", hot_p99, "hot-key floor"),
    ]
    for name, base, label in checks:
        _, p99 = figures[name]
        verdict_abs = "meets" if p99 <= 20.0 else "MISSES"
        verdict_rel = "meets" if p99 <= 5 * base else "MISSES"
        print(
            f"{name.split('  ')[0]}: p99 {p99:.2f} us {verdict_abs} 20 us; "
            f"{p99 / base:.1f}x the {label} p99 ({base:.2f} us): {verdict_rel} 5x"
        )


if __name__ == "__main__":
    main()
