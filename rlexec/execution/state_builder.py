"""Builds the agent's ``ExecutionState`` from an ``ExecutionContext`` and remembers, per parent
order, what the state cannot see in one snapshot: recent mid changes (volatility), when the
last trade printed, our recent child quantity and fills (fill rate), our recent slippage, and
the previous state and action.

- ``seconds_since_last_trade`` is None (missing) until a trade has been seen for the parent:
  an engine without a trades feed gets None in every state, never a silent 0.
- ``typical_queue_depth`` (what the queue-depth bucket divides the near-touch size by) is the
  one given (a simulator knows its own; ``[rl_execution.state] typical_queue_depth``
  overrides it), else estimated online from the books seen, shared by every parent of the
  builder: an exponentially weighted mean of the touch size (both sides' best levels
  averaged) with a span of ``depth_window`` books (default 300: weight ``2 / (300 + 1)`` per
  book, so the last ~300 books carry 86 % of it); the first book starts it.

Floats inside: the state is a feature vector for the learner, not money.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from rlexec.errors import InvalidInputError
from rlexec.execution.types import ExecutionContext
from rlexec.rl.types import ExecutionAction, ExecutionState

SECONDS_PER_HOUR = 3600
DEPTH_WINDOW = 300  # books: the span of the online typical-queue-depth estimate


@dataclass
class ParentMemory:
    """What the builder keeps about one parent order between decisions."""

    mid_changes: deque[float]  # step-to-step mid changes over the volatility window
    placed: deque[float]
    filled: deque[float]
    slippages_bps: deque[float]
    last_mid: float | None = None
    last_trade_time_secs: float | None = None
    last_trade_step: int | None = None
    previous_state: ExecutionState | None = None
    previous_action: ExecutionAction | None = None
    extra: dict[str, float] = field(default_factory=dict)


class StateBuilder:
    """One builder serves many parent orders at once; memory is keyed by parent id."""

    def __init__(
        self,
        *,
        typical_queue_depth: float | None = None,
        volatility_window: int = 30,
        history: int = 10,
        depth_window: int = DEPTH_WINDOW,
    ) -> None:
        if typical_queue_depth is not None and not (
            math.isfinite(typical_queue_depth) and typical_queue_depth > 0
        ):
            raise InvalidInputError(
                f"typical_queue_depth = {typical_queue_depth}: expected > 0, or None to "
                "estimate it from the books seen"
            )
        if depth_window < 1:
            raise InvalidInputError(f"depth_window = {depth_window}: expected >= 1 books")
        self.fixed_depth = typical_queue_depth is not None
        self._depth = typical_queue_depth  # None until the first book (online estimate)
        self._depth_weight = 2.0 / (depth_window + 1)
        self.depth_window = depth_window
        self.volatility_window = volatility_window
        self.history = history
        self._memory: dict[str, ParentMemory] = {}

    def memory(self, parent_id: str) -> ParentMemory:
        memory = self._memory.get(parent_id)
        if memory is None:
            memory = ParentMemory(
                mid_changes=deque(maxlen=self.volatility_window),
                placed=deque(maxlen=self.history),
                filled=deque(maxlen=self.history),
                slippages_bps=deque(maxlen=self.history),
            )
            self._memory[parent_id] = memory
        return memory

    def forget(self, parent_id: str) -> None:
        self._memory.pop(parent_id, None)

    @property
    def active_parents(self) -> int:
        return len(self._memory)

    @property
    def typical_queue_depth(self) -> float | None:
        """The yardstick in force: the given one, or the online estimate (None before any
        book)."""
        return self._depth

    def observe_market(self, context: ExecutionContext) -> None:
        """Record this step's mid and trades; call once per step, decision or not."""
        memory = self.memory(context.parent.parent_id)
        book = context.book
        mid = float(book.mid)
        if memory.last_mid is not None:
            memory.mid_changes.append(mid - memory.last_mid)
        memory.last_mid = mid
        if not self.fixed_depth:
            touch = float(book.bids[0].size + book.asks[0].size) * 0.5
            depth = self._depth
            self._depth = touch if depth is None else depth + self._depth_weight * (touch - depth)
        if context.recent_trades:
            newest = context.recent_trades[-1].step
            if memory.last_trade_step is None or newest > memory.last_trade_step:
                memory.last_trade_step = newest
                memory.last_trade_time_secs = context.time_of_day_secs

    def record_child(self, parent_id: str, placed: float) -> None:
        memory = self.memory(parent_id)
        memory.placed.append(placed)
        memory.filled.append(0.0)

    def record_fill(self, parent_id: str, quantity: float, slippage_bps: float) -> None:
        memory = self.memory(parent_id)
        if memory.filled:
            memory.filled[-1] += quantity
        memory.slippages_bps.append(slippage_bps)

    def build(
        self,
        context: ExecutionContext,
        *,
        resting: Decimal | None = None,
        schedule_target: Decimal | None = None,
    ) -> ExecutionState:
        """The state now. ``resting``: our children's resting quantity (default: from the
        context's open orders); ``schedule_target``: what the base schedule wants filled by
        now (None: on schedule, lag 0)."""
        memory = self.memory(context.parent.parent_id)
        book = context.book
        parent = context.parent
        near = book.near_touch(parent.side)
        time_of_day = context.time_of_day_secs
        hour = int(time_of_day // SECONDS_PER_HOUR) % 24
        minute = int(time_of_day % SECONDS_PER_HOUR) // 60
        since_trade: float | None = None  # missing: no trade seen for this parent yet
        if memory.last_trade_time_secs is not None:
            since_trade = max(0.0, time_of_day - memory.last_trade_time_secs)
        placed = sum(memory.placed)
        fill_rate = min(1.0, sum(memory.filled) / placed) if placed > 0 else 0.0
        slippages = memory.slippages_bps
        avg_slippage = sum(slippages) / len(slippages) if slippages else 0.0
        left = context.remaining_quantity
        remaining = float(left / parent.quantity)
        if resting is None:
            resting = context.resting_quantity
        resting_share = min(1.0, float(resting / left)) if left > 0 else 0.0
        if schedule_target is None:
            lag = 0.0
        else:
            lag = float((schedule_target - context.filled_quantity) / parent.quantity)
            lag = min(1.0, max(-1.0, lag))
        gaps = context.behind_touch()
        behind = float(max(gaps.values()) / book.tick_size) if gaps else 0.0
        # trusted: every feature is clamped or derived from the validated book, parent and
        # context (ExecutionContext checks its step; BookSnapshot its prices and sizes)
        return ExecutionState.trusted(
            (
                min(1.0, max(0.0, remaining)),
                context.time_elapsed_pct,
                parent.urgency,
                float(book.spread),
                book.imbalance,
                _std_of_changes(memory.mid_changes),
                float(near.size),
                hour,
                minute,
                since_trade,
                fill_rate,
                avg_slippage,
                float(book.tick_size),
                float(book.mid),
                self._depth if self._depth is not None else float(near.size),
                max(0.0, resting_share),
                lag,
                behind,
            )
        )

    def remember(self, parent_id: str, state: ExecutionState, action: ExecutionAction) -> None:
        memory = self.memory(parent_id)
        memory.previous_state = state
        memory.previous_action = action

    def get_previous(self, parent_id: str) -> tuple[ExecutionState, ExecutionAction] | None:
        memory = self._memory.get(parent_id)
        if memory is None or memory.previous_state is None or memory.previous_action is None:
            return None
        return memory.previous_state, memory.previous_action


def _std_of_changes(changes: deque[float]) -> float:
    """Standard deviation of the step-to-step mid changes over the window (price units)."""
    n = len(changes)
    if n < 2:
        return 0.0
    total = 0.0
    total_sq = 0.0
    for change in changes:
        total += change
        total_sq += change * change
    mean = total / n
    variance = max(0.0, total_sq / n - mean * mean)
    return math.sqrt(variance)
