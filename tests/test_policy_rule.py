"""The one decision rule (``rlexec.rl.policy``): the base's action unless another action is
better with confidence, epsilon-greedy exploration from one uniform, and the probability it
logs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.config import StateConfig
from rlexec.rl import policy
from rlexec.rl.policy import RuleParameters
from rlexec.rl.state import StateDiscretizer, StateKey
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
    chosen = policy.greedy_action(
        q,
        visits,
        variances,
        base,
        min_visits=rule.min_visits,
        confidence=rule.confidence,
        alpha_min=rule.alpha_min,
    )
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
    variances=st.lists(st.one_of(st.just(NAN), st.floats(0, 100)), min_size=6, max_size=6),
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


# -- pools: an under-visited state borrows the statistics of its book-feature neighbours ------
POOLED = RuleParameters(min_visits=30, confidence=2.0, alpha_min=0.01, pool_book_states=True)


def _discretizer() -> StateDiscretizer:
    return StateDiscretizer(StateConfig())


def _same_pool(d: StateDiscretizer, key: StateKey) -> list[int]:
    """Every state that differs from ``key`` only in spread, imbalance and the touch part."""
    radices = d.describe()
    return [
        d.index(dataclasses.replace(key, spread=s, imbalance=i, touch=b))
        for s in range(radices["spread"])
        for i in range(radices["imbalance"])
        for b in range(radices["touch"])
    ]


def _table(d: StateDiscretizer) -> policy.PolicyTable:
    shape = (d.num_states, NUM_ACTIONS)
    return policy.PolicyTable(np.zeros(shape), np.zeros(shape, dtype=np.int64), np.full(shape, NAN))


def test_states_that_differ_only_in_book_features_share_a_pool() -> None:
    d = _discretizer()
    pools = d.pools()
    key = StateKey(remaining=3, time=1, spread=0, imbalance=0, hour=0, urgency=1, own_orders=2,
                   schedule=1)  # fmt: skip
    members = _same_pool(d, key)
    assert len({int(pools.of_state[i]) for i in members}) == 1
    later = d.index(dataclasses.replace(key, time=2))
    assert pools.of_state[later] != pools.of_state[members[0]]
    radix = d.describe()
    assert pools.number == d.num_states // (radix["spread"] * radix["imbalance"] * radix["touch"])
    assert sorted(set(pools.of_state.tolist())) == list(range(pools.number))


def test_pooled_statistics_weigh_states_by_visits_and_count_their_spread() -> None:
    d = _discretizer()
    table = _table(d)
    key = StateKey(remaining=4, time=0, spread=0, imbalance=0, hour=0, urgency=1)
    a, b, c = _same_pool(d, key)[:3]
    table.q[a, 0], table.visits[a, 0], table.variances[a, 0] = -10.0, 30, 4.0
    table.q[b, 0], table.visits[b, 0], table.variances[b, 0] = -20.0, 10, 1.0
    table.q[c, 0], table.visits[c, 0], table.variances[c, 0] = -99.0, 50, NAN  # unknown: left out
    pooled = policy.TablePolicy.of(table, POOLED, d.pools()).pooled(a)
    assert pooled is not None
    assert pooled.visits[0] == 40
    assert pooled.q[0] == pytest.approx(-12.5)  # (30 * -10 + 10 * -20) / 40
    within = (30 * 4.0 + 10 * 1.0) / 40
    between = (30 * 2.5**2 + 10 * 7.5**2) / 40
    assert pooled.sq_errors[0] == pytest.approx((within + between) / 40)
    assert math.isinf(pooled.sq_errors[1])  # never tried


def test_an_under_visited_state_borrows_its_pools_confident_advantage() -> None:
    d = _discretizer()
    table = _table(d)
    key = StateKey(remaining=4, time=0, spread=0, imbalance=0, hour=0, urgency=1)
    rare, *others = _same_pool(d, key)
    base, better = 5, 4  # the base's action and PlaceAll
    for s in others:  # the neighbours: PlaceAll clearly cheaper than the base
        table.q[s, base], table.visits[s, base], table.variances[s, base] = -100.0, 40, 100.0
        table.q[s, better], table.visits[s, better], table.variances[s, better] = -60.0, 40, 100.0
    table.visits[rare, base] = 3  # the state itself: hardly tried
    pools = d.pools()
    assert policy.TablePolicy.of(table, POOLED, pools).greedy(rare, base) == better
    assert policy.TablePolicy.of(table, RULE, pools).greedy(rare, base) == base  # pooling off
    assert policy.TablePolicy.of(table, POOLED, None).greedy(rare, base) == base  # no pools


def test_a_well_visited_state_decides_on_its_own_data_not_its_pools() -> None:
    d = _discretizer()
    table = _table(d)
    key = StateKey(remaining=4, time=0, spread=1, imbalance=1, hour=0, urgency=1)
    own, *others = _same_pool(d, key)
    base, other = 0, 4
    for s in others:
        table.q[s, base], table.visits[s, base], table.variances[s, base] = -100.0, 40, 100.0
        table.q[s, other], table.visits[s, other], table.variances[s, other] = -60.0, 40, 100.0
    # its own data: the other action is no better here
    table.q[own, base], table.visits[own, base], table.variances[own, base] = -50.0, 100, 100.0
    table.q[own, other], table.visits[own, other], table.variances[own, other] = -70.0, 100, 100.0
    assert policy.TablePolicy.of(table, POOLED, d.pools()).greedy(own, base) == base


def test_the_rule_over_a_live_table_sees_updates_after_refresh() -> None:
    d = _discretizer()
    table = _table(d)
    q, visits, variances = (table.q.reshape(-1), table.visits.reshape(-1),
                            table.variances.reshape(-1))  # fmt: skip
    rule = policy.TablePolicy(q, visits, variances, POOLED, d.pools())  # views, not copies
    key = StateKey(remaining=2, time=3, spread=0, imbalance=0, hour=0, urgency=1)
    rare, *others = _same_pool(d, key)
    assert rule.greedy(rare, 1) == 1
    for s in others:
        table.q[s, 1], table.visits[s, 1], table.variances[s, 1] = -10.0, 50, 1.0
        table.q[s, 0], table.visits[s, 0], table.variances[s, 0] = -1.0, 50, 1.0
    assert rule.greedy(rare, 1) == 1  # its pools' statistics are from before the change
    rule.refresh()
    assert rule.greedy(rare, 1) == 0
