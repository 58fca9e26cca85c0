"""Policy metrics: a summary of a Q-table (states visited, mean Q, greedy action mix, epsilon).

``estimated_improvement`` is left ``None`` here; the evaluation work fills it in (paired
comparison against TWAP, or an off-policy estimate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from rlexec.rl.policy import PolicyTable, RuleParameters, TablePolicy
from rlexec.rl.state import Pools
from rlexec.rl.types import NUM_ACTIONS, ExecutionAction

# The action taken when the Q-values give no preference and the caller names no default
# (see ``rlexec.rl.q_learning``): keep working the order slowly rather than wait or dump it.
FALLBACK_ACTION = ExecutionAction.PLACE_SMALL


@dataclass(slots=True)
class PolicyMetrics:
    """Snapshot of a policy.

      - num_states_visited: states with at least one visit (any action);
      - avg_q_value: mean Q over visited (state, action) pairs (0.0 when nothing is visited);
      - action_distribution: action label -> share of visited states whose greedy action (the one
    decision rule of ``rlexec.rl.policy``, see ``greedy_actions``) it is;
      - epsilon: the exploration rate at the snapshot;
      - estimated_improvement: filled in later by evaluation (None until then).
    """

    num_states_visited: int
    avg_q_value: float
    action_distribution: dict[str, float] = field(default_factory=dict)
    epsilon: float = 0.0
    estimated_improvement: float | None = None


def greedy_actions(
    table: PolicyTable,
    rule: RuleParameters,
    pools: Pools | None = None,
    states: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """The decision rule's action in each of ``states`` (default: every row), taking as the
    base's action the row's most tried action (ties: lowest index). The base's action is a
    property of the moment, not of the state key; in a table trained by the RL executor the
    base's action is by far the most tried one in a state, since the rule takes it until the
    data says otherwise."""
    rows = np.arange(table.q.shape[0]) if states is None else np.asarray(states)
    bases = np.argmax(np.asarray(table.visits)[rows], axis=1)
    return TablePolicy.of(table, rule, pools).greedy_many(rows.tolist(), bases.tolist())


def compute_policy_metrics(
    q_values: npt.NDArray[np.float64],
    visits: npt.NDArray[np.int64],
    epsilon: float,
    *,
    variances: npt.NDArray[np.float64],
    rule: RuleParameters,
    pools: Pools | None = None,
) -> PolicyMetrics:
    """Metrics of a (num_states, 6) Q-table, its visit counts and variances."""
    q = np.asarray(q_values, dtype=np.float64)
    v = np.asarray(visits, dtype=np.int64)
    visited_pairs = v > 0
    visited_states = visited_pairs.any(axis=1)
    n_visited = int(visited_states.sum())
    avg_q = float(q[visited_pairs].mean()) if visited_pairs.any() else 0.0
    distribution = {action.label: 0.0 for action in ExecutionAction}
    if n_visited:
        greedy = greedy_actions(
            PolicyTable(q, v, np.asarray(variances, dtype=np.float64)),
            rule,
            pools,
            np.flatnonzero(visited_states),
        )
        counts = np.bincount(greedy, minlength=NUM_ACTIONS)
        for action in ExecutionAction:
            distribution[action.label] = float(counts[action]) / n_visited
    return PolicyMetrics(
        num_states_visited=n_visited,
        avg_q_value=avg_q,
        action_distribution=distribution,
        epsilon=float(epsilon),
    )
