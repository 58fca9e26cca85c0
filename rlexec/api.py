"""The public face of rlexec for a trading engine (exported from ``rlexec``): open a persistent
agent, work parent orders with it, report fills, close.

    with rlexec.Agent.open(database_url="sqlite+aiosqlite:///data/desk.db", agent="desk-1",
                           create=True) as agent:
        order = agent.start_order("buy", 1000, horizon_secs=300, book=book, now=t0)
        todo = order.on_book(book, now=t)      # cancels to send, child orders to place
        order.on_fill(child_id, 100, "100.01", passive=False, at=t)
        result = order.finish()                # IS in bps and the stored EpisodeRecord

``Agent`` is the synchronous face (no event loop anywhere: decisions touch memory only, the
store's writer thread does the I/O, and each call hands records over when the save interval
has passed); ``AsyncAgent`` is the same for an asyncio engine (``await AsyncAgent.open(...)``
or ``async with AsyncAgent.open(...) as agent``; its ``flush``/``close`` are coroutines). Both
give the same ``WorkingOrder``, whose methods never block and never await.

- **Clock**: ``now`` / ``at`` are seconds on the engine's clock (any origin: ``time.time()``,
  a monotonic clock, exchange time; or timezone-aware datetimes). The time since
  ``start_order`` drives the horizon and the decisions; the time of day (a state feature, and
  the VWAP profile) is the book's ``time_of_day_secs``.
- **Decisions**: one every ``decision_interval_secs`` (``[rl_execution.executor]``, default
  5 s): the first book of each interval is decided upon (later books of the interval update
  the last book seen and collect their trades for the next decision); an interval without a
  book passes without a decision. One decision interval is the executor's step: features
  measured per step (``recent_volatility``: the std of mid changes between decisions) are per
  interval here, per simulator step in training.
- **Horizon**: the first ``on_book`` at or after ``start + horizon_secs`` (or ``complete()``)
  returns the completion: cancel every resting child and send the rest as a market order
  (``limit_price`` None, id ``<episode_id>-completion``). Report its fills, then ``finish()``.
- **Ids**: ``order_id`` is the engine's (``start_order(order_id=...)``, default: the episode
  id), unique among the orders being worked and free to come back later (ids that restart
  every day); ``episode_id`` is rlexec's, unique for ever (the stored episode, its decisions,
  the child ids ``<episode_id>-...``); the episode row keeps both.
- **Fills** arrive between books: ``on_fill`` uses the last book seen. A child in
  ``Instructions.place`` counts as resting at once; ``on_cancel`` tells the order that the
  venue cancelled or rejected one. Cancels asked in ``Instructions.cancel`` stop counting as
  resting at once (a fill that raced the cancel still counts when reported, even past the
  parent's size when the completion was already sent). A fill is checked against its child:
  no more than its size in all, no worse than its limit.
- **Trades**: pass the trades printed since the last book (``trades=``) if the engine has a
  feed; without one, ``seconds_since_last_trade`` is recorded as missing (NULL).
- **Schema**: the database must be at this rlexec's schema head (``rlexec db upgrade``);
  ``create=True`` lets a new SQLite database be created and migrated, with a one-line notice.
- **Errors**: bad input raises ``InvalidInputError`` with one line naming the field, the
  value and what was expected; store problems raise ``StoreError``.
- **Validation**: ``validate(run_parent, first_seed=..., seeds=...)`` measures the current
  table against the base on held-out seeds of the engine's own simulator, paired, and promotes
  it by training's rule (``rlexec.engine_validation``); production agents act on the newest
  promoted policy, or on the base when there is none.
- **Threads**: one agent is driven from one thread (the engine's).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import math
import numbers
import uuid
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Self, TypeVar

import numpy as np

from rlexec.agent import PersistentAgent, assemble, with_database
from rlexec.config import AgentMode, Config, RewardMode, load_config
from rlexec.engine_validation import EngineTrial
from rlexec.errors import InvalidInputError
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.types import ExecutionContext, ParentOrder, RestingOrder
from rlexec.market.book import BookLevel, BookSnapshot, Fill, Side, Trade, validate_book
from rlexec.progress import Progress
from rlexec.records import EpisodeRecord
from rlexec.rl.types import Urgency
from rlexec.slots import unchecked_constructor
from rlexec.store.engine import redact_url
from rlexec.store.migrate import require_schema
from rlexec.store.models import ORDER_ID_LENGTH
from rlexec.store.write_behind import FlushResult, LoadResult
from rlexec.training.validation import PromotionVerdict

T = TypeVar("T")
ZERO = Decimal(0)
ORDER_ID_MAX = ORDER_ID_LENGTH  # episodes.order_id
MARKET_MAX = 64  # episodes.market is VARCHAR(64)
DEFAULT_MARKET = "external"  # what replay recognises as an outside engine's episode

# numpy scalars (a simulator's feed) are numbers too (``_decimal``, ``_time_of_day``)
NumpyNumber = np.integer[Any] | np.floating[Any]
Number = Decimal | int | float | str | NumpyNumber
Time = float | int | datetime
TradeLike = Trade | tuple[Number, Number, str]


# ---- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """A child order for the engine to send: a limit order, or a market order
    (``limit_price`` None)."""

    order_id: str
    side: str  # "buy" / "sell"
    quantity: Decimal
    limit_price: Decimal | None


@dataclass(frozen=True, slots=True)
class Instructions:
    """What the engine does now: cancel these resting children, then place these."""

    cancel: tuple[str, ...] = ()
    place: tuple[ChildOrder, ...] = ()
    completing: bool = False  # the horizon's completion (place holds the market order)

    def __bool__(self) -> bool:
        return bool(self.cancel or self.place)


NOTHING = Instructions()


@dataclass(frozen=True, slots=True)
class OrderResult:
    """A finished parent order: the figures of its stored ``EpisodeRecord`` (``record``)."""

    order_id: str
    implementation_shortfall_bps: float  # positive = cost, completion included
    filled_quantity: Decimal
    average_price: Decimal | None  # None: nothing filled (finished early)
    completion_quantity: Decimal  # what the horizon's market order filled
    complete: bool  # False: finished before the parent was filled (the record is truncated)
    record: EpisodeRecord


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """An agent's learning and its store's health (``Agent.status``)."""

    updates: int  # online Q-learning updates so far
    epsilon: float  # the exploration rate in force
    flushes: int  # committed flushes of this process
    pending_rows: int  # rows waiting in memory for the store
    dropped: dict[str, int]  # rows shed while the store could not take them, by kind
    store_up: bool  # whether the store answered its last flush


# ---- validation -------------------------------------------------------------------------------


def _decimal(name: str, value: Any, *, positive: bool = True) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool) or not isinstance(value, numbers.Real | str):
        raise InvalidInputError(
            f"{name} = {value!r}: expected a number (Decimal, int, float or str)"
        )
    elif isinstance(value, numbers.Integral):  # int, numpy integers
        number = Decimal(int(value))
    elif not isinstance(value, str):  # float, numpy floats, Fraction: the shortest repr
        number = Decimal(repr(float(value)))
    else:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise InvalidInputError(f"{name} = {value!r}: expected a number") from None
    if not number.is_finite() or (number <= 0 if positive else number < 0):
        raise InvalidInputError(f"{name} = {value!r}: expected a finite number > 0")
    return number


def _whole_units(name: str, value: Any) -> Decimal:
    """A parent's size: children are sent in whole units (``rlexec.execution.actions``), so a
    fraction could only ever go out with the completion's market order."""
    number = _decimal(name, value)
    if number != number.to_integral_value():
        raise InvalidInputError(
            f"{name} = {value!r}: expected a whole number of units (children are sent in whole "
            "units: trade a fractional instrument in lots of its smallest size)"
        )
    return number


