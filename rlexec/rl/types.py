"""Domain types of the learning core, named as in the original design.

State features are floats (they feed a hot loop and are not money); money stays Decimal in
``rlexec.execution``. Every constructor validates its input and raises ``InvalidInputError``
naming the field, the value and what was expected; the one exception is
``ExecutionState.trusted``, the state builder's own path (see there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import IntEnum

from rlexec.errors import InvalidInputError
from rlexec.slots import unchecked_constructor


class Urgency(IntEnum):
    """How pressing the parent order is; part of the state key."""

    LOW = 0
    NORMAL = 1
    HIGH = 2


class ExecutionAction(IntEnum):
    """The six actions. ``size_fraction`` is the share of the *remaining* parent quantity."""

    WAIT = 0
    PLACE_SMALL = 1
    PLACE_MEDIUM = 2
    PLACE_LARGE = 3
    PLACE_ALL = 4
    CANCEL = 5

    @property
    def size_fraction(self) -> float:
        return _SIZE_FRACTIONS[self]

    @property
    def label(self) -> str:
        """The original design's spelling: Wait, PlaceSmall, ..., Cancel."""
        return _LABELS[self]

    @classmethod
    def from_label(cls, label: str) -> ExecutionAction:
        for action, text in _LABELS.items():
            if text == label:
                return action
        raise InvalidInputError(f"action {label!r} is not one of {', '.join(_LABELS.values())}")


_SIZE_FRACTIONS = {
    ExecutionAction.WAIT: 0.0,
    ExecutionAction.PLACE_SMALL: 0.10,
    ExecutionAction.PLACE_MEDIUM: 0.25,
    ExecutionAction.PLACE_LARGE: 0.50,
    ExecutionAction.PLACE_ALL: 1.0,
    ExecutionAction.CANCEL: 0.0,
}
_LABELS = {
    ExecutionAction.WAIT: "Wait",
    ExecutionAction.PLACE_SMALL: "PlaceSmall",
    ExecutionAction.PLACE_MEDIUM: "PlaceMedium",
    ExecutionAction.PLACE_LARGE: "PlaceLarge",
    ExecutionAction.PLACE_ALL: "PlaceAll",
    ExecutionAction.CANCEL: "Cancel",
}
NUM_ACTIONS = len(ExecutionAction)


def _finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{name} = {value!r}: expected a finite number")


def _in_range(name: str, value: float, low: float, high: float) -> None:
    _finite(name, value)
    if not low <= value <= high:
        raise InvalidInputError(f"{name} = {value!r}: expected a value in [{low}, {high}]")


def _non_negative(name: str, value: float) -> None:
    _finite(name, value)
    if value < 0:
        raise InvalidInputError(f"{name} = {value!r}: expected a value >= 0")


def _positive(name: str, value: float) -> None:
    _finite(name, value)
    if value <= 0:
        raise InvalidInputError(f"{name} = {value!r}: expected a value > 0")


