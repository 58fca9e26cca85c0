"""``rlexec replay evaluate``: score the logged decisions under a candidate policy.

The candidate is a stored policy snapshot (``--policy ID``) or an agent's current stored
Q-table (``--policy current --agent NAME``) under the agent's one decision rule
(``rlexec.rl.policy``, with the configured ``[rl_execution.q_learning]``
``min_visits_to_deviate``, ``deviation_confidence`` and ``alpha``), epsilon-greedy on top
(default epsilon 0: greedy). The log is every stored decision (of ``--agent``, since
``--since``), loaded in bulk (``rlexec.replay.log``); the estimators are
``rlexec.evaluation.off_policy.evaluate``: agreement and the confusion table against the
candidate's greedy action, the logged policy's own value, and IPS / SNIPS / DR per decision
plus PDIS / WPDIS / step-wise DR per episode, each with its confidence interval.

At each logged decision the candidate chooses what an agent running that table would: the
base schedule's action logged with the decision (``schedule_action``) unless another action
is better with confidence, from the table's Q-values, visits and variances as stored (a
variance the store does not know, NaN, keeps the base's action there, as it does for an agent
restored from that table).

Units: the values are in bps when every logged episode has the ``shortfall`` reward and its
rewards sum to minus its implementation shortfall (checked on the stored episodes,
``rlexec.replay.log.load_reward_check``): a per-decision value is then minus the cost of one
decision interval's fills in bps of the arrival value, and with ``gamma`` = 1 a per-episode
value V is an expected implementation shortfall of -V bps (the ``IS bps`` column). Rewards of
the ``original`` mode (and shortfall rewards relative to the base run,
``reward.paired_baseline``) are reward units that cannot be converted to bps; the output says
so. The verdict line words the candidate's paired gain over the logged policy (step-wise DR
minus the logged return, per episode) and whether its interval excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import QLearningConfig, StateConfig
from rlexec.errors import InvalidInputError
from rlexec.evaluation.off_policy import (
    CandidatePolicy,
    OffPolicyReport,
    evaluate,
    format_confusion_table,
)
from rlexec.replay.log import (
    UNRECORDED,
    LoadedLog,
    RewardCheck,
    load_decision_log,
    load_reward_check,
)
from rlexec.report.words import difference_sentence
from rlexec.rl.policy import RuleParameters
from rlexec.rl.state import StateDiscretizer
from rlexec.store.snapshots import load_current_policy, load_snapshot_policy


@dataclass(frozen=True, eq=False)
class ReplayEvaluation:
    """The candidate's description, the loaded log and the estimators' report."""

    policy: str
    log: LoadedLog
    report: OffPolicyReport
    rewards: RewardCheck
    gamma: float = 1.0

    @property
    def in_bps(self) -> bool:
        """The logged rewards are bps of the arrival value (see the module doc)."""
        return self.rewards.in_bps(len(self.log.episode_ids))

    @property
    def is_convertible(self) -> bool:
        """A per-episode value V is an expected implementation shortfall of -V bps."""
        return self.in_bps and self.gamma == 1.0


def parse_policy(text: str) -> int | None:
    """``current`` -> None, else a snapshot id."""
    if text == "current":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise InvalidInputError(
            f"--policy = {text!r}: expected a snapshot id (see 'rlexec snapshot list') or 'current'"
        )
    return value


async def candidate_policy(
    engine: AsyncEngine,
    state_config: StateConfig,
    q_config: QLearningConfig,
    policy: str,
    *,
    agent_name: str | None,
    epsilon: float = 0.0,
) -> tuple[str, CandidatePolicy]:
    """The candidate named by ``policy`` ("current" needs ``agent_name``) and its description."""
    rule = RuleParameters.from_config(q_config)
    pools = StateDiscretizer(state_config).pools()
    snapshot_id = parse_policy(policy)
    if snapshot_id is None:
        if agent_name is None:
            raise InvalidInputError("--policy current: expected --agent NAME (whose Q-table)")
        table, _ = await load_current_policy(engine, agent_name, state_config)
        candidate = CandidatePolicy.from_table(
            table.q, table.visits, table.variances, rule, epsilon, pools
        )
        return f"agent {agent_name!r} (current Q-table)", candidate
    row, table = await load_snapshot_policy(engine, snapshot_id, state_config)
    text = f"snapshot {row.id} (agent {row.agent_name!r} v{row.version} {row.label!r})"
    return text, CandidatePolicy.from_table(
        table.q, table.visits, table.variances, rule, epsilon, pools
    )


async def replay_evaluate(
    engine: AsyncEngine,
    state_config: StateConfig,
    q_config: QLearningConfig,
    *,
    policy: str,
    agent_name: str | None = None,
    since: datetime | None = None,
    epsilon: float = 0.0,
    gamma: float = 1.0,
    confidence: float = 0.95,
) -> ReplayEvaluation:
    """Load the log, build the candidate, run every estimator."""
    description, candidate = await candidate_policy(
        engine, state_config, q_config, policy, agent_name=agent_name, epsilon=epsilon
    )
    loaded = await load_decision_log(engine, agent_name=agent_name, since=since)
    log = loaded.decision_log()
    report = evaluate(log, candidate, gamma=gamma, confidence=confidence)
    rewards = await load_reward_check(engine, agent_name=agent_name, since=since)
    return ReplayEvaluation(description, loaded, report, rewards, gamma)


def units_text(result: ReplayEvaluation) -> str:
    """What the values are measured in and how they convert to IS (see the module doc)."""
    check = result.rewards
    logged = len(result.log.episode_ids)
    if result.in_bps:
        text = (
            f"values in bps of the arrival value: all {logged} logged episodes have the shortfall "
            "reward, and their rewards sum to minus their implementation shortfall (completion "
            "included). A per-decision value is minus the cost of one decision's fills"
        )
        if result.gamma == 1.0:
            return text + "; a per-episode value V is an expected IS of -V bps (column IS bps)."
        return text + (
            f"; per-episode values are discounted (gamma {result.gamma:g}), not an IS: use "
            "--gamma 1 to read them as one."
        )
    reasons = []
    if check.episodes < logged:
        reasons.append(f"{logged - check.episodes} logged episodes have no episode row")
    others = {m: n for m, n in check.modes.items() if m not in ("shortfall", UNRECORDED)}
    reasons += [f"{n} episodes have the {m} reward" for m, n in sorted(others.items())]
    shortfall = check.modes.get("shortfall", 0) + check.modes.get(UNRECORDED, 0)
    off = shortfall - (check.sum_to_minus_is if not others else 0)
    if not others and off > 0:
        reasons.append(
            f"{off} episodes' rewards do not sum to minus their IS (shortfall relative to the "
            "base run: reward.paired_baseline)"
        )
    return (
        f"values in reward units, not bps: {'; '.join(reasons) or 'no logged episode'}. They "
        "cannot be converted: only the shortfall reward sums to minus the implementation "
        "shortfall in bps."
    )


def verdict_text(result: ReplayEvaluation) -> str | None:
    """The candidate's paired gain over the logged policy in words (None: no episodes)."""
    gain = result.report.dr_gain
    if gain is None:
        return None
    if result.is_convertible:
        yardstick, units = "the logged policy in IS per episode", "bps"
    elif result.in_bps:
        yardstick, units = "the logged policy in discounted return per episode", "bps"
    else:
        yardstick, units = "the logged policy in return per episode", "reward units"
    # the gain is in return (higher = better); the sentence takes a cost (lower = better)
    return difference_sentence(
        "The candidate",
        f"{yardstick} (step-wise doubly robust, paired per episode)",
        mean=-gain.value,
        low=-gain.ci_high,
        high=-gain.ci_low,
        significant=not gain.contains(0.0),
        units=units,
        sample=f"{gain.n} logged episodes",
        confidence=gain.confidence,
    )