def _seconds(name: str, value: Any) -> float:
    kind = type(value)
    if kind is not float and kind is not int:  # the common cases skip the checks below
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise InvalidInputError(f"{name} = {value!r}: expected a timezone-aware datetime")
            return value.timestamp()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInputError(f"{name} = {value!r}: {_SECONDS_EXPECTED}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond any float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise InvalidInputError(f"{name} = {value!r:.40}: {_SECONDS_EXPECTED}")
    return seconds


_SECONDS_EXPECTED = (
    "expected seconds on the engine's clock (a finite number) or a timezone-aware datetime"
)


def _time_of_day(value: Any) -> float:
    """A book's ``time_of_day_secs``: seconds since midnight, in [0, 86400)."""
    seconds = math.nan
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        with contextlib.suppress(OverflowError):
            seconds = float(value)
    if not 0.0 <= seconds < 86_400.0:  # NaN too
        raise InvalidInputError(
            f"time_of_day_secs = {value!r:.40}: expected seconds since midnight, in [0, 86400)"
        )
    return seconds


def _side(value: Any) -> Side:
    try:
        return Side(value)
    except ValueError:
        raise InvalidInputError(f"side = {value!r}: expected 'buy' or 'sell'") from None


def _urgency(value: Any) -> Urgency:
    if isinstance(value, Urgency):
        return value
    if isinstance(value, str) and value.upper() in Urgency.__members__:
        return Urgency[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool) and value in set(Urgency):
        return Urgency(value)
    raise InvalidInputError(f"urgency = {value!r}: expected 'low', 'normal' or 'high'")


def _label(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise InvalidInputError(f"{name} = {value!r}: expected 1 to {limit} printable characters")
    return value


def book(
    bids: Iterable[tuple[Number, Number]],
    asks: Iterable[tuple[Number, Number]],
    *,
    tick_size: Number,
    time_of_day_secs: float | NumpyNumber,
    price_bounds: tuple[Number, Number] | None = None,
) -> BookSnapshot:
    """A validated book from plain (price, size) levels, best first on each side;
    ``time_of_day_secs``: the venue's local time of day (seconds since midnight);
    ``price_bounds``: (0, 1) for a prediction market. A crossed, off-tick or empty book
    raises ``InvalidInputError``."""

    def levels(name: str, rows: Iterable[tuple[Number, Number]]) -> tuple[BookLevel, ...]:
        out = []
        for i, row in enumerate(rows):
            try:
                price, size = row
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"{name}[{i}] = {row!r}: expected a (price, size) pair"
                ) from None
            out.append(
                BookLevel(
                    _decimal(f"{name}[{i}] price", price), _decimal(f"{name}[{i}] size", size)
                )
            )
        return tuple(out)

    seconds = _time_of_day(time_of_day_secs)
    bounds = None
    if price_bounds is not None:
        low, high = price_bounds
        bounds = (
            _decimal("price_bounds low", low, positive=False),
            _decimal("price_bounds high", high),
        )
    snapshot = BookSnapshot.trusted(
        0, seconds, levels("bids", bids), levels("asks", asks), _decimal("tick_size", tick_size),
        bounds,
    )  # fmt: skip
    validate_book(snapshot, where="book")  # checked here, named as the engine knows it
    return snapshot


# ---- a working order --------------------------------------------------------------------------


class WorkingOrder:
    """One parent order being worked (see the module doc). Made by ``start_order``."""

    def __init__(
        self,
        executor: RlEnhancedExecutor,
        parent: ParentOrder,
        arrival: BookSnapshot,
        start: float,
        interval: float,
        pump: Callable[[], None],
        on_end: Callable[[str, OrderResult], None],
        horizon_secs: float,
        agent_closed: Callable[[], str | None],
        order_id: str,
    ) -> None:
        """``horizon_secs``: when the completion is due after ``start`` (the parent's steps
        are its decision intervals, the last one possibly cut short); ``agent_closed``: the
        one-line error once the agent is closed (None while it is open); ``order_id``: the
        engine's id of the order (``parent.parent_id`` is the episode id)."""
        self.order_id = order_id
        self.episode_id = parent.parent_id
        self.side = str(parent.side)
        self.quantity = parent.quantity
        self._executor = executor
        self._parent = parent
        self._start = start
        self._interval = interval
        self._horizon_secs = horizon_secs
        self._pump = pump
        self._on_end = on_end
        self._agent_closed = agent_closed
        self._arrival_mid = arrival.mid
        self._book = arrival
        self._now = start
        self._step = -1  # the last step decided
        self._open: dict[str, RestingOrder] = {}
        # every child sent (the completion too): (what of it is not filled yet, its limit)
        self._sent: dict[str, tuple[Decimal, Decimal | None]] = {}
        self._fills: list[Fill] = []
        self._trades: list[Trade] = []
        self._filled = ZERO
        self._completion_id = f"{parent.parent_id}-completion"
        self._completing = False
        self._done = False
        # the parent's bookkeeping and its base schedule are built now, not at the first decision
        executor.prepare(self.episode_id, self._context(0, ()))

    # -- state
    @property
    def filled(self) -> Decimal:
        return self._filled

    @property
    def remaining(self) -> Decimal:
        """Not filled yet (0 once a fill that raced a cancel took it past the size)."""
        return max(ZERO, self.quantity - self._filled)

    @property
    def resting(self) -> Decimal:
        """Placed and not filled, cancelled or rejected."""
        return sum((r.remaining for r in self._open.values()), ZERO)

    @property
    def open_orders(self) -> tuple[str, ...]:
        return tuple(self._open)

    @property
    def finished(self) -> bool:
        return self._done

    # -- the engine's calls
    def on_book(
        self, book: BookSnapshot, now: Time, trades: Sequence[TradeLike] | None = None
    ) -> Instructions:
        """A new book (and the trades printed since the last one): what to cancel and place."""
        self._check_open()
        if not isinstance(book, BookSnapshot):
            raise InvalidInputError(
                f"book = {book!r:.80}: expected a BookSnapshot (rlexec.book(...) builds one)"
            )
        seconds = _seconds("now", now)
        if seconds < self._now:
            raise InvalidInputError(
                f"now = {now!r}: expected >= the last time given ({self._now!r}): the clock "
                "must not go back"
            )
        self._now = seconds
        self._book = book
        step = self._step_at(seconds)
        if trades:
            self._trades.extend(self._trade(t, max(step, 0)) for t in trades)
        self._pump()
        if self._completing:
            return NOTHING
        if seconds - self._start >= self._horizon_secs - 1e-9:
            return self.complete()
        if step == self._step:
            return NOTHING  # this interval is decided: the book is kept for fills
        self._step = step
        context = self._context(step, self._trades)
        self._trades = []
        executor = self._executor
        cancels: list[str] = []
        if self._open:
            cancels = executor.cancels(self.episode_id, context)
            for order_id in cancels:
                self._open.pop(order_id, None)
        child = executor.next_order(self.episode_id, context)
        if child is None:
            return Instructions(tuple(cancels)) if cancels else NOTHING
        quantity = min(child.quantity, self.quantity - self._filled - self.resting)
        if quantity <= 0:
            return Instructions(tuple(cancels)) if cancels else NOTHING
        self._sent[child.order_id] = (quantity, child.limit_price)
        self._open[child.order_id] = RestingOrder(child, quantity)
        placed = ChildOrder(child.order_id, self.side, quantity, child.limit_price)
        return Instructions(tuple(cancels), (placed,))

    def on_fill(
        self,
        child_order_id: str,
        quantity: Number,
        price: Number,
        *,
        passive: bool = False,
        at: Time | None = None,
    ) -> None:
        """A fill of one of this order's children (or of its completion) at ``at`` (default:
        the last book's time); the agent learns from it at its next decision. Checked against
        its child: no more than the child's size in all, no worse than its limit. A fill that
        raced a cancel counts, even past the parent's size (the completion was sent for what
        was not filled): the episode records what the venue did."""
        self._check_open()
        sent = self._sent.get(child_order_id)
        if sent is None:
            raise InvalidInputError(
                f"child_order_id = {child_order_id!r}: not a child of order {self.order_id!r}"
            )
        q = _decimal("quantity", quantity)
        p = _decimal("price", price)
        left, limit = sent
        if q > left:
            raise InvalidInputError(
                f"quantity = {quantity!r}: more than the {left} of child {child_order_id!r} "
                "not filled yet"
            )
        if limit is not None and (p > limit if self._parent.side is Side.BUY else p < limit):
            raise InvalidInputError(
                f"price = {price!r}: worse than the limit {limit} of {self.side} child "
                f"{child_order_id!r}"
            )
        seconds = self._now if at is None else _seconds("at", at)
        if seconds < self._start:
            raise InvalidInputError(
                f"at = {at!r}: expected >= the order's start ({self._start!r}): a fill cannot "
                "come before its order"
            )
        step = min(max(self._step_at(seconds), 0), self._parent.horizon_steps - 1)
        self._sent[child_order_id] = (left - q, limit)
        resting = self._open.get(child_order_id)
        if resting is not None:
            still = resting.remaining - q
            if still > 0:
                self._open[child_order_id] = RestingOrder(resting.order, still)
            else:
                del self._open[child_order_id]
        self._filled += q
        self._fills.append(Fill(child_order_id, step, q, p, bool(passive)))
        self._executor.fill(self.episode_id, child_order_id, q, p, self._context(step, ()))
        self._pump()

    def on_cancel(self, child_order_id: str) -> None:
        """The venue cancelled or rejected a child: what rested of it rests no more."""
        self._check_open()
        if child_order_id not in self._sent:
            raise InvalidInputError(
                f"child_order_id = {child_order_id!r}: not a child of order {self.order_id!r}"
            )
        self._open.pop(child_order_id, None)

    def complete(self) -> Instructions:
        """The completion now (as at the horizon): cancel every resting child and send what
        is not filled as a market order (nothing to place if it is filled). Asked once: a
        second call (or on_book after it) returns nothing more."""
        self._check_open()
        if self._completing:
            return NOTHING
        self._completing = True
        cancels = tuple(self._open)
        self._open.clear()
        rest = self.quantity - self._filled
        if rest <= 0:
            return Instructions(cancels, (), completing=True)
        self._sent[self._completion_id] = (rest, None)
        market = ChildOrder(self._completion_id, self.side, rest, None)
        return Instructions(cancels, (market,), completing=True)

    def finish(self) -> OrderResult:
        """The parent is done: its episode is recorded (and stored with the next flush) and
        returned. Finishing before it is filled records a truncated episode."""
        self._check_open()
        self._done = True
        step = min(max(self._step, 0), self._parent.horizon_steps - 1)
        record = self._executor.end(self.episode_id, self._context(step, ()))
        result = OrderResult(
            order_id=self.order_id,
            implementation_shortfall_bps=record.implementation_shortfall_bps,
            filled_quantity=self._filled,
            average_price=record.avg_price if self._filled > 0 else None,
            completion_quantity=record.completion_quantity,
            complete=record.terminated,
            record=record,
        )
        self._on_end(self.order_id, result)
        self._pump()
        return result

    # -- helpers
    def _check_open(self) -> None:
        if self._done:
            raise InvalidInputError(f"order {self.order_id!r} is finished: start a new one")
        closed = self._agent_closed()
        if closed is not None:  # nothing of this order could be stored any more
            raise InvalidInputError(f"order {self.order_id!r}: {closed}")

    def _step_at(self, seconds: float) -> int:
        return math.floor((seconds - self._start) / self._interval)

    def _trade(self, trade: TradeLike, step: int) -> Trade:
        if isinstance(trade, Trade):
            return Trade(step, trade.price, trade.quantity, trade.aggressor)
        try:
            price, quantity, aggressor = trade
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"trade = {trade!r}: expected a Trade or a (price, quantity, aggressor side) tuple"
            ) from None
        return Trade(
            step, _decimal("trade price", price), _decimal("trade quantity", quantity),
            _side(aggressor),
        )  # fmt: skip

    def _context(self, step: int, trades: Sequence[Trade]) -> ExecutionContext:
        """The executor's context now. Unchecked: ``step`` comes from this order's own clock
        (>= 0) and the interval was validated when the agent opened."""
        book = self._book
        return _unchecked_context(
            (
                self._parent,  # parent
                step,  # step
                book.time_of_day_secs,  # time_of_day_secs
                book,  # book
                self._arrival_mid,  # arrival_mid
                self._filled,  # filled_quantity
                trades,  # recent_trades
                self._fills,  # our_fills
                self._open,  # open_orders
                None,  # price_after_fill
                self._interval,  # step_seconds
            )
        )


