"""Building blocks shared by the integration tests: an RL executor on a market preset, a sink
that keeps every record in lists, episode loops with fresh uuid4 parent ids, and a minimal
engine driving the public API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import rlexec
from rlexec.config import (
    AgentMode,
    QLearningConfig,
    ReplayBufferConfig,
    RewardConfig,
    StateConfig,
)
from rlexec.execution.metrics import EpisodeResult
from rlexec.execution.paired_baseline import baseline_shortfall_path
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.runner import run_episode
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import TWAP, ScheduledExecutor
from rlexec.execution.types import ParentOrder
from rlexec.market.book import BookSnapshot, Side
from rlexec.market.lob import LobMarket
from rlexec.market.presets import make_market
from rlexec.records import DecisionRecord, EpisodeRecord, ExperienceRecord, PolicyMetricsRecord
from rlexec.rl.q_learning import QTableAgent

# A small state space so that a few hundred short episodes visit most of it.
SMALL_STATE = StateConfig(
    spread_buckets=2, imbalance_buckets=3, time_buckets=4, remaining_buckets=3, hour_buckets=2
)
EPISODIC_Q = QLearningConfig(
    alpha=0.1, gamma=1.0, epsilon=0.3, epsilon_min=0.1, epsilon_decay=0.9999
)


@dataclass
class ListSink:
    """A RecordSink that keeps everything (for assertions)."""

    episodes: list[EpisodeRecord] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    experiences: list[ExperienceRecord] = field(default_factory=list)
    metrics: list[PolicyMetricsRecord] = field(default_factory=list)

    def append_episode(self, record: EpisodeRecord) -> None:
        self.episodes.append(record)

    def append_decision(self, record: DecisionRecord) -> None:
        self.decisions.append(record)

    def append_experience(self, record: ExperienceRecord) -> None:
        self.experiences.append(record)

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None:
        self.metrics.append(record)


def new_agent(
    *,
    mode: AgentMode = AgentMode.TRAINING,
    seed: int = 1,
    state: StateConfig = SMALL_STATE,
    q: QLearningConfig = EPISODIC_Q,
    replay: bool = True,
) -> QTableAgent:
    return QTableAgent(
        q, state, mode=mode, seed=seed, replay_config=ReplayBufferConfig() if replay else None
    )


def rl_executor(
    agent: QTableAgent,
    market: LobMarket,
    *,
    base: ScheduledExecutor | None = None,
    sink: object | None = None,
    interval: int = 5,
    enabled: bool = True,
    reward: RewardConfig | None = None,
) -> RlEnhancedExecutor:
    return RlEnhancedExecutor(
        base if base is not None else TWAP(slices=10, style="passive"),
        agent,
        state_builder=StateBuilder(typical_queue_depth=market.typical_queue_depth),
        reward=reward,
        enabled=enabled,
        decision_interval_steps=interval,
        sink=sink,  # type: ignore[arg-type]
        agent_name="it-agent",
    )


def parent(quantity: int = 500, horizon: int = 60, side: Side = Side.BUY) -> ParentOrder:
    return ParentOrder(str(uuid.uuid4()), side, Decimal(quantity), horizon)


async def run_seeds(
    executor: RlEnhancedExecutor,
    market: LobMarket,
    seeds: range,
    *,
    quantity: int = 500,
    horizon: int = 60,
    paired: bool = False,
) -> list[EpisodeResult]:
    """One parent per seed, run one after the other; returns the results in seed order.
    ``paired``: train against the base's shortfall path on the same seed (the training
    loop's default reward)."""
    results = []
    for seed in seeds:
        order = parent(quantity, horizon)
        baseline = (
            await baseline_shortfall_path(executor.base, market, order, seed) if paired else None
        )
        meta = EpisodeMeta(seed=seed, market=market.name, baseline=baseline)
        executor.begin(order.parent_id, meta)
        results.append(await run_episode(executor, market, order, seed))
    return results


def equity() -> LobMarket:
    return make_market("equity")


async def count_rows(engine: AsyncEngine, table: str, agent_id: int | None = None) -> int:
    query = f"SELECT COUNT(*) FROM {table}"  # fixed table names from the tests
    params: dict[str, int] = {}
    if agent_id is not None:
        query += " WHERE agent_id = :agent_id"
        params["agent_id"] = agent_id
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text(query), params)).scalar_one())


class Engine:
    """A minimal engine for the public API: one simulated venue (a market preset, seeded),
    its clock, fills reported between books."""

    def __init__(self, seed: int, *, trades: bool = True, market: str = "equity") -> None:
        self.market: LobMarket = make_market(market)
        self.book: BookSnapshot = self.market.reset(seed)
        self.trades = trades
        self.start = self.market.time_of_day_secs
        self.fills: list[tuple[Decimal, Decimal]] = []
        self.between_books = 0

    @property
    def now(self) -> float:
        return self.market.time_of_day_secs - self.start

    def work(self, order: rlexec.WorkingOrder) -> rlexec.OrderResult:
        while True:
            self.book = self.market.snapshot()
            trades = (
                [(t.price, t.quantity, str(t.aggressor)) for t in self.market.recent_trades()]
                if self.trades
                else None
            )
            todo = order.on_book(self.book, now=self.now, trades=trades)
            for order_id in todo.cancel:
                self.market.cancel(order_id)
            for child in todo.place:
                side = Side(child.side)
                if child.limit_price is None:
                    fills = self.market.submit_market(child.order_id, side, child.quantity)
                else:
                    fills = self.market.submit_limit(
                        child.order_id, side, child.quantity, child.limit_price
                    )
                for f in fills:
                    self._fill(order, f.order_id, f.quantity, f.price, f.passive)
            if todo.completing:
                return order.finish()
            for f in self.market.advance():  # between two books: no book with these
                self.between_books += 1
                self._fill(order, f.order_id, f.quantity, f.price, f.passive)

    def _fill(
        self, order: rlexec.WorkingOrder, order_id: str, q: Decimal, p: Decimal, passive: bool
    ) -> None:
        self.fills.append((q, p))
        order.on_fill(order_id, q, p, passive=passive, at=self.now)
