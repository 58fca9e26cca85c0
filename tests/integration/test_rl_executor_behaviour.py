"""The RL executor end to end on the equity simulator: disabled it is its base, order for
order, and still records its episodes and decisions (the base as behaviour policy) without
keeping any memory of a finished parent; a Cancel decision leaves no child of the parent
resting in the market."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from rlexec.config import AgentMode
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.runner import run_episode
from rlexec.execution.twap import TWAP, ScheduledExecutor
from rlexec.execution.types import ExecutionAlgorithm, ExecutionContext, Order
from rlexec.execution.vwap import VWAP
from rlexec.market.lob import LobMarket
from rlexec.rl.types import ExecutionAction
from tests.integration.helpers import ListSink, equity, new_agent, parent, rl_executor

SEEDS = range(6)


class Recorder:
    """Passes every call through to ``inner`` and logs orders, cancels and fills."""

    def __init__(self, inner: ExecutionAlgorithm) -> None:
        self.inner = inner
        self.name = inner.name
        self.log: list[tuple[object, ...]] = []

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        order = await self.inner.get_next_order(parent_id, context)
        self.log.append(("order", context.step, order))
        return order

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        ids = await self.inner.cancel_requests(parent_id, context)
        self.log.append(("cancel", context.step, tuple(ids)))
        return ids

    async def record_fill(
        self, parent_id: str, order_id: str, filled: Decimal, price: Decimal, ctx: ExecutionContext
    ) -> None:
        self.log.append(("fill", ctx.step, order_id, filled, price))
        await self.inner.record_fill(parent_id, order_id, filled, price, ctx)

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        await self.inner.finish(parent_id, context)


def _base(kind: str, style: str) -> ScheduledExecutor:
    return TWAP(slices=10, style=style) if kind == "twap" else VWAP(slices=10, style=style)


@pytest.mark.parametrize("style", ["passive", "aggressive"])
@pytest.mark.parametrize("kind", ["twap", "vwap"])
async def test_disabled_executor_is_its_base(kind: str, style: str) -> None:
    market = equity()
    parents = [parent(800, 120) for _ in SEEDS]
    plain = Recorder(_base(kind, style))
    base_results = [
        await run_episode(plain, market, p, s) for p, s in zip(parents, SEEDS, strict=True)
    ]

    agent = new_agent(seed=9)
    sink = ListSink()
    disabled = rl_executor(agent, market, base=_base(kind, style), sink=sink, enabled=False)
    wrapped = Recorder(disabled)
    assert wrapped.name == plain.name
    rl_results = []
    for p, s in zip(parents, SEEDS, strict=True):
        disabled.begin(p.parent_id, EpisodeMeta(seed=s, market="equity"))
        rl_results.append(await run_episode(wrapped, market, p, s))

    assert rl_results == base_results  # IS, fills, child orders, completion: all equal
    assert wrapped.log == plain.log  # the same orders, cancels and fills, step by step
    assert any(entry[0] == "order" and entry[2] is not None for entry in plain.log)
    assert agent.updates == 0 and not agent.visits.any()
    # the kill switch keeps the audit trail: every episode and every decision, no learning
    assert disabled._meta == {} and disabled._runs == {} and disabled.active_parents == 0
    assert disabled.builder.active_parents == 0
    assert sink.experiences == []
    assert [e.episode_id for e in sink.episodes] == [p.parent_id for p in parents]
    for episode, result in zip(sink.episodes, base_results, strict=True):
        assert episode.executor == plain.name and episode.seed == result.seed
        assert episode.implementation_shortfall_bps == pytest.approx(result.is_bps, abs=1e-9)
        assert episode.child_orders == result.child_orders
        assert episode.completion_quantity == result.completion_quantity
    assert len(sink.decisions) == len(parents) * (120 // 5)
    for d in sink.decisions:
        assert d.action == d.schedule_action and not d.deviated
        assert d.action_probability == 1.0 and d.epsilon == 0.0 and not d.explored
    rewards = {e.episode_id: e.total_reward for e in sink.episodes}
    for p in parents:
        total = sum(d.reward_total for d in sink.decisions if d.episode_id == p.parent_id)
        assert total == pytest.approx(rewards[p.parent_id], abs=1e-9)


class CancelProbe(Recorder):
    """Checks the market right after the runner applied the executor's cancels."""

    def __init__(self, inner: RlEnhancedExecutor, market: LobMarket) -> None:
        super().__init__(inner)
        self.executor = inner
        self.market = market
        self.children: list[str] = []
        self.cancel_steps: list[int] = []
        self.resting_before_cancel: list[Decimal] = []
        self.resting_after_cancel: list[Decimal] = []

    def _resting(self) -> Decimal:
        return sum((self.market.resting_quantity(c) for c in self.children), Decimal(0))

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        before = self._resting()
        ids = await super().cancel_requests(parent_id, context)
        if ids:
            self.cancel_steps.append(context.step)
            self.resting_before_cancel.append(before)
        return ids

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        if self.cancel_steps and self.cancel_steps[-1] == context.step:
            # the runner has applied the cancels: nothing of this parent rests any more
            self.resting_after_cancel.append(self._resting())
            assert not context.open_orders
        order = await super().get_next_order(parent_id, context)
        if order is not None:
            self.children.append(order.order_id)
        return order


async def test_cancel_removes_resting_children() -> None:
    """Greedy policy: PlaceLarge (passive, near touch) in the first time bucket, Cancel after
    (a well-tried, exact table, so that the decision rule takes them over the base's action)."""
    agent = new_agent(mode=AgentMode.EVALUATION)
    discretizer = agent.discretizer
    early = np.array(
        [discretizer.key_from_index(i).time == 0 for i in range(agent.num_states)], dtype=bool
    )
    q = np.zeros_like(agent.q_values)
    q[early, int(ExecutionAction.PLACE_LARGE)] = 1.0
    q[~early, int(ExecutionAction.CANCEL)] = 1.0
    agent.restore(
        q, np.full_like(agent.visits, 100), 0.0, 0, variances=np.zeros_like(agent.q_values)
    )
    market = equity()
    sink = ListSink()
    executor = rl_executor(agent, market, sink=sink)
    cancelled_with_resting = 0
    for seed in SEEDS:
        probe = CancelProbe(executor, market)
        p = parent(3000, 60)
        result = await run_episode(probe, market, p, seed)
        assert result.filled_quantity == p.quantity
        assert probe.children, "the early states place passive children"
        # a Cancel decision with children resting: the runner cancels them in that same step
        assert len(probe.resting_after_cancel) == len(probe.cancel_steps) <= 1
        assert all(r == 0 for r in probe.resting_after_cancel)
        cancelled_with_resting += sum(1 for r in probe.resting_before_cancel if r > 0)
        actions = [d.action for d in sink.decisions if d.episode_id == p.parent_id]
        assert "Cancel" in actions and "PlaceLarge" in actions
    # (on some paths the passive children all fill before the first Cancel decision)
    assert cancelled_with_resting >= len(SEEDS) // 2  # the Cancels really had work to do
    assert agent.updates == 0
