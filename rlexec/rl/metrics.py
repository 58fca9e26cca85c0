"""Policy metrics: a summary of a Q-table (states visited, mean Q, greedy action mix, epsilon).

``estimated_improvement`` is left ``None`` here; the evaluation work fills it in (paired
comparison against TWAP, or an off-policy estimate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from rlexec.rl.types import NUM_ACTIONS, ExecutionAction

# The action taken when the Q-values give no preference and the caller names no default
# (see ``rlexec.rl.q_learning``): keep working the order slowly rather than wait or dump it.
FALLBACK_ACTION = ExecutionAction.PLACE_SMALL


@dataclass(slots=True)
class PolicyMetrics:
    """Snapshot of a policy.

    - num_states_visited: states with at least one visit (any action);
    - avg_q_value: mean Q over visited (state, action) pairs (0.0 when nothing is visited);
    - action_distribution: action label -> share of visited states whose greedy action it is;
    - epsilon: the exploration rate at the snapshot;
    - estimated_improvement: filled in later by evaluation (None until then).
    """

    num_states_visited: int
    avg_q_value: float
    action_distribution: dict[str, float] = field(default_factory=dict)
    epsilon: float = 0.0
    estimated_improvement: float | None = None


def greedy_actions(
    q_values: npt.NDArray[np.float64], fallback: int = int(FALLBACK_ACTION)
) -> npt.NDArray[np.int64]:
    """Greedy action of every row, with the agent's tie-breaking: among tied maxima, the
    ``fallback`` action if it is one of them, else the lowest action index."""
    q = np.asarray(q_values, dtype=np.float64)
    is_max = q == q.max(axis=1, keepdims=True)
    greedy: npt.NDArray[np.int64] = np.argmax(is_max, axis=1).astype(np.int64)
    tied = (is_max.sum(axis=1) > 1) & is_max[:, fallback]
    greedy[tied] = fallback
    return greedy


def compute_policy_metrics(
    q_values: npt.NDArray[np.float64], visits: npt.NDArray[np.int64], epsilon: float
) -> PolicyMetrics:
    """Metrics of a (num_states, 6) Q-table and its visit counts."""
    q = np.asarray(q_values, dtype=np.float64)
    v = np.asarray(visits, dtype=np.int64)
    visited_pairs = v > 0
    visited_states = visited_pairs.any(axis=1)
    n_visited = int(visited_states.sum())
    avg_q = float(q[visited_pairs].mean()) if visited_pairs.any() else 0.0
    distribution = {action.label: 0.0 for action in ExecutionAction}
    if n_visited:
        counts = np.bincount(greedy_actions(q[visited_states]), minlength=NUM_ACTIONS)
        for action in ExecutionAction:
            distribution[action.label] = float(counts[action]) / n_visited
    return PolicyMetrics(
        num_states_visited=n_visited,
        avg_q_value=avg_q,
        action_distribution=distribution,
        epsilon=float(epsilon),
    )
