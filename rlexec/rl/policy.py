"""The one decision rule: which action the policy prefers in a state, and how it explores.

Every part of rlexec that needs "what would the policy do here" calls this module: the agent
(``QTableAgent.decide_index``), the bootstrap target of its update, replay of stored episodes,
off-policy evaluation of a candidate table and the policy metrics. There is no other rule.

**Greedy (``greedy_action``).** The base schedule's action ``b`` (the action closest to what the
base TWAP/VWAP would do now; choosing it means *follow the base exactly* until the next
decision) is the default. Another action ``a`` replaces it only when the data says, with
confidence, that it is better:

- both ``a`` and ``b`` were tried at least ``min_visits`` times in this state, and
- the lower confidence bound of the advantage is positive:
  ``Q(a) - Q(b) - z * sqrt(se(a)^2 + se(b)^2) > 0``.

Among the actions that pass, the largest bound wins (ties: the lowest action index). So an
unknown or under-visited state follows the base, an untrained agent *is* its base, and the
maximum over six noisy estimates cannot pick an action on noise alone (the bound controls the
max bias that plain argmax has).

``se(a)`` is the standard error of ``Q(a)``: ``sqrt(variance / n_eff)`` with the cell's running
variance of update targets and ``n_eff = min(visits, (2 - alpha_min) / alpha_min)`` (the
effective sample size of the exponentially weighted average the learning-rate floor turns the
mean into). An unknown variance (NaN, e.g. a table restored from an older store) is an
infinite standard error: that cell never overrides the base until it is re-learned.

**Exploration (``choose``).** Epsilon-greedy from one uniform ``u`` in [0, 1): ``u < epsilon``
explores the action ``floor(6 u / epsilon)`` (uniform over the six), else the greedy action. The
probability of the chosen action is ``epsilon / 6 + (1 - epsilon)`` for the greedy action and
``epsilon / 6`` for any other (``action_probability``), which the audit trail logs for
off-policy estimates.

*Temporally extended* (``stretch_length``, training only): an explored action is repeated at
the next decisions, ``k`` decisions in all with ``P(k >= j) = 1/j`` (a heavy tail: most
stretches are short, some last the whole order), drawn from the fractional part of the same
uniform. One-decision deviations cannot show the worth of plans such as "post everything now,
then hold" (submit-and-leave), whose first step alone, followed by the base, is worse than
either; a stretch tries the plan. A repeated decision is logged as explored with probability 1
(it was fixed by the history).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from rlexec.config import QLearningConfig
from rlexec.rl.types import NUM_ACTIONS

_NAN_SAFE_INF = math.inf


class PolicyTable(NamedTuple):
    """A dense (num_states, 6) Q-table with its visit counts and variances (NaN: unknown):
    everything the rule reads. What a snapshot stores, a validation measures and a promotion
    deploys."""

    q: npt.NDArray[np.float64]
    visits: npt.NDArray[np.int64]
    variances: npt.NDArray[np.float64]


class RuleParameters(NamedTuple):
    """The rule's three numbers (config ``q_learning``: ``min_visits_to_deviate``,
    ``deviation_confidence``, ``alpha``)."""

    min_visits: int
    confidence: float
    alpha_min: float

    @classmethod
    def from_config(cls, config: QLearningConfig) -> RuleParameters:
        """The parameters an agent with this ``[rl_execution.q_learning]`` decides with."""
        return cls(config.min_visits_to_deviate, config.deviation_confidence, config.alpha)

    def greedy(
        self,
        q: Sequence[float],
        visits: Sequence[int],
        variances: Sequence[float],
        base_action: int,
    ) -> int:
        """``greedy_action`` with these parameters."""
        return greedy_action(
            q,
            visits,
            variances,
            base_action,
            min_visits=self.min_visits,
            confidence=self.confidence,
            alpha_min=self.alpha_min,
        )


def effective_samples(visits: int, alpha_min: float) -> float:
    """How many samples the cell's average is worth (see the module docstring)."""
    return min(float(visits), (2.0 - alpha_min) / alpha_min)


def standard_error(variance: float, visits: int, alpha_min: float) -> float:
    """Standard error of a cell's Q-value; infinite when unvisited or the variance is unknown."""
    if visits <= 0 or variance != variance:  # NaN: unknown
        return _NAN_SAFE_INF
    return math.sqrt(max(variance, 0.0) / effective_samples(visits, alpha_min))


def greedy_action(
    q: Sequence[float],
    visits: Sequence[int],
    variances: Sequence[float],
    base_action: int,
    *,
    min_visits: int,
    confidence: float,
    alpha_min: float,
) -> int:
    """The action the policy prefers in one state (rows of six, in action order)."""
    b = base_action
    n_b = visits[b]
    if n_b < min_visits:
        return b
    q_b = q[b]
    se_b = standard_error(variances[b], n_b, alpha_min)
    if se_b == _NAN_SAFE_INF:
        return b
    best = b
    best_bound = 0.0
    for a in range(NUM_ACTIONS):
        if a == b or visits[a] < min_visits:
            continue
        se_a = standard_error(variances[a], visits[a], alpha_min)
        if se_a == _NAN_SAFE_INF:
            continue
        bound = q[a] - q_b - confidence * math.sqrt(se_a * se_a + se_b * se_b)
        if bound > best_bound:
            best, best_bound = a, bound
    return best


def choose(greedy: int, epsilon: float, uniform: float) -> tuple[int, bool]:
    """Epsilon-greedy from one uniform draw: (action, explored)."""
    if uniform < epsilon:
        action = int(uniform / epsilon * NUM_ACTIONS)
        return (action if action < NUM_ACTIONS else NUM_ACTIONS - 1), True
    return greedy, False


def stretch_length(uniform: float, epsilon: float) -> int:
    """How many decisions an exploration started with ``uniform < epsilon`` lasts (>= 1)."""
    v = uniform / epsilon * NUM_ACTIONS
    fraction = v - int(v)
    return int(1.0 / (1.0 - fraction)) if fraction < 1.0 else 1


def action_probability(action: int, greedy: int, epsilon: float) -> float:
    """Probability that the epsilon-greedy policy takes ``action`` when it prefers ``greedy``."""
    share = epsilon / NUM_ACTIONS
    return share + (1.0 - epsilon) if action == greedy else share


__all__ = [
    "PolicyTable",
    "RuleParameters",
    "action_probability",
    "choose",
    "effective_samples",
    "greedy_action",
    "standard_error",
    "stretch_length",
]
