"""The one decision rule (``rlexec.rl.policy``): the base's action unless another action is
better with confidence, epsilon-greedy exploration from one uniform, and the probability it
logs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.rl import policy
from rlexec.rl.policy import RuleParameters
from rlexec.rl.types import NUM_ACTIONS

RULE = RuleParameters(min_visits=30, confidence=2.0, alpha_min=0.01)
NAN = math.nan


def greedy(
    q: list[float],
    visits: list[int],
    variances: list[float],
    base: int,
    rule: RuleParameters = RULE,
) -> int:
    chosen = policy.greedy_action(q, visits, variances, base, **rule._asdict())
    assert rule.greedy(q, visits, variances, base) == chosen  # the two faces agree
    return chosen


def test_an_empty_row_is_the_base_for_every_base_action() -> None:
    for base in range(NUM_ACTIONS):
        assert greedy([0.0] * 6, [0] * 6, [NAN] * 6, base) == base


def test_under_visited_actions_follow_the_base() -> None:
    q = [0.0, 0.0, 5.0, 0.0, 0.0, 0.0]  # PlaceMedium is far better on the means
    var = [1.0] * 6
    # the challenger has too few tries
    assert greedy(q, [100, 100, 29, 100, 100, 100], var, base=1) == 1
    # the base has too few tries, however good the challenger looks
    assert greedy(q, [100, 29, 100, 100, 100, 100], var, base=1) == 1
    # both at the threshold: it may deviate
    assert greedy(q, [0, 30, 30, 0, 0, 0], var, base=1) == 2


def test_a_confidently_better_action_replaces_the_base() -> None:
    visits = [0, 200, 200, 0, 0, 0]
    var = [NAN, 4.0, 4.0, NAN, NAN, NAN]
    # se of each cell = sqrt(4 / min(200, 199)) ~ 0.1418; of the difference ~ 0.2005
    se = math.sqrt(2 * 4.0 / policy.effective_samples(200, 0.01))
    assert greedy([0.0, -1.0, -1.0 + 2 * se + 1e-6, 0.0, 0.0, 0.0], visits, var, base=1) == 2
    # a lower bound of exactly 0 is not positive: the base stays
    assert greedy([0.0, -1.0, -1.0 + 2 * se - 1e-6, 0.0, 0.0, 0.0], visits, var, base=1) == 1


def test_a_noisy_advantage_is_not_confident_and_keeps_the_base() -> None:
    visits = [0, 50, 50, 0, 0, 0]
    noisy = [NAN, 100.0, 100.0, NAN, NAN, NAN]  # se of the difference = 2
    q = [0.0, -1.0, 2.0, 0.0, 0.0, 0.0]  # +3 on the means, lower bound 3 - 2 * 2 < 0
    assert greedy(q, visits, noisy, base=1) == 1
    quiet = [NAN, 1.0, 1.0, NAN, NAN, NAN]
    assert greedy(q, visits, quiet, base=1) == 2  # the same means with little noise
    assert greedy(q, visits, noisy, 1, RuleParameters(30, 0.0, 0.01)) == 2  # z = 0: the means


def test_an_unknown_variance_never_overrides_the_base() -> None:
    visits = [1000] * 6
    q = [0.0, 0.0, 0.0, 10.0, 0.0, 0.0]
    known = [1.0] * 6
    assert greedy(q, visits, known, base=0) == 3
    # the challenger's variance unknown (NaN): it cannot win
    assert greedy(q, visits, [1.0, 1.0, 1.0, NAN, 1.0, 1.0], base=0) == 0
    # the base's variance unknown: nothing can be compared with it
    assert greedy(q, visits, [NAN, 1.0, 1.0, 1.0, 1.0, 1.0], base=0) == 0
    assert policy.standard_error(NAN, 1000, 0.01) == math.inf
    assert policy.standard_error(1.0, 0, 0.01) == math.inf


def test_ties_go_to_the_lowest_action_index() -> None:
    visits = [100] * 6
    var = [0.0] * 6  # exact cells: the bound is the mean advantage
    q = [0.0, 0.0, 0.0, 1.0, 0.0, 1.0]  # Cancel and PlaceLarge tie, both better than Wait
    assert greedy(q, visits, var, base=0) == 3
    q = [0.0, 2.0, 0.0, 2.0, 0.0, 2.0]
    assert greedy(q, visits, var, base=4) == 1
    # the base itself tied with the best: the base stays (its advantage is 0, not positive)
    assert greedy([0.0, 2.0, 0.0, 2.0, 0.0, 0.0], visits, var, base=3) == 3


def test_the_largest_lower_bound_wins_not_the_largest_mean() -> None:
    visits = [100, 100, 100, 0, 0, 0]
    # PlaceSmall: mean +3 but noisy; PlaceMedium: mean +2 and exact
    var = [0.0, 100.0, 0.0, NAN, NAN, NAN]
    q = [0.0, 3.0, 2.0, 0.0, 0.0, 0.0]
    se_small = math.sqrt(100.0 / 100)
    assert 3.0 - 2.0 * se_small < 2.0  # PlaceSmall's bound (1.0) is below PlaceMedium's (2.0)
    assert greedy(q, visits, var, base=0) == 2
    # with a more precise PlaceSmall its bound passes PlaceMedium's
    var = [0.0, 1.0, 0.0, NAN, NAN, NAN]
    assert greedy(q, visits, var, base=0) == 1


def test_effective_samples_are_capped_by_the_learning_rate_floor() -> None:
    assert policy.effective_samples(10, 0.01) == 10
    assert policy.effective_samples(10_000, 0.01) == pytest.approx(199.0)
    assert policy.effective_samples(10_000, 1.0) == 1.0
    assert policy.standard_error(4.0, 10_000, 0.01) == pytest.approx(math.sqrt(4.0 / 199))


@settings(max_examples=300, deadline=None)
@given(
    q=st.lists(st.floats(-100, 100), min_size=6, max_size=6),
    visits=st.lists(st.integers(0, 200), min_size=6, max_size=6),
    variances=st.lists(
        st.one_of(st.just(NAN), st.floats(0, 100)), min_size=6, max_size=6
    ),
    base=st.integers(0, 5),
)
def test_the_rule_deviates_only_with_visits_and_a_positive_bound(
    q: list[float], visits: list[int], variances: list[float], base: int
) -> None:
    chosen = greedy(q, visits, variances, base)
    if chosen == base:
        return
    rule = RULE
    assert visits[chosen] >= rule.min_visits and visits[base] >= rule.min_visits
    se_a = policy.standard_error(variances[chosen], visits[chosen], rule.alpha_min)
    se_b = policy.standard_error(variances[base], visits[base], rule.alpha_min)
    bound = q[chosen] - q[base] - rule.confidence * math.hypot(se_a, se_b)
    assert bound > 0
    assert q[chosen] > q[base]


# -- exploration and the logged probability --------------------------------------------------


def test_choose_explores_below_epsilon_uniformly_over_the_six() -> None:
    eps = 0.3
    assert policy.choose(4, eps, 0.3) == (4, False)  # u >= epsilon: greedy
    assert policy.choose(4, eps, 0.999) == (4, False)
    for k in range(NUM_ACTIONS):  # u in [k eps / 6, (k + 1) eps / 6) explores action k
        assert policy.choose(4, eps, k * eps / 6) == (k, True)
        assert policy.choose(4, eps, (k + 0.999) * eps / 6) == (k, True)
    assert policy.choose(2, 0.0, 0.0) == (2, False)  # epsilon 0 never explores
    assert policy.choose(2, 1.0, 0.9999999) == (5, True)


def test_the_probability_of_each_action_sums_to_one_and_matches_choose() -> None:
    rng = np.random.default_rng(3)
    eps, g = 0.25, 2
    draws = rng.random(60_000)
    counts = np.bincount([policy.choose(g, eps, float(u))[0] for u in draws], minlength=6)
    probabilities = [policy.action_probability(a, g, eps) for a in range(NUM_ACTIONS)]
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities[g] == pytest.approx(eps / 6 + 1 - eps)
    assert probabilities[0] == pytest.approx(eps / 6)
    np.testing.assert_allclose(counts / draws.size, probabilities, atol=0.01)
    assert policy.action_probability(g, g, 0.0) == 1.0
    assert policy.action_probability(0, g, 0.0) == 0.0
