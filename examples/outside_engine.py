"""Using rlexec from a real trading system: an outside engine drives a long-lived agent.

The engine owns the market data and the venue connection; rlexec only decides. Per parent order
and per market tick the engine:

1. turns its own book and trade messages into validated ``BookSnapshot`` / ``Trade`` objects;
2. applies its venue's execution reports, builds an ``ExecutionContext`` and reports each fill
   with ``await executor.record_fill(...)`` (the agent learns from them);
3. asks ``await executor.cancel_requests(...)`` (only when children rest) and cancels those;
4. asks ``await executor.get_next_order(...)`` and sends the child order to its venue;
5. at the horizon (or on shutdown) cancels what rests, completes the remainder with a market
   order, reports those fills too and calls ``await executor.finish(...)`` (writes the episode).

The agent is persisted in the SQL store through ``AgentStore`` (write-behind): ``load()`` on
start resumes the Q-table, visits, epsilon and the newest experiences; a background task flushes
every ``--save-interval`` seconds; SIGTERM / SIGINT stop the engine cleanly (parents in flight
are completed, then ``close()`` makes the final flush).

Here the "venue" is a simulated equity book (``rlexec.market.presets``) behind a small adapter
that speaks in plain strings and integers, as a FIX/ITCH gateway would; nothing of the simulator
leaks into the engine. Run::

    python examples/outside_engine.py --database-url sqlite+aiosqlite:///data/example.db
    python examples/outside_engine.py --database-url postgresql+asyncpg://user@host/db

Run it twice: the second run resumes the agent the first one saved.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rlexec.config import AgentMode, load_config
from rlexec.errors import RlexecError
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import TWAP, ScheduledExecutor
from rlexec.execution.types import ExecutionContext, Order, ParentOrder, RestingOrder
from rlexec.execution.vwap import VWAP
from rlexec.market.book import BookLevel, BookSnapshot, Fill, Side, Trade
from rlexec.market.presets import make_market
from rlexec.records import PolicyMetricsRecord, utc_now
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.engine import create_engine, redact_url
from rlexec.store.migrate import upgrade_database
from rlexec.store.write_behind import AgentStore

ZERO = Decimal(0)


# ---------------------------------------------------------------------------------------------
# The engine's side: a venue gateway and a market data feed. In a real system these are network
# connections; here one simulated book per symbol stands in for both.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecReport:
    """An execution report as the venue sends it."""

    order_id: str
    quantity: int
    price: str
    passive: bool


class SimulatedVenue:
    """Speaks plain strings and integers, like a gateway; one symbol per instance."""

    def __init__(self, symbol: str, seed: int) -> None:
        self.symbol = symbol
        self._book = make_market("equity")
        self._book.reset(seed)
        self.typical_queue_depth = self._book.typical_queue_depth

    def market_data(self) -> dict[str, Any]:
        """The latest book (10 levels a side) and the trades printed since the last tick."""
        snap = self._book.snapshot()
        return {
            "seq": self._book.step_index,
            "time_of_day_secs": self._book.time_of_day_secs,
            "tick_size": str(snap.tick_size),
            "bids": [(str(level.price), int(level.size)) for level in snap.bids],
            "asks": [(str(level.price), int(level.size)) for level in snap.asks],
            "trades": [
                (str(t.price), int(t.quantity), str(t.aggressor))
                for t in self._book.recent_trades()
            ],
        }

    def send(self, order_id: str, side: str, quantity: int, price: str | None) -> list[ExecReport]:
        """A limit order (``price``) or a market order (None); returns immediate fills, which
        may include fills of our own resting orders that the new order matched."""
        if price is None:
            fills = self._book.submit_market(order_id, Side(side), Decimal(quantity))
        else:
            fills = self._book.submit_limit(order_id, Side(side), Decimal(quantity), Decimal(price))
        return [_report(f) for f in fills]

    def cancel(self, order_id: str) -> int:
        return int(self._book.cancel(order_id))

    def resting(self, order_id: str) -> int:
        return int(self._book.resting_quantity(order_id))

    async def next_tick(self, tick_secs: float) -> list[ExecReport]:
        """Wait for the next market tick; returns fills of our resting orders during it."""
        await asyncio.sleep(tick_secs)
        return [_report(f) for f in self._book.advance()]


def _report(fill: Fill) -> ExecReport:
    return ExecReport(fill.order_id, int(fill.quantity), str(fill.price), fill.passive)


# ---------------------------------------------------------------------------------------------
# The integration: turn the engine's data into rlexec objects and work one parent order.
# ---------------------------------------------------------------------------------------------


def book_from_feed(data: dict[str, Any], step: int) -> BookSnapshot:
    """Validated on the way in: a crossed, off-tick or empty book raises InvalidInputError."""
    return BookSnapshot(
        step=step,
        time_of_day_secs=float(data["time_of_day_secs"]),
        bids=tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in data["bids"]),
        asks=tuple(BookLevel(Decimal(p), Decimal(s)) for p, s in data["asks"]),
        tick_size=Decimal(data["tick_size"]),
    )


def trades_from_feed(data: dict[str, Any], step: int) -> list[Trade]:
    return [Trade(step, Decimal(p), Decimal(q), Side(a)) for p, q, a in data["trades"]]


@dataclass
class ParentWork:
    """The engine's own bookkeeping of one parent order."""

    parent: ParentOrder
    symbol: str
    arrival_mid: Decimal = ZERO
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)
    open_orders: dict[str, RestingOrder] = field(default_factory=dict)
    child_orders: int = 0
    completion: Decimal = ZERO
    interrupted: bool = False

    @property
    def resting(self) -> Decimal:
        return sum((r.remaining for r in self.open_orders.values()), ZERO)

    def apply(self, report: ExecReport, step: int) -> Fill:
        quantity, price = Decimal(report.quantity), Decimal(report.price)
        resting = self.open_orders.get(report.order_id)
        if resting is not None:
            left = resting.remaining - quantity
            if left > 0:
                self.open_orders[report.order_id] = RestingOrder(resting.order, left)
            else:
                del self.open_orders[report.order_id]
        self.filled += quantity
        self.notional += quantity * price
        fill = Fill(report.order_id, step, quantity, price, report.passive)
        self.fills.append(fill)
        return fill

    def is_bps(self) -> float:
        sign = self.parent.side.sign
        cost = sign * (self.notional - self.filled * self.arrival_mid)
        return float(cost / (self.parent.quantity * self.arrival_mid) * 10_000)


