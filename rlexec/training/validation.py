"""Validation and promotion: training keeps the best policy it has seen, and a policy runs in
production only when it beats its base with confidence.

Seeds (``[rl_execution.evaluation]``), disjoint from training seeds (which stop below
``validation_first_seed``) and from evaluation seeds (``first_seed`` onwards):

- *validation seeds*: ``validation_first_seed`` onwards, ``validation_seeds`` of them. Every
  ``validate_every`` training episodes, and at the end of the run, the current table runs
  greedy (a frozen copy: no learning, no exploration) on them, paired with the base (the
  configured TWAP/VWAP, run once per validator). The run's best policy is the newest
  validated table, unless an earlier best is cheaper than it, paired on the same validation
  seeds, with a 95% CI that excludes 0: successive tables differ by a few bps against tens of
  bps of noise on the validation seeds, so "the lowest mean" would mostly pick noise (an
  earlier, weaker table), while a table that really got worse is still not taken.
- *promotion seeds*: ``promotion_seeds`` seeds after them, the first such block no earlier
  verdict of the agent was confirmed on (``rlexec.training.promotion``; an agent's first
  verdict takes the block right after the validation seeds). Choosing the best of several
  validations on the same seeds is optimistic, so the best policy is measured again, paired
  with the base, on seeds it was not chosen on. It is **promoted** only if that difference's
  95% CI lies below 0 (policy cheaper than its base); otherwise nothing is promoted and the
  production executor keeps running its base.

A run shorter than ``validate_every`` episodes (or with ``validate_every = 0``) is not
validated: it promotes nothing and says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from rlexec.agent import new_executor, new_q_agent
from rlexec.config import AgentMode, Config, RewardMode
from rlexec.execution.metrics import PairedDifference, paired_difference
from rlexec.execution.rl_executor import RlEnhancedExecutor
from rlexec.execution.runner import run_episode
from rlexec.execution.twap import ScheduledExecutor
from rlexec.market import Market
from rlexec.rl.policy import PolicyTable
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.promotions import PromotionRecord
from rlexec.training.markets import parent_for_seed
from rlexec.wording import plural


@dataclass(frozen=True, slots=True)
class Validation:
    """One paired measurement of a table against its base (bps; negative = policy cheaper)."""

    episodes_trained: int
    seeds: tuple[int, ...]
    policy_mean_bps: float
    base_mean_bps: float
    difference: PairedDifference
    policy_bps: tuple[float, ...] = ()  # per seed, in ``seeds`` order
    base_bps: tuple[float, ...] = ()  # per seed, in ``seeds`` order

    @property
    def better(self) -> bool:
        """The policy is cheaper than its base with 95% confidence."""
        return self.difference.high < 0.0


@dataclass(frozen=True, slots=True)
class PromotionVerdict:
    """What a validation concluded: ``rlexec train``'s (``best``: the validation it kept,
    ``confirmation``: that table measured again on fresh promotion seeds) or
    ``Agent.validate``'s (one measurement on the engine's held-out seeds: ``best`` and
    ``confirmation`` are the same); ``table``: the table measured; ``base``: the base's name."""

    promoted: bool
    reason: str
    base: str
    best: Validation | None = None
    confirmation: Validation | None = None
    table: PolicyTable | None = None

    def summary(self) -> str:
        """One line for the CLI and logs."""
        if self.confirmation is None:
            return f"not promoted: {self.reason}"
        c = self.confirmation.difference
        seeds = self.confirmation.seeds
        verdict = "promoted" if self.promoted else "not promoted"
        return (
            f"{verdict}: policy - {self.base} = {c.mean:+.3f} bps, 95% CI [{c.low:+.3f}, "
            f"{c.high:+.3f}] on {len(seeds)} held-out seeds ({seeds[0]}-{seeds[-1]}; the "
            f"table of {self.confirmation.episodes_trained} training episodes); {self.reason}"
        )


