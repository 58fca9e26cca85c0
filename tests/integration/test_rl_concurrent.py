"""Many parent orders at once on ONE agent and ONE executor, interleaved step by step (each
call yields to the event loop, as an engine waiting on market data would), written through the
store: nothing of one parent leaks into another (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import PersistenceConfig
from rlexec.execution.metrics import EpisodeResult
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.runner import run_episode
from rlexec.execution.types import ExecutionContext, Order, ParentOrder
from rlexec.market.book import Side
from rlexec.market.presets import make_market
from rlexec.store.engine import session_factory
from rlexec.store.repositories import DecisionRepository, EpisodeRepository
from rlexec.store.write_behind import AgentStore
from tests.integration.helpers import count_rows, new_agent, parent, rl_executor

PARENTS = 8
HORIZON = 90
INTERVAL = 3


class Yielding:
    """Yields to the event loop before every call, so the gathered episodes interleave."""

    def __init__(self, inner: RlEnhancedExecutor) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[str] = []

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        await asyncio.sleep(0)
        self.calls.append(parent_id)
        return await self.inner.get_next_order(parent_id, context)

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        await asyncio.sleep(0)
        return await self.inner.cancel_requests(parent_id, context)

    async def record_fill(
        self, parent_id: str, order_id: str, filled: Decimal, price: Decimal, ctx: ExecutionContext
    ) -> None:
        await asyncio.sleep(0)
        await self.inner.record_fill(parent_id, order_id, filled, price, ctx)

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        await asyncio.sleep(0)
        await self.inner.finish(parent_id, context)


@pytest.mark.parametrize("market_name", ["equity", "prediction_market"])
async def test_concurrent_parents_share_one_agent(engine: AsyncEngine, market_name: str) -> None:
    agent = new_agent(seed=5)
    store = AgentStore(
        agent, engine, agent_name="shared", persistence=PersistenceConfig(save_interval_secs=0.01)
    )
    await store.load()
    store.start()
    markets = [make_market(market_name) for _ in range(PARENTS)]
    executor = rl_executor(agent, markets[0], sink=store, interval=INTERVAL)
    proxy = Yielding(executor)
    parents: list[ParentOrder] = []
    for i in range(PARENTS):
        p = parent(400 + 100 * i, HORIZON, Side.BUY if i % 2 == 0 else Side.SELL)
        parents.append(p)
        executor.begin(p.parent_id, EpisodeMeta(seed=100 + i, market=market_name))
    results: list[EpisodeResult] = await asyncio.gather(
        *(
            run_episode(proxy, m, p, 100 + i)
            for i, (m, p) in enumerate(zip(markets, parents, strict=True))
        )
    )
    await store.close()

    # the episodes really ran interleaved, not one after the other
    first_switch = next(i for i, pid in enumerate(proxy.calls) if pid != proxy.calls[0])
    assert first_switch < HORIZON
    assert executor.active_parents == 0 and executor.builder.active_parents == 0

    decisions_per_parent = HORIZON // INTERVAL
    assert agent.updates == PARENTS * decisions_per_parent
    assert int(agent.visits.sum()) == agent.updates
    assert await count_rows(engine, "decisions") == agent.updates
    assert await count_rows(engine, "episodes") == PARENTS
    async with session_factory(engine)() as session:
        episodes = EpisodeRepository(session)
        decisions = DecisionRepository(session)
        for i, (p, result) in enumerate(zip(parents, results, strict=True)):
            assert result.filled_quantity == p.quantity  # every episode completes
            record = await episodes.get(p.parent_id)
            assert record is not None
            assert record.seed == 100 + i and record.side == str(p.side)
            assert record.quantity == p.quantity
            assert record.implementation_shortfall_bps == pytest.approx(result.is_bps, abs=1e-9)
            assert record.completion_quantity == result.completion_quantity
            own = await decisions.for_episode(p.parent_id)
            assert [d.seq for d in own] == list(range(1, decisions_per_parent + 1))
            assert [d.step for d in own] == list(range(0, HORIZON, INTERVAL))
            total = sum(d.reward_total for d in own)
            assert total == pytest.approx(-result.is_bps, abs=1e-6)
            assert record.total_reward == pytest.approx(total, abs=1e-6)
