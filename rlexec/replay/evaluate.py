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
is better with confidence. The store keeps Q-values and visits but not the running variances
yet: a stored table's variances are unknown (NaN), so such a candidate keeps the base's action
everywhere, which is also what an agent restored from that table runs.
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
from rlexec.replay.log import LoadedLog, load_decision_log
from rlexec.rl.policy import RuleParameters
from rlexec.store.snapshots import load_current_table, load_snapshot_table


@dataclass(frozen=True, eq=False)
class ReplayEvaluation:
    """The candidate's description, the loaded log and the estimators' report."""

    policy: str
    log: LoadedLog
    report: OffPolicyReport


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
            f"--policy = {text!r}: expected a snapshot id (see 'rlexec snapshot list') or "
            "'current'"
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
    snapshot_id = parse_policy(policy)
    if snapshot_id is None:
        if agent_name is None:
            raise InvalidInputError("--policy current: expected --agent NAME (whose Q-table)")
        q, visits, _ = await load_current_table(engine, agent_name, state_config)
        candidate = CandidatePolicy.from_table(q, visits, None, rule, epsilon)
        return f"agent {agent_name!r} (current Q-table)", candidate
    row, q, visits = await load_snapshot_table(engine, snapshot_id, state_config)
    text = f"snapshot {row.id} (agent {row.agent_name!r} v{row.version} {row.label!r})"
    return text, CandidatePolicy.from_table(q, visits, None, rule, epsilon)


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
    return ReplayEvaluation(description, loaded, report)


def format_evaluation(result: ReplayEvaluation) -> str:
    """The text ``rlexec replay evaluate`` prints."""
    report = result.report
    lines = [
        f"candidate: {result.policy}",
        f"log: {report.n_decisions} decisions in {report.n_episodes} episodes",
        f"agreement with the candidate's greedy action: {report.agreement:.1%}",
        "",
        format_confusion_table(report.confusion),
        "",
        f"{'estimator':<14} {'unit':<9} {'value':>12} {'ci low':>12} {'ci high':>12} "
        f"{'ess':>10}",
    ]
    for estimate in report.estimates():
        name = estimate.estimator
        if name in ("logged", "logged_return"):
            name += " *"
        lines.append(
            f"{name:<14} {estimate.unit:<9} {estimate.value:>12.5f} {estimate.ci_low:>12.5f} "
            f"{estimate.ci_high:>12.5f} {estimate.effective_sample_size:>10.1f}"
        )
    confidence = report.logged.confidence
    lines.append(
        f"(* the logged policy's own value; intervals {confidence:.0%}; rewards per decision, "
        "returns per episode)"
    )
    return "\n".join(lines)
