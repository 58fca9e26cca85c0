"""``resimulate`` (the pure core of ``replay episode``) re-derives every decision with the one
decision rule: training episodes from the logged greedy action and the per-episode
exploration stream, evaluation episodes from their snapshot table and the logged schedule
action. No store: the records come straight from the executor's sink."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import numpy as np

from rlexec.agent import new_executor
from rlexec.config import AgentMode, Config, parse_config
from rlexec.execution.rl_executor import EpisodeMeta
from rlexec.execution.runner import run_episode
from rlexec.execution.types import ParentOrder
from rlexec.market.book import Side
from rlexec.records import DecisionRecord, EpisodeRecord
from rlexec.replay.episode import ReplayAgent, resimulate
from rlexec.rl.policy import PolicyTable
from rlexec.rl.q_learning import QTableAgent
from rlexec.training.markets import build_market, typical_queue_depth
from rlexec.training.session import CollectingSink

CONFIG = parse_config(
    {"rl_execution": {"simulator": {"horizon_steps": 60, "parent_quantity": 500}}}
)
# without the training exploration floor, a fresh agent takes greedy decisions from the start
# (with it, every decision in a state visited fewer than 8 times explores)
PLAIN = parse_config(
    {
        "rl_execution": {
            "simulator": {"horizon_steps": 60, "parent_quantity": 500},
            "q_learning": {"exploration_scale": 0.0},
        }
    }
)


async def _run(
    config: Config, agent: QTableAgent, seeds: range
) -> list[tuple[EpisodeRecord, list[DecisionRecord]]]:
    """Episodes as the training loop runs them (exploration stream seeded by the seed)."""
    rl = config.rl_execution
    market = build_market(rl)
    sink = CollectingSink()
    executor = new_executor(
        config,
        agent,
        sink=sink,
        agent_name="a",
        reward_mode=rl.reward.mode,
        typical_queue_depth=typical_queue_depth(market),
        config_hash_="h",
    )
    runs = []
    for seed in seeds:
        parent = ParentOrder(str(uuid.uuid4()), Side.BUY, Decimal(500), 60)
        executor.begin(
            parent.parent_id,
            EpisodeMeta(seed=seed, market=rl.simulator.market, exploration_seed=seed),
        )
        await run_episode(executor, market, parent, seed)
        episode = sink.episodes[-1]
        runs.append((episode, [d for d in sink.decisions if d.episode_id == episode.episode_id]))
    return runs


async def test_training_episodes_replay_with_their_explored_draws() -> None:
    rl = CONFIG.rl_execution
    agent = QTableAgent(rl.q_learning, rl.state, mode=AgentMode.TRAINING, seed=4)
    rederived = 0
    for episode, decisions in await _run(CONFIG, agent, range(6)):
        result = await resimulate(CONFIG, episode, decisions, reward_mode=rl.reward.mode)
        assert result.mismatch is None, result.mismatch
        assert len(result.decisions) == len(decisions)
        assert result.agent.explored_from_log == 0
        rederived += result.agent.explored_rederived
    assert rederived > 0  # epsilon 0.3: explored decisions were re-derived from the stream


def _confident_table(agent: QTableAgent, seed: int) -> PolicyTable:
    """Random Q-values, every cell well tried and exact: the rule deviates wherever the
    row's maximum is not the base's action."""
    rng = np.random.default_rng(seed)
    shape = agent.q_values.shape
    return PolicyTable(
        rng.normal(size=shape), np.full(shape, 1000, dtype=np.int64), np.zeros(shape)
    )


async def test_an_evaluation_episode_replays_from_its_snapshot_table() -> None:
    rl = CONFIG.rl_execution
    agent = QTableAgent(rl.q_learning, rl.state, mode=AgentMode.EVALUATION)
    table = _confident_table(agent, 0)
    agent.restore(table.q, table.visits, 0.3, 0, variances=table.variances)
    runs = await _run(CONFIG, agent, range(3))
    deviated = 0
    for episode, decisions in runs:
        evaluation = dataclasses.replace(episode, mode="evaluation")
        result = await resimulate(
            CONFIG, evaluation, decisions, reward_mode=rl.reward.mode, table=table
        )
        assert result.mismatch is None, result.mismatch
        deviated += sum(d.action != d.schedule_action for d in decisions)
    assert deviated > 0  # the rule did replace the base somewhere

    # the same Q-values and visits with unknown variances: the rule keeps the base, so the
    # first deviated decision no longer re-derives
    episode, decisions = next((e, d) for e, d in runs if any(x.deviated for x in d))
    first = next(d for d in decisions if d.deviated)
    unknown = PolicyTable(table.q, table.visits, np.full(table.q.shape, np.nan))
    result = await resimulate(CONFIG, episode, decisions, reward_mode=rl.reward.mode, table=unknown)
    assert result.mismatch is not None and result.mismatch.seq == first.seq
    assert result.mismatch.field in ("greedy_action", "action")


async def test_a_greedy_decision_inconsistent_with_its_logged_greedy_action_is_reported() -> None:
    rl = PLAIN.rl_execution
    agent = QTableAgent(rl.q_learning, rl.state, mode=AgentMode.TRAINING, seed=1)
    (episode, decisions), *_ = await _run(PLAIN, agent, range(1))
    target = next(d for d in decisions if not d.explored)
    other = next(a for a in ("Wait", "Cancel") if a != target.greedy_action)
    changed = [
        dataclasses.replace(d, greedy_action=other) if d.seq == target.seq else d for d in decisions
    ]
    result = await resimulate(PLAIN, episode, changed, reward_mode=rl.reward.mode)
    assert result.mismatch is not None
    assert (result.mismatch.seq, result.mismatch.field) == (target.seq, "action")


async def test_a_changed_schedule_action_is_reported() -> None:
    rl = CONFIG.rl_execution
    agent = QTableAgent(rl.q_learning, rl.state, mode=AgentMode.EVALUATION)
    (episode, decisions), *_ = await _run(CONFIG, agent, range(1))
    target = decisions[2]
    other = "Cancel" if target.schedule_action != "Cancel" else "Wait"
    changed = [
        dataclasses.replace(d, schedule_action=other) if d.seq == target.seq else d
        for d in decisions
    ]
    result = await resimulate(CONFIG, episode, changed, reward_mode=rl.reward.mode)
    assert result.mismatch is not None and result.mismatch.seq == target.seq
    assert result.mismatch.field == "schedule_action"


async def test_rows_older_than_the_schedule_and_greedy_columns_still_replay() -> None:
    rl = PLAIN.rl_execution
    agent = QTableAgent(rl.q_learning, rl.state, mode=AgentMode.TRAINING, seed=2)
    runs = await _run(PLAIN, agent, range(6))
    episode, decisions = next(
        (e, d) for e, d in runs if any(x.explored and x.action != x.greedy_action for x in d)
    )
    # no schedule action logged, no greedy action on greedy decisions: both re-derive
    old = [
        dataclasses.replace(
            d, schedule_action=None, greedy_action=d.greedy_action if d.explored else None
        )
        for d in decisions
    ]
    result = await resimulate(PLAIN, episode, old, reward_mode=rl.reward.mode)
    assert result.mismatch is None, result.mismatch
    assert ReplayAgent(PLAIN, old).table is None
    # an explored decision away from an unlogged greedy action cannot be re-derived: said so
    first = next(d for d in decisions if d.explored and d.action != d.greedy_action)
    older = [dataclasses.replace(o, greedy_action=None) for o in old]
    result = await resimulate(PLAIN, episode, older, reward_mode=rl.reward.mode)
    assert result.mismatch is not None
    assert (result.mismatch.seq, result.mismatch.field) == (first.seq, "greedy_action")
