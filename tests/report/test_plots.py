"""The plots say what they show: levels and clipping on the learning curve, the real epsilon,
one x-range and the agent-vs-base panel first, no near-duplicate panels, explained action
maps with the deviation map (figures inspected before they are saved)."""

from __future__ import annotations

import numpy as np

from rlexec.config import StateConfig
from rlexec.report.data import DeviationGrid, TrainingCurve
from rlexec.report.plots import (
    action_heatmap_figure,
    difference_panels,
    learning_curve_figure,
    paired_differences_figure,
)
from rlexec.rl.state import StateDiscretizer
from tests.report.test_verdict import N, market, results


def _texts(fig: object) -> str:
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            parts += [t.get_text() for t in legend.get_texts()]
    return "\n".join(parts)


def test_learning_curve_draws_the_levels_says_when_clipped_and_shows_epsilon() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(0.0, 1.0, 300)
    values[10] = 80.0  # an outlier the axis leaves out
    epsilon = np.linspace(0.3, 0.05, 300)
    epsilon[5] = np.nan  # an episode whose decisions were pruned
    curve = TrainingCurve(values, epsilon)
    levels = [("twap_passive (the agents' base)", 1.25), ("submit_and_leave (best)", -0.5)]
    fig = learning_curve_figure({"default": curve}, levels=levels)
    ax, ax_eps = fig.axes
    text = _texts(fig)
    assert "twap_passive (the agents' base)" in text and "submit_and_leave (best)" in text
    assert {1.25, -0.5} <= {line.get_ydata()[0] for line in ax.get_lines()}  # type: ignore[index]
    low, high = ax.get_ylim()
    assert low <= -0.5 and high >= 1.25 and high < 80.0
    outside = int(((values < low) | (values > high)).sum())
    assert f"{outside} of 300 episodes not shown" in text and outside >= 1
    (eps_line,) = ax_eps.get_lines()
    np.testing.assert_array_equal(eps_line.get_ydata(), epsilon)
    assert "epsilon" in ax_eps.get_ylabel()


def test_learning_curve_without_clipping_says_nothing_and_without_decisions_says_so() -> None:
    curve = TrainingCurve(np.linspace(-1.0, 1.0, 50), np.full(50, np.nan))
    text = _texts(learning_curve_figure({"default": curve}))
    assert "clipped" not in text
    assert "epsilon unknown" in text


def test_paired_difference_panels_agent_first_shared_range_no_duplicates() -> None:
    m = market()
    rng = np.random.default_rng(3)
    m["vwap"] = m["twap"] + rng.normal(0.0, 0.01, N)  # the same strategy, to noise
    m["vwap_passive"] = m["twap_passive"] + rng.normal(0.0, 0.01, N)  # runs like the base
    m["pov"] = m["twap_passive"] + rng.normal(0.3, 1.0, N)
    agents = {"rl:a": m["twap_passive"] + rng.normal(0, 1, N)}
    res = {name: results(name, v) for name, v in {**m, **agents}.items()}
    panels, skipped = difference_panels(
        res, agents=["rl:a"], base="twap_passive", best="submit_and_leave"
    )
    pairs = [(p.executor, p.against) for p in panels]
    assert pairs[:2] == [("rl:a", "twap_passive"), ("rl:a", "submit_and_leave")]
    assert ("vwap", "twap_passive") not in pairs and ("vwap_passive", "twap_passive") not in pairs
    assert {("twap", "twap_passive"), ("submit_and_leave", "twap_passive")} <= set(pairs)
    assert any(x.startswith("vwap - twap_passive: same as twap - twap_passive") for x in skipped)
    assert any(x.startswith("vwap_passive: runs like twap_passive") for x in skipped)

    fig = paired_differences_figure(panels, skipped)
    drawn = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert len(drawn) == len(panels)
    assert len({ax.get_xlim() for ax in drawn}) == 1
    assert drawn[0].get_title().startswith("rl:a - twap_passive (its base)")
    first = panels[0].paired
    word = "significant" if first.significant else "not significant"
    assert f"mean {first.mean:+.2f} bps, 95% CI [{first.low:+.2f}, {first.high:+.2f}]: {word}" in (
        drawn[0].get_title()
    )
    assert "Not drawn" in _texts(fig)


def test_an_agent_identical_to_its_base_still_gets_its_panel() -> None:
    m = market()
    res = {name: results(name, v) for name, v in {**m, "rl:a": m["twap_passive"]}.items()}
    panels, _ = difference_panels(res, agents=["rl:a"], base="twap_passive", best="twap_passive")
    assert (panels[0].executor, panels[0].against) == ("rl:a", "twap_passive")
    assert not any(p.against == "submit_and_leave" for p in panels)  # the best is the base


def test_action_maps_explain_the_share_and_show_the_deviations() -> None:
    state = StateConfig()
    discretizer = StateDiscretizer(state)
    q = np.zeros((discretizer.num_states, 6))
    visits = np.zeros((discretizer.num_states, 6), dtype=np.int64)
    q[0, 2] = 1.0
    visits[0, 2] = 4
    shape = (state.remaining_buckets, state.time_buckets)
    decisions = np.zeros(shape, dtype=np.int64)
    deviated = np.zeros(shape, dtype=np.int64)
    instead = np.full(shape, -1, dtype=np.int64)
    decisions[4, 0], deviated[4, 0], instead[4, 0] = 10, 3, 0
    grid = DeviationGrid(decisions, deviated, instead, "greedy decisions of this comparison")
    fig = action_heatmap_figure(discretizer, q, visits, grid, title="agent 'a'",
                                base="twap_passive")  # fmt: skip
    greedy_ax, deviation_ax, colorbar_ax = fig.axes
    assert "share of the cell's training visits" in greedy_ax.get_title()
    title = deviation_ax.get_title()
    assert "deviates from its base (twap_passive)" in title
    assert "greedy decisions of this comparison, 10 decisions" in title
    assert "share of decisions" in colorbar_ax.get_ylabel()
    cells = [t.get_text() for t in deviation_ax.texts]
    assert "30%\nWait\nn=10" in cells
