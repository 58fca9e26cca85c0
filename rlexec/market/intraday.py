"""The U-shaped intraday activity profile: how busy the market is at a given time of day.

Trading volume and the arrival rate of market orders are highest just after the open and just
before the close and lowest around midday (Jain & Joh 1988; McInish & Wood 1992; the reason
VWAP schedules exist). The profile here is a parabola in the fraction ``x`` of the session that
has elapsed, normalised so that its mean over the session is 1::

    u(x) = (1 + a * (2x - 1)^2) / (1 + a / 3)

so ``u(0) = u(1) = (1 + a) * u(0.5)``: with ``a = 2`` the open and the close are three times as busy
as midday. Outside the session the profile is held at its edge value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def u_profile(
    time_of_day_secs: npt.NDArray[np.float64] | float,
    session_open_secs: float,
    session_close_secs: float,
    amplitude: float,
) -> npt.NDArray[np.float64]:
    """Activity multiplier (mean 1 over the session) at each time of day (secs since midnight)."""
    t = np.asarray(time_of_day_secs, dtype=np.float64)
    x = np.clip((t - session_open_secs) / (session_close_secs - session_open_secs), 0.0, 1.0)
    result: npt.NDArray[np.float64] = (1.0 + amplitude * (2.0 * x - 1.0) ** 2) / (
        1.0 + amplitude / 3.0
    )
    return result
