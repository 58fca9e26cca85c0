"""The Almgren-Chriss (2000) execution model: closed-form optimal schedule and a ``Market`` of it.

The model (Almgren & Chriss, "Optimal execution of portfolio transactions", J. Risk 3, 2000),
written for a *buy* or a *sell* of ``X`` shares over ``N`` periods of length ``tau``:

- unaffected price, arithmetic Brownian motion with linear permanent impact ``g(v) = gamma*v``::

      S_k = S_{k-1} + sigma * sqrt(tau) * xi_k - sign * tau * g(n_k / tau)

  (``sign`` = +1 for a sell in the paper; here our buys push the price up, our sells down);
- the k-th trade of ``n_k`` shares executes at ``S_{k-1} + sign * h(n_k / tau)`` (buy: pays more)
  with temporary impact ``h(v) = epsilon * sign(v) + eta * v``;
- the cost of a trajectory (holdings ``x_0 = X, ..., x_N = 0``, trades ``n_k = x_{k-1} - x_k``)
  has mean and variance::

      E(x) = 1/2 gamma X^2 + epsilon * sum |n_k| + (eta_tilde / tau) * sum n_k^2
      V(x) = sigma^2 * tau * sum_{k=1}^{N} x_k^2,       eta_tilde = eta - gamma * tau / 2

- minimising ``E + lambda * V`` gives ``x_j = sinh(kappa (T - t_j)) / sinh(kappa T) * X`` where
  ``(2 / tau^2) (cosh(kappa tau) - 1) = kappa_tilde^2 = lambda sigma^2 / eta_tilde``; as
  ``lambda -> 0`` it tends to the straight line (TWAP).

Floats inside: the closed form is numeric analysis, not money. ``AlmgrenChrissMarket`` hands out
Decimal fills; see its docstring for how limit orders are treated (the model has no book).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from rlexec.errors import InvalidInputError
from rlexec.market.book import BookLevel, BookSnapshot, Fill, Side, Trade

FloatArray = npt.NDArray[np.float64]
_PRICE_QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class AcParams:
    """Parameters of the model. Time is in the unit that ``sigma`` and ``eta`` use (the paper:
    days); ``tau`` is the length of one market step in that unit."""

    initial_price: float = 50.0
    sigma: float = 0.95  # price units per sqrt(time unit)
    epsilon: float = 0.0625  # fixed cost per share: half the spread plus fees
    eta: float = 2.5e-6  # temporary impact, price per (share per time unit)
    gamma: float = 2.5e-7  # permanent impact, price per share
    tau: float = 1.0  # time units per step
    risk_aversion: float = 1e-6  # lambda, per price unit
    tick_size: Decimal = Decimal("0.0001")  # grid of the quotes shown in snapshots
    display_size: Decimal = Decimal("1000000")  # size shown at each quote (no real depth)
    step_seconds: float = 86_400.0  # wall-clock length of a step, for the clock only
    session_open_secs: float = 9.5 * 3600

    def __post_init__(self) -> None:
        for name in ("initial_price", "sigma", "epsilon", "eta", "gamma", "tau", "risk_aversion"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidInputError(
                    f"almgren_chriss.{name} = {value!r}: expected a number >= 0"
                )
        for name in ("initial_price", "tau", "eta", "step_seconds"):
            if getattr(self, name) <= 0:
                raise InvalidInputError(
                    f"almgren_chriss.{name} = {getattr(self, name)!r}: expected a number > 0"
                )
        if self.eta_tilde <= 0:
            raise InvalidInputError(
                f"almgren_chriss.eta = {self.eta}: expected eta > gamma * tau / 2 "
                f"(= {self.gamma * self.tau / 2}) so that eta_tilde > 0"
            )
        if not self.tick_size.is_finite() or self.tick_size <= 0:
            raise InvalidInputError(f"almgren_chriss.tick_size = {self.tick_size}: expected > 0")
        if not self.display_size.is_finite() or self.display_size <= 0:
            raise InvalidInputError(
                f"almgren_chriss.display_size = {self.display_size}: expected > 0"
            )

    @property
    def eta_tilde(self) -> float:
        return self.eta - self.gamma * self.tau / 2.0

    def with_risk_aversion(self, risk_aversion: float) -> AcParams:
        from dataclasses import replace

        return replace(self, risk_aversion=risk_aversion)


# The paper's worked example (section 3.3 and Table 1): a stock at $50, 30% annual volatility
# (sigma = 0.95 $/share/day^0.5), daily volume 5 million shares, spread 1/8 (epsilon = 1/16),
# eta so that trading 1% of daily volume costs one spread, gamma so that trading 10% of daily
# volume moves the price by one spread; liquidate X = 10^6 shares over T = 5 days in N = 5 steps.
PAPER = AcParams()
PAPER_QUANTITY = 1_000_000
PAPER_HORIZON_STEPS = 5

# An intraday equity scaled the same way (step = 1 second, price 100, daily volume 5 million
# shares over 23,400 s, spread 0.01, daily volatility 2%): sigma = 2 / sqrt(23400) $/sqrt(s);
# eta = 0.01 / (0.01 * 5e6 / 23400); gamma = 0.01 / (0.1 * 5e6); lambda so that kappa*T ~ 1 for
# a 300-step parent.
EQUITY_INTRADAY = AcParams(
    initial_price=100.0,
    sigma=2.0 / math.sqrt(23_400.0),
    epsilon=0.005,
    eta=0.01 / (0.01 * 5e6 / 23_400.0),
    gamma=0.01 / (0.1 * 5e6),
    tau=1.0,
    risk_aversion=3e-4,
    tick_size=Decimal("0.0001"),
    display_size=Decimal("100000"),
    step_seconds=1.0,
)

PRESETS: dict[str, AcParams] = {"paper": PAPER, "equity_intraday": EQUITY_INTRADAY}


def preset(name: str, **overrides: Any) -> AcParams:
    """A named preset, optionally with fields replaced (``preset("paper", risk_aversion=0)``)."""
    if name not in PRESETS:
        raise InvalidInputError(
            f"almgren_chriss preset {name!r}: expected one of {', '.join(sorted(PRESETS))}"
        )
    from dataclasses import fields, replace

    known = {f.name for f in fields(AcParams)}
    for key in overrides:
        if key not in known:
            raise InvalidInputError(
                f"almgren_chriss.{key}: unknown parameter "
                f"(expected one of {', '.join(sorted(known))})"
            )
    return replace(PRESETS[name], **overrides)


# ---------------------------------------------------------------------------- closed form


def kappa(params: AcParams, risk_aversion: float | None = None) -> float:
    """The tau-discretised urgency: ``cosh(kappa tau) = 1 + kappa_tilde^2 tau^2 / 2``."""
    lam = params.risk_aversion if risk_aversion is None else risk_aversion
    kappa_tilde_sq = lam * params.sigma**2 / params.eta_tilde
    return math.acosh(1.0 + kappa_tilde_sq * params.tau**2 / 2.0) / params.tau


def optimal_trajectory(
    quantity: float, steps: int, params: AcParams, risk_aversion: float | None = None
) -> FloatArray:
    """Holdings ``x_0 = X, ..., x_N = 0`` of the optimal strategy (N + 1 values)."""
    _check_steps(steps)
    k = kappa(params, risk_aversion)
    t = np.arange(steps + 1, dtype=np.float64) * params.tau
    horizon = steps * params.tau
    if k * horizon < 1e-9:  # lambda -> 0: the straight line
        return np.asarray(quantity * (1.0 - t / horizon), dtype=np.float64)
    x: FloatArray = quantity * np.sinh(k * (horizon - t)) / math.sinh(k * horizon)
    x[-1] = 0.0
    return x


def optimal_trade_list(
    quantity: float, steps: int, params: AcParams, risk_aversion: float | None = None
) -> FloatArray:
    """Trades ``n_1 .. n_N``:
    ``n_j = 2 sinh(kappa tau / 2) / sinh(kappa T) * cosh(kappa (T - t_{j-1/2})) * X``."""
    _check_steps(steps)
    k = kappa(params, risk_aversion)
    tau = params.tau
    horizon = steps * tau
    if k * horizon < 1e-9:
        return np.full(steps, quantity / steps, dtype=np.float64)
    t_half = (np.arange(1, steps + 1, dtype=np.float64) - 0.5) * tau
    result: FloatArray = (
        2.0 * math.sinh(k * tau / 2.0) / math.sinh(k * horizon) * np.cosh(k * (horizon - t_half))
    ) * quantity
    return result


def expected_cost(trades: Sequence[float] | FloatArray, params: AcParams) -> float:
    """E(x) of any trajectory given by its trades (price units; shares times price)."""
    n = np.asarray(trades, dtype=np.float64)
    total = float(n.sum())
    return (
        0.5 * params.gamma * total**2
        + params.epsilon * float(np.abs(n).sum())
        + params.eta_tilde / params.tau * float((n * n).sum())
    )


def cost_variance(trades: Sequence[float] | FloatArray, params: AcParams) -> float:
    """V(x) = sigma^2 tau sum_{k=1}^{N} x_k^2 of any trajectory given by its trades."""
    n = np.asarray(trades, dtype=np.float64)
    holdings = float(n.sum()) - np.cumsum(n)  # x_1 .. x_N
    return params.sigma**2 * params.tau * float((holdings * holdings).sum())


def optimal_expected_cost(
    quantity: float, steps: int, params: AcParams, risk_aversion: float | None = None
) -> float:
    """E* in closed form (equation after (20) in the paper)."""
    _check_steps(steps)
    k = kappa(params, risk_aversion)
    tau = params.tau
    horizon = steps * tau
    x = quantity
    base = 0.5 * params.gamma * x * x + params.epsilon * x
    if k * horizon < 1e-9:
        return base + params.eta_tilde * x * x / horizon
    numerator = math.tanh(k * tau / 2.0) * (
        tau * math.sinh(2.0 * k * horizon) + 2.0 * horizon * math.sinh(k * tau)
    )
    return base + params.eta_tilde * x * x * numerator / (
        2.0 * tau * tau * math.sinh(k * horizon) ** 2
    )


def optimal_variance(
    quantity: float, steps: int, params: AcParams, risk_aversion: float | None = None
) -> float:
    """V* in closed form."""
    _check_steps(steps)
    k = kappa(params, risk_aversion)
    tau = params.tau
    horizon = steps * tau
    x = quantity
    if k * horizon < 1e-9:  # the straight line
        return params.sigma**2 * x * x * horizon / 3.0 * (1 - 1 / steps) * (1 - 1 / (2 * steps))
    numerator = tau * math.sinh(k * horizon) * math.cosh(k * (horizon - tau)) - horizon * math.sinh(
        k * tau
    )
    return (
        0.5
        * params.sigma**2
        * x
        * x
        * numerator
        / (math.sinh(k * horizon) ** 2 * math.sinh(k * tau))
    )


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"steps = {steps!r}: expected an integer >= 1")


# ---------------------------------------------------------------------------- market


class AlmgrenChrissMarket:
    """The AC model as a ``Market``: one step is one period ``tau``.

    - Snapshot: one level per side at ``S -/+ epsilon`` (rounded outward to ``tick_size``), each
      showing ``display_size``; the mid is the unaffected price ``S`` (to the tick grid).
    - Market orders fill in full at once at ``S_{k-1} + sign * (epsilon + eta * v)``. Several
      orders in one step are priced so that the step's total cost equals that of one order of
      their summed size ``n_k`` (the k-th order of ``q`` after ``q0`` pays ``epsilon + eta (2 q0 +
      q) / tau`` per share): splitting within a step neither helps nor hurts.
    - ``advance()`` moves ``S`` by ``sigma sqrt(tau) xi`` plus the permanent impact
      ``gamma * (net signed quantity we traded this step)``.
    - Limit orders: the model has no book. A limit at or through the far quote (buy: limit >=
      ask) stands for "cross now" and is executed as a market order (at the model price, which
      includes the temporary impact). A limit inside the spread or behind the near quote rests
      and fills in full at its limit price, without impact, when after ``advance()`` the far
      quote has moved to or through it (buy: ask <= limit); nobody else trades in this model.
    - Exogenous randomness: ``xi_k`` come from ``numpy.random.default_rng(seed)`` only.
    """

    def __init__(self, params: AcParams = PAPER) -> None:
        self.params = params
        self.tick_size = params.tick_size
        self.step_seconds = params.step_seconds
        self._sqrt_tau_sigma = params.sigma * math.sqrt(params.tau)
        self._rng = np.random.default_rng(0)
        self._noise: FloatArray = np.zeros(0)
        self._price = params.initial_price
        self._step = 0
        self._step_volume = 0.0  # unsigned quantity we traded this step (for temporary impact)
        self._step_net = 0.0  # signed (+ buy) quantity we traded this step (permanent impact)
        self._resting: dict[str, tuple[Side, Decimal, float, Decimal]] = {}
        self._trades: list[Trade] = []
        self._snapshot: BookSnapshot | None = None

    # -- clock
    @property
    def step_index(self) -> int:
        return self._step

    @property
    def time_of_day_secs(self) -> float:
        return self.params.session_open_secs + (self._step * self.step_seconds) % 86_400.0

    @property
    def unaffected_price(self) -> float:
        """S_k: the model price before our temporary impact."""
        return self._price

    def reset(self, seed: int) -> BookSnapshot:
        self._rng = np.random.default_rng(seed)
        self._noise = self._rng.standard_normal(4096)
        self._price = self.params.initial_price
        self._step = 0
        self._step_volume = 0.0
        self._step_net = 0.0
        self._resting.clear()
        self._trades = []
        self._snapshot = None
        return self.snapshot()

    def snapshot(self) -> BookSnapshot:
        if self._snapshot is None:
            tick = self.tick_size
            eps = self.params.epsilon
            bid = (Decimal(repr(self._price - eps)) / tick).to_integral_value(ROUND_FLOOR) * tick
            ask = (Decimal(repr(self._price + eps)) / tick).to_integral_value(ROUND_CEILING) * tick
            if ask <= bid:
                ask = bid + tick
            if bid <= 0:
                bid = tick
                ask = max(ask, bid + tick)
            size = self.params.display_size
            self._snapshot = BookSnapshot(
                step=self._step,
                time_of_day_secs=self.time_of_day_secs,
                bids=(BookLevel(bid, size),),
                asks=(BookLevel(ask, size),),
                tick_size=tick,
            )
        return self._snapshot

    def model_price(self, side: Side, quantity: float) -> float:
        """Average price per share of an order of ``quantity`` now (after this step's trades)."""
        p = self.params
        impact = p.epsilon + p.eta * (2.0 * self._step_volume + quantity) / p.tau
        return self._price + side.sign * impact

    def submit_market(self, order_id: str, side: Side, quantity: Decimal) -> list[Fill]:
        _check_quantity(order_id, quantity)
        q = float(quantity)
        price = self.model_price(side, q)
        self._step_volume += q
        self._step_net += side.sign * q
        fill_price = Decimal(repr(price)).quantize(_PRICE_QUANTUM)
        self._trades.append(Trade(self._step, fill_price, quantity, side))
        return [Fill(order_id, self._step, quantity, fill_price, passive=False)]

    def submit_limit(
        self, order_id: str, side: Side, quantity: Decimal, price: Decimal
    ) -> list[Fill]:
        _check_quantity(order_id, quantity)
        if not price.is_finite() or price <= 0:
            raise InvalidInputError(f"order {order_id} limit price = {price}: expected > 0")
        book = self.snapshot()
        far = book.far_touch(side).price
        if (price >= far) if side is Side.BUY else (price <= far):
            return self.submit_market(order_id, side, quantity)
        if order_id in self._resting:
            raise InvalidInputError(f"order {order_id}: an order with this id is already resting")
        self._resting[order_id] = (side, quantity, float(price), price)
        return []

    def cancel(self, order_id: str) -> Decimal:
        resting = self._resting.pop(order_id, None)
        return Decimal(0) if resting is None else resting[1]

    def advance(self) -> list[Fill]:
        index = self._step % self._noise.shape[0]
        if index == 0 and self._step > 0:
            self._noise = self._rng.standard_normal(4096)
        self._price += (
            self._sqrt_tau_sigma * float(self._noise[index]) + self.params.gamma * self._step_net
        )
        self._step += 1
        self._step_volume = 0.0
        self._step_net = 0.0
        self._trades = []
        self._snapshot = None
        if not self._resting:
            return []
        book = self.snapshot()
        fills: list[Fill] = []
        for order_id, (side, quantity, limit, limit_decimal) in list(self._resting.items()):
            far = float(book.far_touch(side).price)
            if (far <= limit) if side is Side.BUY else (far >= limit):
                del self._resting[order_id]
                fills.append(Fill(order_id, self._step, quantity, limit_decimal, passive=True))
                self._trades.append(Trade(self._step, limit_decimal, quantity, side.opposite))
        return fills

    def recent_trades(self) -> Sequence[Trade]:
        return self._trades


def _check_quantity(order_id: str, quantity: Decimal) -> None:
    if not quantity.is_finite() or quantity <= 0:
        raise InvalidInputError(f"order {order_id} quantity = {quantity}: expected > 0")
