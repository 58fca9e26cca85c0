"""Progress of long work on stderr (training, evaluation, comparison, export), one helper for
all of them.

- On a terminal: a tqdm bar (count, rate, time left when the total is known).
- Elsewhere (stderr piped to a file or a log collector): a plain line when the work starts,
  then every ``line_every_items`` items (a tenth of the total by default, but at most one a
  second) or every ``line_every_secs`` seconds, whichever comes first, and a last one at the
  end - never the bar's carriage-return frames.
- With a time budget (``rlexec train --minutes``) both show the elapsed time against the
  budget and the time left; with a total as well, the time left is the sooner of the two ends.
- Nothing is drawn before the first item, so an error raised while setting up leaves no empty
  bar behind; ``enabled=False`` (``--no-progress``) draws nothing at all.

    with Progress("train default", total=2000, unit="ep") as progress:
        for ...:
            progress.update(1)
            progress.note(mean_is_bps="1.23")
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

DEFAULT_LINE_EVERY_SECS = 10.0
MIN_LINE_GAP_SECS = 1.0  # item-counted lines no closer than this (fast runs stay short)
LINES_PER_RUN = 10  # with a known total, a plain line every tenth of it


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    if not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """See the module doc. ``stream`` defaults to stderr; ``clock`` to ``time.monotonic``."""

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        budget_secs: float | None = None,
        unit: str = "ep",
        enabled: bool = True,
        stream: TextIO | None = None,
        line_every_secs: float = DEFAULT_LINE_EVERY_SECS,
        line_every_items: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.budget_secs = budget_secs
        self.unit = unit
        self.enabled = enabled
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.line_every_secs = line_every_secs
        if line_every_items is None and total:
            line_every_items = max(1, total // LINES_PER_RUN)
        self.line_every_items = line_every_items
        self.clock = clock
        self.count = 0
        self._notes: dict[str, str] = {}
        self._started = clock()
        self._bar: tqdm[Any] | None = None
        self._terminal = enabled and _is_terminal(self.stream)
        self._line_count = 0  # the count at the last plain line
        self._line_at = self._started
        self._lines = 0

    # ----------------------------------------------------------------------------- public

    def update(self, n: int = 1) -> None:
        """``n`` more items done."""
        self.count += n
        if not self.enabled:
            return
        if self._terminal:
            self._terminal_bar().update(n)
            if self.budget_secs is not None:
                self._bar_postfix()
            return
        now = self.clock()
        due_items = (
            self.line_every_items is not None
            and self.count - self._line_count >= self.line_every_items
            and now - self._line_at >= MIN_LINE_GAP_SECS
        )
        if self._lines == 0 or due_items or now - self._line_at >= self.line_every_secs:
            self._line(now)

    def note(self, **values: str) -> None:
        """Values shown beside the count (``mean_is_bps="1.23"``), kept until replaced."""
        self._notes.update(values)
        if self._bar is not None:
            self._bar_postfix()

    def close(self) -> None:
        """Finish the bar, or print the last plain line if the count moved since the last."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and not self._terminal and self.count and self.count != self._line_count:
            self._line(self.clock())

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------ parts

    def elapsed(self) -> float:
        return self.clock() - self._started

    def seconds_left(self) -> float | None:
        """Time to the end: by the rate so far against the total, by the budget, the sooner."""
        elapsed = self.elapsed()
        candidates = []
        if self.total is not None and self.count > 0 and elapsed > 0:
            candidates.append((self.total - self.count) * elapsed / self.count)
        if self.budget_secs is not None:
            candidates.append(self.budget_secs - elapsed)
        return max(0.0, min(candidates)) if candidates else None

    def status(self) -> str:
        """The plain line: count (of total), rate, elapsed (of budget), time left, notes."""
        elapsed = self.elapsed()
        if self.total:
            done = f"{self.count}/{self.total} {self.unit} ({self.count / self.total:.0%})"
        else:
            done = f"{self.count} {self.unit}"
        parts = [done]
        if elapsed > 0:
            parts.append(f"{self.count / elapsed:,.1f} {self.unit}/s")
        time_part = f"elapsed {format_duration(elapsed)}"
        if self.budget_secs is not None:
            time_part += f" of {format_duration(self.budget_secs)}"
        parts.append(time_part)
        left = self.seconds_left()
        if left is not None:
            parts.append(f"left {format_duration(left)}")
        parts.extend(f"{k}={v}" for k, v in self._notes.items())
        return f"{self.label}: " + ", ".join(parts)

    def _line(self, now: float) -> None:
        print(self.status(), file=self.stream, flush=True)
        self._line_count = self.count
        self._line_at = now
        self._lines += 1

    def _terminal_bar(self) -> tqdm[Any]:
        if self._bar is None:  # drawn at the first item, not before (see the module doc)
            self._bar = tqdm(
                total=self.total, file=self.stream, unit=self.unit, desc=self.label,
                dynamic_ncols=True,
            )  # fmt: skip
            if self._notes or self.budget_secs is not None:
                self._bar_postfix()
        return self._bar

    def _bar_postfix(self) -> None:
        assert self._bar is not None
        values = dict(self._notes)
        if self.budget_secs is not None:
            left = self.seconds_left()
            values["budget"] = format_duration(self.budget_secs)
            values["left"] = format_duration(left if left is not None else math.nan)
        self._bar.set_postfix(values, refresh=False)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False
