"""Simulator speed: steps per second on one core for each preset, beside an empty Python loop.

    .venv/bin/python scripts/bench/bench_simulator.py [--steps 200000]

Prints, for each preset, the steps/s of ``advance()`` alone and of ``advance()`` plus a
``snapshot()`` every step (what an episode runner does), and the iterations/s of an empty
``for`` loop of the same length measured in the same run (the floor any Python step loop pays).
"""

from __future__ import annotations

import argparse
import time

from rlexec.market import make_market
from rlexec.market.presets import PRESETS


def empty_loop(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    steps = parser.parse_args().steps
    baseline = empty_loop(steps)
    print(f"empty Python loop: {steps / baseline:14,.0f} iterations/s ({steps:,} iterations)")
    for name in sorted(PRESETS):
        market = make_market(name)
        market.reset(1)
        start = time.perf_counter()
        for _ in range(steps):
            market.advance()
        plain = time.perf_counter() - start
        market.reset(2)
        n = steps // 4
        start = time.perf_counter()
        for _ in range(n):
            market.advance()
            market.snapshot()
        with_book = time.perf_counter() - start
        print(
            f"{name:18s} advance(): {steps / plain:10,.0f} steps/s "
            f"({plain / baseline:5.1f}x the empty loop)   "
            f"advance()+snapshot(): {n / with_book:10,.0f} steps/s"
        )


if __name__ == "__main__":
    main()
