"""Honest cost metrics: per-episode implementation shortfall and the paired comparison of
executors on the same seeds.

- ``implementation_shortfall_bps``: buy ``(sum q_i p_i - X P0) / (X P0) * 1e4``, sell the
  negative (Perold 1988), P0 the arrival mid, for fills that complete the parent (a
  ``rlexec.rl.reward.Shortfall`` in Decimal, the one IS computation). Positive = we paid.
- ``EpisodeResult``: one parent order's outcome; ``completion_cost_bps`` is the completion's
  share of ``is_bps`` (both in bps of the parent's arrival value, so policy + completion = IS).
- ``compare``: every executor on the SAME seeds (common random numbers); per executor mean,
  median, std, p95 of IS and completion rate; the mean paired difference against the baseline
  (TWAP) with a 95% confidence interval (Student t on the paired differences) and the share of
  episodes strictly cheaper than the baseline.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist

import numpy as np

from rlexec.errors import InvalidInputError
from rlexec.execution.types import ExecutionAlgorithm, ParentOrder
from rlexec.market.base import Market
from rlexec.market.book import Side
from rlexec.rl.reward import Shortfall


def implementation_shortfall_bps(
    side: Side,
    quantity: Decimal,
    arrival_mid: Decimal,
    fills: Iterable[tuple[Decimal, Decimal]],
) -> float:
    """IS of ``fills`` ((quantity, price) pairs) against ``arrival_mid``, in bps of the
    arrival value ``quantity * arrival_mid``: ``sign * sum q (p - P0) / (X P0) * 1e4`` (for
    fills short of ``quantity`` that is the cost of what filled, the rest counted at P0)."""
    if quantity <= 0 or arrival_mid <= 0:
        raise InvalidInputError(
            f"quantity = {quantity}, arrival_mid = {arrival_mid}: expected both > 0"
        )
    shortfall = Shortfall(side.sign, quantity, arrival_mid)
    for q, p in fills:
        shortfall.add_fill(q, p)
    return float(shortfall.bps())


@dataclass(frozen=True, slots=True)
class EpisodeResult:
    executor: str
    seed: int
    side: Side
    quantity: Decimal
    arrival_mid: Decimal
    is_bps: float
    filled_quantity: Decimal  # always == quantity (forced completion)
    fill_rate: float  # share of the parent filled by the policy's own children
    placed_fill_rate: float  # share of placed child quantity that filled (0 if none placed)
    child_orders: int
    avg_fill_price: Decimal
    completion_quantity: Decimal
    completion_cost_bps: float
    steps: int
    completed_step: int | None = None  # step at which the parent was fully filled (from 0)

    @property
    def completed(self) -> bool:
        return self.filled_quantity == self.quantity


# ---------------------------------------------------------------------------- statistics

# Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30; above 30 the normal is used.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_95(df: int) -> float:
    if df < 1:
        raise InvalidInputError(f"degrees of freedom = {df}: expected >= 1")
    return _T95[df - 1] if df <= len(_T95) else NormalDist().inv_cdf(0.975)


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """Mean of ``IS(executor) - IS(baseline)`` over paired episodes (negative = cheaper)."""

    baseline: str
    mean: float
    standard_error: float
    low: float
    high: float
    share_better: float  # share of episodes strictly cheaper than the baseline
    n: int

    @property
    def significant(self) -> bool:
        """The 95% interval excludes 0."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class ExecutorSummary:
    name: str
    n: int
    mean_bps: float
    median_bps: float
    std_bps: float
    p95_bps: float
    completion_rate: float
    mean_fill_rate: float
    mean_child_orders: float
    mean_completion_cost_bps: float
    vs_baseline: PairedDifference | None