_unchecked_context = unchecked_constructor(ExecutionContext)


# ---- the agent faces --------------------------------------------------------------------------


class OrderDesk:
    """Starts parent orders on one executor and keeps them until they finish. ``Agent`` and
    ``AsyncAgent`` are desks over the agent's own executor; ``validate`` hands the engine's
    ``run_parent`` a desk whose orders a policy under trial works (``rlexec.engine_validation``).
    """

    def __init__(
        self,
        executor: RlEnhancedExecutor,
        *,
        market: str,
        decision_interval_secs: float,
        pump: Callable[[], None],
    ) -> None:
        self.market = market
        self.decision_interval_secs = decision_interval_secs
        self._executor = executor
        self._pump = pump
        self._orders: dict[str, WorkingOrder] = {}
        self.started = 0  # orders started on this desk
        self.last_result: OrderResult | None = None  # of the order that finished last

    @property
    def active_orders(self) -> int:
        return len(self._orders)

    def start_order(
        self,
        side: str | Side,
        quantity: Number,
        horizon_secs: float,
        book: BookSnapshot,
        *,
        now: Time,
        urgency: Urgency | str | int = Urgency.NORMAL,
        order_id: str | None = None,
    ) -> WorkingOrder:
        """Start working a parent order: ``book`` is the arrival book (its mid is the arrival
        mid the shortfall is measured against); feed it to ``on_book`` next. The parent is set
        up here (its bookkeeping and its base schedule, built from the arrival book's clock),
        so that its first decision costs what the others do. ``order_id``: the engine's own id
        (1 to 64 printable characters; default: the episode id), stored with the episode; it
        may come back once its order is finished."""
        self._check_not_closed()
        if not isinstance(book, BookSnapshot):
            raise InvalidInputError(
                f"book = {book!r:.80}: expected a BookSnapshot (rlexec.book(...) builds one)"
            )
        horizon = _seconds("horizon_secs", horizon_secs)
        if horizon <= 0:
            raise InvalidInputError(f"horizon_secs = {horizon_secs!r}: expected > 0")
        episode_id = str(uuid.uuid4())  # rlexec's own: the engine may reuse its order ids
        name = episode_id if order_id is None else _label("order_id", order_id, ORDER_ID_MAX)
        if name in self._orders:
            raise InvalidInputError(f"order_id = {name!r}: that order is being worked")
        parent = ParentOrder(
            episode_id,
            _side(side),
            _whole_units("quantity", quantity),
            max(1, math.ceil(horizon / self.decision_interval_secs - 1e-9)),
            _urgency(urgency),
        )
        start = _seconds("now", now)  # checked before the executor holds anything of it
        self._executor.begin(episode_id, self._episode_meta(order_id))
        order = WorkingOrder(
            self._executor,
            parent,
            book,
            start,
            self.decision_interval_secs,
            self._pump,
            self._ended,
            horizon,
            self._closed_error,
            name,
        )
        self._orders[name] = order
        self.started += 1
        return order

    def _episode_meta(self, order_id: str | None) -> EpisodeMeta:
        return EpisodeMeta(market=self.market, order_id=order_id)

    def _ended(self, order_id: str, result: OrderResult) -> None:
        self._orders.pop(order_id, None)
        self.last_result = result

    def _closed_error(self) -> str | None:
        return None

    def _check_not_closed(self) -> None:
        closed = self._closed_error()
        if closed is not None:
            raise InvalidInputError(closed)


