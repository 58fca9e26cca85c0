"""Progress output: plain lines when stderr is not a terminal (never carriage-return frames),
a bar on a terminal drawn only from the first item, and the budget / time left of timed runs."""

from __future__ import annotations

import io

from rlexec.progress import Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_every_tenth_and_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress("train a", total=2000, stream=out, clock=clock)
    for _ in range(2000):
        clock.now += 0.025  # 40 items a second: a tenth (200 items) every 5 s
        progress.update()
    progress.close()
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    assert lines[0].startswith("train a: 1/2000 ep (0%)")
    assert len(lines) == 11  # the start, then every 200 items (the last at 2000/2000)
    assert lines[-1].startswith("train a: 2000/2000 ep (100%), 40.0 ep/s, elapsed 0:50, left 0:00")


def test_plain_lines_by_time_when_the_total_is_unknown() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress("export", unit="rows", stream=out, clock=clock, line_every_secs=10)
    for _ in range(60):
        clock.now += 1.0
        progress.update(100)
    progress.note(table="decisions")
    clock.now += 0.5
    progress.update(50)
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + 5 + 1  # start (1 s), every 10 s (11 ... 51 s), the last
    assert lines[-1] == "export: 6050 rows, 100.0 rows/s, elapsed 1:00, table=decisions"


def test_fast_runs_stay_short() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress("train a", total=100, stream=out, clock=clock) as progress:
        for _ in range(100):
            clock.now += 0.001
            progress.update()
    assert len(out.getvalue().splitlines()) == 2  # the start and the end


def test_a_time_budget_shows_the_budget_and_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress("train a", budget_secs=180, stream=out, clock=clock)
    clock.now += 30
    progress.update(1200)
    assert progress.status() == "train a: 1200 ep, 40.0 ep/s, elapsed 0:30 of 3:00, left 2:30"
    both = Progress("train b", total=1500, budget_secs=180, stream=out, clock=clock)
    clock.now += 30
    both.update(1200)  # 300 more at 40/s: 7.5 s, sooner than the budget's 150 s
    assert both.seconds_left() == 7.5


def test_on_a_terminal_a_bar_from_the_first_item_only() -> None:
    term = Terminal()
    progress = Progress("evaluate a", total=10, stream=term)
    progress.note(x="1")
    assert term.getvalue() == ""  # nothing before the first item (an early error leaves no bar)
    progress.update()
    progress.close()
    assert "evaluate a" in term.getvalue() and "\r" in term.getvalue()


def test_disabled_prints_nothing() -> None:
    out = io.StringIO()
    with Progress("x", total=5, stream=out, enabled=False) as progress:
        progress.update(5)
    assert out.getvalue() == ""


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.6, 61, 3600 + 62)] == [
        "0:00",
        "1:00",
        "1:01",
        "1:01:02",
    ]
