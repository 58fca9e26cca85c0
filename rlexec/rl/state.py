"""State discretization: an ``ExecutionState`` becomes a ``StateKey`` and a dense integer index.

The Q-table is a numpy array with one row per state, so every key maps to an index in
``range(num_states)`` and back (a mixed-radix number whose digits are the buckets, in the order
remaining, time, spread, imbalance, hour, urgency, volatility, queue depth, own orders,
schedule, touch).

Bucket edges are venue-independent, so one configuration works on an equity book (tick 0.01,
price ~100) and on a prediction-market book (prices in (0, 1), tick 0.01):

- remaining size and time elapsed: shares in [0, 1], ``n`` equal-width buckets (1.0 falls in the
  last bucket);
- spread: in ticks (``bid_ask_spread / tick_size``), doubling edges 1.5, 2.5, 4.5, 8.5, ... ticks:
  with 5 buckets, one tick (or less: locked or one-sided book), 2, 3-4, 5-8, more than 8 ticks;
- imbalance: in [-1, 1], ``n`` equal-width buckets;
- hour of day: ``hour * hour_buckets // 24`` (6 buckets: hour // 4, the original design's key);
- urgency: its three values;
- volatility (only with ``include_volatility``): in ticks per step (``recent_volatility /
  tick_size``), doubling edges 0.5, 1, 2, 4, ... ticks;
- queue depth (only with ``include_queue_depth``): relative to ``typical_queue_depth``, edges a
  factor 4 apart centred on 1 (3 buckets: below 0.5x, 0.5x-2x, 2x and above);
- own orders (with ``include_own_orders``, default on): what the Cancel, Wait and Place actions
  act on: 0 nothing of ours rests, 1 part of what is left rests, 2 everything unfilled rests
  (``resting_share`` 0, in between, 1);
- schedule (with ``include_schedule``, default on): where we stand against the base schedule:
  0 on schedule (``|schedule_lag| <= schedule_tolerance``), 1 behind, 2 ahead;
- touch (with ``include_touch``, default on): 0 nothing of ours rests behind the near touch,
  1 some child does (``resting_behind_ticks > 0``: the price moved away from it, so it rarely
  fills; PlaceAll re-pegs it, ``rlexec.execution.actions``).

The text form of a key is ``r3.t5.s1.i2.h0.u1.v0.q0.o1.l0.b0``; the older texts still parse:
10 parts (``...l0``) with touch 0, 8 parts (``...q0``) with own orders, schedule and touch 0,
which is exactly what a configuration with those parts switched off produces.

A feature switched off contributes the digit 0 with radix 1, so it does not multiply
``num_states``. Every bucket function is monotone non-decreasing in its feature.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rlexec.config import StateConfig
from rlexec.errors import InvalidInputError
from rlexec.rl.types import ExecutionState, Urgency

NUM_URGENCIES = len(Urgency)
_FIELDS = (
    "remaining",
    "time",
    "spread",
    "imbalance",
    "hour",
    "urgency",
    "volatility",
    "queue_depth",
    "own_orders",
    "schedule",
    "touch",
)
_TEXT = re.compile(
    r"^r(\d+)\.t(\d+)\.s(\d+)\.i(\d+)\.h(\d+)\.u(\d+)\.v(\d+)\.q(\d+)"
    r"(?:\.o(\d+)\.l(\d+)(?:\.b(\d+))?)?$"
)
# the parts a state's pool ignores: the book features, and whether a child of ours rests
# behind the touch (rare: alone, its states would stay under-visited and follow the base)
_POOLED_FIELDS = frozenset({"spread", "imbalance", "hour", "volatility", "queue_depth", "touch"})
OWN_ORDERS_BUCKETS = 3
SCHEDULE_BUCKETS = 3
TOUCH_BUCKETS = 2


class Pools(NamedTuple):
    """Every state's pool number (``StateDiscretizer.pools``) and the number of pools."""

    of_state: npt.NDArray[np.int64]
    number: int


@dataclass(frozen=True, slots=True)
class StateKey:
    """The discrete state: one bucket number per feature (0 for a feature switched off)."""

    remaining: int
    time: int
    spread: int
    imbalance: int
    hour: int
    urgency: int
    volatility: int = 0
    queue_depth: int = 0
    own_orders: int = 0
    schedule: int = 0
    touch: int = 0

    def to_text(self) -> str:
        """Stable text form for storage, e.g. ``r3.t5.s1.i2.h0.u1.v0.q0.o1.l0.b0``."""
        return (
            f"r{self.remaining}.t{self.time}.s{self.spread}.i{self.imbalance}"
            f".h{self.hour}.u{self.urgency}.v{self.volatility}.q{self.queue_depth}"
            f".o{self.own_orders}.l{self.schedule}.b{self.touch}"
        )

    @classmethod
    def from_text(cls, text: str) -> StateKey:
        """Parse ``to_text()`` output; raises ``InvalidInputError`` on anything else."""
        match = _TEXT.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidInputError(
                f"state key {text!r}: expected the form "
                "r<n>.t<n>.s<n>.i<n>.h<n>.u<n>.v<n>.q<n>.o<n>.l<n>.b<n>"
            )
        return cls(*(int(g) for g in match.groups() if g is not None))

    def digits(self) -> tuple[int, ...]:
        return (
            self.remaining,
            self.time,
            self.spread,
            self.imbalance,
            self.hour,
            self.urgency,
            self.volatility,
            self.queue_depth,
            self.own_orders,
            self.schedule,
            self.touch,
        )