def format_evaluation(result: ReplayEvaluation) -> str:
    """The text ``rlexec replay evaluate`` prints."""
    report = result.report
    value = "value (bps)" if result.in_bps else "value (reward units)"
    head = f"{'estimator':<14} {'unit':<9} {value:>20} {'ci low':>12} {'ci high':>12} {'ess':>10}"
    if result.is_convertible:
        head += f" {'IS bps':>10}"
    lines = [
        f"candidate: {result.policy}",
        f"log: {report.n_decisions} decisions in {report.n_episodes} episodes",
        f"units: {units_text(result)}",
        f"agreement with the candidate's greedy action: {report.agreement:.1%}",
        "",
        format_confusion_table(report.confusion),
        "",
        head,
    ]
    for estimate in report.estimates():
        name = estimate.estimator
        if name in ("logged", "logged_return"):
            name += " *"
        line = (
            f"{name:<14} {estimate.unit:<9} {estimate.value:>20.5f} {estimate.ci_low:>12.5f} "
            f"{estimate.ci_high:>12.5f} {estimate.effective_sample_size:>10.1f}"
        )
        if result.is_convertible and estimate.unit == "episode":
            line += f" {-estimate.value:>10.4f}"
        lines.append(line)
    confidence = report.logged.confidence
    lines.append(
        f"(* the logged policy's own value; intervals {confidence:.0%}; rewards per decision, "
        "returns per episode)"
    )
    verdict = verdict_text(result)
    if verdict is not None:
        lines += ["", f"verdict: {verdict}"]
    return "\n".join(lines)
