"""``rlexec.slots.unchecked_constructor``: the hot path's constructors build the same frozen
instances as the classes' own constructors, and refuse a wrong number of values."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from rlexec.execution.types import ExecutionContext, ParentOrder
from rlexec.market.book import BookLevel, BookSnapshot, Side
from rlexec.rl.types import ExecutionState, Urgency
from rlexec.slots import unchecked_constructor


def _values(instance: object) -> tuple[object, ...]:
    return tuple(getattr(instance, f.name) for f in dataclasses.fields(instance))  # type: ignore[arg-type]


def _book() -> BookSnapshot:
    return BookSnapshot(
        3, 36_000.0, (BookLevel(Decimal("99.99"), Decimal(300)),),
        (BookLevel(Decimal("100.01"), Decimal(200)),), Decimal("0.01"),
    )  # fmt: skip


def _instances() -> list[object]:
    book = _book()
    parent = ParentOrder("p1", Side.SELL, Decimal(500), 30)
    state = ExecutionState(
        0.5, 0.25, Urgency.HIGH, 0.02, 0.2, 0.01, 300.0, 10, 0, None, 0.5, 1.5,
        resting_share=0.1, schedule_lag=-0.2, resting_behind_ticks=2.0,
    )  # fmt: skip
    context = ExecutionContext(
        parent, 3, book.time_of_day_secs, book, book.mid, Decimal(100), step_seconds=5.0
    )
    return [book, state, context]


@pytest.mark.parametrize("instance", _instances(), ids=lambda i: type(i).__name__)
def test_an_unchecked_instance_equals_the_constructors(instance: object) -> None:
    make = unchecked_constructor(type(instance))
    again = make(_values(instance))
    assert type(again) is type(instance)
    assert again == instance
    assert _values(again) == _values(instance)
    first = dataclasses.fields(instance)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(again, first, None)


@pytest.mark.parametrize("instance", _instances(), ids=lambda i: type(i).__name__)
def test_a_wrong_number_of_values_is_refused(instance: object) -> None:
    make = unchecked_constructor(type(instance))
    values = _values(instance)
    with pytest.raises(ValueError, match="not enough values"):
        make(values[:-1])
    with pytest.raises(ValueError, match="too many values"):
        make((*values, None))


def test_the_unchecked_path_skips_validation_on_purpose() -> None:
    """What makes it unchecked: a value the constructor refuses goes through (so callers must
    hold values valid by construction; the state builder's test checks its states)."""
    state = _instances()[1]
    values = list(_values(state))
    values[0] = 7.0  # remaining_size outside [0, 1]
    with pytest.raises(ValueError):
        ExecutionState(*values)  # type: ignore[arg-type]
    assert unchecked_constructor(ExecutionState)(values).remaining_size == 7.0