class Engine:
    """Works parent orders on venues with one shared RL executor (one agent)."""

    def __init__(self, executor: RlEnhancedExecutor, stop: asyncio.Event, tick_secs: float):
        self.executor = executor
        self.stop = stop
        self.tick_secs = tick_secs

    def context(self, work: ParentWork, step: int, data: dict[str, Any]) -> ExecutionContext:
        return ExecutionContext(
            parent=work.parent,
            step=step,
            time_of_day_secs=float(data["time_of_day_secs"]),
            book=book_from_feed(data, step),
            arrival_mid=work.arrival_mid,
            filled_quantity=work.filled,
            recent_trades=trades_from_feed(data, step),
            our_fills=work.fills,
            open_orders=work.open_orders,
            step_seconds=1.0,
        )

    async def work(self, venue: SimulatedVenue, parent: ParentOrder, seed: int) -> ParentWork:
        executor, pid = self.executor, parent.parent_id
        work = ParentWork(parent, venue.symbol)
        data = venue.market_data()
        work.arrival_mid = book_from_feed(data, 0).mid
        # exploration_seed: this parent's exploration draws come from its own seeded stream,
        # so its explored decisions can be re-derived later (rlexec.replay)
        meta = EpisodeMeta(seed=seed, market=f"example:{venue.symbol}", exploration_seed=seed)
        executor.begin(pid, meta)
        reports: list[ExecReport] = []
        end = parent.horizon_steps
        for step in range(parent.horizon_steps):
            if self.stop.is_set():
                work.interrupted = True
                end = step
                break
            data = venue.market_data()
            fills = [work.apply(r, step) for r in reports]
            context = self.context(work, step, data)
            for f in fills:
                await executor.record_fill(pid, f.order_id, f.quantity, f.price, context)
            if work.open_orders:
                for order_id in await executor.cancel_requests(pid, context):
                    if order_id in work.open_orders:
                        venue.cancel(order_id)
                        del work.open_orders[order_id]
                context = self.context(work, step, data)
            order = await executor.get_next_order(pid, context)
            if order is not None:
                await self.send(venue, work, order, step, data)
            reports = await venue.next_tick(self.tick_secs)
        await self.complete(venue, work, reports, end)
        return work

    async def send(
        self, venue: SimulatedVenue, work: ParentWork, order: Order, step: int, data: Any
    ) -> None:
        """Send a child (the engine's own risk check caps it at what is neither filled nor
        resting) and report its immediate fills."""
        unplaced = work.parent.quantity - work.filled - work.resting
        quantity = min(order.quantity, unplaced)
        if quantity <= 0:
            return
        price = None if order.limit_price is None else str(order.limit_price)
        reports = venue.send(order.order_id, str(order.side), int(quantity), price)
        work.child_orders += 1
        done = sum((Decimal(r.quantity) for r in reports if r.order_id == order.order_id), ZERO)
        if done < quantity and order.limit_price is not None:
            work.open_orders[order.order_id] = RestingOrder(order, quantity - done)
        fills = [work.apply(r, step) for r in reports]
        context = self.context(work, step, data)
        for f in fills:
            await self.executor.record_fill(
                work.parent.parent_id, f.order_id, f.quantity, f.price, context
            )

    async def complete(
        self, venue: SimulatedVenue, work: ParentWork, reports: list[ExecReport], step: int
    ) -> None:
        """Horizon (or shutdown): report the last fills, cancel what rests, complete the rest
        with a market order, report those fills, then ``finish``."""
        pid = work.parent.parent_id
        data = venue.market_data()
        fills = [work.apply(r, step) for r in reports]
        context = self.context(work, step, data)
        for f in fills:
            await self.executor.record_fill(pid, f.order_id, f.quantity, f.price, context)
        for order_id in list(work.open_orders):
            venue.cancel(order_id)
            del work.open_orders[order_id]
        remaining = work.parent.quantity - work.filled
        if remaining > 0:
            work.completion = remaining
            reports = venue.send(f"{pid}-completion", str(work.parent.side), int(remaining), None)
            fills = [work.apply(r, step) for r in reports]
            context = self.context(work, step, venue.market_data())
            for f in fills:
                await self.executor.record_fill(pid, f.order_id, f.quantity, f.price, context)
        await self.executor.finish(pid, self.context(work, step, venue.market_data()))


