"""A market that replays recorded book snapshots and trades from CSV (docs/recorded-data.md).

Every row is validated on load; an error names the file, the line, the column, the value and
what was expected.

Held-out time ranges (``TimeSplit``): the recording is cut into consecutive ranges, one per seed
band, in the order of the bands' seeds. The product's split (``TimeSplit.held_out``, built from
the config by ``rlexec.training.markets.recorded_split``) has three: training seeds replay the
first range, validation and promotion seeds the second, evaluation seeds the last; an episode
starts and finishes inside its own band's range, so no validation or evaluation episode replays
a step that training saw, and no evaluation episode one that selected the promoted policy. The
market's ``typical_queue_depth`` is measured on the first (training) range only: it precedes
every other range, so no band is told anything about its own future.

The replay cannot react to us beyond the current step:
- a passive order's queue ahead is the recorded size at its price when it joined; recorded trades
  whose aggressor is on the other side and whose price is at our price consume the queue ahead
  and then fill us; a trade through our price, or a recorded book whose far touch crosses our
  price, fills us completely at our price;
- a market order walks the recorded book of the current step (what we take stays taken until
  the next step); beyond the recorded levels the book is extended tick by tick with the size of
  the last recorded level, so it always completes (on a bounded market the last tick before the
  bound has unlimited depth).
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from statistics import median

import numpy as np

from rlexec.errors import InvalidInputError
from rlexec.market.base import Market
from rlexec.market.book import BookLevel, BookSnapshot, Fill, Side, Trade

SNAPSHOT_FIXED_COLUMNS = ("step", "time_of_day_secs")
TRADE_COLUMNS = ("step", "price", "quantity", "aggressor")
# shares are floats: 0.01 + 0.06 of 100 rows is row 7, not floor(6.999...)
_SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class SeedBand:
    """Seeds from ``first_seed`` up to the next band's replay the part of the recording that
    ends at ``end_share`` of its steps and begins where the previous band's part ends."""

    name: str
    first_seed: int
    end_share: float


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Consecutive time ranges of a recording, one per seed band (first band: training, from
    seed 0 and from the first recorded step; last band: up to the last step)."""

    bands: tuple[SeedBand, ...]

    def __post_init__(self) -> None:
        if not self.bands:
            raise InvalidInputError("time split: expected at least one seed band")
        if self.bands[0].first_seed != 0:
            raise InvalidInputError(
                f"time split: band {self.bands[0].name} first_seed = {self.bands[0].first_seed}: "
                "expected the first band to start at seed 0"
            )
        previous: SeedBand | None = None
        for band in self.bands:
            if not 0.0 < band.end_share <= 1.0 or not math.isfinite(band.end_share):
                raise InvalidInputError(
                    f"time split: band {band.name} end_share = {band.end_share!r}: expected a "
                    "share of the recording in (0, 1]"
                )
            if previous is not None and (
                band.first_seed <= previous.first_seed or band.end_share <= previous.end_share
            ):
                raise InvalidInputError(
                    f"time split: band {band.name} (first_seed {band.first_seed}, end_share "
                    f"{band.end_share}) must start after band {previous.name} (first_seed "
                    f"{previous.first_seed}, end_share {previous.end_share}) in seeds and in time"
                )
            previous = band
        if self.bands[-1].end_share != 1.0:
            raise InvalidInputError(
                f"time split: the last band {self.bands[-1].name} end_share = "
                f"{self.bands[-1].end_share}: expected 1 (the split covers the whole recording)"
            )

    @classmethod
    def held_out(
        cls,
        training_share: float,
        validation_share: float,
        first_validation_seed: int,
        first_evaluation_seed: int,
    ) -> TimeSplit:
        """Three ranges: seeds below ``first_validation_seed`` replay the first
        ``training_share`` of the recording, seeds from there below ``first_evaluation_seed``
        the next ``validation_share``, the others the rest."""
        for name, share in (("training_share", training_share),
                            ("validation_share", validation_share)):  # fmt: skip
            if not 0.0 < share < 1.0:
                raise InvalidInputError(f"{name} = {share!r}: expected a share in (0, 1)")
        if training_share + validation_share >= 1.0 - _SHARE_TOLERANCE:
            raise InvalidInputError(
                f"training_share = {training_share} + validation_share = {validation_share}: "
                "expected a sum below 1 (the rest is the evaluation range)"
            )
        return cls(
            (
                SeedBand("training", 0, training_share),
                SeedBand("validation", first_validation_seed, training_share + validation_share),
                SeedBand("evaluation", first_evaluation_seed, 1.0),
            )
        )

    @classmethod
    def training_evaluation(cls, training_share: float, first_evaluation_seed: int) -> TimeSplit:
        """Seeds below ``first_evaluation_seed`` replay the first ``training_share`` of the
        recording, the others the rest."""
        if not 0.0 < training_share < 1.0:
            raise InvalidInputError(
                f"training_share = {training_share!r}: expected a share in (0, 1)"
            )
        return cls(
            (
                SeedBand("training", 0, training_share),
                SeedBand("evaluation", first_evaluation_seed, 1.0),
            )
        )

    def band_of(self, seed: int) -> int:
        """Index of the band ``seed`` belongs to."""
        if seed < 0:
            raise InvalidInputError(f"seed = {seed}: expected >= 0")
        return bisect.bisect_right([b.first_seed for b in self.bands], seed) - 1

    def step_ranges(self, n_steps: int) -> list[tuple[int, int]]:
        """``[begin, end)`` row indices of each band's range in a recording of ``n_steps``."""
        ranges, begin = [], 0
        for band in self.bands:
            end = (
                n_steps
                if band.end_share == 1.0
                else math.floor(band.end_share * n_steps + _SHARE_TOLERANCE)
            )
            ranges.append((begin, end))
            begin = end
        return ranges


