"""An independent queue-reactive limit order book for one instrument (written without reading
rlexec's simulators).

Prices are integer ticks (tick 0.01, start 100.00). Each side is a dict price -> FIFO list of
[owner, qty] entries (owner None: the rest of the market; else our child order id). One call to
``step()`` is one second of exogenous events:

- a hidden flow regime d in {-1, 0, +1} (mean duration ~40 s) tilts the market-order intensities
  (buy rate lam*(1+a*d), sell rate lam*(1-a*d)): short-lived momentum, visible through trades
  and through the touch queues depleting on one side;
- cancellations (a share of every exogenous entry), limit-order arrivals at the 5 best levels of
  each side (joining the back of the queue);
- a gap fill when the spread is wider than one tick (a new level inside the spread); its side
  leans toward the recent net aggressive flow (everyone's, ours included): this is where the
  permanent impact of aggressive volume comes from;
- Poisson market orders that consume the touch queue FIFO and walk the book when a level is
  exhausted (the mid then moves).

Our orders: a limit at or beyond the far touch, or a market order (price None), fills at once
walking the levels (temporary impact: the levels it emptied refill only through arrivals and
gap fills); otherwise it joins the back of the queue at its price. Every exogenous draw of a
seed is made up front, independent of our actions, so a seed is the same market-event path for
every strategy (our orders change the book the events meet, hence our fills and the prices).
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

import numpy as np

TICK = 0.01
START_TICKS = 10000  # 100.00
LEVELS = 5
MAXMO = 12  # market orders per side per second at most (Poisson with mean ~0.7)
MAXLIM = 6  # limit arrivals per level per second at most

# One resting entry: a mutable [owner, qty] pair (owner: None for the rest of the market, else our
# child order id; qty: int). A list rather than a tuple because fills shrink it in place.
Entry = list[Any]
Book = dict[int, list[Entry]]  # price ticks -> FIFO queue of entries
Level = tuple[int, int]  # (price ticks, size or qty)


class Params(TypedDict):
    lam_mo: float
    tilt: float
    mo_mean: float
    lim_rates: tuple[float, ...]
    lim_mean: float
    cancel: float
    gap_prob: float
    regime_secs: float
    flow_decay: float
    flow_scale: float
    lean: float


class Market:
    def __init__(
        self,
        *,
        lam_mo: float = 0.7,  # market orders per second per side (regime 0)
        tilt: float = 0.6,  # a: regime tilt of the intensities
        mo_mean: float = 70.0,  # mean market-order size (geometric)
        lim_rates: tuple[float, ...] = (0.6, 0.5, 0.4, 0.35, 0.3),  # limit arrivals/s per level
        lim_mean: float = 90.0,
        cancel: float = 0.06,  # share of each exogenous entry cancelled per second
        gap_prob: float = 0.7,  # chance per second that a wide spread gets a new inside level
        regime_secs: float = 40.0,
        flow_decay: float = 0.7,
        flow_scale: float = 250.0,
        lean: float = 0.45,
    ) -> None:
        self.p = Params(
            lam_mo=lam_mo,
            tilt=tilt,
            mo_mean=mo_mean,
            lim_rates=lim_rates,
            lim_mean=lim_mean,
            cancel=cancel,
            gap_prob=gap_prob,
            regime_secs=regime_secs,
            flow_decay=flow_decay,
            flow_scale=flow_scale,
            lean=lean,
        )

    # ---- set-up ------------------------------------------------------------------------------
    def reset(self, seed: int, horizon: int = 400, warmup: int = 120) -> None:
        p = self.p
        rng = np.random.default_rng(seed)
        total = horizon + warmup
        n = total
        # regime path (exogenous)
        switch = rng.random(n) < 1.0 / p["regime_secs"]
        pick = rng.choice([-1, 0, 1], size=n, p=[0.3, 0.4, 0.3])
        regime = np.empty(n, dtype=int)
        d = int(pick[0])
        for i in range(n):
            if switch[i]:
                d = int(pick[i])
            regime[i] = d
        self.regime = regime
        lam_b = p["lam_mo"] * (1 + p["tilt"] * regime)
        lam_s = p["lam_mo"] * (1 - p["tilt"] * regime)
        self.n_buy = np.minimum(rng.poisson(lam_b), MAXMO)
        self.n_sell = np.minimum(rng.poisson(lam_s), MAXMO)
        q = 1.0 / p["mo_mean"]
        self.buy_sizes = rng.geometric(q, size=(n, MAXMO))
        self.sell_sizes = rng.geometric(q, size=(n, MAXMO))
        self.mo_order = rng.random((n, 2 * MAXMO))  # interleaving of buys and sells
        rates = np.array(p["lim_rates"])
        self.lim_n = np.minimum(rng.poisson(rates, size=(n, 2, LEVELS)), MAXLIM)
        ql = 1.0 / p["lim_mean"]
        self.lim_sizes = rng.geometric(ql, size=(n, 2, LEVELS, MAXLIM))
        self.gap_u = rng.random((n, 2))
        self.gap_size = rng.geometric(ql, size=n) + 20
        self.new_level = rng.integers(150, 700, size=(n, 2, 16))
        self.t = 0
        self._newp = [0, 0]
        self.flow = 0.0
        self._our_aggr = 0.0
        # initial book: spread 1 tick around 100.00
        self.bids: Book = {}
        self.asks: Book = {}
        init = np.random.default_rng(seed + 7_777_777).integers(200, 700, size=(2, LEVELS))
        for k in range(LEVELS):
            self.bids[START_TICKS - 1 - k] = [[None, int(init[0, k])]]
            self.asks[START_TICKS + 1 + k] = [[None, int(init[1, k])]]
        # (price, qty, aggressor) printed since the last take_trades
        self.trades: list[tuple[int, int, str]] = []
        # our passive fills since the last take_fills: (id, qty, ticks)
        self.fills: list[tuple[str, int, int]] = []
        for _ in range(warmup):
            self.step()
        self.trades.clear()
        self.fills.clear()

    # ---- views -------------------------------------------------------------------------------
    def best_bid(self) -> int:
        return max(k for k, v in self.bids.items() if v)

    def best_ask(self) -> int:
        return min(k for k, v in self.asks.items() if v)

    def mid_ticks(self) -> float:
        return 0.5 * (self.best_bid() + self.best_ask())

    def levels(self, n: int = LEVELS) -> tuple[list[Level], list[Level]]:
        """[(price ticks, size)] best first, n per side (sizes include ours)."""
        out: list[list[Level]] = []
        for book, rev in ((self.bids, True), (self.asks, False)):
            keys = sorted((k for k, v in book.items() if v), reverse=rev)[:n]
            out.append([(k, sum(e[1] for e in book[k])) for k in keys])
        return out[0], out[1]

    def take_trades(self) -> list[tuple[int, int, str]]:
        t, self.trades = self.trades, []
        return t

    def take_fills(self) -> list[tuple[str, int, int]]:
        f, self.fills = self.fills, []
        return f

    # ---- mechanics ---------------------------------------------------------------------------
    def _new_level_size(self, side: int) -> int:
        i = self._newp[side]
        self._newp[side] += 1
        row = self.new_level[min(self.t, len(self.new_level) - 1), side]
        return int(row[i]) if i < len(row) else 400

    def _consume(
        self, book: Book, side_sign: int, qty: int, limit: int | None, aggressor: str, ours: bool
    ) -> tuple[list[Level], int]:
        """Walk ``book`` (the resting side) with ``qty``: best price first, FIFO in a level.
        Returns [(price ticks, qty)] filled and the unfilled rest. Our resting entries met are
        recorded as passive fills. side_sign: +1 when walking asks upward, -1 bids downward."""
        filled: list[Level] = []
        rest = qty
        while rest > 0:
            keys = [k for k, v in book.items() if v]
            if not keys:
                # nothing left on this side: a fresh deep level (never for exogenous flow)
                edge = (max(book) if side_sign > 0 else min(book)) if book else START_TICKS
                book[edge + side_sign] = [[None, 400]]
                continue
            price = min(keys) if side_sign > 0 else max(keys)
            if limit is not None and (price > limit if side_sign > 0 else price < limit):
                break
            level = book[price]
            while rest > 0 and level:
                owner, size = level[0]
                take = min(size, rest)
                rest -= take
                if take == size:
                    level.pop(0)
                else:
                    level[0][1] = size - take
                if owner is not None:
                    self.fills.append((owner, take, price))
                filled.append((price, take))
            if not level:
                del book[price]
                # keep depth: a fresh level beyond the visible ones when one is consumed
                far = (max(book) if side_sign > 0 else min(book)) if book else price
                side = 1 if side_sign > 0 else 0
                book[far + side_sign] = [[None, self._new_level_size(side)]]
        for price, take in filled:
            self.trades.append((price, take, aggressor))
        if ours:
            self._our_aggr += sum(q for _, q in filled) * (1 if aggressor == "buy" else -1)
        return filled, rest

    def step(self) -> None:
        """One second of exogenous events."""
        p = self.p
        t = min(self.t, len(self.regime) - 1)
        self._newp = [0, 0]
        keep = 1.0 - p["cancel"]
        for book in (self.bids, self.asks):
            for k in list(book):
                lvl = book[k]
                new = []
                for e in lvl:
                    if e[0] is None:
                        e[1] = math.floor(e[1] * keep)
                        if e[1] <= 0:
                            continue
                    new.append(e)
                if new:
                    book[k] = new
                else:
                    del book[k]
            if not any(book.values()):  # never empty
                pass
        # limit arrivals at the 5 best levels of each side
        if not self.bids:
            self.bids[self.best_ask() - 1] = [[None, 300]]
        if not self.asks:
            self.asks[self.best_bid() + 1] = [[None, 300]]
        bb, ba = self.best_bid(), self.best_ask()
        for side, book, base, sign in ((0, self.bids, bb, -1), (1, self.asks, ba, +1)):
            for k in range(LEVELS):
                n = self.lim_n[t, side, k]
                if n:
                    price = base + sign * k
                    lvl = book.setdefault(price, [])
                    for j in range(n):
                        lvl.append([None, int(self.lim_sizes[t, side, k, j])])
        # gap fill, leaning toward the recent net aggressive flow
        bb, ba = self.best_bid(), self.best_ask()
        if ba - bb > 1 and self.gap_u[t, 0] < p["gap_prob"]:
            p_bid = 0.5 + p["lean"] * math.tanh(self.flow / p["flow_scale"])
            if self.gap_u[t, 1] < p_bid:
                self.bids[bb + 1] = [[None, int(self.gap_size[t])]]
            else:
                self.asks[ba - 1] = [[None, int(self.gap_size[t])]]
        # market orders, interleaved
        events = [
            (self.mo_order[t, j], "buy", int(self.buy_sizes[t, j])) for j in range(self.n_buy[t])
        ]
        events += [
            (self.mo_order[t, MAXMO + j], "sell", int(self.sell_sizes[t, j]))
            for j in range(self.n_sell[t])
        ]
        events.sort()
        net = 0
        for _, aggressor, size in events:
            if aggressor == "buy":
                self._consume(self.asks, +1, size, None, "buy", False)
                net += size
            else:
                self._consume(self.bids, -1, size, None, "sell", False)
                net -= size
        self.flow = p["flow_decay"] * self.flow + net + self._our_aggr
        self._our_aggr = 0.0
        # keep at least LEVELS levels a side
        for side, book, sign in ((0, self.bids, -1), (1, self.asks, +1)):
            while len([1 for v in book.values() if v]) < LEVELS:
                far = min(book) if sign < 0 else max(book)
                book[far + sign] = [[None, self._new_level_size(side)]]
        self.t += 1

    # ---- our orders --------------------------------------------------------------------------
    def submit(self, order_id: str, side: str, qty: int, limit_ticks: int | None) -> list[Level]:
        """Returns the immediate fills [(price ticks, qty)]; the rest (a limit) joins the back
        of the queue at its price. A market order's rest cannot exist (the book deepens)."""
        fills: list[Level] = []
        rest = qty
        if side == "buy":
            marketable = limit_ticks is None or limit_ticks >= self.best_ask()
            if marketable:
                fills, rest = self._consume(self.asks, +1, qty, limit_ticks, "buy", True)
            if rest > 0 and limit_ticks is not None:
                self.bids.setdefault(limit_ticks, []).append([order_id, rest])
        else:
            marketable = limit_ticks is None or limit_ticks <= self.best_bid()
            if marketable:
                fills, rest = self._consume(self.bids, -1, qty, limit_ticks, "sell", True)
            if rest > 0 and limit_ticks is not None:
                self.asks.setdefault(limit_ticks, []).append([order_id, rest])
        return fills

    def cancel(self, order_id: str) -> int:
        """Remove our resting entry; returns the quantity that was resting."""
        gone = 0
        for book in (self.bids, self.asks):
            for k in list(book):
                lvl = book[k]
                keep = [e for e in lvl if e[0] != order_id]
                if len(keep) != len(lvl):
                    gone += sum(e[1] for e in lvl if e[0] == order_id)
                    if keep:
                        book[k] = keep
                    else:
                        del book[k]
        return gone