def spread_edges(buckets: int) -> tuple[float, ...]:
    """Upper edges in ticks of all but the last spread bucket: 1.5, 2.5, 4.5, 8.5, ..."""
    return tuple(1.0 + 2.0**k - 0.5 for k in range(buckets - 1))


def volatility_edges(buckets: int) -> tuple[float, ...]:
    """Edges in ticks per step: 0.5, 1, 2, 4, ..."""
    return tuple(0.5 * 2.0**k for k in range(buckets - 1))


def queue_depth_edges(buckets: int) -> tuple[float, ...]:
    """Edges in multiples of the typical depth, a factor 4 apart and centred on 1."""
    return tuple(4.0 ** (k - (buckets - 2) / 2.0) for k in range(buckets - 1))


class StateDiscretizer:
    """Maps states to keys and dense indices for one ``StateConfig``."""

    def __init__(self, state_config: StateConfig) -> None:
        c = state_config
        self.config = c
        self._nr = c.remaining_buckets
        self._nt = c.time_buckets
        self._ns = c.spread_buckets
        self._ni = c.imbalance_buckets
        self._nh = c.hour_buckets
        self._nv = c.volatility_buckets if c.include_volatility else 1
        self._nq = c.queue_depth_buckets if c.include_queue_depth else 1
        self._no = OWN_ORDERS_BUCKETS if c.include_own_orders else 1
        self._nl = SCHEDULE_BUCKETS if c.include_schedule else 1
        self._nb = TOUCH_BUCKETS if c.include_touch else 1
        self._tolerance = c.schedule_tolerance
        self.radices: tuple[int, ...] = (
            self._nr,
            self._nt,
            self._ns,
            self._ni,
            self._nh,
            NUM_URGENCIES,
            self._nv,
            self._nq,
            self._no,
            self._nl,
            self._nb,
        )
        n = 1
        for r in self.radices:
            n *= r
        self.num_states: int = n
        self._spread_edges = spread_edges(c.spread_buckets)
        self._vol_edges = volatility_edges(c.volatility_buckets)
        self._queue_edges = queue_depth_edges(c.queue_depth_buckets)
        self._use_vol = c.include_volatility
        self._use_queue = c.include_queue_depth
        # Multipliers of each digit in the dense index (mixed radix, last digit fastest).
        mult = []
        m = 1
        for r in reversed(self.radices):
            mult.append(m)
            m *= r
        self._mult = tuple(reversed(mult))
        self._texts: dict[int, str] = {}
        self._pools: Pools | None = None

    # -- buckets -------------------------------------------------------------------------
    def own_orders_bucket(self, resting_share: float) -> int:
        """0 nothing rests, 1 part of what is left rests, 2 all of it (0 when switched off)."""
        if self._no == 1 or resting_share <= 0.0:
            return 0
        return 2 if resting_share >= 1.0 else 1

    def schedule_bucket(self, schedule_lag: float) -> int:
        """0 on schedule, 1 behind, 2 ahead (0 when switched off)."""
        if self._nl == 1:
            return 0
        tolerance = self._tolerance
        if schedule_lag > tolerance:
            return 1
        return 2 if schedule_lag < -tolerance else 0

    def touch_bucket(self, resting_behind_ticks: float) -> int:
        """1 when a child of ours rests behind the near touch, else 0 (0 when switched off)."""
        return 1 if self._nb != 1 and resting_behind_ticks > 0.0 else 0

    def _digits(self, s: ExecutionState) -> tuple[int, ...]:
        nr, nt, ni = self._nr, self._nt, self._ni
        r = int(s.remaining_size * nr)
        if r >= nr:
            r = nr - 1
        t = int(s.time_elapsed_pct * nt)
        if t >= nt:
            t = nt - 1
        sp = bisect_right(self._spread_edges, s.bid_ask_spread / s.tick_size)
        im = int((s.orderbook_imbalance + 1.0) * 0.5 * ni)
        if im >= ni:
            im = ni - 1
        h = s.hour_of_day * self._nh // 24
        v = bisect_right(self._vol_edges, s.recent_volatility / s.tick_size) if self._use_vol else 0
        q = (
            bisect_right(self._queue_edges, s.queue_depth_at_price / s.typical_queue_depth)
            if self._use_queue
            else 0
        )
        o = self.own_orders_bucket(s.resting_share)
        sc = self.schedule_bucket(s.schedule_lag)
        b = self.touch_bucket(s.resting_behind_ticks)
        return (r, t, sp, im, h, int(s.urgency), v, q, o, sc, b)

    def key(self, state: ExecutionState) -> StateKey:
        """The bucket of every feature of ``state``."""
        return StateKey(*self._digits(state))

    def state_index(self, state: ExecutionState) -> int:
        """Fast path: ``state`` straight to its dense index (no ``StateKey`` built); the same
        arithmetic as ``_digits`` followed by ``index``, inlined for speed."""
        s = state
        nr, nt, ni = self._nr, self._nt, self._ni
        r = int(s.remaining_size * nr)
        if r >= nr:
            r = nr - 1
        t = int(s.time_elapsed_pct * nt)
        if t >= nt:
            t = nt - 1
        im = int((s.orderbook_imbalance + 1.0) * 0.5 * ni)
        if im >= ni:
            im = ni - 1
        index = (
            (
                (r * nt + t) * self._ns
                + bisect_right(self._spread_edges, s.bid_ask_spread / s.tick_size)
            )
            * ni
            + im
        ) * self._nh + s.hour_of_day * self._nh // 24
        index = index * NUM_URGENCIES + s.urgency
        if self._use_vol:
            index = index * self._nv + bisect_right(
                self._vol_edges, s.recent_volatility / s.tick_size
            )
        if self._use_queue:
            index = index * self._nq + bisect_right(
                self._queue_edges, s.queue_depth_at_price / s.typical_queue_depth
            )
        if self._no != 1:
            index = index * OWN_ORDERS_BUCKETS + self.own_orders_bucket(s.resting_share)
        if self._nl != 1:
            index = index * SCHEDULE_BUCKETS + self.schedule_bucket(s.schedule_lag)
        if self._nb != 1:
            index = index * TOUCH_BUCKETS + (1 if s.resting_behind_ticks > 0.0 else 0)
        return index

    # -- index <-> key -------------------------------------------------------------------
    def index(self, key: StateKey) -> int:
        """Dense index of ``key``; raises ``InvalidInputError`` if a digit is out of range."""
        index = 0
        for name, digit, radix in zip(_FIELDS, key.digits(), self.radices, strict=True):
            if not isinstance(digit, int) or not 0 <= digit < radix:
                raise InvalidInputError(
                    f"state key {name} = {digit!r}: expected an integer in [0, {radix - 1}] "
                    "for this state configuration"
                )
            index = index * radix + digit
        return index

    def key_from_index(self, i: int) -> StateKey:
        """Inverse of ``index``."""
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.num_states:
            raise InvalidInputError(
                f"state index {i!r}: expected an integer in [0, {self.num_states - 1}]"
            )
        digits = [0] * len(self.radices)
        for pos in range(len(self.radices) - 1, -1, -1):
            i, digits[pos] = divmod(i, self.radices[pos])
        return StateKey(*digits)

    def key_text(self, i: int) -> str:
        """``key_from_index(i).to_text()``, remembered per index (the audit trail writes it for
        every decision and transition)."""
        text = self._texts.get(i)
        if text is None:
            text = self._texts[i] = self.key_from_index(i).to_text()
        return text

    def index_from_text(self, text: str) -> int:
        return self.index(StateKey.from_text(text))

    def pools(self) -> Pools:
        """Every state's pool: the states that differ from it only in the book features
        (spread, imbalance, hour, volatility, queue depth) and the touch part, numbered densely
        in the order of the remaining digits. An under-visited state borrows its pool's statistics
        (``rlexec.rl.policy``)."""
        if self._pools is None:
            digits = np.indices(self.radices).reshape(len(self.radices), -1)
            group = np.zeros(self.num_states, dtype=np.int64)
            count = 1
            for i, name in enumerate(_FIELDS):
                if name not in _POOLED_FIELDS:
                    group = group * self.radices[i] + digits[i]
                    count *= self.radices[i]
            self._pools = Pools(group, count)
        return self._pools

    def describe(self) -> dict[str, int]:
        """Radix of every key component (1 for a component switched off)."""
        return dict(zip(_FIELDS, self.radices, strict=True))


__all__ = [
    "NUM_URGENCIES",
    "OWN_ORDERS_BUCKETS",
    "SCHEDULE_BUCKETS",
    "TOUCH_BUCKETS",
    "Pools",
    "StateDiscretizer",
    "StateKey",
    "queue_depth_edges",
    "spread_edges",
    "volatility_edges",
]
