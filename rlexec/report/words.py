"""Numbers in words for a desk: bps figures and a cost difference with its interval as one
sentence ("X is 0.01 bps better than Y; the difference is not significant (95% CI -0.20 to
+0.23, 300 paired seeds)."). Better = cheaper: the difference is a cost, negative = better.
Pure text, no statistics: the caller passes the interval and whether it excludes 0."""

from __future__ import annotations


def bps(value: float, *, sign: bool = False) -> str:
    """A figure with two decimals (three below 0.01, so that a small value is not shown as
    0.00)."""
    digits = 3 if 0 < abs(value) < 0.01 else 2
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def interval_text(low: float, high: float, confidence: float = 0.95) -> str:
    return f"{confidence:.0%} CI {bps(low, sign=True)} to {bps(high, sign=True)}"


def difference_sentence(
    subject: str,
    yardstick: str,
    *,
    mean: float,
    low: float,
    high: float,
    significant: bool,
    units: str,
    sample: str,
    identical: bool = False,
    confidence: float = 0.95,
) -> str:
    """``mean`` = cost(subject) - cost(yardstick) in ``units`` with its interval [low, high]
    over ``sample`` (e.g. "300 paired seeds"); ``identical``: the same on every unit."""
    if identical:
        return f"{subject} has exactly the same cost as {yardstick} on all {sample}."
    if mean == 0.0:
        head = f"{subject} costs on average the same as {yardstick}"
    else:
        direction = "better" if mean < 0 else "worse"
        head = f"{subject} is {bps(abs(mean))} {units} {direction} than {yardstick}"
    word = "significant" if significant else "not significant"
    return f"{head}; the difference is {word} ({interval_text(low, high, confidence)}, {sample})."