def paired_difference(
    values: Sequence[float] | np.ndarray,
    baseline_values: Sequence[float] | np.ndarray,
    baseline: str = "twap",
) -> PairedDifference:
    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(baseline_values, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InvalidInputError(
            f"paired samples have {a.shape} and {b.shape} values: expected equal 1-D lengths"
        )
    if a.shape[0] < 2:
        raise InvalidInputError(
            f"paired samples have {a.shape[0]} values: expected >= 2 to estimate an interval"
        )
    d = a - b
    n = int(d.shape[0])
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    half = t_quantile_95(n - 1) * se
    return PairedDifference(
        baseline=baseline,
        mean=mean,
        standard_error=se,
        low=mean - half,
        high=mean + half,
        share_better=float((d < 0).mean()),
        n=n,
    )


def summarize(
    name: str,
    results: Sequence[EpisodeResult],
    baseline: Sequence[EpisodeResult] | None = None,
    baseline_name: str = "twap",
) -> ExecutorSummary:
    if not results:
        raise InvalidInputError(f"executor {name}: no episodes to summarize")
    values = np.asarray([r.is_bps for r in results], dtype=np.float64)
    paired = None
    if baseline is not None:
        if [r.seed for r in results] != [r.seed for r in baseline]:
            raise InvalidInputError(
                f"executor {name}: seeds differ from the baseline's; a paired comparison needs "
                "the same seeds in the same order"
            )
        paired = paired_difference(values, [r.is_bps for r in baseline], baseline_name)
    return ExecutorSummary(
        name=name,
        n=len(results),
        mean_bps=float(values.mean()),
        median_bps=float(np.median(values)),
        std_bps=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        p95_bps=float(np.percentile(values, 95)),
        completion_rate=sum(r.completed for r in results) / len(results),
        mean_fill_rate=float(np.mean([r.fill_rate for r in results])),
        mean_child_orders=float(np.mean([r.child_orders for r in results])),
        mean_completion_cost_bps=float(np.mean([r.completion_cost_bps for r in results])),
        vs_baseline=paired,
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    summaries: tuple[ExecutorSummary, ...]
    results: Mapping[str, tuple[EpisodeResult, ...]]
    baseline: str | None

    def summary(self, name: str) -> ExecutorSummary:
        for s in self.summaries:
            if s.name == name:
                return s
        raise InvalidInputError(f"executor {name!r}: not in this comparison")


async def compare(
    executors: Mapping[str, Callable[[], ExecutionAlgorithm]],
    market_factory: Callable[[], Market],
    seeds: Sequence[int],
    parent: ParentOrder,
    *,
    baseline: str | None = "twap",
) -> Comparison:
    """Run every executor on every seed (the same seeds, in order) and summarize.

    Each executor gets its own market (from ``market_factory``) and is created once by its
    factory; episode ``seed`` uses parent id ``<parent.parent_id>-<seed>``. ``baseline`` names the
    executor the others are paired against (None: no paired statistics).
    """
    from rlexec.execution.runner import run_episode

    if not executors:
        raise InvalidInputError("executors: expected at least one")
    if baseline is not None and baseline not in executors:
        raise InvalidInputError(
            f"baseline = {baseline!r}: not among the executors ({', '.join(executors)})"
        )
    results: dict[str, tuple[EpisodeResult, ...]] = {}
    for name, factory in executors.items():
        executor = factory()
        market = market_factory()
        episodes = []
        for seed in seeds:
            episode_parent = dataclasses.replace(parent, parent_id=f"{parent.parent_id}-{seed}")
            episode = await run_episode(executor, market, episode_parent, seed)
            episodes.append(dataclasses.replace(episode, executor=name))
        results[name] = tuple(episodes)
    base = results[baseline] if baseline is not None else None
    summaries = tuple(
        summarize(name, res, None if name == baseline else base, baseline or "")
        for name, res in results.items()
    )
    return Comparison(summaries, results, baseline)


def render_table(comparison: Comparison, *, extra: Mapping[str, str] | None = None) -> str:
    """A Markdown table: one row per executor. ``extra`` adds a note column per executor."""
    base = comparison.baseline
    header = (
        "| executor | n | mean IS bps | median | std | p95 | completion | policy fill rate "
        f"| child orders | completion cost bps | diff vs {base or '-'} [95% CI] | better than "
        f"{base or '-'} |"
    )
    if extra:
        header += " note |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for s in comparison.summaries:
        if s.vs_baseline is None:
            diff, better = "-", "-"
        else:
            p = s.vs_baseline
            diff = f"{p.mean:+.2f} [{p.low:+.2f}, {p.high:+.2f}]"
            better = f"{p.share_better:.1%}"
        row = (
            f"| {s.name} | {s.n} | {s.mean_bps:.2f} | {s.median_bps:.2f} | {s.std_bps:.2f} "
            f"| {s.p95_bps:.2f} | {s.completion_rate:.1%} | {s.mean_fill_rate:.1%} "
            f"| {s.mean_child_orders:.1f} | {s.mean_completion_cost_bps:.2f} | {diff} | {better} |"
        )
        if extra:
            row += f" {extra.get(s.name, '')} |"
        lines.append(row)
    return "\n".join(lines)
