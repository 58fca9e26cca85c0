"""What every baseline executor shares: child-order ids, the protocol's default no-op methods,
exact whole-lot splitting of a parent into slices, a share of observed market volume in whole
lots, and a per-parent seeded random stream.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from rlexec.errors import InvalidInputError
from rlexec.execution.types import ExecutionContext
from rlexec.market.book import Trade

ONE_LOT = Decimal(1)


class BaseExecutor:
    """Default behaviour of the ``ExecutionAlgorithm`` protocol: no cancels, fills ignored,
    nothing to do at the end. Subclasses set ``name`` and implement ``get_next_order``."""

    name: str = "base"

    def __init__(self) -> None:
        self._child_counter = 0

    def next_order_id(self, parent_id: str) -> str:
        """A child id unique within this executor: ``<parent_id>-<name>-<n>``."""
        self._child_counter += 1
        return f"{parent_id}-{self.name}-{self._child_counter}"

    async def record_fill(
        self,
        parent_id: str,
        order_id: str,
        filled: Decimal,
        price: Decimal,
        context: ExecutionContext,
    ) -> None:
        return None

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        return []

    async def finish(self, parent_id: str, context: ExecutionContext) -> object:
        """Nothing to report (a subclass may return its own record of the parent)."""
        return None


def split_quantity(
    total: Decimal, weights: Sequence[float], lot: Decimal = ONE_LOT
) -> list[Decimal]:
    """Split ``total`` into ``len(weights)`` slices proportional to ``weights``, in whole lots,
    summing EXACTLY to ``total``.

    Cumulative rounding: slice i is ``floor(total * W_i / W) - floor(total * W_{i-1} / W)`` in
    lots (``W_i`` the cumulative weight), so slices are never negative and rounding never
    accumulates; the last slice takes the remainder (including any fraction of a lot in
    ``total``). Weights must be finite, non-negative and sum to > 0.

    Speed: whole-number weights (TWAP's, and any whose sum stays below 2**53) are summed in
    plain floats, where every partial sum is exact, so the result is the numpy path's to the
    bit (tested); others take the numpy path. A parent's schedule is built once, when it
    starts, and numpy's fixed cost on ten slices was most of it.
    """
    if not weights:
        raise InvalidInputError("weights: expected at least one slice")
    if not total.is_finite() or total <= 0:
        raise InvalidInputError(f"total = {total}: expected a quantity > 0")
    if not lot.is_finite() or lot <= 0:
        raise InvalidInputError(f"lot = {lot}: expected a lot size > 0")
    lots = int((total / lot).to_integral_value(ROUND_FLOOR))
    exact = _whole_weights(weights)
    cum_lots = _cumulative_lots(exact, lots) if exact else _cumulative_lots_numpy(weights, lots)
    slices: list[Decimal] = []
    previous = 0
    for value in cum_lots[:-1]:
        slices.append(Decimal(value - previous) * lot)
        previous = value
    slices.append(total - Decimal(previous) * lot)
    return slices


_EXACT_SUM = 2.0**53  # below it, sums of whole-number floats are exact in any order


def _whole_weights(weights: Sequence[float]) -> list[float] | None:
    """The weights as floats when all are whole numbers >= 0 with a sum in (0, 2**53) (then
    every partial sum is exact); else None."""
    values: list[float] = []
    total = 0.0
    for w in weights:
        if type(w) is not float and type(w) is not int:
            return None
        value = float(w)
        if not (value >= 0 and value.is_integer()):
            return None
        total += value
        values.append(value)
    return values if 0 < total < _EXACT_SUM else None


def _cumulative_lots(weights: list[float], lots: int) -> list[int]:
    """``floor(lots * W_i / W + 1e-9)``, non-decreasing and capped at ``lots``, in plain floats
    (exact sums: see ``_whole_weights``); the same operations, in the same order, as
    ``_cumulative_lots_numpy``."""
    weight_sum = sum(weights)
    out: list[int] = []
    cumulative = 0.0
    highest = -(2**63)
    for w in weights:
        cumulative += w
        highest = max(highest, math.floor(cumulative / weight_sum * lots + 1e-9))
        out.append(min(highest, lots))
    return out


def _cumulative_lots_numpy(weights: Sequence[float], lots: int) -> list[int]:
    array = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InvalidInputError(f"weights = {list(weights)!r}: expected finite numbers >= 0")
    weight_sum = float(array.sum())
    if weight_sum <= 0:
        raise InvalidInputError(f"weights = {list(weights)!r}: expected a sum > 0")
    cumulative = np.cumsum(array) / weight_sum
    cum_lots = np.floor(cumulative * lots + 1e-9).astype(np.int64)
    cum_lots = np.minimum(np.maximum.accumulate(cum_lots), lots)
    result: list[int] = cum_lots.tolist()
    return result


def tape_volume(trades: Iterable[Trade]) -> Decimal:
    """The quantity printed on a tape of trades (anyone's)."""
    return sum((t.quantity for t in trades), Decimal(0))


def share_in_lots(share: float, volume: Decimal, lot: Decimal = ONE_LOT) -> Decimal:
    """``share`` of ``volume``, rounded down to whole lots (never above the exact share)."""
    return (Decimal(repr(share)) * volume / lot).to_integral_value(ROUND_FLOOR) * lot


def parent_rng(seed: int, parent_id: str) -> np.random.Generator:
    """A random stream that depends on the executor's seed and the parent id only (``hash()``
    of a str is salted per process, so crc32 is used)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(parent_id.encode())])