@dataclass(frozen=True, slots=True)
class ExecutionState:
    """What the agent sees at a decision.

    Units (chosen so that bucket edges work on an equity book and a prediction-market book):
    - remaining_size: share of the parent quantity still unfilled, in [0, 1];
    - time_elapsed_pct: share of the horizon elapsed, in [0, 1];
    - bid_ask_spread, recent_volatility (std of mid changes per step): price units; the
      discretizer divides them by ``tick_size``;
    - orderbook_imbalance: (bid size - ask size) / (bid size + ask size) at the touch, in [-1, 1];
    - queue_depth_at_price: quantity resting at our near touch; the discretizer divides it by
      ``typical_queue_depth``;
    - recent_fill_rate: share of our recent child quantity that filled, in [0, 1];
    - avg_slippage_last_n: mean signed cost of our last fills against the mid, in bps
      (positive = we paid);
    - seconds_since_last_trade: None when missing (no trade seen since the parent started:
      the engine supplies no trades, or none printed yet), never a made-up 0.
    - resting_share: share of the quantity still to trade that rests in our own child orders,
      in [0, 1] (1: everything unfilled is already working);
    - schedule_lag: the base schedule's target filled share minus ours, as a share of the parent
      quantity, in [-1, 1] (positive: behind the base schedule, negative: ahead);
    - resting_behind_ticks: how far, in ticks, the limit of our resting child farthest from the
      near touch is behind it (a buy's bid below the best bid, a sell's ask above the best
      ask), >= 0; 0 when nothing of ours rests or everything rests at (or ahead of) the touch.
      A child left behind by a moving price rarely fills: PlaceAll re-pegs it.
    """

    remaining_size: float
    time_elapsed_pct: float
    urgency: Urgency
    bid_ask_spread: float
    orderbook_imbalance: float
    recent_volatility: float
    queue_depth_at_price: float
    hour_of_day: int
    minute_of_hour: int
    seconds_since_last_trade: float | None
    recent_fill_rate: float
    avg_slippage_last_n: float
    tick_size: float = 0.01
    mid_price: float = 100.0
    typical_queue_depth: float = 1.0
    resting_share: float = 0.0
    schedule_lag: float = 0.0
    resting_behind_ticks: float = 0.0

    def __post_init__(self) -> None:
        _in_range("remaining_size", self.remaining_size, 0.0, 1.0)
        _in_range("time_elapsed_pct", self.time_elapsed_pct, 0.0, 1.0)
        if not isinstance(self.urgency, Urgency):
            raise InvalidInputError(f"urgency = {self.urgency!r}: expected an Urgency")
        _non_negative("bid_ask_spread", self.bid_ask_spread)
        _in_range("orderbook_imbalance", self.orderbook_imbalance, -1.0, 1.0)
        _non_negative("recent_volatility", self.recent_volatility)
        _non_negative("queue_depth_at_price", self.queue_depth_at_price)
        if not isinstance(self.hour_of_day, int) or not 0 <= self.hour_of_day <= 23:
            raise InvalidInputError(f"hour_of_day = {self.hour_of_day!r}: expected 0-23")
        if not isinstance(self.minute_of_hour, int) or not 0 <= self.minute_of_hour <= 59:
            raise InvalidInputError(f"minute_of_hour = {self.minute_of_hour!r}: expected 0-59")
        if self.seconds_since_last_trade is not None:
            _non_negative("seconds_since_last_trade", self.seconds_since_last_trade)
        _in_range("recent_fill_rate", self.recent_fill_rate, 0.0, 1.0)
        _finite("avg_slippage_last_n", self.avg_slippage_last_n)
        _positive("tick_size", self.tick_size)
        _positive("mid_price", self.mid_price)
        _positive("typical_queue_depth", self.typical_queue_depth)
        _in_range("resting_share", self.resting_share, 0.0, 1.0)
        _in_range("schedule_lag", self.schedule_lag, -1.0, 1.0)
        _non_negative("resting_behind_ticks", self.resting_behind_ticks)

    @classmethod
    def trusted(cls, values: StateValues) -> ExecutionState:
        """Build without validation from ``values`` in field order (``STATE_FEATURES``): the
        state builder's path, once per decision. Its features are valid by construction (each
        is clamped, or derived from a validated book, parent and context; a test checks the
        states it builds against this class's validating constructor). Anything else, outside
        data above all, goes through the normal constructor."""
        return _unchecked_state(values)


STATE_FEATURES: tuple[str, ...] = tuple(f.name for f in fields(ExecutionState))
"""The raw state features in field order: the gym observation and the audit trail's columns."""
StateValues = tuple[
    float, float, Urgency, float, float, float, float, int, int, float | None, float, float,
    float, float, float, float, float, float,
]  # fmt: skip
"""An ``ExecutionState``'s values in field order (``ExecutionState.trusted``)."""
_unchecked_state = unchecked_constructor(ExecutionState)


@dataclass(frozen=True, slots=True)
class ExecutionReward:
    """The four parts of the original design's reward; ``total()`` combines them."""

    fill_rate_reward: float
    slippage_penalty: float
    time_penalty: float
    market_impact_penalty: float

    def total(self) -> float:
        return (
            self.fill_rate_reward
            - self.slippage_penalty
            - self.time_penalty
            - self.market_impact_penalty
        )


@dataclass(frozen=True, slots=True)
class Experience:
    """One transition. ``terminated``: the parent order is complete (no bootstrap);
    ``truncated``: an outside limit cut the episode (bootstrap from next_state)."""

    state: ExecutionState
    action: ExecutionAction
    reward: float
    next_state: ExecutionState
    terminated: bool
    truncated: bool = False

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated
