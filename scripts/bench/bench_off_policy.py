"""Throughput of the off-policy evaluation math (no database): decisions per second.

Builds a synthetic log of N decisions (epsilon-greedy logging over a random Q-table, episodes
of 50 decisions) and times ``DecisionLog`` validation, each estimator and the full
``evaluate`` report. The baseline printed beside it, measured in the same run, is one bare
numpy pass over the same arrays (``np.sum`` of the rewards): the floor any estimator has to
pay to touch every decision.

    .venv/bin/python scripts/bench/bench_off_policy.py [--decisions 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from rlexec.evaluation import (
    CandidatePolicy,
    DecisionLog,
    doubly_robust,
    evaluate,
    ips,
    per_decision_is,
    snips,
    stepwise_doubly_robust,
    weighted_per_decision_is,
)

NUM_STATES = 4096
EPISODE_LENGTH = 50


def _best_of(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n: int = args.decisions
    rng = np.random.default_rng(args.seed)

    logging_q = rng.normal(size=(NUM_STATES, 6))
    epsilon = 0.2
    mu_table = np.full((NUM_STATES, 6), epsilon / 6)
    mu_table[np.arange(NUM_STATES), np.argmax(logging_q, axis=1)] += 1 - epsilon
    states = rng.integers(0, NUM_STATES, size=n)
    u = rng.random(size=(n, 1))
    actions = np.minimum((u >= np.cumsum(mu_table[states], axis=1)).sum(axis=1), 5)
    probabilities = mu_table[states, actions]
    rewards = rng.normal(size=n)
    episodes = np.arange(n) // EPISODE_LENGTH
    candidate = CandidatePolicy.from_q_table(
        logging_q + 0.3 * rng.normal(size=(NUM_STATES, 6)), 0.1
    )
    bases = rng.integers(0, 6, size=n)  # the base schedule's action at each decision
    log = DecisionLog(states, actions, probabilities, rewards, episodes, bases)

    rows: list[tuple[str, float]] = [
        ("baseline: np.sum(rewards)", _best_of(args.repeat, lambda: np.sum(rewards))),
        (
            "DecisionLog (validation)",
            _best_of(
                args.repeat,
                lambda: DecisionLog(states, actions, probabilities, rewards, episodes, bases),
            ),
        ),
        ("ips", _best_of(args.repeat, lambda: ips(log, candidate))),
        ("snips", _best_of(args.repeat, lambda: snips(log, candidate))),
        ("dr", _best_of(args.repeat, lambda: doubly_robust(log, candidate))),
        ("pdis", _best_of(args.repeat, lambda: per_decision_is(log, candidate, gamma=0.99))),
        (
            "wpdis",
            _best_of(args.repeat, lambda: weighted_per_decision_is(log, candidate, gamma=0.99)),
        ),
        (
            "dr_trajectory",
            _best_of(args.repeat, lambda: stepwise_doubly_robust(log, candidate, gamma=0.99)),
        ),
        (
            "snips, bootstrap 100 samples",
            _best_of(1, lambda: snips(log, candidate, bootstrap_samples=100, seed=1)),
        ),
        ("evaluate (all, no bootstrap)", _best_of(args.repeat, lambda: evaluate(log, candidate))),
    ]
    print(
        f"{n:,} decisions, {n // EPISODE_LENGTH:,} episodes, {NUM_STATES} states; best of "
        f"{args.repeat}"
    )
    for name, seconds in rows:
        print(f"  {name:<32} {seconds * 1e3:9.1f} ms  {n / seconds / 1e6:9.1f} M decisions/s")
    full = (
        _best_of(1, lambda: DecisionLog(states, actions, probabilities, rewards, episodes, bases))
        + rows[-1][1]
    )
    print(f"  validation + evaluate: {n / full / 1e6:.1f} M decisions/s")


if __name__ == "__main__":
    main()
