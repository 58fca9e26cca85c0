"""What the RL executor's audit records carry for analysts (revision d41c7a9e2b18's columns):
the base schedule's action and quantity, the greedy action, side, arrival mid, the decision's
own child fills and slippage; per episode the run id, reward mode, urgency, completed step and
forced completion, the same as the runner measures."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest

from rlexec.config import AgentMode, QLearningConfig, RewardConfig, RewardMode, StateConfig
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.runner import run_episode
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import TWAP
from rlexec.execution.types import ParentOrder
from rlexec.market.book import Side
from rlexec.market.presets import make_market
from rlexec.records import ACTION_LABELS, DecisionRecord, EpisodeRecord, new_run_id
from rlexec.rl.q_learning import QTableAgent
from rlexec.rl.types import Urgency
from rlexec.training.session import CollectingSink


async def _episode(
    side: Side, mode: AgentMode, seed: int, reward: RewardMode = RewardMode.SHORTFALL
) -> tuple[EpisodeRecord, list[DecisionRecord], int | None, str]:
    market = make_market("equity")
    agent = QTableAgent(QLearningConfig(epsilon=0.3), StateConfig(), mode=mode, seed=seed)
    sink = CollectingSink()
    executor = RlEnhancedExecutor(
        TWAP(slices=10, style="passive"),
        agent,
        state_builder=StateBuilder(typical_queue_depth=market.typical_queue_depth),
        reward=RewardConfig(mode=reward),
        decision_interval_steps=5,
        sink=sink,
    )
    parent = ParentOrder(str(uuid.uuid4()), side, Decimal(1500), 120, Urgency.HIGH)
    run_id = new_run_id()
    executor.begin(parent.parent_id, EpisodeMeta(seed=seed, exploration_seed=seed, run_id=run_id))
    result = await run_episode(executor, market, parent, seed)
    (episode,) = sink.episodes
    return episode, sink.decisions, result.completed_step, run_id


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_decisions_carry_schedule_greedy_side_and_own_child_fills(side: Side) -> None:
    episode, decisions, _, _ = await _episode(side, AgentMode.TRAINING, seed=3)
    assert decisions
    explored = 0
    for d in decisions:
        assert d.schedule_action in ACTION_LABELS and d.greedy_action in ACTION_LABELS
        assert d.schedule_quantity is not None and d.schedule_quantity >= 0
        assert d.deviated == (d.action != d.schedule_action)
        assert d.side == str(side) and d.arrival_mid == episode.arrival_mid
        if not d.explored:
            assert d.action == d.greedy_action
        explored += d.explored
        assert (d.child_quantity is None) == (d.child_filled_quantity is None)
        if d.child_filled_quantity is not None and d.child_quantity is not None:
            assert 0 <= d.child_filled_quantity <= d.child_quantity
            assert d.child_filled_quantity <= d.filled_quantity
        if d.fill_price is None:
            assert d.slippage_bps is None
        else:
            sign = 1 if side is Side.BUY else -1
            expected = sign * (float(d.fill_price) - d.mid_price) / d.mid_price * 1e4
            assert d.slippage_bps == pytest.approx(expected)
    assert explored > 0  # epsilon 0.3: some explored decisions were checked too
    own = sum((d.child_filled_quantity or Decimal(0) for d in decisions), Decimal(0))
    assert 0 < own <= episode.filled_by_policy


async def test_an_untrained_greedy_agent_never_deviates_from_its_base() -> None:
    _, decisions, _, _ = await _episode(Side.BUY, AgentMode.EVALUATION, seed=4)
    assert decisions and all(d.deviated is False for d in decisions)
    assert all(d.greedy_action == d.schedule_action == d.action for d in decisions)


@pytest.mark.parametrize("reward", list(RewardMode))
async def test_episode_carries_run_reward_mode_urgency_and_completion(
    reward: RewardMode,
) -> None:
    episode, _, completed_step, run_id = await _episode(
        Side.SELL, AgentMode.TRAINING, seed=5, reward=reward
    )
    assert episode.run_id == run_id
    assert episode.reward_mode == str(reward)
    assert episode.urgency == int(Urgency.HIGH)
    assert episode.completed_step is not None
    assert episode.completed_step == completed_step  # what the runner measured
    assert episode.forced_completion == (episode.completion_quantity > 0)
    if episode.forced_completion:
        assert episode.completed_step == episode.horizon_steps - 1
    else:
        assert episode.completed_step < episode.horizon_steps - 1


async def test_the_fast_decision_record_is_the_keyword_ones_field_for_field() -> None:
    """``DecisionRecord.from_values`` (the executor's path) gives the record the keyword
    constructor gives for the same values, and still a frozen one."""
    _, decisions, _, _ = await _episode(Side.BUY, AgentMode.TRAINING, 5)
    assert decisions
    for record in decisions:
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(DecisionRecord)}
        again = DecisionRecord(**values)
        assert again == record
        assert DecisionRecord.from_values(tuple(values.values())) == record
    with pytest.raises(dataclasses.FrozenInstanceError):
        decisions[0].seq = 99  # type: ignore[misc]
    with pytest.raises(ValueError, match="values to unpack"):  # a short tuple: refused
        DecisionRecord.from_values(tuple(values.values())[:-1])