class _AgentFace(OrderDesk):
    """What the sync and async faces share: starting orders over one persistent agent."""

    def __init__(
        self, persistent: PersistentAgent, *, market: str, decision_interval_secs: float
    ) -> None:
        # one step = one decision interval: the executor decides at every step
        super().__init__(
            persistent.executor(decision_interval_steps=1),
            market=market,
            decision_interval_secs=decision_interval_secs,
            pump=persistent.store.pump,
        )
        self._persistent = persistent
        self.name = persistent.agent_name
        self._closed = False

    @property
    def loaded(self) -> LoadResult:
        """What was restored when the agent opened (Q rows, updates, experiences)."""
        assert self._persistent.loaded is not None
        return self._persistent.loaded

    @property
    def mode(self) -> AgentMode:
        return self._persistent.agent.mode

    @property
    def reward_mode(self) -> RewardMode:
        return self._persistent.reward_mode

    @property
    def database(self) -> str:
        """The database URL, password masked (safe to print)."""
        return redact_url(self._persistent.config.rl_execution.database.url)

    @property
    def status(self) -> AgentStatus:
        """The agent's learning and its store's health, now."""
        agent, store = self._persistent.agent, self._persistent.store
        return AgentStatus(
            updates=int(agent.updates),
            epsilon=float(agent.epsilon),
            flushes=store.flushes,
            pending_rows=store.pending_rows,
            dropped=store.dropped,
            store_up=store.up,
        )

    def record_policy_metrics(self) -> None:
        """Append a policy-metrics row (source ``engine``) for the next flush."""
        store = self._persistent.store
        store.append_policy_metrics(self._persistent.policy_metrics_record(source="engine"))

    def _trial(self, run_parent: object, first_seed: object, seeds: object) -> EngineTrial:
        """A validation of the current table (see ``rlexec.engine_validation``)."""
        self._check_not_closed()
        return EngineTrial(
            self._persistent,
            run_parent,
            first_seed=first_seed,
            seeds=seeds,
            typical_queue_depth=self._executor.builder.typical_queue_depth,
            decision_interval_steps=1,
        )

    def _trial_runs(self, trial: EngineTrial, progress: bool) -> Iterator[tuple[OrderDesk, int]]:
        """The engine's runs of a prepared trial, in order (each seed: the table's desk, the
        base's, the champion's if any); each run's cost is taken when the caller comes back
        for the next."""
        desks = [
            OrderDesk(
                executor,
                market=self.market,
                decision_interval_secs=self.decision_interval_secs,
                pump=_nothing_to_pump,
            )
            for executor in trial.executors
        ]
        label = f"validate {self.name}"
        with Progress(label, total=len(trial.seeds), unit="seed", enabled=progress) as bar:
            for seed in trial.seeds:
                for which, desk in enumerate(desks):
                    started, own, desk.last_result = desk.started, self.started, None
                    yield desk, seed
                    if self.started != own:
                        raise InvalidInputError(
                            f"run_parent(desk, seed={seed}) started an order on the agent, not "
                            "on the desk it was given: that order was worked, stored and "
                            "learned from as a live one"
                        )
                    trial.take(which, seed, desk.started - started, _cost(desk))
                bar.update(1)

    def _episode_meta(self, order_id: str | None) -> EpisodeMeta:
        return EpisodeMeta(
            market=self.market, snapshot_id=self._persistent.snapshot_id, order_id=order_id
        )

    def _closed_error(self) -> str | None:
        return f"agent {self.name!r} is closed: open it again" if self._closed else None