class PolicyValidator:
    """Measures frozen copies of an agent's table against the base on fixed seeds."""

    def __init__(
        self,
        config: Config,
        market_factory: Callable[[], Market],
        base_factory: Callable[[], ScheduledExecutor],
        typical_queue_depth: float | None,
        base_name: str,
    ) -> None:
        self.config = config
        ev = config.rl_execution.evaluation
        first = ev.validation_first_seed
        self.validation_seeds = tuple(range(first, first + ev.validation_seeds))
        # the block right after the validation seeds; a run moves it past earlier verdicts'
        self.promotion_seeds = tuple(
            range(first + ev.validation_seeds, first + ev.validation_seeds + ev.promotion_seeds)
        )
        self.every = ev.validate_every
        self._market = market_factory()
        self._base_factory = base_factory
        self._depth = typical_queue_depth
        self.base_name = base_name
        self._base_results: dict[int, float] = {}
        self.best: tuple[Validation, PolicyTable] | None = None
        self._cached: tuple[PolicyTable, RlEnhancedExecutor] | None = None
        self.history: list[Validation] = []

    def due(self, episodes_done: int) -> bool:
        return self.every > 0 and episodes_done > 0 and episodes_done % self.every == 0

    async def validate(self, agent: QTableAgent, episodes_trained: int) -> Validation:
        """Measure the agent's current table on the validation seeds; it becomes the best
        unless the best so far is cheaper than it with confidence (see the module doc)."""
        table = agent.policy_table()
        result = await self.measure(table, self.validation_seeds, episodes_trained)
        self.history.append(result)
        best = self.best
        if best is None or not significantly_cheaper(best[0], result):
            self.best = (result, table)
        return result

    async def verdict(self, agent: QTableAgent, episodes_trained: int) -> PromotionVerdict:
        """Validate the final table, confirm the best one on the promotion seeds, decide."""
        if self.every == 0:
            return PromotionVerdict(False, "validation is off (validate_every = 0)", self.base_name)
        if episodes_trained < self.every:
            return PromotionVerdict(
                False,
                f"not validated: {plural(episodes_trained, 'episode')}, fewer than "
                f"validate_every = {self.every}",
                self.base_name,
            )
        if not self.history or self.history[-1].episodes_trained != episodes_trained:
            await self.validate(agent, episodes_trained)
        assert self.best is not None
        best, table = self.best
        confirmation = await self.measure(table, self.promotion_seeds, best.episodes_trained)
        return PromotionVerdict(confirmation.better, gate_reason(confirmation), self.base_name,
                                best, confirmation, table)  # fmt: skip

    async def measure(
        self, table: PolicyTable, seeds: tuple[int, ...], episodes_trained: int
    ) -> Validation:
        """The table greedy against the base on ``seeds``, paired."""
        policy = [await self._policy_is(table, seed) for seed in seeds]
        base = [await self._base_is(seed) for seed in seeds]
        return Validation(
            episodes_trained,
            seeds,
            statistics.fmean(policy),
            statistics.fmean(base),
            paired_difference(policy, base, self.base_name),
            tuple(policy),
            tuple(base),
        )

    async def _policy_is(self, table: PolicyTable, seed: int) -> float:
        if self._cached is None or self._cached[0] is not table:
            executor = frozen_executor(
                self.config, table, self.config.rl_execution.reward.mode, self._depth
            )
            self._cached = (table, executor)
        executor = self._cached[1]
        parent = parent_for_seed(self.config.rl_execution.simulator, seed)
        return (await run_episode(executor, self._market, parent, seed)).is_bps

    async def _base_is(self, seed: int) -> float:
        if seed not in self._base_results:
            parent = parent_for_seed(self.config.rl_execution.simulator, seed)
            result = await run_episode(self._base_factory(), self._market, parent, seed)
            self._base_results[seed] = result.is_bps
        return self._base_results[seed]


def promotion_record(
    verdict: PromotionVerdict, *, snapshot_id: int | None, config_hash: str, run_id: str
) -> PromotionRecord:
    """The stored row of a verdict whose table was confirmed (``verdict.confirmation``)."""
    confirmation = verdict.confirmation
    assert confirmation is not None
    d = confirmation.difference
    return PromotionRecord(
        promoted=verdict.promoted,
        reason=verdict.reason,
        snapshot_id=snapshot_id,
        validation_seed_first=confirmation.seeds[0],
        validation_seed_count=len(confirmation.seeds),
        base_executor=verdict.base,
        policy_mean_is_bps=confirmation.policy_mean_bps,
        base_mean_is_bps=confirmation.base_mean_bps,
        mean_difference_bps=d.mean,
        difference_ci_low_bps=d.low,
        difference_ci_high_bps=d.high,
        episodes_trained=confirmation.episodes_trained,
        config_hash=config_hash,
        run_id=run_id,
    )


def gate_reason(confirmation: Validation) -> str:
    """Why a confirmed table is promoted (``confirmation.better``) or not, in one line: the
    one promotion rule of ``rlexec train`` and ``Agent.validate``."""
    kept = "production keeps the policy promoted before, or its base if none"
    if confirmation.better:
        return "cheaper than its base with 95% confidence on held-out seeds"
    if confirmation.difference.low > 0.0:
        return f"significantly WORSE than its base; {kept}"
    return f"not significantly better than its base; {kept}"


def frozen_executor(
    config: Config,
    table: PolicyTable,
    reward_mode: RewardMode,
    typical_queue_depth: float | None,
    *,
    decision_interval_steps: int | None = None,
) -> RlEnhancedExecutor:
    """An executor that works orders greedy on a frozen copy of ``table`` (no exploration, no
    learning) and records nothing: a table under measurement."""
    frozen = new_q_agent(config, mode=AgentMode.EVALUATION, replay=False)
    frozen.restore(table.q, table.visits, 0.0, 0, table.variances)
    return new_executor(
        config,
        frozen,
        sink=None,
        agent_name="validation",
        reward_mode=reward_mode,
        typical_queue_depth=typical_queue_depth,
        decision_interval_steps=decision_interval_steps,
    )


def champion_refusal(champion_id: int, champion: Validation, measured: Validation) -> str | None:
    """Why a table that beats its base is still not promoted: the policy promoted before
    (snapshot ``champion_id``, measured on the same seeds) is cheaper than it with 95 %
    confidence (as a run keeps its best table); None when it is not."""
    if not significantly_cheaper(champion, measured):
        return None
    d = paired_difference(champion.policy_bps, measured.policy_bps, "the new table")
    return (
        f"cheaper than its base, but the policy promoted before (snapshot {champion_id}) is "
        f"cheaper than it: {d.mean:+.3f} bps, 95% CI [{d.low:+.3f}, {d.high:+.3f}]; not "
        "promoted: production keeps that one"
    )


def significantly_cheaper(earlier: Validation, later: Validation) -> bool:
    """``earlier``'s table is cheaper than ``later``'s on the same seeds, paired, with a 95%
    CI that excludes 0."""
    if earlier.seeds != later.seeds:
        raise ValueError("validations on different seeds cannot be paired")
    difference = paired_difference(earlier.policy_bps, later.policy_bps, "the newer table")
    return difference.high < 0.0