# ---------------------------------------------------------------------------------------------
# The long-lived process: config, store, agent, signal handling, shutdown.
# ---------------------------------------------------------------------------------------------


def make_base(kind: str, style: str, slices: int) -> ScheduledExecutor:
    return TWAP(slices=slices, style=style) if kind == "twap" else VWAP(slices=slices, style=style)


async def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    rl = config.rl_execution
    url = args.database_url or rl.database.url
    mode = AgentMode(args.mode) if args.mode else AgentMode.PRODUCTION
    persistence = rl.persistence.model_copy(update={"save_interval_secs": args.save_interval})

    await upgrade_database(url)  # idempotent; production runs `rlexec db upgrade` at deploy
    engine = create_engine(url, connect_timeout_secs=rl.database.connect_timeout_secs)
    agent = QTableAgent(rl.q_learning, rl.state, mode=mode, replay_config=rl.replay_buffer)
    store = AgentStore(
        agent,
        engine,
        agent_name=args.agent,
        persistence=persistence,
        config_snapshot=rl.model_dump(mode="json", exclude={"database"}),
    )
    loaded = await store.load()  # resume (and the learner lease): Q, visits, epsilon, replay
    store.start()
    stop = asyncio.Event()  # signals are the application's: stop working, then close the store
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    how = "new agent" if loaded.created else "resumed agent"
    print(
        f"{how} {args.agent!r} from {redact_url(url)}: {loaded.q_rows} Q rows, "
        f"{loaded.updates} updates, {len(loaded.experiences)} experiences, mode {mode}",
        flush=True,
    )
    ex = rl.executor
    venues = [SimulatedVenue(f"SYM{i}", seed=args.seed + i) for i in range(args.parents)]
    executor = RlEnhancedExecutor(
        make_base(ex.base, ex.base_style, ex.slices),
        agent,
        state_builder=StateBuilder(typical_queue_depth=venues[0].typical_queue_depth),
        reward=rl.reward,
        enabled=rl.enabled,
        decision_interval_steps=ex.decision_interval_steps,
        sink=store,
        agent_name=args.agent,
    )
    eng = Engine(executor, stop, args.tick_secs)
    try:
        sides = (Side.BUY, Side.SELL)
        parents = [
            ParentOrder(str(uuid.uuid4()), sides[i % 2], Decimal(args.quantity), args.steps)
            for i in range(args.parents)
        ]
        results = await asyncio.gather(
            *(
                eng.work(v, p, args.seed + i)
                for i, (v, p) in enumerate(zip(venues, parents, strict=True))
            )
        )
        m = agent.policy_metrics()
        store.append_policy_metrics(
            PolicyMetricsRecord(
                recorded_at=utc_now(),
                states_visited=m.num_states_visited,
                mean_q=m.avg_q_value,
                action_distribution=m.action_distribution,
                epsilon=m.epsilon,
                estimated_improvement_bps=None,
                updates=agent.updates,
                mode=str(agent.mode),
                source="engine",
            )
        )
    finally:
        await store.close()  # final flush; raises StoreError if the store cannot take it
        await engine.dispose()
    for w in results:
        note = " (interrupted by signal)" if w.interrupted else ""
        print(
            f"  {w.symbol} {w.parent.side:4} {w.parent.quantity} shares: IS {w.is_bps():+.2f} bps,"
            f" {w.child_orders} children, completion {w.completion}{note}"
        )
    print(
        f"saved agent {args.agent!r}: {agent.updates} updates, epsilon {agent.epsilon:.3f}, "
        f"{store.flushes} flushes, {sum(store.dropped.values())} rows dropped",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="rl_execution.toml (default: config/rl_execution.toml)")
    parser.add_argument("--database-url", help="overrides the config / RLEXEC_DATABASE__URL")
    parser.add_argument("--agent", default="outside-engine", help="agent name in the store")
    parser.add_argument("--mode", choices=[m.value for m in AgentMode], help="default production")
    parser.add_argument("--parents", type=int, default=6, help="parent orders, worked at once")
    parser.add_argument("--quantity", type=int, default=1000, help="shares per parent order")
    parser.add_argument("--steps", type=int, default=300, help="ticks per parent order")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated venues")
    parser.add_argument("--tick-secs", type=float, default=0.0, help="wall time per tick")
    parser.add_argument("--save-interval", type=float, default=0.5, help="flush every N s")
    args = parser.parse_args(argv)
    if args.parents < 1 or args.quantity < 1 or args.steps < 2:
        parser.error("--parents and --quantity must be >= 1, --steps >= 2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run(args))
    except RlexecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
