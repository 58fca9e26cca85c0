"""Replay evaluation throughput over a large SQLite store, beside a bare SELECT of the same rows.

Builds (once, or again with --rebuild) an SQLite store migrated to head holding N decisions
(default 1,000,000: episodes of 12 decisions, random uuid4 episode ids, inserted in time order
like a live store) with one agent whose Q-table covers the states used. Then, in the same run:

- baseline: the log query (``rlexec.replay.log``: the same SELECT, ORDER BY episode_id, seq)
  read with the standard library's ``sqlite3`` ``fetchall``, nothing else;
- end to end: ``replay_evaluate`` (policy ``current``): load the log from the store, build the
  candidate from the stored table (Q-values, visits, variances) under the decision rule with
  the logged schedule actions, run every estimator (agreement, confusion table, IPS,
  SNIPS, DR, PDIS, WPDIS, step-wise DR).

Target: >= 100,000 decisions/s end to end, and within 3x of the bare read.

    .venv/bin/python scripts/bench/bench_replay.py [--decisions 1000000] [--rebuild]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rlexec.config import QLearningConfig, StateConfig
from rlexec.records import ACTION_LABELS
from rlexec.replay.evaluate import replay_evaluate
from rlexec.replay.log import _query
from rlexec.rl.state import StateDiscretizer
from rlexec.store.engine import create_engine
from rlexec.store.migrate import upgrade_database
from rlexec.store.models import Q_COLUMNS
from rlexec.store.repositories import DECISION_COLUMNS

EPISODE_LENGTH = 12
STATES = 2000
EPSILON = 0.2


def build(path: Path, decisions: int) -> float:
    if path.exists():
        path.unlink()
    asyncio.run(upgrade_database(f"sqlite+aiosqlite:///{path}"))
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    keys = StateDiscretizer(StateConfig())
    q = rng.normal(0.0, 1.0, (STATES, 6))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = "2024-03-01 14:30:00.000000"
    conn.execute(
        "INSERT INTO agents (id, name, config_snapshot, epsilon, updates, q_revision, "
        "created_at, updated_at) VALUES (1, 'bench', '{}', ?, 0, 1, ?, ?)",
        (EPSILON, now, now),
    )
    conn.executemany(
        "INSERT INTO q_values (agent_id, state_key, action, q, visits, revision, updated_at, "
        "variance) VALUES (1, ?, ?, ?, 40, 1, ?, 0.01)",  # tried and known: the rule may deviate
        [
            (keys.key_from_index(s).to_text(), ACTION_LABELS[a], float(q[s, a]), now)
            for s in range(STATES)
            for a in range(6)
        ],
    )
    n = decisions
    states = rng.integers(0, STATES, n)
    bases = rng.integers(0, 6, n)  # the base schedule's action at each decision
    greedy = np.argmax(q[states], axis=1)
    explore = rng.random(n) < EPSILON
    actions = np.where(explore, rng.integers(0, 6, n), greedy)
    probability = np.where(actions == greedy, EPSILON / 6 + 1 - EPSILON, EPSILON / 6)
    rewards = rng.normal(0.0, 0.5, n)
    episodes = [str(uuid.uuid4()) for _ in range((n + EPISODE_LENGTH - 1) // EPISODE_LENGTH)]
    state_text = [keys.key_from_index(s).to_text() for s in range(STATES)]
    first = DECISION_COLUMNS.index("remaining_size")
    features_end = DECISION_COLUMNS.index("state_key")
    columns = (
        *DECISION_COLUMNS[:first],
        *DECISION_COLUMNS[first:features_end],
        "state_key", "state_index", "action", "epsilon", "action_probability",
        *Q_COLUMNS,
        "explored", "child_quantity", "child_price", "filled_quantity", "fill_price",
        "fill_rate_reward", "slippage_penalty", "time_penalty", "market_impact_penalty",
        "reward_total", "schedule_action", "greedy_action", "deviated",
    )  # fmt: skip
    placeholders = ", ".join("?" * len(columns))
    sql = f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({placeholders})"
    features = (0.5, 0.25, 1, 0.02, 0.1, 0.01, 400.0, 14, 30, 1.0, 0.5, 0.2, 0.01, 100.0, 500.0,
                0.0, 0.0)  # fmt: skip
    assert len(features) == features_end - first

    def rows() -> Iterator[tuple[object, ...]]:
        for i, (s, a, p, r, b) in enumerate(
            zip(states.tolist(), actions.tolist(), probability.tolist(), rewards.tolist(),
                bases.tolist(), strict=True)
        ):  # fmt: skip
            e, seq = divmod(i, EPISODE_LENGTH)
            yield (
                1, episodes[e], seq + 1, seq * 5, now, *features, state_text[s], s,
                ACTION_LABELS[a], EPSILON, p, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, a != greedy[i],
                100.0, 100.0, 50.0, 100.0, 0.0, r, 0.0, 0.0, r, ACTION_LABELS[b],
                ACTION_LABELS[int(greedy[i])], a != b,
            )  # fmt: skip

    conn.executemany(sql, rows())
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def bare_read(path: Path) -> tuple[float, int]:
    sql = _query(True, False, "?")
    started = time.perf_counter()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute(sql, ["bench"]).fetchall()
    conn.close()
    return time.perf_counter() - started, len(rows)


async def end_to_end(path: Path) -> tuple[float, int, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        started = time.perf_counter()
        result = await replay_evaluate(
            engine, StateConfig(), QLearningConfig(), policy="current", agent_name="bench"
        )
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    return elapsed, result.report.n_decisions, result.report.agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--path", default="data/bench_replay.db")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    args = parser.parse_args()
    path = Path(args.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.rebuild or not path.exists():
        seconds = build(path, args.decisions)
        print(f"built {args.decisions:,} decisions in {seconds:.1f} s "
              f"({args.decisions / seconds:,.0f} rows/s bulk insert)")  # fmt: skip
    bare = min(bare_read(path)[0] for _ in range(args.repeat))
    n = bare_read(path)[1]
    runs = [asyncio.run(end_to_end(path)) for _ in range(args.repeat)]
    best = min(r[0] for r in runs)
    print(f"decisions in the log:        {n:,}")
    print(f"bare sqlite3 SELECT:         {bare:.3f} s  ({n / bare:,.0f} rows/s)   [baseline]")
    print(f"replay evaluate end to end:  {best:.3f} s  ({n / best:,.0f} decisions/s)")
    print(f"ratio to the bare read:      {best / bare:.2f}x   (target <= 3x; "
          f">= 100,000 decisions/s: {'met' if n / best >= 100_000 else 'NOT met'})")  # fmt: skip
    print(f"agreement with the candidate: {runs[0][2]:.3f}")


if __name__ == "__main__":
    main()
