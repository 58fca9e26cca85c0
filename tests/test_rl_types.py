"""Domain types: validation of ExecutionState, actions, rewards, experiences."""

from __future__ import annotations

import pytest

from rlexec.errors import InvalidInputError
from rlexec.rl import ExecutionAction, ExecutionReward, ExecutionState, Experience, Urgency


def fields(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = dict(
        remaining_size=0.5,
        time_elapsed_pct=0.5,
        urgency=Urgency.LOW,
        bid_ask_spread=0.01,
        orderbook_imbalance=0.0,
        recent_volatility=0.0,
        queue_depth_at_price=0.0,
        hour_of_day=0,
        minute_of_hour=0,
        seconds_since_last_trade=0.0,
        recent_fill_rate=0.0,
        avg_slippage_last_n=-3.0,
    )
    base.update(overrides)
    return base


def test_a_valid_state_is_accepted() -> None:
    s = ExecutionState(**fields(hour_of_day=23, minute_of_hour=59))  # type: ignore[arg-type]
    assert s.hour_of_day == 23 and s.tick_size == 0.01


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("remaining_size", float("nan")),
        ("remaining_size", -0.1),
        ("remaining_size", 1.2),
        ("time_elapsed_pct", 1.01),
        ("time_elapsed_pct", -0.5),
        ("bid_ask_spread", -0.01),
        ("bid_ask_spread", float("inf")),
        ("orderbook_imbalance", 1.5),
        ("orderbook_imbalance", float("nan")),
        ("recent_volatility", -1.0),
        ("queue_depth_at_price", -5.0),
        ("hour_of_day", 24),
        ("hour_of_day", -1),
        ("minute_of_hour", 60),
        ("seconds_since_last_trade", -1.0),
        ("recent_fill_rate", 1.1),
        ("avg_slippage_last_n", float("nan")),
        ("tick_size", 0.0),
        ("mid_price", -1.0),
        ("typical_queue_depth", 0.0),
        ("urgency", 1),
    ],
)
def test_bad_state_fields_are_rejected_with_the_field_name(name: str, bad: object) -> None:
    with pytest.raises(InvalidInputError, match=name):
        ExecutionState(**fields(**{name: bad}))  # type: ignore[arg-type]


def test_actions_carry_size_fractions_and_original_labels() -> None:
    fractions = [a.size_fraction for a in ExecutionAction]
    assert fractions == [0.0, 0.10, 0.25, 0.50, 1.0, 0.0]
    labels = [a.label for a in ExecutionAction]
    assert labels == ["Wait", "PlaceSmall", "PlaceMedium", "PlaceLarge", "PlaceAll", "Cancel"]
    assert ExecutionAction.from_label("PlaceLarge") is ExecutionAction.PLACE_LARGE
    with pytest.raises(InvalidInputError, match="PlaceHuge"):
        ExecutionAction.from_label("PlaceHuge")


def test_reward_total_and_experience_done() -> None:
    assert ExecutionReward(10.0, 1.0, 2.0, 3.0).total() == 4.0
    s = ExecutionState(**fields())  # type: ignore[arg-type]
    e = Experience(s, ExecutionAction.WAIT, -1.0, s, terminated=False, truncated=True)
    assert e.done and not e.terminated
    assert not Experience(s, ExecutionAction.WAIT, 0.0, s, terminated=False).done
