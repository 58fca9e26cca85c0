"""What a learner is judged against on a market: the best baseline and the per-seed oracle.

Both take a comparison's per-executor results on the same seeds, in the same order (a paired
comparison; ``compare`` and ``run_comparison`` produce them), restricted to the strategies
that count (pass the baselines only, not the learner being judged):

- ``best_baseline``: the executor with the lowest mean implementation shortfall; ties go to
  the first in the mapping's order. It is paired against the runner-up (the second-lowest
  mean) with a 95% confidence interval, so a reader sees whether "best" is clear
  (``BestBaseline.clear``: the interval lies below 0) or a near tie.
- ``per_seed_oracle``: on each seed the lowest IS of any of the strategies (an oracle that
  knows which fixed strategy wins on that path) and its mean. ``room_to_oracle`` = best mean
  minus oracle mean: how much a policy that reads the state could gain over the best single
  strategy at most, if it could pick the winning one on every path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import EpisodeResult, PairedDifference, paired_difference

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BestBaseline:
    name: str
    mean_bps: float
    n: int
    runner_up: str | None  # None when only one strategy was compared
    runner_up_mean_bps: float | None
    vs_runner_up: PairedDifference | None  # IS(best) - IS(runner-up), paired

    @property
    def clear(self) -> bool:
        """The best is cheaper than the runner-up with a 95% CI that excludes 0."""
        return self.vs_runner_up is not None and self.vs_runner_up.high < 0


@dataclass(frozen=True, slots=True)
class PerSeedOracle:
    seeds: tuple[int, ...]
    is_bps: tuple[float, ...]  # per seed: the lowest IS of any strategy
    chosen: tuple[str, ...]  # per seed: the strategy that reached it (first on ties)
    mean_bps: float

    def wins(self) -> dict[str, int]:
        """How many seeds each strategy wins (strategies that never win are left out)."""
        return dict(Counter(self.chosen).most_common())


def paired_is(
    results: Mapping[str, Sequence[EpisodeResult]],
) -> tuple[tuple[int, ...], dict[str, FloatArray]]:
    """The common seeds and each executor's IS per seed; raises unless every executor ran the
    same seeds in the same order (at least two, for intervals)."""
    if not results:
        raise InvalidInputError("results: expected at least one executor")
    names = list(results)
    seeds = tuple(r.seed for r in results[names[0]])
    if len(seeds) < 2:
        raise InvalidInputError(
            f"executor {names[0]}: {len(seeds)} episodes, expected >= 2 paired seeds"
        )
    values: dict[str, FloatArray] = {}
    for name in names:
        episodes = results[name]
        if tuple(r.seed for r in episodes) != seeds:
            raise InvalidInputError(
                f"executor {name}: seeds differ from {names[0]}'s; a paired comparison needs "
                "the same seeds in the same order"
            )
        values[name] = np.asarray([r.is_bps for r in episodes], dtype=np.float64)
    return seeds, values


def best_baseline(results: Mapping[str, Sequence[EpisodeResult]]) -> BestBaseline:
    """The strategy with the lowest mean IS, paired against the runner-up. See the module doc."""
    _, values = paired_is(results)
    means = {name: float(v.mean()) for name, v in values.items()}
    ranked = sorted(means, key=lambda name: means[name])  # stable: ties keep mapping order
    best = ranked[0]
    n = int(values[best].shape[0])
    if len(ranked) == 1:
        return BestBaseline(best, means[best], n, None, None, None)
    runner_up = ranked[1]
    paired = paired_difference(values[best], values[runner_up], runner_up)
    return BestBaseline(best, means[best], n, runner_up, means[runner_up], paired)


def per_seed_oracle(results: Mapping[str, Sequence[EpisodeResult]]) -> PerSeedOracle:
    """Per seed, the lowest IS of any strategy, and its mean. See the module doc."""
    seeds, values = paired_is(results)
    names = list(values)
    table = np.vstack([values[name] for name in names])  # strategies x seeds
    winner = np.argmin(table, axis=0)  # first minimum: ties go to mapping order
    best = table[winner, np.arange(table.shape[1])]
    return PerSeedOracle(
        seeds=seeds,
        is_bps=tuple(float(x) for x in best),
        chosen=tuple(names[i] for i in winner.tolist()),
        mean_bps=float(best.mean()),
    )


def room_to_oracle(best: BestBaseline, oracle: PerSeedOracle) -> float:
    """Best baseline's mean IS minus the oracle's (bps, >= 0 when both come from the same
    results)."""
    if best.n != len(oracle.seeds):
        raise InvalidInputError(
            f"best baseline over {best.n} seeds, oracle over {len(oracle.seeds)}: expected the "
            "same results"
        )
    return best.mean_bps - oracle.mean_bps
