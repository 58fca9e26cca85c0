"""Interval statistics shared by the evaluation code: a mean or a ratio of means with a
confidence interval, a seeded bootstrap of a ratio, and the effective sample size of weights.

Everything works on float64 numpy arrays of i.i.d. units (decisions or episodes) and is
vectorised; nothing here knows about policies. Intervals are two-sided and, unless stated
otherwise, use the normal approximation (mean +/- z * standard error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from rlexec.errors import InvalidInputError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with its standard error and a two-sided confidence interval."""

    value: float
    standard_error: float
    low: float
    high: float
    n: int
    confidence: float
    method: str  # "normal" or "bootstrap"

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def z_value(confidence: float) -> float:
    """Two-sided normal quantile: 1.959964 for ``confidence`` = 0.95."""
    check_confidence(confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def check_confidence(confidence: float) -> None:
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0.0 < confidence < 1.0
    ):
        raise InvalidInputError(f"confidence = {confidence!r}: expected a number in (0, 1)")


def _check_units(name: str, values: FloatArray, minimum: int = 2) -> None:
    if values.ndim != 1:
        raise InvalidInputError(f"{name} has shape {values.shape}: expected a 1-D array")
    if values.shape[0] < minimum:
        raise InvalidInputError(
            f"{name} has {values.shape[0]} units: expected at least {minimum} "
            "to estimate a standard error (widen the selection)"
        )


def mean_interval(values: FloatArray, confidence: float = 0.95) -> Interval:
    """Sample mean with the normal-approximation interval; standard error = s / sqrt(n)
    with the unbiased (ddof = 1) sample standard deviation."""
    _check_units("values", values)
    z = z_value(confidence)
    n = int(values.shape[0])
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1)) / math.sqrt(n)
    return Interval(mean, se, mean - z * se, mean + z * se, n, confidence, "normal")


def ratio_interval(
    numerators: FloatArray, denominators: FloatArray, confidence: float = 0.95
) -> Interval:
    """``sum(numerators) / sum(denominators)`` with a delta-method (linearised) interval.

    The influence of unit i is ``(x_i - R * y_i) / mean(y)``; the standard error is the
    standard deviation of those influences over sqrt(n). This is the usual interval of the
    self-normalised (weighted) importance sampling estimator.
    """
    _check_units("numerators", numerators)
    if denominators.shape != numerators.shape:
        raise InvalidInputError(
            f"denominators has shape {denominators.shape}: expected {numerators.shape}"
        )
    z = z_value(confidence)
    n = int(numerators.shape[0])
    total = float(np.sum(denominators))
    if not total > 0.0:
        raise InvalidInputError(
            f"sum of denominators = {total!r}: expected > 0 (no unit has positive weight; "
            "the candidate never takes the logged actions)"
        )
    ratio = float(np.sum(numerators)) / total
    influence = (numerators - ratio * denominators) / (total / n)
    se = float(np.std(influence, ddof=1)) / math.sqrt(n)
    return Interval(ratio, se, ratio - z * se, ratio + z * se, n, confidence, "normal")


def bootstrap_ratio_interval(
    numerators: FloatArray,
    denominators: FloatArray,
    *,
    samples: int,
    seed: int,
    confidence: float = 0.95,
) -> Interval:
    """``sum(numerators) / sum(denominators)`` with a seeded percentile-bootstrap interval.

    Units are resampled with replacement ``samples`` times (numpy ``default_rng(seed)``, so
    the interval is reproducible); the standard error is the standard deviation of the
    replicates. Cost is O(samples * n); replicates whose resampled denominator is zero are
    dropped.
    """
    point = ratio_interval(numerators, denominators, confidence)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 10:
        raise InvalidInputError(f"bootstrap samples = {samples!r}: expected an integer >= 10")
    rng = np.random.default_rng(seed)
    n = numerators.shape[0]
    replicates = np.empty(samples, dtype=np.float64)
    for b in range(samples):
        # Resampling counts instead of fancy-indexing twice: one gather-free pass each.
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        den = float(counts @ denominators)
        replicates[b] = float(counts @ numerators) / den if den > 0.0 else np.nan
    replicates = replicates[np.isfinite(replicates)]
    if replicates.shape[0] < 2:
        raise InvalidInputError(
            "bootstrap: fewer than 2 replicates had a positive denominator; "
            "expected a log where the candidate takes some logged actions"
        )
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return Interval(
        point.value,
        float(np.std(replicates, ddof=1)),
        float(low),
        float(high),
        point.n,
        confidence,
        "bootstrap",
    )


def effective_sample_size(weights: FloatArray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``: n for equal weights, 1 when a
    single unit carries all the weight, 0 when every weight is zero."""
    squares = float(np.dot(weights, weights))
    if squares == 0.0:
        return 0.0
    total = float(np.sum(weights))
    return total * total / squares