def _open_persistent(
    config: Config | None,
    database_url: str | None,
    agent: str,
    mode: AgentMode | str,
    reward_mode: RewardMode | str | None,
) -> PersistentAgent:
    if config is not None and not isinstance(config, Config):
        raise InvalidInputError(f"config = {config!r:.80}: expected an rlexec Config")
    cfg = with_database(load_config() if config is None else config, database_url)
    try:
        agent_mode = AgentMode(mode)
    except ValueError:
        raise InvalidInputError(
            f"mode = {mode!r}: expected one of {', '.join(m.value for m in AgentMode)}"
        ) from None
    return assemble(cfg, agent, mode=agent_mode, reward_mode=reward_mode, market="ignore")


def _nothing_to_pump() -> None:
    """A trial desk's orders record nothing: there is nothing to hand the store."""


def _cost(desk: OrderDesk) -> float | None:
    """The IS of the order the desk finished last (None: none finished)."""
    result = desk.last_result
    return None if result is None else result.implementation_shortfall_bps


def _blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a one-off coroutine (opening checks) to completion from synchronous code, whether
    or not the calling thread runs an event loop."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rlexec-open") as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Agent(_AgentFace):
    """The synchronous face (see the module doc). ``Agent.open(...)``; a context manager."""

    @classmethod
    def open(
        cls,
        config: Config | None = None,
        database_url: str | None = None,
        agent: str = "default",
        *,
        mode: AgentMode | str = AgentMode.PRODUCTION,
        create: bool = False,
        market: str = DEFAULT_MARKET,
        reward_mode: RewardMode | str | None = None,
    ) -> Agent:
        """Open (or create) agent ``agent`` of the database (``database_url``, else the
        config's; ``config`` default: ``load_config()``, i.e. ``config/rl_execution.toml``
        and ``RLEXEC_*``). ``mode``: ``production`` (default: acts on the latest promoted
        policy, explored 5 %, or on its base when nothing is promoted; learns into the live
        table; episodes name the snapshot they ran: ``rlexec.agent``),
        ``training`` or ``evaluation`` (greedy, learns nothing); ``create``: a new SQLite
        database may be created; ``market``: the label its episodes carry."""
        persistent = _open_persistent(config, database_url, agent, mode, reward_mode)
        label = _label("market", market, MARKET_MAX)
        _blocking(require_schema(persistent.config.rl_execution.database.url, create=create))
        persistent.load_blocking()
        persistent.act_on_mode_policy_blocking()
        interval = persistent.config.rl_execution.executor.decision_interval_secs
        return cls(persistent, market=label, decision_interval_secs=interval)

    def flush(self) -> FlushResult:
        """Write everything now; blocks until the store has it (StoreError if it is down:
        nothing is lost, the store keeps trying)."""
        self._check_not_closed()
        return self._persistent.store.flush_blocking()

    def validate(
        self,
        run_parent: Callable[[OrderDesk, int], object],
        *,
        first_seed: int,
        seeds: int,
        progress: bool = True,
    ) -> PromotionVerdict:
        """Validate the agent's current table on the engine's own simulator and promote it if
        it beats its base (``rlexec.engine_validation``): for each seed of ``first_seed`` ..
        ``first_seed + seeds - 1`` (held out: not trained on), ``run_parent(desk, seed)`` works
        one parent order on the engine's simulator seeded with ``seed``, from
        ``desk.start_order(...)`` to ``finish()``, first on a desk of the frozen table, then on
        one of the base alone (then, when a policy was promoted before, on one of that policy:
        the new table must not be worse than it). Promoted only when policy - base has a 95 %
        CI below 0 and the policy promoted before is not cheaper with 95 % confidence; the
        verdict is stored either way and returned (``summary()`` says it in one line). A
        block that overlaps one this agent was validated on is refused; a trial that fails
        stores nothing. ``progress``: a progress bar (plain lines when not on a terminal) on
        stderr."""
        trial = self._trial(run_parent, first_seed, seeds)
        store = self._persistent.store
        store.writer.submit(trial.prepare).result()
        for desk, seed in self._trial_runs(trial, progress):
            outcome = run_parent(desk, seed)
            if inspect.isawaitable(outcome):
                if inspect.iscoroutine(outcome):
                    outcome.close()  # never run: not left to warn at exit
                raise InvalidInputError(
                    "run_parent returned an awaitable: an asyncio engine validates with "
                    "AsyncAgent.validate"
                )
        store.flush_blocking()  # the snapshot is then the table measured
        verdict = store.writer.submit(trial.record).result()
        if verdict.promoted and self.mode is AgentMode.PRODUCTION:
            self._persistent.act_on_mode_policy_blocking()  # acts on it from now on
        return verdict

    def close(self) -> None:
        """The final flush; the agent cannot be used afterwards (its orders' methods and
        ``flush`` raise InvalidInputError). Orders still working are not recorded (finish
        them first)."""
        if self._closed:
            return
        self._closed = True
        self._persistent.store.close_blocking()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncAgent(_AgentFace):
    """The asyncio face (see the module doc): ``await AsyncAgent.open(...)`` or
    ``async with AsyncAgent.open(...) as agent``."""

    @classmethod
    def open(
        cls,
        config: Config | None = None,
        database_url: str | None = None,
        agent: str = "default",
        *,
        mode: AgentMode | str = AgentMode.PRODUCTION,
        create: bool = False,
        market: str = DEFAULT_MARKET,
        reward_mode: RewardMode | str | None = None,
    ) -> _Opening:
        """As ``Agent.open``; awaitable, and an async context manager."""

        async def opening() -> AsyncAgent:
            persistent = _open_persistent(config, database_url, agent, mode, reward_mode)
            label = _label("market", market, MARKET_MAX)
            await require_schema(persistent.config.rl_execution.database.url, create=create)
            await persistent.load()
            await persistent.act_on_mode_policy()
            persistent.store.start()
            interval = persistent.config.rl_execution.executor.decision_interval_secs
            return cls(persistent, market=label, decision_interval_secs=interval)

        return _Opening(opening)

    async def flush(self) -> FlushResult:
        """Write everything now (StoreError if the store is down: nothing is lost)."""
        self._check_not_closed()
        return await self._persistent.store.flush()

    async def validate(
        self,
        run_parent: Callable[[OrderDesk, int], object],
        *,
        first_seed: int,
        seeds: int,
        progress: bool = True,
    ) -> PromotionVerdict:
        """As ``Agent.validate``; ``run_parent`` may be a coroutine function."""
        trial = self._trial(run_parent, first_seed, seeds)
        store = self._persistent.store
        await store.writer.run(trial.prepare)
        for desk, seed in self._trial_runs(trial, progress):
            outcome = run_parent(desk, seed)
            if inspect.isawaitable(outcome):
                await outcome
        await store.flush()  # the snapshot is then the table measured
        verdict = await store.writer.run(trial.record)
        if verdict.promoted and self.mode is AgentMode.PRODUCTION:
            await self._persistent.act_on_mode_policy()  # acts on it from now on
        return verdict

    async def close(self) -> None:
        """The final flush; the agent cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        await self._persistent.store.close()


class _Opening:
    """``AsyncAgent.open(...)``: await it, or use it as ``async with``."""

    def __init__(self, opening: Callable[[], Awaitable[AsyncAgent]]) -> None:
        self._opening = opening
        self._agent: AsyncAgent | None = None

    def __await__(self) -> Generator[Any, None, AsyncAgent]:
        return self._opening().__await__()

    async def __aenter__(self) -> AsyncAgent:
        self._agent = await self._opening()
        return self._agent

    def __getattr__(self, name: str) -> Any:
        """An agent's attribute asked of the opening: it was not awaited (an AttributeError,
        so ``hasattr`` still works, that says what to write)."""
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(
            f"AsyncAgent.open(...) was not awaited, so it has no {name!r}: write "
            "`agent = await AsyncAgent.open(...)` or `async with AsyncAgent.open(...) as agent`"
        )

    async def __aexit__(self, *exc: object) -> None:
        if self._agent is not None:
            await self._agent.close()
