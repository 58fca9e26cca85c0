"""Reward functions; each returns an ``ExecutionReward`` whose parts the audit trail stores.

- ``original_reward``: the original design's mix. fill fraction x fill_weight;
  |price - mid| / mid x slippage_weight; (elapsed - 0.9) x time_weight once more than 90% of the
  horizon has elapsed; |price after - price| / price x impact_weight.
- ``shortfall_reward``: minus the cost of a step's fills in basis points of the arrival value,
  ``side * sum(q_i * (p_i - P0)) / (X * P0) * 1e4``. Summed over an episode whose fills add up
  to the parent quantity X (the forced completion included), the rewards equal minus the
  implementation shortfall in bps, so maximizing return minimizes IS. The cost goes into
  ``slippage_penalty`` (negative for price improvement), the other parts are 0.

Inputs may be floats or Decimals (money arrives as Decimal); rewards are floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

from rlexec.config import RewardConfig
from rlexec.errors import InvalidInputError
from rlexec.rl.types import ExecutionReward

Number = float | int | Decimal
TIME_PENALTY_START = 0.9
BPS = 1e4


def _value(name: str, value: Number | None, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, float | int | Decimal):
        raise InvalidInputError(f"{name} = {value!r}: expected a number")
    x = float(value)
    if not math.isfinite(x):
        raise InvalidInputError(f"{name} = {value!r}: expected a finite number")
    if positive and x <= 0:
        raise InvalidInputError(f"{name} = {value!r}: expected a value > 0")
    if not positive and x < 0:
        raise InvalidInputError(f"{name} = {value!r}: expected a value >= 0")
    return x


def original_reward(
    *,
    filled: Number,
    order_size: Number,
    price: Number | None,
    mid_price: Number,
    time_elapsed_pct: float,
    price_after: Number | None,
    weights: RewardConfig,
) -> ExecutionReward:
    """The original design's reward for one fill (or none: ``filled`` 0 and ``price`` None).

    ``order_size`` is the parent order size, ``price`` the fill's average price, ``mid_price``
    the mid at the decision, ``price_after`` the mid observed after the fill (None: no impact
    measured). Slippage and impact are 0 without a fill.
    """
    qty = _value("filled", filled)
    size = _value("order_size", order_size, positive=True)
    mid = _value("mid_price", mid_price, positive=True)
    elapsed = _value("time_elapsed_pct", time_elapsed_pct)
    if elapsed > 1.0:
        raise InvalidInputError(f"time_elapsed_pct = {time_elapsed_pct!r}: expected [0, 1]")
    fill_rate_reward = qty / size * weights.fill_weight
    slippage_penalty = 0.0
    impact_penalty = 0.0
    if qty > 0:
        if price is None:
            raise InvalidInputError("price = None: expected the fill price when filled > 0")
        px = _value("price", price, positive=True)
        slippage_penalty = abs(px - mid) / mid * weights.slippage_weight
        if price_after is not None:
            after = _value("price_after", price_after, positive=True)
            impact_penalty = abs(after - px) / px * weights.impact_weight
    time_penalty = (
        (elapsed - TIME_PENALTY_START) * weights.time_weight
        if elapsed > TIME_PENALTY_START
        else 0.0
    )
    return ExecutionReward(
        fill_rate_reward=fill_rate_reward,
        slippage_penalty=slippage_penalty,
        time_penalty=time_penalty,
        market_impact_penalty=impact_penalty,
    )


def shortfall_cost_bps(
    side_sign: int,
    fills: Iterable[tuple[Number, Number]],
    arrival_mid: Number,
    parent_quantity: Number,
) -> float:
    """Cost of ``fills`` [(quantity, price)] in bps of the arrival value X * P0; positive means
    we paid (bought above or sold below the arrival mid)."""
    if side_sign not in (1, -1) or isinstance(side_sign, bool):
        raise InvalidInputError(f"side_sign = {side_sign!r}: expected +1 (buy) or -1 (sell)")
    p0 = _value("arrival_mid", arrival_mid, positive=True)
    x = _value("parent_quantity", parent_quantity, positive=True)
    cost = 0.0
    for qty, price in fills:
        q = _value("fill quantity", qty)
        p = _value("fill price", price, positive=True)
        cost += q * (p - p0)
    return side_sign * cost / (x * p0) * BPS


def shortfall_reward(
    side_sign: int,
    fills: Iterable[tuple[Number, Number]],
    arrival_mid: Number,
    parent_quantity: Number,
) -> ExecutionReward:
    """Minus the cost of this step's fills in bps of the arrival value (see the module doc);
    ``total()`` is the reward, the cost is kept in ``slippage_penalty``."""
    cost = shortfall_cost_bps(side_sign, fills, arrival_mid, parent_quantity)
    return ExecutionReward(
        fill_rate_reward=0.0,
        slippage_penalty=cost,
        time_penalty=0.0,
        market_impact_penalty=0.0,
    )
