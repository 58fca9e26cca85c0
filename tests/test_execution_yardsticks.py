"""The best baseline of a market (paired against its runner-up) and the per-seed oracle, on
hand-made numbers and as properties of any paired results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import EpisodeResult
from rlexec.execution.yardsticks import (
    best_baseline,
    per_seed_oracle,
    room_to_oracle,
)
from tests.test_execution_metrics import episode


def results(table: dict[str, list[float]]) -> dict[str, tuple[EpisodeResult, ...]]:
    return {
        name: tuple(episode(seed, value, name) for seed, value in enumerate(values))
        for name, values in table.items()
    }


def test_best_baseline_and_oracle_by_hand() -> None:
    table = {
        "twap": [3.0, 1.0, 2.0, 2.0],  # mean 2.0
        "passive": [0.0, 2.0, 1.0, 1.0],  # mean 1.0: best
        "leave": [1.0, 0.0, 3.0, 1.4],  # mean 1.35: runner-up
    }
    best = best_baseline(results(table))
    assert best.name == "passive" and best.mean_bps == pytest.approx(1.0)
    assert best.runner_up == "leave" and best.runner_up_mean_bps == pytest.approx(1.35)
    paired = best.vs_runner_up
    assert paired is not None and paired.baseline == "leave" and paired.n == 4
    d = np.array([-1.0, 2.0, -2.0, -0.4])  # passive - leave
    assert paired.mean == pytest.approx(d.mean())
    assert paired.standard_error == pytest.approx(d.std(ddof=1) / 2)
    assert paired.low == pytest.approx(d.mean() - 3.182 * d.std(ddof=1) / 2)
    assert not best.clear  # the interval straddles 0: a near tie

    oracle = per_seed_oracle(results(table))
    assert oracle.seeds == (0, 1, 2, 3)
    assert oracle.is_bps == (0.0, 0.0, 1.0, 1.0)
    assert oracle.chosen == ("passive", "leave", "passive", "passive")  # seed 3: first on ties
    assert oracle.mean_bps == pytest.approx(0.5)
    assert oracle.wins() == {"passive": 3, "leave": 1}
    assert room_to_oracle(best, oracle) == pytest.approx(0.5)


def test_a_clear_best_and_a_single_strategy() -> None:
    clear = best_baseline(results({"a": [1.0, 1.1, 0.9, 1.0], "b": [2.0, 2.1, 2.0, 1.9]}))
    assert clear.name == "a" and clear.clear
    assert clear.vs_runner_up is not None and clear.vs_runner_up.high < 0
    alone = best_baseline(results({"only": [1.0, 2.0]}))
    assert alone.name == "only" and alone.runner_up is None and not alone.clear
    tie = best_baseline(results({"first": [1.0, 2.0], "second": [2.0, 1.0]}))
    assert tie.name == "first"  # equal means: mapping order


def test_unpaired_results_are_refused() -> None:
    a = tuple(episode(s, 1.0, "a") for s in (0, 1, 2))
    b = tuple(episode(s, 1.0, "b") for s in (0, 2, 1))
    with pytest.raises(InvalidInputError, match="same seeds in the same order"):
        best_baseline({"a": a, "b": b})
    with pytest.raises(InvalidInputError, match="same seeds"):
        per_seed_oracle({"a": a, "b": b[:2]})
    with pytest.raises(InvalidInputError, match="at least one"):
        per_seed_oracle({})
    with pytest.raises(InvalidInputError, match=">= 2 paired seeds"):
        best_baseline({"a": a[:1]})


@settings(max_examples=100, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda k: st.integers(2, 30).flatmap(
            lambda n: st.lists(
                st.lists(st.floats(-500, 500, allow_nan=False), min_size=n, max_size=n),
                min_size=k,
                max_size=k,
            )
        )
    )
)
def test_oracle_is_below_every_strategy_and_best_is_the_lowest_mean(
    columns: list[list[float]],
) -> None:
    table = {f"s{i}": values for i, values in enumerate(columns)}
    paired = results(table)
    best = best_baseline(paired)
    oracle = per_seed_oracle(paired)
    means = {name: float(np.mean(values)) for name, values in table.items()}
    assert math.isclose(best.mean_bps, min(means.values()), abs_tol=1e-9)
    assert all(means[best.name] <= m for m in means.values())
    for j in range(len(columns[0])):
        assert oracle.is_bps[j] == min(values[j] for values in table.values())
        assert table[oracle.chosen[j]][j] == oracle.is_bps[j]
    assert room_to_oracle(best, oracle) >= -1e-9
    assert sum(oracle.wins().values()) == len(columns[0])
