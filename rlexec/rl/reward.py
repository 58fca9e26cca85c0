"""The reward of the execution MDP, and the one place the implementation shortfall is computed.

- ``Shortfall``: one parent order's implementation shortfall as it trades (Perold 1988), in
  basis points of the arrival value ``X * P0``: realized ``sign * sum q_i (p_i - P0) / (X P0)
  * 1e4`` and marked to market ``S_t = sign * (sum q_i (p_i - P0) + R_t (m_t - P0)) / (X P0)
  * 1e4`` (``R_t`` still to trade, ``m_t`` the mid now; ``S_0 = 0``, and once everything is
  filled ``S_t`` is the IS). Positive = we paid. Generic over the number type: Decimal where
  the IS is money (the runner's episode result, ``implementation_shortfall_bps``), float in
  the hot loop (the RL executor's reward and records, the paired-baseline path); the same
  arithmetic, in the same order, for both.
- ``TransitionReward``: the reward of one transition of a parent (from one decision to the
  next) in the ``[rl_execution.reward] mode``; the RL executor (and through it the gymnasium
  env) owns one per parent:
  - ``shortfall`` (default): minus the change of ``S_t`` over the transition, so an episode's
    rewards sum exactly to minus its IS, completion cost included; each transition is charged
    the fills it made and the price moves on what it left unexecuted. With a paired baseline
    (the base's ``S_t`` path on the same seed, ``rlexec.execution.paired_baseline``) the base's
    change over the same steps goes into ``fill_rate_reward``, so the total is the agent's
    change minus the base's, negated;
  - ``original``: the original design's mix (``original_reward``) over the transition's fills.
- ``original_reward``: fill fraction x fill_weight; |price - mid| / mid x slippage_weight;
  (elapsed - 0.9) x time_weight once more than 90% of the horizon has elapsed; |price after -
  price| / price x impact_weight.
- ``shortfall_reward`` / ``shortfall_cost_bps``: minus the cost of a list of fills in bps of
  the arrival value (a ``Shortfall`` over them), the cost kept in ``slippage_penalty``.

Inputs of the checked functions may be floats or Decimals (money arrives as Decimal); rewards
are floats (a learning signal); ``Shortfall`` and ``TransitionReward`` trust their callers
(the executor's own bookkeeping, already validated where it came in).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Generic, TypeVar

from rlexec.config import RewardConfig, RewardMode
from rlexec.errors import InvalidInputError
from rlexec.rl.types import ExecutionReward

Number = float | int | Decimal
TIME_PENALTY_START = 0.9
BPS = 10_000  # an int: exact for Decimal, the same float as 1e4
ZERO = Decimal(0)
N = TypeVar("N", float, Decimal)


class Shortfall(Generic[N]):
    """One parent order's implementation shortfall as it fills (see the module doc); ``N`` is
    float or Decimal. ``add_fill`` accounts a fill and returns its cost in money units."""

    __slots__ = ("arrival_mid", "cost", "filled", "quantity", "sign", "value")

    def __init__(self, sign: int, quantity: N, arrival_mid: N) -> None:
        self.sign: int = sign  # +1 buy, -1 sell
        self.quantity: N = quantity
        self.arrival_mid: N = arrival_mid
        self.value: N = quantity * arrival_mid  # the arrival value X * P0
        self.filled: N = quantity - quantity  # 0 of the number type
        self.cost: N = quantity - quantity  # sign * sum q (p - P0), money units

    def add_fill(self, quantity: N, price: N) -> N:
        cost = self.sign * quantity * (price - self.arrival_mid)
        self.filled += quantity
        self.cost += cost
        return cost

    def bps(self, cost: N | None = None) -> N:
        """The realized shortfall (or the money ``cost`` given) in bps of the arrival value."""
        return (self.cost if cost is None else cost) / self.value * BPS

    def marked_bps(self, mid: N) -> N:
        """``S_t``: the realized cost plus what is still to trade marked at ``mid``, in bps."""
        mark = self.sign * (self.quantity - self.filled) * (mid - self.arrival_mid)
        return (self.cost + mark) / self.value * BPS


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
    shortfall = Shortfall(side_sign, x, p0)
    for qty, price in fills:
        shortfall.add_fill(_value("fill quantity", qty), _value("fill price", price, positive=True))
    return shortfall.bps()


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


class TransitionReward:
    """The reward of one parent's transitions, in ``config.mode`` (see the module doc).

    The executor calls ``open`` at every decision (the transition starts), ``add_fill`` for
    every fill of the parent (its children and the forced completion), and ``close`` at the
    next decision or at the end. ``shortfall`` is the parent's running IS (floats), also what
    its episode record reports; ``baseline`` the base's ``S_t`` per step on the same seed (its
    last entry: the base's IS), or None.
    """

    __slots__ = (
        "baseline",
        "config",
        "interval_filled",
        "interval_notional",
        "mid_at_decision",
        "order_size",
        "shortfall",
        "shortfall_at_decision",
    )

    def __init__(
        self,
        config: RewardConfig,
        *,
        sign: int,
        quantity: Decimal,
        arrival_mid: Decimal,
        baseline: Sequence[float] | None = None,
    ) -> None:
        self.config = config
        self.order_size = quantity
        self.shortfall = Shortfall(sign, float(quantity), float(arrival_mid))
        self.baseline = baseline
        self.shortfall_at_decision = 0.0
        self.mid_at_decision = 0.0
        self.interval_filled = ZERO  # every fill of the parent since the decision
        self.interval_notional = ZERO

    def add_fill(self, quantity: Decimal, price: Decimal) -> float:
        """A fill of the parent; its cost in money units (floats)."""
        self.interval_filled += quantity
        self.interval_notional += quantity * price
        return self.shortfall.add_fill(float(quantity), float(price))

    @property
    def interval_price(self) -> Decimal | None:
        """The average price of the transition's fills (None: nothing filled)."""
        filled = self.interval_filled
        return None if filled <= 0 else self.interval_notional / filled

    def open(self, mid: float) -> None:
        """A decision at mid ``mid`` (the book's mid as a float, as the state has it): the
        transition starts, its fills start at 0."""
        self.mid_at_decision = mid
        self.shortfall_at_decision = self.shortfall.marked_bps(mid)
        self.interval_filled = ZERO
        self.interval_notional = ZERO

    def close(
        self,
        *,
        opened_step: int,
        step: int,
        mid: float,
        time_elapsed_pct: float,
        terminated: bool,
    ) -> ExecutionReward:
        """The reward of the transition opened at step ``opened_step``, closed at ``step``
        with the mid at ``mid`` (``terminated``: after the forced completion)."""
        if self.config.mode is RewardMode.SHORTFALL:
            cost = self.shortfall.marked_bps(mid) - self.shortfall_at_decision
            baseline = self.baseline
            if baseline is None:
                return ExecutionReward(0.0, cost, 0.0, 0.0)
            last = len(baseline) - 1
            now_index = last if terminated else min(step, last)
            base_cost = baseline[now_index] - baseline[min(opened_step, last)]
            return ExecutionReward(base_cost, cost, 0.0, 0.0)
        price = self.interval_price
        return original_reward(
            filled=self.interval_filled,
            order_size=self.order_size,
            price=price,
            mid_price=self.mid_at_decision,
            time_elapsed_pct=1.0 if terminated else time_elapsed_pct,
            price_after=mid if price is not None else None,
            weights=self.config,
        )