@dataclass(slots=True)
class _Resting:
    order_id: str
    side: Side
    price: Decimal
    remaining: Decimal
    ahead: Decimal


class RecordedMarket:
    """Replays ``snapshots_path`` (and ``trades_path`` if given). ``reset(seed)`` starts at a
    seeded step of the seed's range of ``split`` that leaves ``episode_steps`` steps in that
    range (None: as many as the shortest range has); past the range's end the last step is
    held, so an episode never reaches into another band's range."""

    def __init__(
        self,
        snapshots_path: str | Path,
        trades_path: str | Path | None = None,
        *,
        tick_size: Decimal,
        split: TimeSplit,
        price_bounds: tuple[Decimal, Decimal] | None = None,
        step_seconds: float = 1.0,
        episode_steps: int | None = None,
    ) -> None:
        self.tick_size = tick_size
        self.price_bounds = price_bounds
        self.step_seconds = step_seconds
        self._books = load_snapshots(Path(snapshots_path), tick_size, price_bounds)
        first = self._books[0].step
        self._trades: list[list[Trade]] = [[] for _ in self._books]
        if trades_path is not None:
            for trade in load_trades(Path(trades_path), first, len(self._books)):
                self._trades[trade.step - first].append(trade)
        n = len(self._books)
        self.split = split
        self._ranges = split.step_ranges(n)
        shortest = min(end - begin for begin, end in self._ranges)
        self.episode_steps = shortest if episode_steps is None else episode_steps
        if self.episode_steps < 1:
            raise InvalidInputError(f"episode_steps = {episode_steps}: expected >= 1")
        for band, (begin, end) in zip(split.bands, self._ranges, strict=True):
            if end - begin < self.episode_steps:
                raise InvalidInputError(
                    f"{snapshots_path}: the {band.name} range of the recording (rows "
                    f"{begin}..{end - 1} of {n}, up to {band.end_share:.0%}) has {end - begin} "
                    f"steps, fewer than episode_steps = {self.episode_steps}: record more, "
                    "shorten the episodes or move the split"
                )
        training_begin, training_end = self._ranges[0]
        self.typical_queue_depth: float = float(
            median(
                float(b.bids[0].size + b.asks[0].size) / 2
                for b in self._books[training_begin:training_end]
            )
        )
        self._i = 0
        self._start = 0
        self._end = n  # one past the last row this episode may reach
        self._taken: dict[tuple[Side, Decimal], Decimal] = {}
        self._orders: dict[str, _Resting] = {}
        self._our_trades: list[Trade] = []
        self._seeded = False

    # ------------------------------------------------------------------ Market protocol

    def reset(self, seed: int) -> BookSnapshot:
        """Start at a seeded row of ``seed``'s range (same seed, same start)."""
        begin, end = self._ranges[self.split.band_of(seed)]
        latest = end - self.episode_steps
        self._start = int(np.random.default_rng(seed).integers(begin, latest + 1))
        self._end = end
        self._i = self._start
        self._taken = {}
        self._orders = {}
        self._our_trades = []
        self._seeded = True
        return self.snapshot()

    def snapshot(self) -> BookSnapshot:
        self._require_reset()
        book = self._books[self._i]
        if not self._taken:
            return book
        return BookSnapshot(
            step=book.step,
            time_of_day_secs=book.time_of_day_secs,
            bids=self._remaining_levels(Side.SELL),
            asks=self._remaining_levels(Side.BUY),
            tick_size=self.tick_size,
            price_bounds=self.price_bounds,
        )

    @property
    def step_index(self) -> int:
        return self._i - self._start

    @property
    def time_of_day_secs(self) -> float:
        return self._books[self._i].time_of_day_secs

    def submit_limit(
        self, order_id: str, side: Side, quantity: Decimal, price: Decimal
    ) -> list[Fill]:
        self._check_order(order_id, quantity)
        self._check_price(order_id, price)
        fills = self._walk(order_id, side, quantity, limit=price)
        rest = quantity - sum((f.quantity for f in fills), Decimal(0))
        if rest > 0:
            own = self._books[self._i].bids if side is Side.BUY else self._books[self._i].asks
            ahead = next((lv.size for lv in own if lv.price == price), Decimal(0))
            self._orders[order_id] = _Resting(order_id, side, price, rest, ahead)
        return fills

    def submit_market(self, order_id: str, side: Side, quantity: Decimal) -> list[Fill]:
        self._check_order(order_id, quantity)
        return self._walk(order_id, side, quantity, limit=None)

    def cancel(self, order_id: str) -> Decimal:
        order = self._orders.pop(order_id, None)
        return order.remaining if order is not None else Decimal(0)

    def advance(self) -> list[Fill]:
        """Move to the next recorded step (past the end of the seed's range its last step is
        held, with no trades) and fill our resting orders that its trades or its book reach."""
        self._require_reset()
        self._taken = {}
        self._our_trades = []
        if self._i + 1 >= self._end:
            return []
        self._i += 1
        book = self._books[self._i]
        fills: list[Fill] = []
        for trade in self._trades[self._i]:
            for order in list(self._orders.values()):
                if trade.aggressor is order.side or order.remaining <= 0:
                    continue
                through = (
                    trade.price < order.price
                    if order.side is Side.BUY
                    else trade.price > order.price
                )
                if through:
                    self._fill(order, order.remaining, fills)
                elif trade.price == order.price:
                    volume = trade.quantity
                    used = min(volume, order.ahead)
                    order.ahead -= used
                    self._fill(order, min(volume - used, order.remaining), fills)
        for order in list(self._orders.values()):
            crossed = (
                book.best_ask <= order.price
                if order.side is Side.BUY
                else book.best_bid >= order.price
            )
            if crossed:
                self._fill(order, order.remaining, fills)
        return fills

    def recent_trades(self) -> Sequence[Trade]:
        return [*self._trades[self._i], *self._our_trades]

    # ------------------------------------------------------------------ internals

    def _require_reset(self) -> None:
        if not self._seeded:
            raise InvalidInputError("market: call reset(seed) before using it")

    def _check_order(self, order_id: str, quantity: Decimal) -> None:
        self._require_reset()
        if order_id in self._orders:
            raise InvalidInputError(f"order_id = {order_id!r}: an order with this id is resting")
        if not quantity.is_finite() or quantity <= 0:
            raise InvalidInputError(f"order {order_id} quantity = {quantity}: expected > 0")

    def _check_price(self, order_id: str, price: Decimal) -> None:
        if not price.is_finite() or price % self.tick_size != 0:
            raise InvalidInputError(
                f"order {order_id} price = {price}: expected a price on the tick grid of "
                f"{self.tick_size}"
            )
        low, high = self.price_bounds or (Decimal(0), None)
        if price <= low or (high is not None and price >= high):
            raise InvalidInputError(f"order {order_id} price = {price}: expected inside the bounds")

    def _fill(self, order: _Resting, quantity: Decimal, fills: list[Fill]) -> None:
        if quantity <= 0:
            return
        order.remaining -= quantity
        fills.append(Fill(order.order_id, self.step_index, quantity, order.price, True))
        if order.remaining <= 0:
            del self._orders[order.order_id]

    def _levels(self, side: Side) -> list[BookLevel]:
        """The levels an aggressive order of ``side`` walks, extended beyond the recording."""
        book = self._books[self._i]
        levels = list(book.asks if side is Side.BUY else book.bids)
        step = self.tick_size if side is Side.BUY else -self.tick_size
        last = levels[-1]
        for _ in range(1000):
            price = last.price + step
            if not self._inside(price):
                break
            last = BookLevel(price, last.size)
            levels.append(last)
        return levels

    def _inside(self, price: Decimal) -> bool:
        if self.price_bounds is not None:
            return self.price_bounds[0] < price < self.price_bounds[1]
        return price > 0

    def _walk(
        self, order_id: str, side: Side, quantity: Decimal, limit: Decimal | None
    ) -> list[Fill]:
        fills: list[Fill] = []
        left = quantity
        levels = self._levels(side)
        for n, level in enumerate(levels):
            if left <= 0:
                break
            if limit is not None and (
                level.price > limit if side is Side.BUY else level.price < limit
            ):
                break
            key = (side, level.price)
            available = level.size - self._taken.get(key, Decimal(0))
            if n == len(levels) - 1:
                available = left  # unlimited depth at the end of the (extended) book
            take = min(available, left)
            if take > 0:
                self._taken[key] = self._taken.get(key, Decimal(0)) + take
                left -= take
                fills.append(Fill(order_id, self.step_index, take, level.price, False))
                self._our_trades.append(Trade(self._books[self._i].step, level.price, take, side))
        return fills

    def _remaining_levels(self, aggressor: Side) -> tuple[BookLevel, ...]:
        out = []
        levels = self._levels(aggressor)
        for level in levels:
            size = level.size - self._taken.get((aggressor, level.price), Decimal(0))
            if size > 0:
                out.append(BookLevel(level.price, size))
                if len(out) >= 10 and (aggressor, level.price) not in self._taken:
                    break
        if not out:  # everything recorded was taken: the last level has unlimited depth
            out.append(levels[-1])
        return tuple(out)


