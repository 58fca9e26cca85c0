"""A queue-reactive limit-order-book simulator of one instrument (discrete time).

One step is ``step_seconds`` of market time. Each step, on each side of the book: a random share
of the touch queue is cancelled, limit orders join the back of the touch queue, and market orders
consume it from the front (walking deeper if they are larger than the queue). When a touch queue
depletes the price moves one tick (Cont & de Larrard 2013; Huang, Lehalle & Rosenbaum 2015), so
the smaller of the two touch queues tends to go first and the touch imbalance predicts the next
mid move (Gould & Bonart 2015). A depletion opens the spread; orders placed inside the spread
close it again (spread regimes). Two seeded Markov chains switch volatility (scales all flow) and
liquidity (thin book, rarer inside-spread orders, more gaps). Market-order and limit-order
arrival rates follow the U-shaped intraday profile of ``rlexec.market.intraday``.

Units inside the step loop: prices are integer ticks, sizes integer lots (a lot is one share or
one contract); Decimal appears only in snapshots, trades and fills handed out. Orders must be
whole lots.

Common random numbers: all exogenous randomness comes from one ``numpy`` Generator seeded by the
seed alone, drawn in blocks of ``BLOCK_STEPS`` steps with the same draws per step whatever we do.
Two executors on the same seed therefore see the same order flow; only their own impact differs.

Our orders:
- A passive order joins the BACK of the queue at its price: the lots then resting there are
  ahead of it. It fills only when incoming opposite market orders have consumed everything ahead
  of it (FIFO). Exogenous limit orders join behind it. Exogenous cancels are assumed spread
  evenly over the queue: a cancel of share c of a level removes share c of the lots ahead of us
  (rounded down). Cancelling loses the place. A buy never fills above its limit, a sell never
  below.
- A marketable limit fills at once up to its price; the rest rests at the back of its level.
- A market order walks the book until it is filled. Beyond the stored levels new levels are
  generated at their target depth, so it always completes; on a bounded (prediction) market the
  last tick before the bound (0.01 or 0.99) is taken to have unlimited depth.
- No self-trade prevention: our aggressive order matches our own resting orders like anyone
  else's, in queue order, and both get fills (cash and inventory stay consistent).
- Impact: the ticks our aggressive orders walk open the spread. A share ``permanent_impact`` of
  them is followed at once by the other side (a permanent shift); the rest is a hole that
  refills at ``resilience_rate`` per step (temporary impact that decays).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from rlexec.errors import InvalidInputError
from rlexec.market.book import BookLevel, BookSnapshot, Fill, Side, Trade
from rlexec.market.intraday import u_profile
from rlexec.market.params import LobParams

BLOCK_STEPS = 512  # a 300-step episode needs one block; the stream depends on this
RELAX_EVERY = 8  # deeper levels relax toward their target depth every this many steps
_EXTRA_LEVELS = 10  # levels stored beyond the visible ones
_BID, _ASK = 0, 1
_SIDE_OF = (Side.BUY, Side.SELL)  # side of a resting order on the bid / ask side


class _Order:
    __slots__ = ("ahead", "order_id", "remaining", "side", "tick")

    def __init__(self, order_id: str, side: int, tick: int, remaining: int, ahead: int) -> None:
        self.order_id = order_id
        self.side = side  # 0: our buy resting on the bid side, 1: our sell on the ask side
        self.tick = tick
        self.remaining = remaining
        self.ahead = ahead  # exogenous lots ahead of this order in its queue


class LobMarket:
    """The simulator; build it with ``rlexec.market.presets.make_market``."""

    def __init__(self, params: LobParams, name: str = "custom") -> None:
        self.params = params
        self.name = name
        self.tick_size: Decimal = params.tick_size
        self.step_seconds: float = params.step_seconds
        self.typical_queue_depth: float = params.typical_queue_depth
        self.price_bounds: tuple[Decimal, Decimal] | None = (
            (Decimal(0), Decimal(1)) if params.bounded else None
        )
        self._min_tick = 1
        if params.bounded:
            top = Decimal(1) / params.tick_size
            if top != top.to_integral_value():
                raise InvalidInputError(
                    f"lob.tick_size = {params.tick_size}: on a bounded market 1 must be a whole "
                    "number of ticks"
                )
            self._max_tick = int(top) - 1
        else:
            self._max_tick = 10**15
        self._store = params.levels + _EXTRA_LEVELS
        self._relax = 1.0 - (1.0 - params.deep_relax_rate) ** RELAX_EVERY
        self._q: list[list[int]] = [[], []]
        self._top = [0, 0]
        self._ours: list[dict[int, list[_Order]]] = [{}, {}]
        self._orders: dict[str, _Order] = {}
        self._hole = [0, 0]
        self._refill_credit = [0.0, 0.0]
        self._perm_credit = 0.0
        self._trades: list[tuple[Side, int, int]] = []
        self._trades_key: tuple[int, int] = (-1, -1)
        self._trades_view: list[Trade] = []
        self._step = 0
        self._start_secs = params.session_open_secs
        self._seeded = False
        self._cached: BookSnapshot | None = None
        self._level_cache: dict[tuple[int, int], BookLevel] = {}
        self._rng = np.random.default_rng(0)
        self._i = BLOCK_STEPS
        self._vol_state = 0
        self._liq_state = 0
        self._liq_now = 0  # liquidity regime of the current step
        self._blk_mo: list[list[int]] = [[], []]
        self._blk_lo: list[list[int]] = [[], []]
        self._blk_cx: list[list[float]] = [[], []]
        self._blk_gap: list[list[float]] = [[], []]
        self._blk_in: list[float] = []
        self._blk_side: list[float] = []
        self._blk_in_size: list[int] = []
        self._blk_liq: list[int] = []
        self._blk_vol: list[int] = []

    # ------------------------------------------------------------------ Market protocol

    def reset(self, seed: int, *, start_time_of_day_secs: float | None = None) -> BookSnapshot:
        """Start a path. The start time is drawn in the session (leaving ``episode_max_steps``
        before the close) unless ``start_time_of_day_secs`` is given."""
        p = self.params
        rng = np.random.default_rng(seed)
        self._rng = rng
        latest = max(
            p.session_open_secs, p.session_close_secs - p.episode_max_steps * p.step_seconds
        )
        start = float(rng.uniform(p.session_open_secs, latest))
        start = p.session_open_secs + math.floor((start - p.session_open_secs) / p.step_seconds) * (
            p.step_seconds
        )
        self._start_secs = start if start_time_of_day_secs is None else start_time_of_day_secs
        mid = float(rng.uniform(p.init_mid_low, p.init_mid_high))
        tick = float(p.tick_size)
        bid = min(max(math.floor(mid / tick), self._min_tick), self._max_tick - 1)
        self._top = [bid, bid + 1]
        stationary_vol = p.vol_up_prob / max(p.vol_up_prob + p.vol_down_prob, 1e-12)
        stationary_liq = p.stress_up_prob / max(p.stress_up_prob + p.stress_down_prob, 1e-12)
        u = rng.uniform(size=2)
        self._vol_state = int(u[0] < stationary_vol)
        self._liq_state = int(u[1] < stationary_liq)
        self._liq_now = self._liq_state
        noise = rng.gamma(4.0, 0.25, size=(2, self._store))
        self._q = [[], []]
        for s in (_BID, _ASK):
            q = self._q[s]
            q.append(max(1, round(p.touch_depth_mean * noise[s, 0])))
            for k in range(1, self._store):
                if not self._in_bounds(self._tick_at(s, k)):
                    break
                q.append(max(1, round(self._target(k) * noise[s, k])))
        self._ours = [{}, {}]
        self._orders = {}
        self._hole = [0, 0]
        self._refill_credit = [0.0, 0.0]
        self._perm_credit = 0.0
        self._trades = []
        self._trades_key = (-1, -1)
        self._step = 0
        self._i = BLOCK_STEPS
        self._seeded = True
        self._cached = None
        return self.snapshot()

    def snapshot(self) -> BookSnapshot:
        """The visible book (cached until the next advance, submit or cancel)."""
        self._require_reset()
        if self._cached is not None:
            return self._cached
        levels = self.params.levels
        cache = self._level_cache  # (tick, lots) -> BookLevel: most levels repeat step to step
        sides: list[tuple[BookLevel, ...]] = []
        for s in (_BID, _ASK):
            q, ours, out = self._q[s], self._ours[s], []
            tick = self._top[s]
            step = -1 if s == _BID else 1
            for ext in q:
                size = ext + (self._our_lots(ours[tick]) if ours and tick in ours else 0)
                if size > 0:
                    level = cache.get((tick, size))
                    if level is None:
                        level = cache[(tick, size)] = BookLevel(
                            self.tick_size * tick, Decimal(size)
                        )
                    out.append(level)
                    if len(out) == levels:
                        break
                tick += step
            sides.append(tuple(out))
        if len(cache) > 200_000:
            cache.clear()
        self._cached = BookSnapshot.trusted(
            step=self._step,
            time_of_day_secs=self.time_of_day_secs,
            bids=sides[_BID],
            asks=sides[_ASK],
            tick_size=self.tick_size,
            price_bounds=self.price_bounds,
        )
        return self._cached

    @property
    def step_index(self) -> int:
        return self._step

    @property
    def time_of_day_secs(self) -> float:
        return self._start_secs + self._step * self.step_seconds

    def submit_limit(
        self, order_id: str, side: Side, quantity: Decimal, price: Decimal
    ) -> list[Fill]:
        self._require_reset()
        lots = self._lots(order_id, quantity)
        tick = self._to_tick(order_id, price)
        self._cached = None
        fills: list[Fill] = []
        own = _BID if side is Side.BUY else _ASK
        other = 1 - own
        crosses = tick >= self._top[_ASK] if own == _BID else tick <= self._top[_BID]
        if crosses:
            lots = self._take(other, lots, order_id, fills, limit_tick=tick)
        if lots > 0:
            self._rest(_Order(order_id, own, tick, lots, 0))
        return fills

    def submit_market(self, order_id: str, side: Side, quantity: Decimal) -> list[Fill]:
        """Walk the book until filled. The fills returned may include passive fills of our own
        resting orders that this order matched (told apart by ``order_id``)."""
        self._require_reset()
        lots = self._lots(order_id, quantity)
        self._cached = None
        fills: list[Fill] = []
        self._take(_ASK if side is Side.BUY else _BID, lots, order_id, fills, limit_tick=None)
        return fills

    def cancel(self, order_id: str) -> Decimal:
        """Cancel a resting order; an unknown or already completed order cancels nothing (0)."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return Decimal(0)
        self._cached = None
        level = self._ours[order.side][order.tick]
        level.remove(order)
        if not level:
            del self._ours[order.side][order.tick]
            if order.tick == self._top[order.side] and self._q[order.side][0] == 0:
                self._deplete(order.side, 1.0)
        return Decimal(order.remaining)

    def advance(self) -> list[Fill]:
        self._require_reset()
        self._cached = None
        if self._i >= BLOCK_STEPS:
            self._draw_block()
        i = self._i
        self._i = i + 1
        p = self.params
        fills: list[Fill] = []
        self._trades = []
        liq = self._blk_liq[i]
        self._liq_now = liq
        for s in (_BID, _ASK):
            q = self._q[s]
            ours = self._ours[s]
            top = self._top[s]
            x = q[0]
            c = int(x * self._blk_cx[s][i])
            if c:
                if top in ours:
                    self._shrink(ours[top], x, x - c)
                x -= c
            q[0] = x + self._blk_lo[s][i]
            v = self._blk_mo[s][i]
            if v:
                self._hit(s, v, fills, self._blk_gap[s][i])
            elif q[0] == 0 and top not in ours:
                self._deplete(s, self._blk_gap[s][i])
        spread = self._top[_ASK] - self._top[_BID]
        if spread > 1:
            spread = self._resilience(spread)
            if spread > 1:
                prob = p.inside_spread_prob * (p.stress_inside_mult if liq else 1.0)
                if self._blk_in[i] < prob:
                    s = _BID if self._blk_side[i] < 0.5 else _ASK
                    tick = self._top[s] + (1 if s == _BID else -1)
                    self._open_level(s, tick, self._blk_in_size[i])
                    if self._hole[s]:
                        self._hole[s] -= 1
        self._step += 1
        if self._step % RELAX_EVERY == 0:
            self._relax_deep()
        return fills

    def recent_trades(self) -> Sequence[Trade]:
        """Trades printed during the last step (exogenous and ours), one per side and price."""
        key = (self._step, len(self._trades))
        if self._trades_key != key:  # built once per step (and again after our own trades)
            step = self._step - 1 if self._step else 0
            self._trades_view = [
                Trade(step, self.tick_size * tick, Decimal(lots), aggressor)
                for aggressor, tick, lots in self._trades
            ]
            self._trades_key = key
        return self._trades_view

    # ------------------------------------------------------------------ extras

    def queue_ahead(self, order_id: str) -> Decimal:
        """Lots ahead of our resting order in its queue (exogenous and our own earlier orders)."""
        order = self._orders.get(order_id)
        if order is None:
            raise InvalidInputError(f"order_id = {order_id!r}: no such resting order")
        ahead = order.ahead
        for other in self._ours[order.side][order.tick]:
            if other is order:
                break
            ahead += other.remaining
        return Decimal(ahead)

    def resting_quantity(self, order_id: str) -> Decimal:
        """What is left of our resting order (0 once it has filled or been cancelled)."""
        order = self._orders.get(order_id)
        return Decimal(order.remaining if order is not None else 0)

    @property
    def mid_ticks(self) -> float:
        return (self._top[_BID] + self._top[_ASK]) / 2

    @property
    def regimes(self) -> tuple[bool, bool]:
        """(volatile, liquidity stressed) for the step about to run."""
        if self._i >= BLOCK_STEPS or not self._blk_vol:
            return bool(self._vol_state), bool(self._liq_state)
        return bool(self._blk_vol[self._i]), bool(self._blk_liq[self._i])

    def intraday_multiplier(self, time_of_day_secs: float | None = None) -> float:
        """The U-profile's activity multiplier at a time of day (now by default)."""
        t = self.time_of_day_secs if time_of_day_secs is None else time_of_day_secs
        p = self.params
        return float(u_profile(t, p.session_open_secs, p.session_close_secs, p.intraday_amplitude))

    # ------------------------------------------------------------------ internals

    def _require_reset(self) -> None:
        if not self._seeded:
            raise InvalidInputError("market: call reset(seed) before using it")

    def _lots(self, order_id: str, quantity: Decimal) -> int:
        if order_id in self._orders:
            raise InvalidInputError(f"order_id = {order_id!r}: an order with this id is resting")
        if not quantity.is_finite() or quantity <= 0 or quantity != quantity.to_integral_value():
            raise InvalidInputError(
                f"order {order_id} quantity = {quantity}: expected a whole number of lots > 0"
            )
        return int(quantity)

    def _to_tick(self, order_id: str, price: Decimal) -> int:
        if not price.is_finite() or price % self.tick_size != 0:
            raise InvalidInputError(
                f"order {order_id} price = {price}: expected a price on the tick grid of "
                f"{self.tick_size}"
            )
        tick = int(price / self.tick_size)
        if not self._min_tick <= tick <= self._max_tick:
            bounds = "strictly inside (0, 1)" if self.price_bounds else "> 0"
            raise InvalidInputError(f"order {order_id} price = {price}: expected a price {bounds}")
        return tick

    def _tick_at(self, s: int, k: int) -> int:
        return self._top[s] - k if s == _BID else self._top[s] + k

    def _in_bounds(self, tick: int) -> bool:
        return self._min_tick <= tick <= self._max_tick

    def _at_bound(self, s: int) -> bool:
        return self._top[s] == (self._min_tick if s == _BID else self._max_tick)

    def _target(self, k: int) -> float:
        p = self.params
        base = (
            p.touch_depth_mean
            if k == 0
            else p.deep_depth_mean * (1.0 + p.deep_depth_growth * (k - 1))
        )
        return base * (p.stress_depth_mult if self._liq_now else 1.0)

    @staticmethod
    def _our_lots(orders: list[_Order]) -> int:
        return sum(o.remaining for o in orders)

    @staticmethod
    def _shrink(orders: list[_Order], old: int, new: int) -> None:
        """Exogenous cancels are spread evenly over the queue: the lots ahead shrink pro rata."""
        for o in orders:
            o.ahead = o.ahead * new // old if old else 0

    def _draw_block(self) -> None:
        p, rng, n = self.params, self._rng, BLOCK_STEPS
        u_vol = rng.uniform(size=n)
        u_liq = rng.uniform(size=n)
        vol = np.empty(n, dtype=np.int64)
        liq = np.empty(n, dtype=np.int64)
        v, lq = self._vol_state, self._liq_state
        for j, (a, b) in enumerate(zip(u_vol.tolist(), u_liq.tolist(), strict=True)):
            v = (0 if a < p.vol_down_prob else 1) if v else 1 if a < p.vol_up_prob else 0
            lq = (0 if b < p.stress_down_prob else 1) if lq else 1 if b < p.stress_up_prob else 0
            vol[j], liq[j] = v, lq
        self._vol_state, self._liq_state = v, lq
        t = np.asarray(self._start_secs + (self._step + np.arange(n)) * p.step_seconds, np.float64)
        activity = u_profile(t, p.session_open_secs, p.session_close_secs, p.intraday_amplitude)
        activity = activity * np.where(vol == 1, p.vol_high_mult, 1.0)
        n_mo = rng.poisson(p.mo_rate * activity, size=(2, n))
        mo = np.ceil(rng.gamma(n_mo, p.mo_size_mean)).astype(np.int64)
        n_lo = rng.poisson(p.lo_rate * activity, size=(2, n))
        lo = np.ceil(rng.gamma(n_lo, p.lo_size_mean)).astype(np.int64)
        cancel_scale = np.where(vol == 1, p.vol_high_mult, 1.0) * p.cancel_rate
        cx = np.minimum(
            cancel_scale * rng.gamma(p.cancel_noise_shape, 1.0 / p.cancel_noise_shape, size=(2, n)),
            0.95,
        )
        gap_prob = np.where(liq == 1, p.stress_gap_prob, p.gap_prob)
        # a depletion also empties the next level when u < gap_prob, i.e. u / gap_prob < 1
        gap = rng.uniform(size=(2, n)) / np.maximum(gap_prob, 1e-12)
        in_size = np.ceil(
            rng.exponential(p.inside_size_mean, size=n)
            * np.where(liq == 1, p.stress_depth_mult, 1.0)
        ).astype(np.int64)
        self._blk_mo = [mo[0].tolist(), mo[1].tolist()]
        self._blk_lo = [lo[0].tolist(), lo[1].tolist()]
        self._blk_cx = [cx[0].tolist(), cx[1].tolist()]
        self._blk_gap = [gap[0].tolist(), gap[1].tolist()]
        self._blk_in = rng.uniform(size=n).tolist()
        self._blk_side = rng.uniform(size=n).tolist()
        self._blk_in_size = np.maximum(in_size, 1).tolist()
        self._blk_liq = liq.tolist()
        self._blk_vol = vol.tolist()
        self._i = 0

    def _hit(self, s: int, v: int, fills: list[Fill], gap_u: float) -> None:
        """Exogenous market orders of ``v`` lots consume side ``s`` from the touch."""
        q, ours = self._q[s], self._ours[s]
        aggressor = _SIDE_OF[1 - s]
        while v > 0:
            tick = self._top[s]
            orders = ours.get(tick)
            if orders:
                before = v
                v = self._consume_with_ours(s, tick, v, orders, fills)
                self._trades.append((aggressor, tick, before - v))
            else:
                x = q[0]
                take = x if x < v else v
                q[0] = x - take
                v -= take
                self._trades.append((aggressor, tick, take))
            if q[0] == 0 and tick not in ours:
                if self._at_bound(s):
                    q[0] = max(1, round(self._target(1)))
                    v = 0
                    break
                self._deplete(s, gap_u)
                gap_u = 1.0
            else:
                break

    def _consume_with_ours(
        self, s: int, tick: int, v: int, orders: list[_Order], fills: list[Fill]
    ) -> int:
        q = self._q[s]
        ext = q[0]
        eaten = 0
        done: list[_Order] = []
        for o in orders:
            gap = o.ahead - eaten
            if gap > 0:
                take = gap if gap < v else v
                eaten += take
                v -= take
            if v == 0:
                break
            f = o.remaining if o.remaining < v else v
            o.remaining -= f
            v -= f
            fills.append(Fill(o.order_id, self._step, Decimal(f), self.tick_size * tick, True))
            if o.remaining == 0:
                done.append(o)
            if v == 0:
                break
        if v > 0:
            take = min(v, ext - eaten)
            eaten += take
            v -= take
        q[0] = ext - eaten
        for o in orders:
            o.ahead = max(0, o.ahead - eaten)
        for o in done:
            orders.remove(o)
            del self._orders[o.order_id]
        if not orders:
            del self._ours[s][tick]
        return v

    def _deplete(self, s: int, gap_u: float) -> None:
        """The touch of side ``s`` is empty: the price moves away one tick (two on a gap),
        skipping empty levels."""
        q, ours = self._q[s], self._ours[s]
        gap = gap_u < 1.0
        while True:
            if self._at_bound(s):
                if q[0] == 0 and self._top[s] not in ours:
                    q[0] = max(1, round(self._target(1)))
                return
            q.pop(0)
            self._top[s] += -1 if s == _BID else 1
            self._append_deep(s)
            if not q:
                q.append(max(1, round(self._target(1))))
            tick = self._top[s]
            if gap and tick not in ours and len(q) > 1 and not self._at_bound(s):
                gap = False
                q[0] = 0
            if q[0] > 0 or tick in ours:
                return

    def _append_deep(self, s: int) -> None:
        q = self._q[s]
        k = len(q)
        while k < self._store and self._in_bounds(self._tick_at(s, k)):
            q.append(max(1, round(self._target(k))))
            k += 1

    def _open_level(self, s: int, tick: int, ext: int) -> None:
        """Open a level at ``tick`` inside the spread on side ``s`` (it becomes the touch)."""
        q = self._q[s]
        n = tick - self._top[s] if s == _BID else self._top[s] - tick
        for _ in range(n):
            q.insert(0, 0)
        self._top[s] = tick
        q[0] += ext

    def _resilience(self, spread: int) -> int:
        """Refill the ticks our aggressive orders opened, at ``resilience_rate`` per step."""
        for s in (_BID, _ASK):
            hole = min(self._hole[s], spread - 1)
            self._hole[s] = hole
            if hole <= 0:
                self._refill_credit[s] = 0.0
                continue
            self._refill_credit[s] += self.params.resilience_rate * hole
            while self._refill_credit[s] >= 1.0 and self._hole[s] > 0 and spread > 1:
                self._refill_credit[s] -= 1.0
                self._hole[s] -= 1
                tick = self._top[s] + (1 if s == _BID else -1)
                self._open_level(s, tick, max(1, round(self._target(0))))
                spread -= 1
        return spread

    def _relax_deep(self) -> None:
        rate = self._relax
        for s in (_BID, _ASK):
            q, ours = self._q[s], self._ours[s]
            for k in range(1, len(q)):
                x = q[k]
                new = x + int((self._target(k) - x) * rate)
                if new < x and ours:
                    tick = self._tick_at(s, k)
                    if tick in ours:
                        self._shrink(ours[tick], x, new)
                q[k] = new
            while len(q) > self._store and self._tick_at(s, len(q) - 1) not in ours:
                q.pop()

    def _take(
        self, s: int, lots: int, order_id: str, fills: list[Fill], limit_tick: int | None
    ) -> int:
        """Our aggressive order consumes side ``s``; returns the lots not filled (limit only)."""
        q, ours = self._q[s], self._ours[s]
        start = self._top[s]
        aggressor = _SIDE_OF[1 - s]
        while lots > 0:
            tick = self._top[s]
            if limit_tick is not None and (tick > limit_tick if s == _ASK else tick < limit_tick):
                break
            orders = ours.get(tick)
            if orders:  # our own resting orders match like anyone else's, in queue order
                take = lots - self._consume_with_ours(s, tick, lots, orders, fills)
            else:
                x = q[0]
                take = x if x < lots else lots
                q[0] = x - take
            if self._at_bound(s) and take < lots:
                take = lots  # the last tick before the bound has unlimited depth
                q[0] = max(q[0], 1)
            if take:
                lots -= take
                fills.append(
                    Fill(order_id, self._step, Decimal(take), self.tick_size * tick, False)
                )
                self._trades.append((aggressor, tick, take))
            if q[0] == 0 and tick not in ours:
                self._deplete(s, 1.0)
        walked = abs(self._top[s] - start)
        if walked:
            self._impact(s, walked)
        return lots

    def _impact(self, s: int, walked: int) -> None:
        """Our order walked ``walked`` ticks of side ``s``: the other side follows with the
        permanent share; the rest is a hole that refills at the resilience rate."""
        self._perm_credit += self.params.permanent_impact * walked
        follow = int(self._perm_credit)
        self._perm_credit -= follow
        other = 1 - s
        if other == _BID:
            follow = min(follow, self._top[_ASK] - 1 - self._top[_BID])
            target = self._top[_BID] + follow
        else:
            follow = min(follow, self._top[_ASK] - 1 - self._top[_BID])
            target = self._top[_ASK] - follow
        if follow > 0:
            self._open_level(other, target, max(1, round(self._target(0))))
        self._hole[s] += walked - follow

    def _rest(self, order: _Order) -> None:
        s = order.side
        q = self._q[s]
        better = order.tick > self._top[s] if s == _BID else order.tick < self._top[s]
        if better:
            self._open_level(s, order.tick, 0)
        k = self._top[s] - order.tick if s == _BID else order.tick - self._top[s]
        while len(q) <= k:
            q.append(max(1, round(self._target(len(q)))))
        order.ahead = q[k]
        self._ours[s].setdefault(order.tick, []).append(order)
        self._orders[order.order_id] = order
