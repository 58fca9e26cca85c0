"""The agent learns: with the default learning config, every one of three training seeds
ends with a greedy policy that is cheaper than its own base, paired, on held-out seeds.

On the prediction-market preset (500 contracts) the base, passive TWAP, pays about +100 bps
and submit-and-leave about -45 (``scripts/bench/bench_baselines.py``): there is a lot to learn,
so a short run must already show it. The assertion is the product's own promotion criterion
(the paired 95% CI against the base below 0); every training seed must pass, none is chosen.
The full targets (against the best baseline, five seeds, 1000 evaluation seeds) are measured by
``scripts/bench/bench_learning.py``, not here.
"""

from __future__ import annotations

import asyncio

import pytest

from rlexec.agent import base_executor, new_executor
from rlexec.config import Config, parse_config
from rlexec.rl.q_learning import QTableAgent
from rlexec.training.episodes import run_training_episodes
from rlexec.training.markets import build_market, typical_queue_depth
from rlexec.training.validation import PolicyValidator

EPISODES = 1500
EVALUATION_SEEDS = 150


def _config() -> Config:
    return parse_config(
        {"rl_execution": {"simulator": {"market": "prediction_market", "parent_quantity": 500}}}
    )


async def _learned_minus_base(training_seed: int) -> tuple[float, float, float]:
    config = _config()
    rl = config.rl_execution
    market = build_market(rl)
    depth = typical_queue_depth(market)
    agent = QTableAgent(rl.q_learning, rl.state, seed=training_seed, replay_config=rl.replay_buffer)
    executor = new_executor(
        config,
        agent,
        sink=None,
        agent_name="learning-test",
        reward_mode=rl.reward.mode,
        typical_queue_depth=depth,
    )
    first = training_seed * 10_000_000
    await run_training_episodes(executor, market, rl.simulator, range(first, first + EPISODES))
    validator = PolicyValidator(
        config, lambda: build_market(rl), lambda: base_executor(config), depth, "twap_passive"
    )
    seeds = tuple(range(rl.evaluation.first_seed, rl.evaluation.first_seed + EVALUATION_SEEDS))
    result = await validator.measure(agent.policy_table(), seeds, EPISODES)
    d = result.difference
    return d.mean, d.low, d.high


@pytest.mark.parametrize("training_seed", [1, 2, 3])
def test_each_training_seed_learns_a_policy_cheaper_than_its_base(training_seed: int) -> None:
    mean, low, high = asyncio.run(_learned_minus_base(training_seed))
    assert high < 0, f"policy - base = {mean:+.2f} bps [{low:+.2f}, {high:+.2f}]"
