"""Named market presets and the ``make_market`` factory.

Every value below is set for realism from the cited source or stated as an assumption; none was
tuned to make a learner beat a schedule. Where a literature value is per event, it is converted to
our one-second step. The measured outcome of the equity preset (``scripts/bench`` and the tests):
spread one tick about 85% of the time, touch queues of a few hundred to a few thousand shares,
mid changes in about 14% of the seconds, imbalance/next-mid-move correlation about 0.15-0.2,
daily volatility about 0.4% (a quiet large-cap day), about 9M shares a day.

``equity`` (a liquid large-tick US stock, tick 0.01, price about 100):
- tick 0.01: Reg NMS sub-penny rule for stocks above 1 USD.
- session 09:30-16:00 New York time, as seconds since midnight.
- ``mo_size_mean`` = 100 shares: the average US equity trade is 100-200 shares since
  decimalisation (SEC market structure data; Angel, Harris & Spatt 2015).
- ``mo_rate`` = 1.5 per side per second and limit ``lo_rate`` = 3 of 100 shares with
  ``cancel_rate`` = 0.25/s: most limit orders are cancelled within seconds (Cont, Stoikov & Talreja
  2010, Table 2 and Section 3: cancellation rates near the touch of the same order as limit
  arrivals); together these give a mean touch queue of (3*100 - 1.5*100) / 0.25 = 600 shares,
  i.e. a few average event sizes, as in Huang, Lehalle & Rosenbaum 2015 (queues of 2-10 AES).
- ``deep_depth_mean`` = 1000 growing 10% per level: depth increases away from the touch (Bouchaud,
  Mezard & Potters 2002, average book shape).
- ``intraday_amplitude`` = 2: volume at the open and close is 2-3x midday (Jain & Joh 1988;
  McInish & Wood 1992).
- volatility regime x2 flow, mean durations 30 min calm / 10 min volatile: an assumption in the
  spirit of Hamilton 1989 regime switching; two volatility states are commonly identified
  intraday.
- liquidity stress (depth x0.4, inside-spread orders x0.3, gap 30%, mean 5 min once an hour):
  an assumption; spreads widen and depth thins in stressed episodes (Gould & Bonart 2015 note
  wider spreads for small-tick stocks; Cont, Kukanov & Stoikov 2014: price impact slope is
  inversely proportional to depth, which our thinner book reproduces).
- ``resilience_rate`` = 0.05/s (half-life about 14 s): the book replenishes within tens of
  seconds after a large trade (Large 2007, LSE: 20 s resiliency); ``permanent_impact`` = 0.3:
  most impact of a single trade is transient (Bouchaud et al. 2004 propagator), with a permanent
  part of about a third of the temporary one (Almgren et al. 2005 estimate permanent impact below
  temporary impact).

``prediction_market`` (a binary-outcome contract on a central limit order book, price in (0, 1)):
there is no peer-reviewed calibration for these books; the values are order-of-magnitude
assumptions from public venue order books (cent ticks, resting sizes of tens to hundreds of
contracts, a trade every ten seconds or so on an active market, spreads of 1-3 cents), stated as
such: tick 0.01, mid started in [0.3, 0.7], 16-hour session 08:00-24:00 with a weaker U profile
(amplitude 1.5, activity follows the US day), market orders 0.08/s per side of 100 contracts,
limit orders 0.15/s of 120, cancels 3%/s, inside-spread orders 10%/s (wide spreads persist), gaps
15%, slower resilience 0.02/s.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rlexec.errors import InvalidInputError
from rlexec.market.lob import LobMarket
from rlexec.market.params import LobParams

PRESETS: dict[str, LobParams] = {
    "equity": LobParams(
        tick_size=Decimal("0.01"),
        bounded=False,
        init_mid_low=99.0,
        init_mid_high=101.0,
        session_open_secs=9.5 * 3600,
        session_close_secs=16.0 * 3600,
        touch_depth_mean=600.0,
        deep_depth_mean=1000.0,
        deep_depth_growth=0.1,
        mo_rate=1.5,
        mo_size_mean=100.0,
        lo_rate=3.0,
        lo_size_mean=100.0,
        cancel_rate=0.25,
        intraday_amplitude=2.0,
        inside_spread_prob=0.8,
        inside_size_mean=200.0,
        gap_prob=0.05,
        vol_high_mult=2.0,
        vol_up_prob=1.0 / 1800,
        vol_down_prob=1.0 / 600,
        stress_up_prob=1.0 / 3600,
        stress_down_prob=1.0 / 300,
        stress_depth_mult=0.4,
        stress_inside_mult=0.3,
        stress_gap_prob=0.3,
        resilience_rate=0.05,
        permanent_impact=0.3,
    ),
    "prediction_market": LobParams(
        tick_size=Decimal("0.01"),
        bounded=True,
        init_mid_low=0.3,
        init_mid_high=0.7,
        session_open_secs=8.0 * 3600,
        session_close_secs=24.0 * 3600,
        touch_depth_mean=300.0,
        deep_depth_mean=600.0,
        deep_depth_growth=0.1,
        mo_rate=0.08,
        mo_size_mean=100.0,
        lo_rate=0.15,
        lo_size_mean=120.0,
        cancel_rate=0.03,
        intraday_amplitude=1.5,
        inside_spread_prob=0.1,
        inside_size_mean=100.0,
        gap_prob=0.15,
        vol_high_mult=2.0,
        vol_up_prob=1.0 / 1800,
        vol_down_prob=1.0 / 600,
        stress_up_prob=1.0 / 3600,
        stress_down_prob=1.0 / 300,
        stress_depth_mult=0.4,
        stress_inside_mult=0.3,
        stress_gap_prob=0.4,
        resilience_rate=0.02,
        permanent_impact=0.3,
    ),
}


def preset_params(name: str, **overrides: Any) -> LobParams:
    """The parameters of preset ``name`` with ``overrides`` applied (checked by name and type)."""
    base = PRESETS.get(name)
    if base is None:
        raise InvalidInputError(
            f"market preset = {name!r}: unknown (expected one of: {', '.join(sorted(PRESETS))})"
        )
    return base.with_overrides(overrides)


def make_market(name: str, **overrides: Any) -> LobMarket:
    """A fresh simulator of preset ``name`` (``equity`` or ``prediction_market``); keyword
    arguments override ``LobParams`` fields. Call ``reset(seed)`` before use."""
    return LobMarket(preset_params(name, **overrides), name=name)
