"""Using rlexec from a trading system: an engine works parent orders with a long-lived agent.

This file is the engine's side only: its venue gateway and market data feed, and the loop that
hands books and fills to the agent through the public API (``rlexec.Agent``) and sends what it
asks for. The agent decides, learns and persists itself (SQLite or PostgreSQL, write-behind):
opening it resumes the Q-table, visits, epsilon and the newest experiences; closing it makes
the final flush. SIGTERM / SIGINT stop the engine cleanly: the parents in flight are completed
at once, then the agent closes.

Here the "venue" is a simulated equity book (``rlexec.market.presets``) behind a small adapter
that speaks in plain strings and integers, as a FIX/ITCH gateway would; nothing of the simulator
leaks into the engine. The engine's clock is the venue's (exchange time, one tick per second).
Run::

    python examples/outside_engine.py --database-url sqlite+aiosqlite:///data/example.db
    python examples/outside_engine.py --database-url postgresql+asyncpg://user@host/db

Run it twice: the second run resumes the agent the first one saved. ``--mode training
--parents 50 --validate 100`` trains on 50 parents, then validates the agent on 100 held-out
venue seeds against its base and promotes it if it is cheaper (``Agent.validate``): the next
production run acts on what was promoted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import rlexec
from rlexec.market.presets import make_market  # the simulated venue only, not the engine


@dataclass(frozen=True)
class ExecReport:
    """An execution report as the venue sends it."""

    order_id: str
    quantity: int
    price: str
    passive: bool


class SimulatedVenue:
    """A venue gateway and feed for one symbol; speaks plain strings and integers."""

    def __init__(self, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self._book = make_market("equity")
        self._book.reset(seed)

    def market_data(self) -> dict[str, Any]:
        """The latest book (10 levels a side) and the trades printed since the last tick."""
        snap = self._book.snapshot()
        return {
            "time": self._book.time_of_day_secs,  # exchange time, seconds since midnight
            "tick_size": str(snap.tick_size),
            "bids": [(str(level.price), int(level.size)) for level in snap.bids],
            "asks": [(str(level.price), int(level.size)) for level in snap.asks],
            "trades": [
                (str(t.price), int(t.quantity), str(t.aggressor))
                for t in self._book.recent_trades()
            ],
        }

    def send(self, order_id: str, side: str, quantity: int, price: str | None) -> list[ExecReport]:
        """A limit order (``price``) or a market order (None); returns its immediate fills."""
        if price is None:
            fills = self._book.submit_market(order_id, rlexec.Side(side), Decimal(quantity))
        else:
            side_ = rlexec.Side(side)
            fills = self._book.submit_limit(order_id, side_, Decimal(quantity), Decimal(price))
        return [ExecReport(f.order_id, int(f.quantity), str(f.price), f.passive) for f in fills]

    def cancel(self, order_id: str) -> None:
        self._book.cancel(order_id)

    def tick(self) -> list[ExecReport]:
        """The next market tick; returns fills of our resting orders during it."""
        fills = self._book.advance()
        return [ExecReport(f.order_id, int(f.quantity), str(f.price), f.passive) for f in fills]


def book_from_feed(data: dict[str, Any]) -> rlexec.BookSnapshot:
    """Validated on the way in: a crossed, off-tick or empty book raises InvalidInputError."""
    return rlexec.book(
        data["bids"], data["asks"], tick_size=data["tick_size"], time_of_day_secs=data["time"]
    )


@dataclass
class Working:
    """The engine's bookkeeping of one parent order on one venue."""

    venue: SimulatedVenue
    order: rlexec.WorkingOrder
    children: int = 0
    completion: int = 0
    result: rlexec.OrderResult | None = None
    interrupted: bool = False


def act(work: Working, todo: rlexec.Instructions, now: float) -> None:
    """Send what the agent asked for and report the immediate fills."""
    for order_id in todo.cancel:
        work.venue.cancel(order_id)
    for child in todo.place:
        price = None if child.limit_price is None else str(child.limit_price)
        reports = work.venue.send(child.order_id, child.side, int(child.quantity), price)
        if todo.completing:
            work.completion = int(child.quantity)
        else:
            work.children += 1
        for r in reports:
            work.order.on_fill(r.order_id, r.quantity, r.price, passive=r.passive, at=now)


