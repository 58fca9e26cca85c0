"""The promotion gate: a policy that is worse than its base is refused, a better one accepted.

Both policies are constructed (no training): a table that, with full confidence, prefers one
action over every other in every state. On the prediction-market preset, PlaceAll (everything
posted at the base's passive price at the first decision, like submit-and-leave) is far cheaper
than passive TWAP; Cancel (pull every child at every decision, so the parent completes at the
horizon by crossing) is far dearer.
"""

from __future__ import annotations

import asyncio

import numpy as np

from rlexec.agent import base_executor
from rlexec.config import Config, parse_config
from rlexec.execution.metrics import paired_difference
from rlexec.rl.policy import PolicyTable
from rlexec.rl.q_learning import QTableAgent
from rlexec.rl.types import ExecutionAction
from rlexec.training.markets import build_market, typical_queue_depth
from rlexec.training.validation import PolicyValidator, Validation, significantly_cheaper


def _config() -> Config:
    return parse_config(
        {
            "rl_execution": {
                "simulator": {"market": "prediction_market", "parent_quantity": 500},
                "evaluation": {"validation_seeds": 40, "promotion_seeds": 60, "validate_every": 10},
            }
        }
    )


def _confident_table(config: Config, preferred: ExecutionAction) -> PolicyTable:
    rl = config.rl_execution
    agent = QTableAgent(rl.q_learning, rl.state)
    shape = agent.q_values.shape
    q = np.zeros(shape)
    q[:, int(preferred)] = 1000.0
    visits = np.full(shape, 10 * rl.q_learning.min_visits_to_deviate, dtype=np.int64)
    return PolicyTable(q, visits, np.zeros(shape))


def _validator(config: Config) -> PolicyValidator:
    rl = config.rl_execution
    return PolicyValidator(
        config,
        lambda: build_market(rl),
        lambda: base_executor(config),
        typical_queue_depth(build_market(rl)),
        "twap_passive",
    )


def _verdict(config: Config, preferred: ExecutionAction) -> tuple[bool, float, float]:
    validator = _validator(config)
    table = _confident_table(config, preferred)
    agent = QTableAgent(config.rl_execution.q_learning, config.rl_execution.state)
    agent.restore(table.q, table.visits, 0.0, 0, table.variances)

    async def run() -> tuple[bool, float, float]:
        verdict = await validator.verdict(agent, 10)
        assert verdict.confirmation is not None and verdict.best is not None
        assert set(verdict.confirmation.seeds).isdisjoint(verdict.best.seeds)
        d = verdict.confirmation.difference
        return verdict.promoted, d.low, d.high

    return asyncio.run(run())


def test_a_policy_better_than_its_base_is_promoted() -> None:
    promoted, _low, high = _verdict(_config(), ExecutionAction.PLACE_ALL)
    assert promoted and high < 0


def test_a_policy_worse_than_its_base_is_refused() -> None:
    promoted, low, _high = _verdict(_config(), ExecutionAction.CANCEL)
    assert not promoted and low > 0


def test_a_run_shorter_than_the_validation_period_promotes_nothing() -> None:
    config = _config()
    agent = QTableAgent(config.rl_execution.q_learning, config.rl_execution.state)
    verdict = asyncio.run(_validator(config).verdict(agent, 9))
    assert not verdict.promoted and verdict.confirmation is None
    assert "fewer than validate_every = 10" in verdict.summary()


def _validation(episodes: int, policy: list[float]) -> Validation:
    seeds = tuple(range(900_000_000, 900_000_000 + len(policy)))
    base = [100.0] * len(policy)
    return Validation(
        episodes,
        seeds,
        float(np.mean(policy)),
        100.0,
        paired_difference(policy, base, "twap_passive"),
        tuple(policy),
    )


def test_a_newer_table_is_kept_unless_an_earlier_one_is_cheaper_with_confidence() -> None:
    paths = np.random.default_rng(3).normal(0.0, 30.0, 200)  # the seeds' shared market noise
    wobble = np.where(np.arange(200) % 2 == 0, 20.0, -20.0)  # mean exactly 0
    earlier = _validation(1000, list(paths - 1.0))  # 1 bps cheaper on average
    noisy_newer = _validation(2000, list(paths + wobble))  # lower mean not shown with confidence
    worse_newer = _validation(3000, list(paths + 10.0 + wobble / 20.0))  # 10 bps worse
    assert earlier.policy_mean_bps < noisy_newer.policy_mean_bps  # "the lowest mean": earlier
    assert not significantly_cheaper(earlier, noisy_newer)  # but the newer table is kept
    assert significantly_cheaper(earlier, worse_newer)  # it really got worse: keep the earlier
