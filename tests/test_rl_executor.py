"""Unit tests of RlEnhancedExecutor on the LOB simulators: an untrained agent *is* its base
(the same orders and fills, paired, on every seed, both presets, TWAP and VWAP, passive and
aggressive, buy and sell), the shortfall rewards of an episode sum to minus its IS, the
original reward's four parts, what decision and experience records carry, and the decision
cadence.

An untrained agent in evaluation mode never explores, so it must equal its base exactly; in
training it explores with epsilon, so there only its *greedy* choices are the base's."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal

import numpy as np
import pytest

from rlexec.config import AgentMode, QLearningConfig, RewardConfig, RewardMode, StateConfig
from rlexec.execution.metrics import EpisodeResult
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.runner import EpisodeLoop, run_episode
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import TWAP, ScheduledExecutor
from rlexec.execution.types import ExecutionAlgorithm, ExecutionContext, Order, ParentOrder
from rlexec.execution.vwap import VWAP
from rlexec.market.book import Side
from rlexec.market.lob import LobMarket
from rlexec.market.presets import make_market
from rlexec.records import DecisionRecord, EpisodeRecord, ExperienceRecord, PolicyMetricsRecord
from rlexec.rl.q_learning import QTableAgent
from rlexec.rl.types import NUM_ACTIONS, ExecutionAction

SMALL_STATE = StateConfig(
    spread_buckets=2, imbalance_buckets=3, time_buckets=4, remaining_buckets=3, hour_buckets=2
)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # replaces the records' wall-clock times
PLACES = (
    ExecutionAction.PLACE_SMALL,
    ExecutionAction.PLACE_MEDIUM,
    ExecutionAction.PLACE_LARGE,
    ExecutionAction.PLACE_ALL,
)


class ListSink:
    def __init__(self) -> None:
        self.episodes: list[EpisodeRecord] = []
        self.decisions: list[DecisionRecord] = []
        self.experiences: list[ExperienceRecord] = []
        self.metrics: list[PolicyMetricsRecord] = []

    def append_episode(self, record: EpisodeRecord) -> None:
        self.episodes.append(record)

    def append_decision(self, record: DecisionRecord) -> None:
        self.decisions.append(record)

    def append_experience(self, record: ExperienceRecord) -> None:
        self.experiences.append(record)

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None:
        self.metrics.append(record)


def _setup(
    *,
    base: ScheduledExecutor | None = None,
    mode: AgentMode = AgentMode.TRAINING,
    reward: RewardConfig | None = None,
    interval: int = 5,
    market: str = "equity",
) -> tuple[RlEnhancedExecutor, QTableAgent, ListSink, LobMarket]:
    m = make_market(market)
    agent = QTableAgent(QLearningConfig(epsilon=0.3), SMALL_STATE, mode=mode, seed=2)
    sink = ListSink()
    executor = RlEnhancedExecutor(
        base or TWAP(slices=10, style="passive"),
        agent,
        state_builder=StateBuilder(typical_queue_depth=m.typical_queue_depth),
        reward=reward,
        decision_interval_steps=interval,
        sink=sink,
    )
    return executor, agent, sink, m


async def _episode(
    executor: RlEnhancedExecutor | object,
    market: LobMarket,
    seed: int,
    *,
    quantity: int = 800,
    horizon: int = 60,
    side: Side = Side.BUY,
) -> tuple[ParentOrder, EpisodeResult]:
    parent = ParentOrder(str(uuid.uuid4()), side, Decimal(quantity), horizon)
    inner = executor.inner if isinstance(executor, Probe) else executor
    assert isinstance(inner, RlEnhancedExecutor)
    inner.begin(parent.parent_id, EpisodeMeta(seed=seed, market=market.name))
    return parent, await run_episode(executor, market, parent, seed)  # type: ignore[arg-type]


class Recorder:
    """Wraps an executor and records what it sends and what fills, by step (child ids
    differ between executors, so they are left out)."""

    def __init__(self, inner: ExecutionAlgorithm) -> None:
        self.inner = inner
        self.name = inner.name
        self.orders: list[tuple[int, Decimal, Decimal | None]] = []
        self.cancels: list[tuple[int, int]] = []
        self.fills: list[tuple[int, Decimal, Decimal]] = []

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        ids: list[str] = await self.inner.cancel_requests(parent_id, context)
        if ids:
            self.cancels.append((context.step, len(ids)))
        return ids

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        order: Order | None = await self.inner.get_next_order(parent_id, context)
        if order is not None:
            self.orders.append((context.step, order.quantity, order.limit_price))
        return order

    async def record_fill(
        self, parent_id: str, order_id: str, filled: Decimal, price: Decimal, ctx: ExecutionContext
    ) -> None:
        self.fills.append((ctx.step, filled, price))
        await self.inner.record_fill(parent_id, order_id, filled, price, ctx)

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        await self.inner.finish(parent_id, context)


BASES = {
    "twap": TWAP,
    "vwap": VWAP,
}
QUANTITY = {"equity": 1500, "prediction_market": 400}


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("style", ["passive", "aggressive"])
@pytest.mark.parametrize("base_kind", ["twap", "vwap"])
@pytest.mark.parametrize("market_name", ["equity", "prediction_market"])
async def test_an_untrained_agent_is_its_base_exactly(
    market_name: str, base_kind: str, style: str, side: Side
) -> None:
    make_base = BASES[base_kind]
    executor, agent, sink, market = _setup(
        base=make_base(slices=10, style=style), mode=AgentMode.EVALUATION, market=market_name
    )
    quantity = QUANTITY[market_name]
    deviated_somewhere = False
    for seed in range(25):
        parent = ParentOrder(f"p-{seed}", side, Decimal(quantity), 60)
        alone = Recorder(make_base(slices=10, style=style))
        base_result = await run_episode(alone, market, parent, seed)
        wrapped = Recorder(executor)
        executor.begin(parent.parent_id, EpisodeMeta(seed=seed, market=market.name))
        result = await run_episode(wrapped, market, parent, seed)
        # paired: the same orders, cancels and fills at the same steps, hence the same IS
        assert wrapped.orders == alone.orders
        assert wrapped.cancels == alone.cancels
        assert wrapped.fills == alone.fills
        assert result.is_bps == base_result.is_bps
        assert (result.avg_fill_price, result.child_orders, result.completion_quantity) == (
            base_result.avg_fill_price,
            base_result.child_orders,
            base_result.completion_quantity,
        )
        own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
        assert own and sum(d.reward_total for d in own) == pytest.approx(-result.is_bps, abs=1e-9)
        for d in own:  # every decision took the base's action, greedily
            assert d.action == d.schedule_action == d.greedy_action
            assert not d.explored and d.action_probability == 1.0 and d.epsilon == 0.0
            assert d.q_values == (0.0,) * NUM_ACTIONS
        deviated_somewhere |= any(d.schedule_action != "Wait" for d in own)
    assert deviated_somewhere  # the base's action was not always Wait
    assert agent.updates == 0 and sink.experiences == []  # evaluation never learns


@pytest.mark.parametrize("interval", [1, 7])
async def test_the_base_is_followed_exactly_at_any_decision_interval(interval: int) -> None:
    executor, _, _, market = _setup(mode=AgentMode.EVALUATION, interval=interval)
    for seed in range(5):
        parent = ParentOrder(f"i-{seed}", Side.BUY, Decimal(1500), 50)
        alone = Recorder(TWAP(slices=10, style="passive"))
        await run_episode(alone, market, parent, seed)
        wrapped = Recorder(executor)
        await run_episode(wrapped, market, parent, seed)
        assert (wrapped.orders, wrapped.cancels, wrapped.fills) == (
            alone.orders,
            alone.cancels,
            alone.fills,
        )


async def test_an_untrained_training_agent_takes_the_base_unless_it_explores() -> None:
    executor, agent, sink, market = _setup(market="prediction_market")
    agent.set_epsilon(0.3)
    explored = 0
    for seed in range(10):
        await _episode(executor, market, seed, quantity=400)
    for d in sink.decisions:
        assert d.greedy_action == d.schedule_action  # nothing has 30 tries yet
        if d.explored:  # a draw below epsilon, or a later decision of its stretch (prob. 1)
            explored += 1
            assert d.action_probability in (
                pytest.approx(d.epsilon / 6),
                pytest.approx(d.epsilon / 6 + 1 - d.epsilon),
                1.0,
            )
        else:
            assert d.action == d.schedule_action
    assert explored > 0 and agent.updates == len(sink.decisions)


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("base_kind", ["twap", "vwap", "twap-aggressive"])
@pytest.mark.parametrize("market_name", ["equity", "prediction_market"])
async def test_shortfall_rewards_sum_to_minus_is(
    market_name: str, side: Side, base_kind: str
) -> None:
    base: ScheduledExecutor = {
        "twap": TWAP(slices=10, style="passive"),
        "vwap": VWAP(slices=10, style="passive"),
        "twap-aggressive": TWAP(slices=10, style="aggressive"),
    }[base_kind]
    executor, _, sink, market = _setup(base=base, market=market_name)  # training: explores
    completions = explored = 0
    for seed in range(12):
        parent, result = await _episode(
            executor, market, seed, quantity=QUANTITY[market_name], side=side
        )
        own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
        total = sum(d.reward_total for d in own)
        assert total == pytest.approx(-result.is_bps, abs=1e-9)
        episode = sink.episodes[-1]
        assert episode.episode_id == parent.parent_id and episode.seed == seed
        assert episode.total_reward == pytest.approx(total, abs=1e-12)
        assert episode.implementation_shortfall_bps == pytest.approx(result.is_bps, abs=1e-9)
        assert episode.completion_quantity == result.completion_quantity
        assert episode.completion_cost_bps == pytest.approx(result.completion_cost_bps, abs=1e-9)
        for d in own:  # the shortfall mode keeps its cost in slippage_penalty
            assert d.fill_rate_reward == d.time_penalty == d.market_impact_penalty == 0.0
            assert d.reward_total == -d.slippage_penalty
        completions += result.completion_quantity > 0
        explored += sum(d.explored for d in own)
    assert explored > 0  # not only the base's own actions summed up
    if base_kind != "twap-aggressive":  # an aggressive base completes on its own
        assert completions > 0  # the completion cost is part of what summed up


async def test_original_reward_has_its_four_parts() -> None:
    weights = RewardConfig(mode=RewardMode.ORIGINAL)
    executor, _, sink, market = _setup(reward=weights)
    parent, result = await _episode(executor, market, 3, quantity=2000)
    own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
    assert len(own) == 12
    for d in own:
        parts = (d.fill_rate_reward, d.slippage_penalty, d.time_penalty, d.market_impact_penalty)
        assert d.reward_total == pytest.approx(parts[0] - parts[1] - parts[2] - parts[3])
        share = float(d.filled_quantity / parent.quantity)
        assert d.fill_rate_reward == pytest.approx(share * weights.fill_weight)
        if d.filled_quantity == 0:
            assert d.slippage_penalty == 0.0 and d.market_impact_penalty == 0.0
    # fills earn a fill reward and pay slippage against the decision's mid
    assert any(d.fill_rate_reward > 0 and d.slippage_penalty > 0 for d in own)
    assert any(d.market_impact_penalty > 0 for d in own)
    # the time penalty starts after 90 % of the horizon, measured when the transition closes
    # (the next decision, or the end): here the last two transitions (closing at 55/60 and 1)
    closes = [d.step for d in own[1:]] + [parent.horizon_steps]
    for d, end in zip(own, closes, strict=True):
        elapsed = end / parent.horizon_steps
        expected = (elapsed - 0.9) * weights.time_weight if elapsed > 0.9 else 0.0
        assert d.time_penalty == pytest.approx(expected)
    assert [d.time_penalty > 0 for d in own] == [False] * 10 + [True, True]
    assert sum(float(d.filled_quantity) for d in own) == float(parent.quantity)
    assert result.filled_quantity == parent.quantity


class Probe:
    """Records, at each decision step, what the base schedule would send."""

    def __init__(self, inner: RlEnhancedExecutor) -> None:
        self.inner = inner
        self.name = inner.name
        self.expected: dict[int, ExecutionAction] = {}
        self.orders: dict[int, Order | None] = {}

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        self._expect(context)
        return await self.inner.cancel_requests(parent_id, context)

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        self._expect(context)
        order = await self.inner.get_next_order(parent_id, context)
        self.orders[context.step] = order
        return order

    def _expect(self, context: ExecutionContext) -> None:
        if context.step % self.inner.interval or context.step in self.expected:
            return
        resting = sum((r.remaining for r in context.open_orders.values()), Decimal(0))
        unplaced = context.remaining_quantity - resting
        wanted = self.inner.base.wanted_quantity(context)
        if wanted <= 0 or unplaced <= 0:
            self.expected[context.step] = ExecutionAction.WAIT
            return
        share = float(wanted / unplaced)
        self.expected[context.step] = min(PLACES, key=lambda a: abs(a.size_fraction - share))

    async def record_fill(
        self, parent_id: str, order_id: str, filled: Decimal, price: Decimal, ctx: ExecutionContext
    ) -> None:
        await self.inner.record_fill(parent_id, order_id, filled, price, ctx)

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        await self.inner.finish(parent_id, context)


@pytest.mark.parametrize("base_kind", ["twap", "vwap"])
async def test_the_logged_schedule_action_is_the_action_closest_to_the_base(
    base_kind: str,
) -> None:
    base = TWAP(slices=6) if base_kind == "twap" else VWAP(slices=6)
    executor, _, sink, market = _setup(base=base, mode=AgentMode.EVALUATION)
    waits = places = 0
    for seed in range(4):
        probe = Probe(executor)
        parent, result = await _episode(probe, market, seed, quantity=1200, horizon=60)
        own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
        assert [d.step for d in own] == sorted(probe.expected)
        closes = [d.step for d in own[1:]] + [parent.horizon_steps]
        for d, end in zip(own, closes, strict=True):
            assert d.schedule_action == probe.expected[d.step].label == d.action
            # following the base: the first child it sent until the next decision is this one's
            sent = [o for step, o in probe.orders.items() if d.step <= step < end and o]
            if sent:
                places += 1
                assert d.child_quantity == sent[0].quantity
                assert d.child_price == sent[0].limit_price
            else:
                waits += d.action == "Wait"
                assert d.child_quantity is None
        assert result.filled_quantity == parent.quantity
    assert waits > 0 and places > 0


async def test_decision_records_carry_probabilities_and_q_values() -> None:
    executor, agent, sink, market = _setup(mode=AgentMode.EVALUATION)
    rng = np.random.default_rng(0)
    # a well-tried, exact table: the rule takes the row's maximum wherever it beats the base
    visits = np.full(agent.visits.shape, 1000, dtype=np.int64)
    agent.restore(
        rng.normal(size=agent.q_values.shape),
        visits,
        0.3,
        0,
        variances=np.zeros(agent.variances.shape),
    )
    q_table = agent.q_values.copy()
    probe = Probe(executor)
    parent, _ = await _episode(probe, market, 1)
    own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
    assert own
    for d in own:  # evaluation: greedy, probability 1, the row it saw
        row = q_table[d.state_index]
        assert d.q_values == tuple(row.tolist())
        assert d.schedule_action == probe.expected[d.step].label
        assert d.action == d.greedy_action == ExecutionAction(int(np.argmax(row))).label
        assert d.deviated == (d.action != d.schedule_action)
        assert d.action_probability == 1.0 and d.epsilon == 0.0
        assert d.state_key == agent.discretizer.key_from_index(d.state_index).to_text()
    assert any(d.deviated for d in own)

    agent.set_mode(AgentMode.TRAINING)
    agent.set_epsilon(0.5)
    for seed in range(5):
        await _episode(executor, market, 10 + seed)
    training = sink.decisions[len(own) :]
    assert len(training) == 5 * 12 == len(sink.experiences)
    explored = 0
    for d in training:
        share = d.epsilon / NUM_ACTIONS
        # the chosen action's probability: eps/6, plus 1 - eps when it is the greedy one; a
        # later decision of an exploration stretch repeats its action with probability 1
        greedy = d.action == d.greedy_action
        if not (d.explored and d.action_probability == 1.0):
            assert d.action_probability == pytest.approx(share + (1.0 - d.epsilon) * greedy)
        if not d.explored:
            assert greedy
        assert 0.0 < d.action_probability <= 1.0 and len(d.q_values) == NUM_ACTIONS
        explored += d.explored
    assert explored > 0


async def test_experiences_carry_the_next_states_base_action() -> None:
    executor, _, sink, market = _setup()
    parent, _ = await _episode(executor, market, 2)
    own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
    assert len(sink.experiences) == len(own)
    for e, d, after in zip(sink.experiences, own, [*own[1:], None], strict=True):
        assert e.state_key == d.state_key and e.action == d.action
        if after is None:  # the parent is complete: nothing to bootstrap on
            assert e.terminated and e.next_schedule_action is None
        else:
            assert not e.terminated
            assert e.next_state_key == after.state_key
            assert e.next_schedule_action == after.schedule_action


async def test_decision_states_carry_own_orders_and_schedule_lag() -> None:
    executor, _, sink, market = _setup(mode=AgentMode.EVALUATION)
    parent, _ = await _episode(executor, market, 3, quantity=1500)
    own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
    assert own[0].resting_share == 0.0  # nothing rests before the first child
    assert any(0.0 < d.resting_share <= 1.0 for d in own)  # passive children rest
    assert all(-1.0 <= d.schedule_lag <= 1.0 for d in own)
    assert any(d.schedule_lag != 0.0 for d in own)
    discretizer = executor.agent.discretizer
    for d in own:
        key = discretizer.key_from_index(d.state_index)
        assert key.own_orders == discretizer.own_orders_bucket(d.resting_share)
        assert key.schedule == discretizer.schedule_bucket(d.schedule_lag)


@pytest.mark.parametrize("interval", [1, 4, 7])
async def test_decisions_every_interval_steps(interval: int) -> None:
    executor, agent, sink, market = _setup(interval=interval)
    horizon = 50
    parent, result = await _episode(executor, market, 4, horizon=horizon)
    own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
    assert [d.step for d in own] == list(range(0, horizon, interval))
    assert [d.seq for d in own] == list(range(1, len(own) + 1))
    assert agent.updates == len(own) == len(sink.experiences)
    assert sink.episodes[-1].child_orders == result.child_orders
    assert result.child_orders >= sum(d.child_quantity is not None for d in own)
    for d in own:
        if d.child_quantity is not None and d.action != "PlaceAll":
            assert d.child_quantity >= 1
            assert d.child_quantity == d.child_quantity.to_integral_value(ROUND_FLOOR)


def test_decision_interval_must_be_positive() -> None:
    m = make_market("equity")
    agent = QTableAgent(QLearningConfig(), SMALL_STATE)
    with pytest.raises(ValueError, match="decision_interval_steps = 0"):
        RlEnhancedExecutor(
            TWAP(),
            agent,
            state_builder=StateBuilder(typical_queue_depth=m.typical_queue_depth),
            decision_interval_steps=0,
        )


async def test_a_parent_prepared_at_its_start_is_worked_as_one_set_up_at_its_first_step() -> None:
    """``prepare`` (what the public API calls at ``start_order``) builds the parent's memory
    and its base schedule early; the orders, fills and records must not change."""
    outcomes = []
    for prepared in (False, True):
        executor, agent, sink, market = _setup(
            base=VWAP(slices=10, style="passive"), market="prediction_market"
        )
        results = []
        for seed in range(6):
            parent = ParentOrder(f"v-{seed}", Side.SELL, Decimal(500), 60)
            executor.begin(parent.parent_id, EpisodeMeta(seed=seed, exploration_seed=seed))
            loop = EpisodeLoop(executor, market, parent)
            loop.start(seed)
            first = True
            while loop.steps_left:
                context = await loop.open_step()
                if first and prepared:
                    executor.prepare(parent.parent_id, context)
                    assert executor.active_parents == 1
                first = False
                await loop.act(context)
            results.append(await loop.finish(await loop.complete()))
        assert executor.active_parents == 0 and executor.base._schedules == {}
        outcomes.append((
            results,
            [dataclasses.replace(d, decided_at=EPOCH) for d in sink.decisions],
            [dataclasses.replace(e, created_at=EPOCH) for e in sink.experiences],
            agent.q_values.tolist(),
        ))  # fmt: skip
    assert outcomes[0] == outcomes[1]
    assert any(d.explored for d in outcomes[0][1])  # it explored: not only the base's path


class TouchProbe(Probe):
    """Records, at every step, the children behind the near touch before the cancels, the
    cancels asked, and the child sent with the touch price and what was left to place."""

    def __init__(self, inner: RlEnhancedExecutor) -> None:
        super().__init__(inner)
        self.behind: dict[int, list[str]] = {}
        self.cancels: dict[int, list[str]] = {}
        self.sent: dict[int, tuple[Order | None, Decimal, Decimal]] = {}

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        self.behind[context.step] = list(context.behind_touch())
        ids = await self.inner.cancel_requests(parent_id, context)
        self.cancels[context.step] = ids
        return ids

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        order = await self.inner.get_next_order(parent_id, context)
        touch = context.book.near_touch(context.parent.side).price
        left = context.remaining_quantity - context.resting_quantity  # after the cancels
        self.sent[context.step] = (order, touch, left)
        return order


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_place_all_re_pegs_what_the_price_left_behind(side: Side) -> None:
    """A table that prefers PlaceAll everywhere (evaluation mode): at every PlaceAll decision
    that is not the base's, the children behind the near touch are cancelled and everything
    left is posted at the near touch; the decisions log how far behind our children were, and
    the key's touch part says whether any was."""
    executor, agent, sink, market = _setup(mode=AgentMode.EVALUATION, market="prediction_market")
    shape = agent.q_values.shape
    q = np.zeros(shape)
    q[:, int(ExecutionAction.PLACE_ALL)] = 50.0
    agent.restore(q, np.full(shape, 100, dtype=np.int64), 0.0, 0, variances=np.ones(shape))
    discretizer = agent.discretizer
    re_pegged = 0
    for seed in range(30):  # the price leaves a limit on about one path in eight
        probe = TouchProbe(executor)
        parent = ParentOrder(str(uuid.uuid4()), side, Decimal(400), 60)
        executor.begin(parent.parent_id, EpisodeMeta(seed=seed, market=market.name))
        await run_episode(probe, market, parent, seed)
        own = [d for d in sink.decisions if d.episode_id == parent.parent_id]
        for d in own:
            key = discretizer.key_from_index(d.state_index)
            assert key.touch == discretizer.touch_bucket(d.resting_behind_ticks)
            behind = probe.behind.get(d.step, [])  # (asked only while something rests)
            assert (d.resting_behind_ticks > 0) == bool(behind)
            if d.action != "PlaceAll" or d.schedule_action == "PlaceAll":
                continue
            assert probe.cancels.get(d.step, []) == behind
            order, touch, left = probe.sent[d.step]
            if left >= 1:
                assert order is not None and order.limit_price == touch
                assert order.quantity == left.to_integral_value(ROUND_FLOOR)
            re_pegged += bool(behind)
    assert re_pegged > 0  # the price did leave our children behind, and they were re-pegged
