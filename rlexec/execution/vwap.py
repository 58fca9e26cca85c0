"""VWAP: slices proportional to the volume expected at each time of day.

The profile is read by time of day: the episode's start time is the clock when the schedule is
built, step ``s`` is at ``start + s * step_seconds``, and a slice's weight is the summed profile
over the steps it covers. Profiles are functions of the elapsed share ``x`` of the session:

- ``uniform``: 1 (VWAP = TWAP);
- ``u_shaped``: the market's intraday U (``rlexec.market.intraday.u_profile``, amplitude 2: open
  and close three times as busy as midday);
- ``front_loaded``: ``1.5 - x``; ``back_loaded``: ``0.5 + x``;
- ``custom``: non-negative weights of equal buckets of the session (e.g. 13 half-hours).

An optional participation cap limits each child to a share of the market volume observed in
``context.recent_trades``; what the cap holds back is carried to later steps (and, at the end,
to the runner's forced completion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

import numpy as np

from rlexec.errors import InvalidInputError
from rlexec.execution.base import ONE_LOT
from rlexec.execution.twap import DEFAULT_SLICES, ScheduledExecutor, Style
from rlexec.execution.types import ExecutionContext
from rlexec.market.intraday import u_profile

DEFAULT_SESSION_OPEN_SECS = 9.5 * 3600
DEFAULT_SESSION_CLOSE_SECS = 16.0 * 3600


class VolumeProfile(StrEnum):
    UNIFORM = "uniform"
    U_SHAPED = "u_shaped"
    FRONT_LOADED = "front_loaded"
    BACK_LOADED = "back_loaded"
    CUSTOM = "custom"


class VWAP(ScheduledExecutor):
    name = "vwap"

    def __init__(
        self,
        *,
        profile: VolumeProfile | str = VolumeProfile.U_SHAPED,
        custom_weights: Sequence[float] | None = None,
        u_amplitude: float = 2.0,
        session_open_secs: float = DEFAULT_SESSION_OPEN_SECS,
        session_close_secs: float = DEFAULT_SESSION_CLOSE_SECS,
        slices: int | None = DEFAULT_SLICES,
        style: Style | str = Style.AGGRESSIVE,
        time_jitter: float = 0.0,
        size_jitter: float = 0.0,
        seed: int = 0,
        lot: Decimal = ONE_LOT,
        participation_cap: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            slices=slices,
            style=style,
            time_jitter=time_jitter,
            size_jitter=size_jitter,
            seed=seed,
            lot=lot,
            participation_cap=participation_cap,
            name=name,
        )
        try:
            self.profile = VolumeProfile(profile)
        except ValueError:
            raise InvalidInputError(
                f"profile = {profile!r}: expected one of "
                f"{', '.join(p.value for p in VolumeProfile)}"
            ) from None
        if session_close_secs <= session_open_secs:
            raise InvalidInputError(
                f"session_close_secs = {session_close_secs}: expected > session_open_secs "
                f"({session_open_secs})"
            )
        if not math.isfinite(u_amplitude) or u_amplitude < 0:
            raise InvalidInputError(f"u_amplitude = {u_amplitude!r}: expected a number >= 0")
        self.custom_weights: tuple[float, ...] | None = None
        if self.profile is VolumeProfile.CUSTOM:
            self.custom_weights = validate_custom_profile(custom_weights)
        elif custom_weights is not None:
            raise InvalidInputError(
                f"custom_weights given with profile = {self.profile.value!r}: use profile='custom'"
            )
        self.u_amplitude = u_amplitude
        self.session_open_secs = session_open_secs
        self.session_close_secs = session_close_secs

    def profile_at(self, time_of_day_secs: np.ndarray) -> np.ndarray:
        """Relative expected volume at each time of day (seconds since midnight)."""
        t = np.asarray(time_of_day_secs, dtype=np.float64)
        length = self.session_close_secs - self.session_open_secs
        x = np.clip((t - self.session_open_secs) / length, 0.0, 1.0)
        if self.profile is VolumeProfile.UNIFORM:
            return np.ones_like(x)
        if self.profile is VolumeProfile.U_SHAPED:
            return u_profile(t, self.session_open_secs, self.session_close_secs, self.u_amplitude)
        if self.profile is VolumeProfile.FRONT_LOADED:
            return 1.5 - x
        if self.profile is VolumeProfile.BACK_LOADED:
            return 0.5 + x
        assert self.custom_weights is not None
        buckets = np.asarray(self.custom_weights, dtype=np.float64)
        index = np.minimum((x * len(buckets)).astype(np.int64), len(buckets) - 1)
        return buckets[index]

    def slice_weights(self, context: ExecutionContext, bounds: Sequence[int]) -> list[float]:
        start = context.time_of_day_secs - context.step * context.step_seconds
        horizon = bounds[-1]
        per_step = self.profile_at(start + np.arange(horizon) * context.step_seconds)
        cumulative = np.concatenate(([0.0], np.cumsum(per_step)))
        edges = np.asarray(bounds)
        weights = cumulative[edges[1:]] - cumulative[edges[:-1]]
        if float(weights.sum()) <= 0:  # the custom profile is zero over this whole episode
            return [1.0] * (len(bounds) - 1)
        return [float(w) for w in weights]


def validate_custom_profile(weights: Sequence[float] | None) -> tuple[float, ...]:
    """Custom profile weights: at least one, finite, non-negative, summing to > 0."""
    if weights is None or len(weights) == 0:
        raise InvalidInputError("custom_weights: profile='custom' needs at least one weight")
    values = []
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InvalidInputError(f"custom_weights[{i}] = {w!r}: expected a finite number >= 0")
        values.append(float(w))
    if sum(values) <= 0:
        raise InvalidInputError(f"custom_weights = {values!r}: expected a sum > 0")
    return tuple(values)
