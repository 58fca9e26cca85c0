"""Off-policy evaluation: estimate a candidate policy's value from the audit trail's logged
decisions, before the candidate ever trades.

Arrays in, frozen results out; no database and no CLI. A ``DecisionLog`` holds, per logged
decision, the state index, the action taken (0..5, ``ExecutionAction``), the probability the
logging policy gave that action, the reward, the base schedule's action at that decision
(``base_actions``; needed to score a candidate) and (optionally) the episode; a
``CandidatePolicy`` is a Q-table with its visit counts and variances under the agent's one
decision rule (``rlexec.rl.policy``), epsilon-greedy on top.

The candidate's choice at decision i (``greedy_actions``) is what the agent running that table
would choose there: ``policy.TablePolicy`` (the one rule, pools included when the candidate is
given the agent's ``pools``) at ``s_i`` with ``b_i`` the logged base action (the base's action
unless another action is better with confidence; an unknown variance, NaN, never overrides the
base).

Logs of training with exploration stretches (``policy.stretch_length``): a stretch's later
decisions are logged with probability 1, their probability *given the stretch*, not the
behaviour policy's marginal probability given what the log shows; importance weights over
such episodes are biased (a synthetic uniform stretched log: PDIS 0.354 against a true 0.667).
Production and evaluation runs never stretch (their logs are exact): estimate candidates from
those, or from training logs only with that caveat. Its probabilities
(``candidate_probabilities``) come from ``policy.action_probability``::

    pi(a | s_i, b_i) = epsilon / 6 + (1 - epsilon) * [a == g_i]

so they are per *decision*, not per state: two decisions in one state with different base
actions may have different greedy actions. With epsilon = 0 the candidate is greedy and gives
probability 0 to every other action (their importance weight is 0). A candidate given by its
Q-values alone (``CandidatePolicy.from_q_table``) trusts every cell: the rule then takes the
row's largest Q-value where it beats the base's (ties: the base, then the lowest index).

Two families of estimators, each returning a ``PolicyValueEstimate``:

Per decision (contextual bandit): every decision is an i.i.d. unit whose value is its own
reward. This assumes the state distribution does not depend on the policy and the reward of a
decision depends only on (state, action) — the candidate's effect on LATER states is ignored.
The estimand is the candidate's expected immediate reward per decision.

- ``ips``: inverse propensity scoring, mean of ``w_i * r_i`` with
  ``w_i = pi(a_i|s_i) / mu_i``. Unbiased when every logged probability mu_i is the true
  logging probability and mu > 0 wherever pi > 0 (guaranteed for epsilon-greedy logging
  with epsilon > 0). High variance when weights are large.
- ``snips``: self-normalised IPS (weighted IS), ``sum(w r) / sum(w)``. Biased by O(1/n),
  consistent, much lower variance; adding a constant to every reward shifts it by exactly
  that constant (IPS does not have this property). Delta-method interval, or a seeded
  percentile bootstrap.
- ``doubly_robust``: ``v_hat_i + w_i * (r_i - q_hat(s_i, a_i))`` with the candidate's
  Q-values as the direct-method model, ``v_hat_i = sum_a pi(a|s_i, b_i) q_hat(s_i, a)``. Unbiased
  whatever q_hat is (given correct propensities); its variance is small only when q_hat
  predicts the decision's reward. NOTE: the agent's Q-values predict discounted returns, not
  immediate rewards, so they are a rough per-decision model; pass ``reward_model`` for a
  better one.

Per episode (trajectory): every episode is an i.i.d. unit whose value is its discounted
return ``sum_t gamma^t r_t`` (t = position of the decision within its episode, 0-based).
These account for the candidate changing later states; they need decisions grouped by
episode and in time order within each episode, and the Markov property of the state index.
``rho_{e,t} = prod_{k<=t} w_{e,k}`` is the cumulative weight.

- ``per_decision_is`` (Precup 2000): mean over episodes of ``sum_t gamma^t rho_t r_t``.
  Unbiased; variance grows with the horizon.
- ``weighted_per_decision_is``: ``sum_t gamma^t sum_e rho_{e,t} r_{e,t} / sum_e rho_{e,t}``;
  an episode that ended before step t keeps its final rho with reward 0 (absorbing state).
  Biased, consistent, lower variance; delta-method interval over episodes.
- ``stepwise_doubly_robust`` (Jiang & Li 2016; Thomas & Brunskill 2016): mean over episodes
  of ``sum_t gamma^t [rho_t (r_t - q_hat(s_t, a_t)) + rho_{t-1} v_hat_t]``, rho_{-1} = 1,
  with the candidate's Q-values as q_hat. Unbiased for any q_hat; equals PDIS when q_hat = 0.
- ``dr_gain_over_logged``: the candidate's gain over the logging policy, paired per episode:
  the mean of (the episode's step-wise DR term - its logged return), with its interval; the
  gain is significant when the interval excludes 0.

Cumulative weights are products over an episode and can overflow float64 on long episodes
with small logging probabilities (the estimate is then inf/nan: the log cannot support the
candidate). Intervals are normal approximations over i.i.d. units (decisions or episodes).
The effective sample size is Kish's ``(sum w)^2 / sum w^2`` over the per-decision weights
(per decision) or the final cumulative weight of each episode (per episode).

Performance: everything is vectorised numpy, O(n) per estimator; the rule itself runs once per
distinct (state, base action) pair of the log (at most 6 * num_states calls, never one per
decision). No Python loop over decisions (except the optional bootstrap, O(samples * n)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlexec.errors import InvalidInputError
from rlexec.evaluation.statistics import (
    Interval,
    bootstrap_ratio_interval,
    check_confidence,
    effective_sample_size,
    mean_interval,
    ratio_interval,
    z_value,
)
from rlexec.rl import policy as decision_rule
from rlexec.rl.policy import PolicyTable, RuleParameters, TablePolicy
from rlexec.rl.state import Pools
from rlexec.rl.types import NUM_ACTIONS, ExecutionAction

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

ACTION_LABELS: tuple[str, ...] = tuple(action.label for action in ExecutionAction)


# --------------------------------------------------------------------------- validation


def _first_bad(
    name: str, values: NDArray[np.generic], ok: NDArray[np.bool_], expected: str
) -> None:
    if not bool(np.all(ok)):
        index = int(np.flatnonzero(~ok)[0])
        raise InvalidInputError(f"{name}[{index}] = {values[index].item()!r}: expected {expected}")


def _int_array(name: str, values: ArrayLike) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} has shape {array.shape}: expected a 1-D array")
    if array.dtype.kind == "f":
        # Float input (e.g. from a CSV) is accepted only when every value is a whole number.
        _first_bad(name, array, np.isfinite(array) & (np.floor(array) == array), "a whole number")
    elif array.dtype.kind not in "iu":
        raise InvalidInputError(f"{name} has dtype {array.dtype}: expected integers")
    return array.astype(np.int64, copy=False)


def _float_array(name: str, values: ArrayLike) -> FloatArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} has shape {array.shape}: expected a 1-D array")
    if array.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} has dtype {array.dtype}: expected real numbers")
    return array.astype(np.float64, copy=False)


def _check_length(name: str, array: NDArray[np.generic], n: int, per: str) -> None:
    if array.shape[0] != n:
        raise InvalidInputError(f"{name} has {array.shape[0]} entries: expected {n} ({per})")


def _check_unit_interval(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.0 <= value <= 1.0
    ):
        raise InvalidInputError(f"{name} = {value!r}: expected a number in [0, 1]")
    return float(value)


def _check_q_table(name: str, q_table: ArrayLike) -> FloatArray:
    table = np.asarray(q_table)
    if table.ndim != 2 or table.shape[1] != NUM_ACTIONS or table.shape[0] < 1:
        raise InvalidInputError(
            f"{name} has shape {table.shape}: expected (num_states >= 1, {NUM_ACTIONS})"
        )
    if table.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} has dtype {table.dtype}: expected real numbers")
    table = table.astype(np.float64, copy=False)
    finite = np.isfinite(table)
    if not bool(np.all(finite)):
        state, action = (int(i) for i in np.argwhere(~finite)[0])
        raise InvalidInputError(
            f"{name}[{state}, {action}] = {table[state, action].item()!r}: expected a finite number"
        )
    return table


def _check_states(name: str, states: IntArray, num_states: int) -> None:
    _first_bad(
        name,
        states,
        (states >= 0) & (states < num_states),
        f"a state index in [0, {num_states - 1}] (the Q-table has {num_states} rows)",
    )


def _check_actions(name: str, actions: IntArray) -> None:
    _first_bad(
        name,
        actions,
        (actions >= 0) & (actions < NUM_ACTIONS),
        f"an action index in [0, {NUM_ACTIONS - 1}]",
    )


# --------------------------------------------------------------------------- policy


def _check_visits(name: str, visits: ArrayLike, shape: tuple[int, ...]) -> IntArray:
    table = np.asarray(visits)
    if table.shape != shape:
        raise InvalidInputError(f"{name} has shape {table.shape}: expected {shape} (the Q-table's)")
    if table.dtype.kind not in "iu":
        raise InvalidInputError(f"{name} has dtype {table.dtype}: expected integers")
    if table.size and int(table.min()) < 0:
        state, action = (int(i) for i in np.argwhere(table < 0)[0])
        raise InvalidInputError(
            f"{name}[{state}, {action}] = {int(table[state, action])}: expected a count >= 0"
        )
    return table.astype(np.int64, copy=False)


def _check_variances(name: str, variances: ArrayLike, shape: tuple[int, ...]) -> FloatArray:
    table = np.asarray(variances)
    if table.shape != shape:
        raise InvalidInputError(f"{name} has shape {table.shape}: expected {shape} (the Q-table's)")
    if table.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} has dtype {table.dtype}: expected real numbers")
    table = table.astype(np.float64, copy=False)
    bad = ~np.isnan(table) & ~((table >= 0) & np.isfinite(table))
    if bool(np.any(bad)):
        state, action = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"{name}[{state}, {action}] = {table[state, action].item()!r}: expected a finite "
            "number >= 0 or NaN (unknown)"
        )
    return table


@dataclass(frozen=True, eq=False)
class CandidatePolicy:
    """The agent's decision rule over a table: ``q_table`` (float64, (num_states, 6)), its
    ``visits`` and running ``variances`` (NaN: unknown, e.g. a table from a store that keeps
    none), the rule's parameters and an exploration rate.

    What it chooses depends on the base schedule's action at each decision, so it is asked
    per decision (``greedy_for``, ``probabilities_for``), not per state.
    """

    q_table: FloatArray
    visits: IntArray
    variances: FloatArray
    rule: RuleParameters
    epsilon: float = 0.0
    pools: Pools | None = None  # the agent's state pools (``StateDiscretizer.pools``)

    def __post_init__(self) -> None:
        table = _check_q_table("q_table", self.q_table)
        shape = table.shape
        object.__setattr__(self, "q_table", table)
        object.__setattr__(self, "visits", _check_visits("visits", self.visits, shape))
        object.__setattr__(self, "variances", _check_variances("variances", self.variances, shape))
        object.__setattr__(self, "epsilon", _check_unit_interval("epsilon", self.epsilon))
        if not isinstance(self.rule, RuleParameters):
            raise InvalidInputError(
                f"rule = {self.rule!r}: expected rlexec.rl.policy.RuleParameters"
            )

    @classmethod
    def from_table(
        cls,
        q_table: ArrayLike,
        visits: ArrayLike,
        variances: ArrayLike | None,
        rule: RuleParameters,
        epsilon: float = 0.0,
        pools: Pools | None = None,
    ) -> CandidatePolicy:
        """A stored or live table; ``variances`` None: unknown everywhere (NaN)."""
        q = _check_q_table("q_table", q_table)
        var = np.full(q.shape, np.nan) if variances is None else np.asarray(variances)
        return cls(q, np.asarray(visits), var, rule, epsilon, pools)

    @classmethod
    def from_q_table(cls, q_table: ArrayLike, epsilon: float = 0.0) -> CandidatePolicy:
        """A candidate given by its Q-values alone, every cell trusted (tried, variance 0):
        the rule takes the row's largest Q-value where it beats the base's (ties: the base,
        then the lowest index)."""
        q = _check_q_table("q_table", q_table)
        trusted = RuleParameters(min_visits=1, confidence=0.0, alpha_min=1.0)
        return cls(q, np.ones(q.shape, dtype=np.int64), np.zeros(q.shape), trusted, epsilon)

    @property
    def num_states(self) -> int:
        return int(self.q_table.shape[0])

    def greedy_for(self, state_indices: ArrayLike, base_actions: ArrayLike) -> IntArray:
        """The rule's action at each decision (state, base action): shape (n,)."""
        states, bases = self._decisions(state_indices, base_actions)
        return self._greedy(states, bases)

    def probabilities_for(self, state_indices: ArrayLike, base_actions: ArrayLike) -> FloatArray:
        """pi(a | s_i, b_i) at each decision: shape (n, 6), rows sum to 1."""
        states, bases = self._decisions(state_indices, base_actions)
        return _probability_rows(self._greedy(states, bases), self.epsilon)

    def _decisions(
        self, state_indices: ArrayLike, base_actions: ArrayLike
    ) -> tuple[IntArray, IntArray]:
        states = _int_array("state_indices", state_indices)
        bases = _int_array("base_actions", base_actions)
        _check_length("base_actions", bases, states.shape[0], "one per decision")
        _check_states("state_indices", states, self.num_states)
        _check_actions("base_actions", bases)
        return states, bases

    def _greedy(self, states: IntArray, bases: IntArray) -> IntArray:
        """The rule once per distinct (state, base) pair, looked up for every decision (a
        dense table of 6 * num_states pairs: O(n), no sort)."""
        pairs = states * NUM_ACTIONS + bases
        present = np.zeros(self.num_states * NUM_ACTIONS, dtype=np.bool_)
        present[pairs] = True
        needed = np.flatnonzero(present)
        rule = TablePolicy.of(
            PolicyTable(self.q_table, self.visits, self.variances), self.rule, self.pools
        )
        table = np.zeros(present.shape[0], dtype=np.int64)
        table[needed] = rule.greedy_many(
            (needed // NUM_ACTIONS).tolist(), (needed % NUM_ACTIONS).tolist()
        )
        result: IntArray = table[pairs]
        return result


def _probability_rows(greedy: IntArray, epsilon: float) -> FloatArray:
    """(n, 6) rows of ``policy.action_probability`` for each decision's greedy action."""
    other = decision_rule.action_probability(1, 0, epsilon)
    preferred = decision_rule.action_probability(0, 0, epsilon)
    rows = np.full((greedy.shape[0], NUM_ACTIONS), other, dtype=np.float64)
    rows[np.arange(greedy.shape[0]), greedy] = preferred
    return rows


def candidate_probabilities(
    candidate: CandidatePolicy, state_indices: ArrayLike, base_actions: ArrayLike
) -> FloatArray:
    """pi(a | s, b) of the candidate at each decision: shape (n, 6), rows sum to 1; the rule's
    action gets ``epsilon / 6 + 1 - epsilon`` (``policy.action_probability``)."""
    return candidate.probabilities_for(state_indices, base_actions)


def greedy_actions(
    candidate: CandidatePolicy, state_indices: ArrayLike, base_actions: ArrayLike
) -> IntArray:
    """The candidate's action under the decision rule at each decision: shape (n,)."""
    return candidate.greedy_for(state_indices, base_actions)


# --------------------------------------------------------------------------- the log


@dataclass(frozen=True, eq=False)
class DecisionLog:
    """Logged decisions as parallel 1-D arrays, validated once on construction.

    - ``state_indices``: row of the Q-table (>= 0);
    - ``actions``: the action taken, 0..5 (``ExecutionAction``);
    - ``logging_probabilities``: mu(a|s) the logging policy gave that action, in (0, 1];
    - ``rewards``: finite;
    - ``episode_ids``: optional; needed by the per-episode estimators. Decisions of one
      episode must be contiguous and in time order (ORDER BY episode, sequence);
    - ``base_actions``: the base schedule's action at each decision, 0..5 (the decisions
      table's ``schedule_action``); optional, but every estimate of a candidate needs it,
      since the candidate's choice depends on it.
    """

    state_indices: IntArray
    actions: IntArray
    logging_probabilities: FloatArray
    rewards: FloatArray
    episode_ids: IntArray | None = None
    base_actions: IntArray | None = None
    flat_index: IntArray = field(init=False, repr=False)  # state * 6 + action
    episode_starts: IntArray | None = field(init=False, repr=False, default=None)
    episode_lengths: IntArray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        states = _int_array("state_indices", self.state_indices)
        actions = _int_array("actions", self.actions)
        probabilities = _float_array("logging_probabilities", self.logging_probabilities)
        rewards = _float_array("rewards", self.rewards)
        n = states.shape[0]
        if n == 0:
            raise InvalidInputError("state_indices is empty: expected at least one decision")
        for name, array in (
            ("actions", actions),
            ("logging_probabilities", probabilities),
            ("rewards", rewards),
        ):
            _check_length(name, array, n, "one per decision")
        _first_bad("state_indices", states, states >= 0, "a state index >= 0")
        _check_actions("actions", actions)
        _first_bad(
            "logging_probabilities",
            probabilities,
            (probabilities > 0.0) & (probabilities <= 1.0),
            "a probability in (0, 1]",
        )
        _first_bad("rewards", rewards, np.isfinite(rewards), "a finite number")
        object.__setattr__(self, "state_indices", states)
        object.__setattr__(self, "actions", actions)
        object.__setattr__(self, "logging_probabilities", probabilities)
        object.__setattr__(self, "rewards", rewards)
        object.__setattr__(self, "flat_index", states * NUM_ACTIONS + actions)
        if self.base_actions is not None:
            bases = _int_array("base_actions", self.base_actions)
            _check_length("base_actions", bases, n, "one per decision")
            _check_actions("base_actions", bases)
            object.__setattr__(self, "base_actions", bases)
        if self.episode_ids is not None:
            episodes = _int_array("episode_ids", self.episode_ids)
            _check_length("episode_ids", episodes, n, "one per decision")
            starts = np.concatenate(([0], np.flatnonzero(episodes[1:] != episodes[:-1]) + 1))
            block_ids = episodes[starts]
            if not bool(np.all(block_ids[1:] > block_ids[:-1])) and (
                np.unique(block_ids).shape[0] != block_ids.shape[0]
            ):
                values, counts = np.unique(block_ids, return_counts=True)
                split = int(values[np.argmax(counts > 1)])
                raise InvalidInputError(
                    f"episode_ids: episode {split} is split in several runs; expected the "
                    "decisions of each episode to be contiguous (ORDER BY episode, sequence)"
                )
            object.__setattr__(self, "episode_ids", episodes)
            object.__setattr__(self, "episode_starts", starts.astype(np.int64))
            object.__setattr__(
                self, "episode_lengths", np.diff(np.append(starts, n)).astype(np.int64)
            )

    @classmethod
    def from_arrays(
        cls,
        state_indices: ArrayLike,
        actions: ArrayLike,
        logging_probabilities: ArrayLike,
        rewards: ArrayLike,
        episode_ids: ArrayLike | None = None,
        base_actions: ArrayLike | None = None,
    ) -> DecisionLog:
        """Build from any array-likes (lists, columns read from the store); the constructor
        converts and validates them the same way."""
        return cls(
            np.asarray(state_indices),
            np.asarray(actions),
            np.asarray(logging_probabilities),
            np.asarray(rewards),
            None if episode_ids is None else np.asarray(episode_ids),
            None if base_actions is None else np.asarray(base_actions),
        )

    @property
    def n_decisions(self) -> int:
        return int(self.state_indices.shape[0])

    @property
    def n_episodes(self) -> int | None:
        return None if self.episode_starts is None else int(self.episode_starts.shape[0])

    @property
    def max_state_index(self) -> int:
        return int(self.state_indices.max())


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class PolicyValueEstimate:
    """One estimate of a policy's value.

    ``unit`` is "decision" (value per decision) or "episode" (discounted return per
    episode); ``n`` counts those units; ``interval_method`` is "normal" or "bootstrap".
    """

    estimator: str
    value: float
    standard_error: float
    ci_low: float
    ci_high: float
    effective_sample_size: float
    n: int
    unit: str
    confidence: float
    interval_method: str

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies inside the confidence interval."""
        return self.ci_low <= x <= self.ci_high


def _estimate(estimator: str, interval: Interval, ess: float, unit: str) -> PolicyValueEstimate:
    return PolicyValueEstimate(
        estimator=estimator,
        value=interval.value,
        standard_error=interval.standard_error,
        ci_low=interval.low,
        ci_high=interval.high,
        effective_sample_size=ess,
        n=interval.n,
        unit=unit,
        confidence=interval.confidence,
        interval_method=interval.method,
    )


# --------------------------------------------------------------------------- weights


def _check_policy_covers(log: DecisionLog, policy: CandidatePolicy) -> None:
    if log.max_state_index >= policy.num_states:
        raise InvalidInputError(
            f"state_indices max = {log.max_state_index}: expected < {policy.num_states} "
            "(the candidate's Q-table has that many rows)"
        )


class _Scored(NamedTuple):
    """The candidate at every logged decision: its action and the importance weight."""

    greedy: IntArray
    weights: FloatArray


def candidate_choices(log: DecisionLog, policy: CandidatePolicy) -> IntArray:
    """The candidate's action under the decision rule at each logged decision, given the
    logged base action there."""
    _check_policy_covers(log, policy)
    if log.base_actions is None:
        raise InvalidInputError(
            "base_actions = None: expected the base schedule's action of every logged "
            "decision (the candidate's choice depends on it; the decisions table logs it as "
            "schedule_action)"
        )
    return policy.greedy_for(log.state_indices, log.base_actions)


def _score(log: DecisionLog, policy: CandidatePolicy) -> _Scored:
    greedy = candidate_choices(log, policy)
    eps = policy.epsilon
    pi_taken = np.where(
        log.actions == greedy,
        decision_rule.action_probability(0, 0, eps),
        decision_rule.action_probability(1, 0, eps),
    )
    weights: FloatArray = pi_taken / log.logging_probabilities
    return _Scored(greedy, weights)


def importance_weights(log: DecisionLog, policy: CandidatePolicy) -> FloatArray:
    """Per-decision weights ``pi(a_i | s_i, b_i) / mu_i``."""
    return _score(log, policy).weights


def _state_values(
    log: DecisionLog, policy: CandidatePolicy, greedy: IntArray, model: FloatArray
) -> FloatArray:
    """v_hat_i = sum_a pi(a | s_i, b_i) model[s_i, a], without the (n, 6) table."""
    eps = policy.epsilon
    other = decision_rule.action_probability(1, 0, eps)
    extra = decision_rule.action_probability(0, 0, eps) - other  # the greedy action's surplus
    rows = model[log.state_indices]
    values: FloatArray = other * rows.sum(axis=1) + extra * rows[np.arange(rows.shape[0]), greedy]
    return values


def _model_table(name: str, model: ArrayLike | None, policy: CandidatePolicy) -> FloatArray:
    if model is None:
        return policy.q_table
    table = _check_q_table(name, model)
    if table.shape != policy.q_table.shape:
        raise InvalidInputError(
            f"{name} has shape {table.shape}: expected the candidate's {policy.q_table.shape}"
        )
    return table


def _episode_layout(log: DecisionLog) -> tuple[IntArray, IntArray, IntArray]:
    if log.episode_starts is None or log.episode_lengths is None:
        raise InvalidInputError(
            "episode_ids = None: expected episode ids for the per-episode estimators"
        )
    starts, lengths = log.episode_starts, log.episode_lengths
    positions = np.arange(log.n_decisions, dtype=np.int64) - np.repeat(starts, lengths)
    return starts, lengths, positions


def _segment_cumsum(values: FloatArray, starts: IntArray, lengths: IntArray) -> FloatArray:
    total = np.cumsum(values)
    offsets = np.concatenate(([0.0], total[starts[1:] - 1]))
    result: FloatArray = total - np.repeat(offsets, lengths)
    return result


def _cumulative_weights(weights: FloatArray, starts: IntArray, lengths: IntArray) -> FloatArray:
    """rho_{e,t} = prod_{k<=t} w_{e,k}, in log space (zeros counted separately).

    One global cumulative sum minus each episode's offset: O(n) with no Python loop. The
    rounding error of the log is about n * 1e-16 * mean |log w| (1e-10 relative for a
    million decisions), far below the statistical error."""
    zero = weights == 0.0
    logs = np.log(np.where(zero, 1.0, weights))
    with np.errstate(over="ignore"):
        rho = np.exp(_segment_cumsum(logs, starts, lengths))
    if bool(np.any(zero)):
        zeros_so_far = _segment_cumsum(zero.astype(np.float64), starts, lengths)
        rho[zeros_so_far > 0.5] = 0.0
    return rho


def _discounts(positions: IntArray, gamma: float) -> FloatArray:
    if gamma == 1.0:
        return np.ones(positions.shape[0], dtype=np.float64)
    powers: FloatArray = np.float64(gamma) ** positions.astype(np.float64)
    return powers


# --------------------------------------------------------------------------- per decision


def logged_value(log: DecisionLog, *, confidence: float = 0.95) -> PolicyValueEstimate:
    """The logging policy's own value per decision: the mean logged reward (on-policy)."""
    return _estimate(
        "logged", mean_interval(log.rewards, confidence), float(log.n_decisions), "decision"
    )


def ips(
    log: DecisionLog, policy: CandidatePolicy, *, confidence: float = 0.95
) -> PolicyValueEstimate:
    """Inverse propensity scoring: mean of ``w_i r_i`` (per-decision, unbiased)."""
    return _ips(log, _score(log, policy).weights, confidence)


def _ips(log: DecisionLog, weights: FloatArray, confidence: float) -> PolicyValueEstimate:
    interval = mean_interval(weights * log.rewards, confidence)
    return _estimate("ips", interval, effective_sample_size(weights), "decision")


def snips(
    log: DecisionLog,
    policy: CandidatePolicy,
    *,
    confidence: float = 0.95,
    bootstrap_samples: int = 0,
    seed: int = 0,
) -> PolicyValueEstimate:
    """Self-normalised IPS ``sum(w r) / sum(w)``: delta-method interval, or with
    ``bootstrap_samples`` > 0 a percentile bootstrap seeded by ``seed``."""
    return _snips(log, _score(log, policy).weights, confidence, bootstrap_samples, seed)


def _snips(
    log: DecisionLog, weights: FloatArray, confidence: float, bootstrap_samples: int, seed: int
) -> PolicyValueEstimate:
    weighted = weights * log.rewards
    if bootstrap_samples:
        interval = bootstrap_ratio_interval(
            weighted, weights, samples=bootstrap_samples, seed=seed, confidence=confidence
        )
    else:
        interval = ratio_interval(weighted, weights, confidence)
    return _estimate("snips", interval, effective_sample_size(weights), "decision")


def doubly_robust(
    log: DecisionLog,
    policy: CandidatePolicy,
    *,
    reward_model: ArrayLike | None = None,
    confidence: float = 0.95,
) -> PolicyValueEstimate:
    """Doubly robust per decision: ``v_hat_i + w_i (r_i - q_hat(s_i, a_i))``; q_hat is
    ``reward_model`` (shape of the Q-table) or, by default, the candidate's Q-values."""
    return _doubly_robust(log, policy, _score(log, policy), reward_model, confidence)


def _doubly_robust(
    log: DecisionLog,
    policy: CandidatePolicy,
    scored: _Scored,
    reward_model: ArrayLike | None,
    confidence: float,
) -> PolicyValueEstimate:
    model = _model_table("reward_model", reward_model, policy)
    weights = scored.weights
    q_taken = np.take(model.ravel(), log.flat_index)
    values = _state_values(log, policy, scored.greedy, model) + weights * (log.rewards - q_taken)
    interval = mean_interval(values, confidence)
    return _estimate("dr", interval, effective_sample_size(weights), "decision")


# --------------------------------------------------------------------------- per episode


def logged_return(
    log: DecisionLog, *, gamma: float = 1.0, confidence: float = 0.95
) -> PolicyValueEstimate:
    """The logging policy's own value per episode: mean discounted return (on-policy)."""
    gamma = _check_unit_interval("gamma", gamma)
    returns = _logged_returns(log, gamma)
    interval = mean_interval(returns, confidence)
    return _estimate("logged_return", interval, float(returns.shape[0]), "episode")


def _logged_returns(log: DecisionLog, gamma: float) -> FloatArray:
    starts, _, positions = _episode_layout(log)
    returns: FloatArray = np.add.reduceat(_discounts(positions, gamma) * log.rewards, starts)
    return returns


def per_decision_is(
    log: DecisionLog, policy: CandidatePolicy, *, gamma: float = 1.0, confidence: float = 0.95
) -> PolicyValueEstimate:
    """Per-decision importance sampling (Precup 2000) over episodes; unbiased."""
    gamma = _check_unit_interval("gamma", gamma)
    return _per_decision_is(log, _score(log, policy).weights, gamma, confidence)


def _per_decision_is(
    log: DecisionLog, weights: FloatArray, gamma: float, confidence: float
) -> PolicyValueEstimate:
    starts, lengths, positions = _episode_layout(log)
    rho = _cumulative_weights(weights, starts, lengths)
    per_episode = np.add.reduceat(_discounts(positions, gamma) * rho * log.rewards, starts)
    final_rho = rho[starts + lengths - 1]
    interval = mean_interval(per_episode, confidence)
    return _estimate("pdis", interval, effective_sample_size(final_rho), "episode")


def weighted_per_decision_is(
    log: DecisionLog, policy: CandidatePolicy, *, gamma: float = 1.0, confidence: float = 0.95
) -> PolicyValueEstimate:
    """Weighted per-decision IS: each step's rewards are averaged with the cumulative
    weights normalised over episodes (ended episodes keep their final weight, reward 0).
    Delta-method interval over episodes."""
    gamma = _check_unit_interval("gamma", gamma)
    return _weighted_per_decision_is(log, _score(log, policy).weights, gamma, confidence)


def _weighted_per_decision_is(
    log: DecisionLog, weights: FloatArray, gamma: float, confidence: float
) -> PolicyValueEstimate:
    check_confidence(confidence)
    starts, lengths, positions = _episode_layout(log)
    episodes = int(starts.shape[0])
    if episodes < 2:
        raise InvalidInputError(
            f"episode_ids has {episodes} episode: expected at least 2 to estimate a "
            "standard error (widen the selection)"
        )
    horizon = int(lengths.max())
    rho = _cumulative_weights(weights, starts, lengths)
    final_rho = rho[starts + lengths - 1]
    weighted_rewards = rho * log.rewards
    # Per step t (means over episodes): numerator N_t and normaliser D_t.
    numerator = np.bincount(positions, weights=weighted_rewards, minlength=horizon) / episodes
    ended = np.cumsum(np.bincount(lengths, weights=final_rho, minlength=horizon + 1))[:horizon]
    denominator = (np.bincount(positions, weights=rho, minlength=horizon) + ended) / episodes
    discount = _discounts(np.arange(horizon, dtype=np.int64), gamma)
    supported = denominator > 0.0
    safe = np.where(supported, denominator, 1.0)
    step_value = np.where(supported, numerator / safe, 0.0)  # V_t
    value = float(np.sum(discount * step_value))
    # Influence of episode e: sum_t gamma^t (a_{e,t} - V_t b_{e,t}) / D_t.
    coefficient = np.where(supported, discount / safe, 0.0)
    per_decision = np.take(coefficient, positions) * (
        weighted_rewards - np.take(step_value, positions) * rho
    )
    suffix = np.concatenate((np.cumsum((coefficient * step_value)[::-1])[::-1], [0.0]))
    influence = np.add.reduceat(per_decision, starts) - final_rho * suffix[lengths]
    se = float(np.std(influence, ddof=1)) / math.sqrt(episodes)
    z = z_value(confidence)
    interval = Interval(value, se, value - z * se, value + z * se, episodes, confidence, "normal")
    return _estimate("wpdis", interval, effective_sample_size(final_rho), "episode")


def stepwise_doubly_robust(
    log: DecisionLog,
    policy: CandidatePolicy,
    *,
    gamma: float = 1.0,
    value_model: ArrayLike | None = None,
    confidence: float = 0.95,
) -> PolicyValueEstimate:
    """Step-wise doubly robust (Jiang & Li 2016): per episode
    ``sum_t gamma^t [rho_t (r_t - q_hat(s_t, a_t)) + rho_{t-1} v_hat_t]``; q_hat is
    ``value_model`` or, by default, the candidate's Q-values. Unbiased for any q_hat."""
    gamma = _check_unit_interval("gamma", gamma)
    return _stepwise_doubly_robust(log, policy, _score(log, policy), gamma, value_model, confidence)


def _stepwise_doubly_robust(
    log: DecisionLog,
    policy: CandidatePolicy,
    scored: _Scored,
    gamma: float,
    value_model: ArrayLike | None,
    confidence: float,
) -> PolicyValueEstimate:
    terms = _stepwise_dr_per_episode(log, policy, scored, gamma, value_model)
    return _stepwise_estimate(terms, confidence)


def _stepwise_estimate(
    terms: tuple[FloatArray, FloatArray], confidence: float
) -> PolicyValueEstimate:
    per_episode, final_rho = terms
    interval = mean_interval(per_episode, confidence)
    return _estimate("dr_trajectory", interval, effective_sample_size(final_rho), "episode")


def _stepwise_dr_per_episode(
    log: DecisionLog,
    policy: CandidatePolicy,
    scored: _Scored,
    gamma: float,
    value_model: ArrayLike | None,
) -> tuple[FloatArray, FloatArray]:
    """Each episode's step-wise DR term and its final cumulative weight."""
    model = _model_table("value_model", value_model, policy)
    starts, lengths, positions = _episode_layout(log)
    rho = _cumulative_weights(scored.weights, starts, lengths)
    previous = np.empty_like(rho)
    previous[1:] = rho[:-1]
    previous[starts] = 1.0
    q_taken = np.take(model.ravel(), log.flat_index)
    state_values = _state_values(log, policy, scored.greedy, model)
    terms = rho * (log.rewards - q_taken) + previous * state_values
    per_episode: FloatArray = np.add.reduceat(_discounts(positions, gamma) * terms, starts)
    return per_episode, rho[starts + lengths - 1]


def dr_gain_over_logged(
    log: DecisionLog, policy: CandidatePolicy, *, gamma: float = 1.0, confidence: float = 0.95
) -> PolicyValueEstimate:
    """The candidate's value minus the logging policy's, per episode: the mean over episodes
    of (step-wise DR term - logged return). Both terms are unbiased for their policy's value
    on the same episodes, so the difference is unbiased for the gain, and its interval is
    paired (the episode's market noise, common to both, largely cancels). Positive: the
    candidate's return is higher."""
    gamma = _check_unit_interval("gamma", gamma)
    terms = _stepwise_dr_per_episode(log, policy, _score(log, policy), gamma, None)
    return _dr_gain_estimate(log, terms, gamma, confidence)


def _dr_gain_estimate(
    log: DecisionLog, terms: tuple[FloatArray, FloatArray], gamma: float, confidence: float
) -> PolicyValueEstimate:
    per_episode, final_rho = terms
    interval = mean_interval(per_episode - _logged_returns(log, gamma), confidence)
    return _estimate("dr_gain", interval, effective_sample_size(final_rho), "episode")


# --------------------------------------------------------------------------- agreement


def agreement(logged_actions: ArrayLike, candidate_actions: ArrayLike) -> float:
    """Share of decisions where the candidate's action equals the logged one, in [0, 1]."""
    logged, candidate = _action_pair(logged_actions, candidate_actions)
    return float(np.count_nonzero(logged == candidate)) / int(logged.shape[0])


def confusion_table(logged_actions: ArrayLike, candidate_actions: ArrayLike) -> IntArray:
    """6 x 6 counts: row = logged action, column = candidate action (``ACTION_LABELS``)."""
    logged, candidate = _action_pair(logged_actions, candidate_actions)
    counts = np.bincount(logged * NUM_ACTIONS + candidate, minlength=NUM_ACTIONS * NUM_ACTIONS)
    table: IntArray = counts.reshape(NUM_ACTIONS, NUM_ACTIONS).astype(np.int64)
    return table


def format_confusion_table(table: ArrayLike) -> str:
    """Plain-text rendering of a ``confusion_table`` with the action labels (rows = logged,
    columns = candidate)."""
    counts = np.asarray(table)
    if counts.shape != (NUM_ACTIONS, NUM_ACTIONS):
        raise InvalidInputError(
            f"table has shape {counts.shape}: expected ({NUM_ACTIONS}, {NUM_ACTIONS})"
        )
    width = max(max(len(label) for label in ACTION_LABELS), len(str(int(counts.max()))))
    corner = "logged \\ candidate"
    head = corner.ljust(len(corner)) + " " + " ".join(lab.rjust(width) for lab in ACTION_LABELS)
    lines = [head]
    for label, row in zip(ACTION_LABELS, counts, strict=True):
        cells = " ".join(str(int(c)).rjust(width) for c in row)
        lines.append(label.ljust(len(corner)) + " " + cells)
    return "\n".join(lines)


def _action_pair(
    logged_actions: ArrayLike, candidate_actions: ArrayLike
) -> tuple[IntArray, IntArray]:
    logged = _int_array("logged_actions", logged_actions)
    candidate = _int_array("candidate_actions", candidate_actions)
    _check_length("candidate_actions", candidate, logged.shape[0], "one per logged action")
    if logged.shape[0] == 0:
        raise InvalidInputError("logged_actions is empty: expected at least one decision")
    _check_actions("logged_actions", logged)
    _check_actions("candidate_actions", candidate)
    return logged, candidate


# --------------------------------------------------------------------------- report


@dataclass(frozen=True, eq=False)
class OffPolicyReport:
    """Everything ``rlexec replay evaluate`` prints: agreement with the candidate's greedy
    action, the confusion table, the logged policy's value and the candidate's estimates.
    The per-episode fields are None when the log has no episode ids; ``dr_gain`` is the
    candidate's step-wise DR value minus the logged return, paired per episode
    (``dr_gain_over_logged``): a difference, not a value, so ``estimates()`` leaves it out."""

    n_decisions: int
    n_episodes: int | None
    agreement: float
    confusion: IntArray
    logged: PolicyValueEstimate
    ips: PolicyValueEstimate
    snips: PolicyValueEstimate
    dr: PolicyValueEstimate
    logged_return: PolicyValueEstimate | None = None
    pdis: PolicyValueEstimate | None = None
    wpdis: PolicyValueEstimate | None = None
    dr_trajectory: PolicyValueEstimate | None = None
    dr_gain: PolicyValueEstimate | None = None

    def estimates(self) -> list[PolicyValueEstimate]:
        """All non-None estimates, logged first."""
        found = [
            self.logged,
            self.ips,
            self.snips,
            self.dr,
            self.logged_return,
            self.pdis,
            self.wpdis,
            self.dr_trajectory,
        ]
        return [estimate for estimate in found if estimate is not None]


def evaluate(
    log: DecisionLog,
    policy: CandidatePolicy,
    *,
    gamma: float = 1.0,
    confidence: float = 0.95,
    bootstrap_samples: int = 0,
    seed: int = 0,
) -> OffPolicyReport:
    """Run every estimator sharing one computation of the weights. Agreement and the
    confusion table compare the logged action with the candidate's GREEDY action."""
    check_confidence(confidence)
    gamma = _check_unit_interval("gamma", gamma)
    scored = _score(log, policy)
    weights, candidate = scored.weights, scored.greedy
    report = OffPolicyReport(
        n_decisions=log.n_decisions,
        n_episodes=log.n_episodes,
        agreement=float(np.count_nonzero(candidate == log.actions)) / log.n_decisions,
        confusion=confusion_table(log.actions, candidate),
        logged=logged_value(log, confidence=confidence),
        ips=_ips(log, weights, confidence),
        snips=_snips(log, weights, confidence, bootstrap_samples, seed),
        dr=_doubly_robust(log, policy, scored, None, confidence),
    )
    if log.episode_ids is None:
        return report
    stepwise = _stepwise_dr_per_episode(log, policy, scored, gamma, None)
    return replace(
        report,
        logged_return=logged_return(log, gamma=gamma, confidence=confidence),
        pdis=_per_decision_is(log, weights, gamma, confidence),
        wpdis=_weighted_per_decision_is(log, weights, gamma, confidence),
        dr_trajectory=_stepwise_estimate(stepwise, confidence),
        dr_gain=_dr_gain_estimate(log, stepwise, gamma, confidence),
    )