# ---------------------------------------------------------------------- loading


def _decimal(path: Path, line: int, column: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise InvalidInputError(f"{path}:{line}: column {column} = {raw!r}: expected a number")
    return value


def _integer(path: Path, line: int, column: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError(
            f"{path}:{line}: column {column} = {raw!r}: expected an integer"
        ) from None


def _rows(
    path: Path, required: Sequence[str]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInputError(
                f"{path}:1: missing column(s) {', '.join(missing)} (header is {header})"
            )
        rows = []
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise InvalidInputError(
                    f"{path}:{reader.line_num}: expected {len(header)} fields per row"
                )
            rows.append((reader.line_num, row))
    if not rows:
        raise InvalidInputError(f"{path}: no data rows")
    return header, rows


def load_snapshots(
    path: Path, tick_size: Decimal, price_bounds: tuple[Decimal, Decimal] | None
) -> list[BookSnapshot]:
    """Read and validate a snapshots file: consecutive steps, a valid book on every line."""
    header, rows = _rows(path, (*SNAPSHOT_FIXED_COLUMNS, "bid_price_1", "bid_size_1"))
    depth = 0
    while f"bid_price_{depth + 1}" in header:
        depth += 1
    needed = [
        f"{s}_{w}_{k}"
        for k in range(1, depth + 1)
        for s in ("bid", "ask")
        for w in ("price", "size")
    ]
    missing = [c for c in needed if c not in header]
    if missing:
        raise InvalidInputError(f"{path}:1: missing column(s) {', '.join(missing)}")
    books: list[BookSnapshot] = []
    for line, row in rows:
        step = _integer(path, line, "step", row["step"])
        if books and step != books[-1].step + 1:
            raise InvalidInputError(
                f"{path}:{line}: column step = {step}: expected {books[-1].step + 1} "
                "(steps must be consecutive)"
            )
        tod = float(_decimal(path, line, "time_of_day_secs", row["time_of_day_secs"]))
        sides: dict[str, list[BookLevel]] = {"bid": [], "ask": []}
        for name, levels in sides.items():
            for k in range(1, depth + 1):
                raw_price, raw_size = row[f"{name}_price_{k}"], row[f"{name}_size_{k}"]
                if raw_price == "" and raw_size == "" and k > 1:
                    continue  # fewer levels on this line
                price = _decimal(path, line, f"{name}_price_{k}", raw_price)
                size = _decimal(path, line, f"{name}_size_{k}", raw_size)
                levels.append(BookLevel(price, size))
        try:
            books.append(
                BookSnapshot(
                    step=step,
                    time_of_day_secs=tod,
                    bids=tuple(sides["bid"]),
                    asks=tuple(sides["ask"]),
                    tick_size=tick_size,
                    price_bounds=price_bounds,
                )
            )
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}:{line}: {exc}") from None
    return books


def load_trades(path: Path, first_step: int, n_steps: int) -> list[Trade]:
    """Read and validate a trades file; steps must fall inside the snapshots' steps."""
    _, rows = _rows(path, TRADE_COLUMNS)
    trades = []
    last = first_step + n_steps - 1
    for line, row in rows:
        step = _integer(path, line, "step", row["step"])
        if not first_step <= step <= last:
            raise InvalidInputError(
                f"{path}:{line}: column step = {step}: expected a snapshot step in "
                f"[{first_step}, {last}]"
            )
        price = _decimal(path, line, "price", row["price"])
        quantity = _decimal(path, line, "quantity", row["quantity"])
        if price <= 0 or quantity <= 0:
            raise InvalidInputError(
                f"{path}:{line}: price = {price}, quantity = {quantity}: expected both > 0"
            )
        try:
            aggressor = Side(row["aggressor"].strip().lower())
        except ValueError:
            raise InvalidInputError(
                f"{path}:{line}: column aggressor = {row['aggressor']!r}: expected buy or sell"
            ) from None
        trades.append(Trade(step, price, quantity, aggressor))
    return trades


def write_recorded_csv(
    market: Market,
    steps: int,
    snapshots_path: str | Path,
    trades_path: str | Path,
    levels: int = 5,
) -> None:
    """Record ``steps`` steps of a market that has been reset (any ``Market``) into the two CSV
    files. Trades with step ``s`` are those printed between snapshot ``s - 1`` and ``s``."""
    m = market
    book = m.snapshot()
    header = list(SNAPSHOT_FIXED_COLUMNS)
    for k in range(1, levels + 1):
        header += [f"bid_price_{k}", f"bid_size_{k}", f"ask_price_{k}", f"ask_size_{k}"]
    with (
        Path(snapshots_path).open("w", newline="", encoding="utf-8") as snaps,
        Path(trades_path).open("w", newline="", encoding="utf-8") as trades,
    ):
        snap_writer, trade_writer = csv.writer(snaps), csv.writer(trades)
        snap_writer.writerow(header)
        trade_writer.writerow(TRADE_COLUMNS)
        for n in range(steps):
            row: list[object] = [book.step, f"{book.time_of_day_secs:.3f}"]
            for k in range(levels):
                for side in (book.bids, book.asks):
                    row += [side[k].price, side[k].size] if k < len(side) else ["", ""]
            snap_writer.writerow(row)
            if n == steps - 1:
                break
            m.advance()
            book = m.snapshot()
            for trade in m.recent_trades():
                trade_writer.writerow([book.step, trade.price, trade.quantity, trade.aggressor])