def start(desk: rlexec.OrderDesk, args: argparse.Namespace, i: int, seed: int) -> Working:
    """Parent ``i`` on a venue of its own (``seed``), in the engine's own ids."""
    venue = SimulatedVenue(f"SYM{i}", seed=seed)
    data = venue.market_data()
    order = desk.start_order(
        ("buy", "sell")[i % 2], args.quantity, horizon_secs=args.steps,
        book=book_from_feed(data), now=data["time"], order_id=f"PARENT-{i + 1}",
    )  # fmt: skip
    return Working(venue, order)


def step(w: Working, stop: list[bool]) -> None:
    """One tick of a parent: its book to the agent, what it asks sent, the tick's fills."""
    data = w.venue.market_data()
    if stop:  # shutting down: complete the parent now
        w.interrupted = True
        todo = w.order.complete()
    else:
        todo = w.order.on_book(book_from_feed(data), data["time"], data["trades"])
    act(w, todo, data["time"])
    if todo.completing:
        w.result = w.order.finish()
        return
    for r in w.venue.tick():  # fills of resting children during the tick
        w.order.on_fill(r.order_id, r.quantity, r.price, passive=r.passive)


def validate(agent: rlexec.Agent, args: argparse.Namespace) -> None:
    """The agent's current table against its base on held-out venue seeds, paired; promoted
    (production then acts on it) only if it is cheaper with 95 % confidence."""

    def run_parent(desk: rlexec.OrderDesk, seed: int) -> None:
        w = start(desk, args, seed, seed)
        while w.result is None:
            step(w, [])

    first = args.validate_first_seed
    print(agent.validate(run_parent, first_seed=first, seeds=args.validate).summary())


def run(args: argparse.Namespace, stop: list[bool]) -> int:
    config = rlexec.load_config(args.config)
    with rlexec.Agent.open(
        config, args.database_url, args.agent, mode=args.mode, create=True, market="example"
    ) as agent:
        loaded = agent.loaded
        print(
            f"{'new' if loaded.created else 'resumed'} agent {args.agent!r} from "
            f"{agent.database}: {loaded.q_rows} Q rows, {loaded.updates} updates, "
            f"{len(loaded.experiences)} experiences, mode {agent.mode}",
            flush=True,
        )
        works = [start(agent, args, i, args.seed + i) for i in range(args.parents)]
        while any(w.result is None for w in works):
            for w in works:
                if w.result is None:
                    step(w, stop)
            if args.tick_secs:
                time.sleep(args.tick_secs)
        agent.record_policy_metrics()
        status = agent.status
        if args.validate and not stop:
            validate(agent, args)
    for w in works:
        assert w.result is not None
        note = " (interrupted by signal)" if w.interrupted else ""
        print(
            f"  {w.venue.symbol} {w.order.side:4} {w.order.quantity} shares: IS "
            f"{w.result.implementation_shortfall_bps:+.2f} bps, {w.children} children, "
            f"completion {w.completion}{note}"
        )
    print(
        f"saved agent {args.agent!r}: {status.updates} updates, epsilon {status.epsilon:.3f}, "
        f"{sum(status.dropped.values())} rows dropped",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="rl_execution.toml (default: config/rl_execution.toml)")
    parser.add_argument("--database-url", help="overrides the config / RLEXEC_DATABASE__URL")
    parser.add_argument("--agent", default="outside-engine", help="agent name in the store")
    parser.add_argument("--mode", default="production", choices=["production", "training",
                        "evaluation"], help="the agent's mode")  # fmt: skip
    parser.add_argument("--parents", type=int, default=6, help="parent orders, worked at once")
    parser.add_argument("--quantity", type=int, default=1000, help="shares per parent order")
    parser.add_argument("--steps", type=int, default=300, help="horizon in ticks (seconds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated venues")
    parser.add_argument("--tick-secs", type=float, default=0.0, help="wall time per tick")
    parser.add_argument("--validate", type=int, default=0, metavar="SEEDS",
                        help="then validate the agent on SEEDS held-out venue seeds and promote "
                        "it if it beats its base (default 0: no validation)")  # fmt: skip
    parser.add_argument("--validate-first-seed", type=int, default=1_000_000,
                        help="the first held-out venue seed (default 1000000)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.parents < 1 or args.quantity < 1 or args.steps < 2:
        parser.error("--parents and --quantity must be >= 1, --steps >= 2")
    if args.validate == 1 or args.validate < 0 or args.validate_first_seed < 0:
        parser.error("--validate must be 0 (none) or >= 2 seeds, --validate-first-seed >= 0")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop: list[bool] = []  # signals are the engine's: stop working, complete, then close
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    try:
        return run(args, stop)
    except rlexec.RlexecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
