"""Parameters of the limit-order-book simulator, one frozen dataclass per market.

Units: prices in ticks of ``tick_size``; sizes in lots (one lot = one share or one contract,
orders must be whole lots); time in steps of ``step_seconds``; rates are per step (per side where
it says so). The presets in ``rlexec.market.presets`` document where each value comes from.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from rlexec.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class LobParams:
    # --- grid and clock
    tick_size: Decimal = Decimal("0.01")
    bounded: bool = False  # True: prices strictly inside (0, 1) (prediction market)
    step_seconds: float = 1.0
    init_mid_low: float = 99.0  # the starting mid is drawn uniformly in [low, high] (price)
    init_mid_high: float = 101.0
    session_open_secs: float = 9.5 * 3600  # seconds since midnight
    session_close_secs: float = 16.0 * 3600
    episode_max_steps: int = 3600  # start times leave room for this many steps before the close
    levels: int = 5  # visible levels per side in a snapshot (a common feed depth)
    # --- depth
    touch_depth_mean: float = 1500.0  # lots at the touch when the book starts
    deep_depth_mean: float = 2500.0  # target lots of a level behind the touch
    deep_depth_growth: float = 0.1  # level k >= 1 targets deep_depth_mean * (1 + growth*(k-1))
    deep_relax_rate: float = 0.05  # per step: deeper levels move this share toward their target
    # --- exogenous flow at the touch, per side and per step (mean over the session)
    mo_rate: float = 1.2  # market orders per step hitting each side
    mo_size_mean: float = 120.0  # lots, exponential sizes
    lo_rate: float = 2.0  # limit orders per step joining each touch queue
    lo_size_mean: float = 150.0  # lots
    cancel_rate: float = 0.1  # share of the touch queue cancelled per step
    cancel_noise_shape: float = 4.0  # gamma shape of the per-step noise on cancel_rate
    intraday_amplitude: float = 2.0  # open/close are (1 + a) times as busy as midday
    # --- spread dynamics
    inside_spread_prob: float = 0.8  # per step, when the spread is > 1 tick: a level opens inside
    inside_size_mean: float = 300.0  # lots of an order placed inside the spread
    gap_prob: float = 0.05  # a depletion also empties the next level (spread opens 2 ticks)
    # --- volatility regime (two-state Markov chain; volatile scales all flow)
    vol_high_mult: float = 2.0
    vol_up_prob: float = 1.0 / 1800  # per step, calm -> volatile
    vol_down_prob: float = 1.0 / 600  # per step, volatile -> calm
    # --- liquidity regime (two-state Markov chain; stressed = thin book, wide spreads)
    stress_up_prob: float = 1.0 / 3600
    stress_down_prob: float = 1.0 / 300
    stress_depth_mult: float = 0.4
    stress_inside_mult: float = 0.3
    stress_gap_prob: float = 0.3
    # --- our impact
    resilience_rate: float = 0.05  # per step: share of the ticks we opened that refill
    permanent_impact: float = 0.3  # share of the ticks we walked that the other side follows

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("tick_size", "bounded"):
                continue
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidInputError(f"lob.{f.name} = {value!r}: expected a finite number")
        if not self.tick_size.is_finite() or self.tick_size <= 0:
            raise InvalidInputError(f"lob.tick_size = {self.tick_size}: expected a number > 0")
        positive = [
            "step_seconds",
            "init_mid_low",
            "touch_depth_mean",
            "deep_depth_mean",
            "mo_size_mean",
            "lo_size_mean",
            "inside_size_mean",
            "vol_high_mult",
            "stress_depth_mult",
            "cancel_noise_shape",
        ]
        for name in positive:
            if getattr(self, name) <= 0:
                raise InvalidInputError(f"lob.{name} = {getattr(self, name)}: expected > 0")
        non_negative = ["mo_rate", "lo_rate", "intraday_amplitude", "deep_depth_growth"]
        for name in non_negative:
            if getattr(self, name) < 0:
                raise InvalidInputError(f"lob.{name} = {getattr(self, name)}: expected >= 0")
        probabilities = [
            "deep_relax_rate",
            "cancel_rate",
            "inside_spread_prob",
            "gap_prob",
            "vol_up_prob",
            "vol_down_prob",
            "stress_up_prob",
            "stress_down_prob",
            "stress_inside_mult",
            "stress_gap_prob",
            "resilience_rate",
            "permanent_impact",
        ]
        for name in probabilities:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidInputError(f"lob.{name} = {getattr(self, name)}: expected in [0, 1]")
        if self.init_mid_high < self.init_mid_low:
            raise InvalidInputError(
                f"lob.init_mid_high = {self.init_mid_high}: expected >= init_mid_low "
                f"({self.init_mid_low})"
            )
        if self.bounded and not (self.init_mid_low > 0 and self.init_mid_high < 1):
            raise InvalidInputError(
                f"lob.init_mid_low/high = {self.init_mid_low}/{self.init_mid_high}: a bounded "
                "(prediction) market needs starting mids strictly inside (0, 1)"
            )
        if self.session_close_secs <= self.session_open_secs:
            raise InvalidInputError(
                f"lob.session_close_secs = {self.session_close_secs}: expected > "
                f"session_open_secs ({self.session_open_secs})"
            )
        if self.levels < 1 or self.episode_max_steps < 1:
            raise InvalidInputError(
                f"lob.levels = {self.levels}, lob.episode_max_steps = {self.episode_max_steps}: "
                "expected integers >= 1"
            )

    @property
    def typical_queue_depth(self) -> float:
        """Long-run mean touch queue in lots (arrivals minus market orders, over cancels)."""
        net = self.lo_rate * self.lo_size_mean - self.mo_rate * self.mo_size_mean
        if self.cancel_rate > 0 and net > 0:
            return net / self.cancel_rate
        return self.touch_depth_mean

    def with_overrides(self, overrides: dict[str, Any]) -> LobParams:
        """A copy with ``overrides`` applied; an unknown key or a bad value raises
        ``InvalidInputError`` naming ``lob.<key>``."""
        known = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise InvalidInputError(
                    f"lob.{key}: unknown simulator parameter (expected one of: "
                    f"{', '.join(sorted(known))})"
                )
            changes[key] = _coerce(key, value, getattr(self, key))
        return dataclasses.replace(self, **changes)


def _coerce(key: str, value: Any, current: Any) -> Any:
    if isinstance(value, bool) != isinstance(current, bool):
        raise InvalidInputError(f"lob.{key} = {value!r}: expected {type(current).__name__}")
    if isinstance(current, bool):
        return value
    if isinstance(current, Decimal):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise InvalidInputError(f"lob.{key} = {value!r}: expected a decimal number") from None
    if isinstance(current, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise InvalidInputError(f"lob.{key} = {value!r}: expected an integer")
        return value
    if not isinstance(value, int | float):
        raise InvalidInputError(f"lob.{key} = {value!r}: expected a number")
    return float(value)
