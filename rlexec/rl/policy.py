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

**Pools (``pool_book_states``, default on).** A state is split by book features (spread,
imbalance; hour, volatility and queue depth when they are in the key) that matter less for
*what to do* than the plan features (remaining, time, urgency, own orders, schedule). The
states that differ only in book features form a pool (``StateDiscretizer.pools``). For each
challenger ``a`` the test above runs on the state's own cells when both ``a`` and ``b`` have
``min_visits`` there; otherwise on the pool's statistics (``TablePolicy.pooled``: the
visit-weighted mean of its states' Q-values, their visits summed, and a standard error from the
within-state variances plus the spread of the states' means). So what the agent learns in one
book state reaches the under-visited ones nearby, and a state with enough data of its own
decides on it alone. ``TablePolicy`` applies the rule to a whole table, pools included; every
caller asks it.

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
from rlexec.rl.state import Pools
from rlexec.rl.types import NUM_ACTIONS

_NAN_SAFE_INF = math.inf

# A flat buffer the rule reads: a sequence (``array.array``, list) or a numpy array
FloatBuffer = Sequence[float] | npt.NDArray[np.float64]
IntBuffer = Sequence[int] | npt.NDArray[np.int64]


class PolicyTable(NamedTuple):
    """A dense (num_states, 6) Q-table with its visit counts and variances (NaN: unknown):
    everything the rule reads. What a snapshot stores, a validation measures and a promotion
    deploys."""

    q: npt.NDArray[np.float64]
    visits: npt.NDArray[np.int64]
    variances: npt.NDArray[np.float64]


class RuleParameters(NamedTuple):
    """The rule's parameters (config ``q_learning``: ``min_visits_to_deviate``,
    ``deviation_confidence``, ``alpha``, ``pool_book_states``)."""

    min_visits: int
    confidence: float
    alpha_min: float
    pool_book_states: bool = False

    @classmethod
    def from_config(cls, config: QLearningConfig) -> RuleParameters:
        """The parameters an agent with this ``[rl_execution.q_learning]`` decides with."""
        return cls(
            config.min_visits_to_deviate,
            config.deviation_confidence,
            config.alpha,
            config.pool_book_states,
        )

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


class PooledRow(NamedTuple):
    """The statistics of a state's pool (the states that differ from it only in book
    features), per action: visit-weighted mean, visits, and squared standard error."""

    q: Sequence[float]
    visits: Sequence[float]
    sq_errors: Sequence[float]


def greedy_action(
    q: FloatBuffer,
    visits: IntBuffer,
    variances: FloatBuffer,
    base_action: int,
    *,
    min_visits: int,
    confidence: float,
    alpha_min: float,
    pooled: PooledRow | None = None,
) -> int:
    """The action the policy prefers in one state (rows of six, in action order)."""
    b = base_action
    best = b
    best_bound = 0.0
    n_b = visits[b]
    se_b = standard_error(variances[b], n_b, alpha_min) if n_b >= min_visits else _NAN_SAFE_INF
    pooled_b = pooled is not None and pooled.visits[b] >= min_visits
    if se_b == _NAN_SAFE_INF and not pooled_b:
        return b
    for a in range(NUM_ACTIONS):
        if a == b:
            continue
        n_a = visits[a]
        if n_a >= min_visits and se_b != _NAN_SAFE_INF:
            se_a = standard_error(variances[a], n_a, alpha_min)
            if se_a == _NAN_SAFE_INF:
                continue
            bound = q[a] - q[b] - confidence * math.sqrt(se_a * se_a + se_b * se_b)
        elif pooled is not None and pooled_b and pooled.visits[a] >= min_visits:
            sq = pooled.sq_errors
            bound = pooled.q[a] - pooled.q[b] - confidence * math.sqrt(sq[a] + sq[b])
        else:
            continue
        if bound > best_bound:
            best, best_bound = a, bound
    return best


def pool_sums(
    table: PolicyTable, pools: Pools, alpha_min: float
) -> tuple[npt.NDArray[np.float64], ...]:
    """Per pool and action (flat, pool * 6 + action), over the cells with a known variance:
    the visits ``N``, ``sum n q``, ``sum n (variance + q^2)`` and the effective samples
    ``sum min(n, (2 - alpha) / alpha)``."""
    q = table.q
    n = table.visits.astype(np.float64)
    var = table.variances
    known = (n > 0) & ~np.isnan(var)
    nk = np.where(known, n, 0.0)
    index = (pools.of_state[:, None] * NUM_ACTIONS + np.arange(NUM_ACTIONS)).ravel()
    size = pools.number * NUM_ACTIONS
    safe_var = np.where(known, var, 0.0)
    cap = (2.0 - alpha_min) / alpha_min
    return tuple(
        np.bincount(index, weights=w.ravel(), minlength=size).astype(np.float64)
        for w in (nk, nk * q, nk * (safe_var + q * q), np.minimum(nk, cap))
    )


class TablePolicy:
    """The rule applied to one table: what the agent, replay, off-policy evaluation and the
    policy metrics ask ("which action in state s, where the base takes b?").

    ``q``, ``visits`` and ``variances`` are the table's flat (num_states * 6) buffers (an
    ``array.array`` or a numpy array; read, never copied, so a live table's updates are seen);
    ``pools`` (with ``rule.pool_book_states``) lets an under-visited state borrow its pool's
    statistics, kept as running sums (``pool_sums``): the owner of a live table reports each
    changed cell (``cell_changed``, O(1)) or calls ``refresh`` after a wholesale change (the
    sums are then recomputed on the next question)."""

    __slots__ = ("_cap", "_pool_of", "_pools", "_q", "_rule", "_sums", "_v", "_var", "num_states")

    def __init__(
        self,
        q: FloatBuffer,
        visits: IntBuffer,
        variances: FloatBuffer,
        rule: RuleParameters,
        pools: Pools | None = None,
    ) -> None:
        self._q = q
        self._v = visits
        self._var = variances
        self._rule = rule
        self._cap = (2.0 - rule.alpha_min) / rule.alpha_min
        self.num_states = len(q) // NUM_ACTIONS
        self._pools = pools if rule.pool_book_states else None
        self._pool_of: list[int] = [] if self._pools is None else self._pools.of_state.tolist()
        self._sums: tuple[list[float], list[float], list[float], list[float]] | None = None

    @classmethod
    def of(cls, table: PolicyTable, rule: RuleParameters, pools: Pools | None) -> TablePolicy:
        """The rule over a dense (num_states, 6) table."""
        return cls(
            np.asarray(table.q, dtype=np.float64).ravel().tolist(),
            np.asarray(table.visits, dtype=np.int64).ravel().tolist(),
            np.asarray(table.variances, dtype=np.float64).ravel().tolist(),
            rule,
            pools,
        )

    def table(self) -> PolicyTable:
        """A copy of the table the rule reads, as (num_states, 6) arrays."""
        view = self._view()
        return PolicyTable(view.q.copy(), view.visits.copy(), view.variances.copy())

    def _view(self) -> PolicyTable:
        """The table the rule reads, as (num_states, 6) arrays over its buffers (no copy
        where the buffers allow it)."""
        shape = (self.num_states, NUM_ACTIONS)
        return PolicyTable(
            np.asarray(self._q, dtype=np.float64).reshape(shape),
            np.asarray(self._v, dtype=np.int64).reshape(shape),
            np.asarray(self._var, dtype=np.float64).reshape(shape),
        )

    def row(self, state_index: int) -> list[float]:
        """The six Q-values of ``state_index``."""
        base = state_index * NUM_ACTIONS
        return list(self._q[base : base + NUM_ACTIONS])

    def refresh(self) -> None:
        """The table changed as a whole: recompute the pools' sums when next needed."""
        self._sums = None

    def cell_changed(
        self, cell: int, before: tuple[int, float, float], after: tuple[int, float, float]
    ) -> None:
        """One cell (state * 6 + action) went from ``before`` to ``after`` (visits, q,
        variance): move its pool's sums by the difference."""
        sums = self._sums
        if sums is None:
            return
        at = self._pool_of[cell // NUM_ACTIONS] * NUM_ACTIONS + cell % NUM_ACTIONS
        for sign, (n, q, var) in ((-1.0, before), (1.0, after)):
            if n > 0 and var == var:
                sums[0][at] += sign * n
                sums[1][at] += sign * n * q
                sums[2][at] += sign * n * (var + q * q)
                sums[3][at] += sign * (n if n < self._cap else self._cap)

    def greedy(self, state_index: int, base_action: int) -> int:
        """The action the rule prefers in ``state_index`` when the base takes ``base_action``."""
        rule = self._rule
        m = rule.min_visits
        base = state_index * NUM_ACTIONS
        end = base + NUM_ACTIONS
        visits = self._v[base:end]
        pooled_row = None
        if self._pools is not None:
            sums = self._sums
            if sums is None:
                sums = self._sums = self._pool_sums()
            pool = self._pool_of[state_index] * NUM_ACTIONS
            if sums[0][pool + base_action] >= m:
                pooled_row = _pooled_row(sums, pool)
        if visits[base_action] < m and pooled_row is None:
            return base_action  # the common, cheap case: the rule cannot deviate yet
        return greedy_action(
            self._q[base:end],
            visits,
            self._var[base:end],
            base_action,
            min_visits=m,
            confidence=rule.confidence,
            alpha_min=rule.alpha_min,
            pooled=pooled_row,
        )

    def pooled(self, state_index: int) -> PooledRow | None:
        """The statistics of ``state_index``'s pool, per action (None: pooling off)."""
        if self._pools is None:
            return None
        if self._sums is None:
            self._sums = self._pool_sums()
        return _pooled_row(self._sums, self._pool_of[state_index] * NUM_ACTIONS)

    def greedy_many(
        self, state_indices: Sequence[int], base_actions: Sequence[int]
    ) -> npt.NDArray[np.int64]:
        """``greedy`` at each (state, base) pair."""
        greedy = self.greedy
        return np.fromiter(
            (greedy(s, b) for s, b in zip(state_indices, base_actions, strict=True)),
            dtype=np.int64,
            count=len(state_indices),
        )

    def _pool_sums(self) -> tuple[list[float], list[float], list[float], list[float]]:
        assert self._pools is not None
        total, s1, s2, n_eff = pool_sums(self._view(), self._pools, self._rule.alpha_min)
        return total.tolist(), s1.tolist(), s2.tolist(), n_eff.tolist()


def _pooled_row(
    sums: tuple[list[float], list[float], list[float], list[float]], pool: int
) -> PooledRow:
    """One pool's statistics from its running sums (``pool_sums``): the visit-weighted mean Q,
    the visits, and the squared standard error of the pooled targets (the within-state
    variances plus the spread of the states' means, over the states' effective samples)."""
    end = pool + NUM_ACTIONS
    total, s1, s2, n_eff = (x[pool:end] for x in sums)
    mean = [a / n if n > 0 else 0.0 for a, n in zip(s1, total, strict=True)]
    sq = [
        max(b / n - mu * mu, 0.0) / e if n > 0 and e > 0 else math.inf
        for b, n, mu, e in zip(s2, total, mean, n_eff, strict=True)
    ]
    return PooledRow(mean, total, sq)


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
    "PooledRow",
    "RuleParameters",
    "TablePolicy",
    "action_probability",
    "choose",
    "effective_samples",
    "greedy_action",
    "pool_sums",
    "standard_error",
    "stretch_length",
]
