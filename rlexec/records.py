"""Audit records: what the executor hands to storage, as plain dataclasses.

These are produced on the decision path and consumed by the write-behind store
(``rlexec.store.write_behind.AgentStore``); they import nothing from SQLAlchemy so that the
pure core can build them. Money is Decimal (quantities in shares or contracts, prices in price
units); rewards, probabilities and Q-values are floats. Timestamps are timezone-aware UTC
datetimes. The unit of every stored column is in ``rlexec.store.models`` and docs/analytics.md.

Records are frozen values. The decision record, written at every decision, has a second,
faster constructor for the executor (``DecisionRecord.from_values``, through
``rlexec.slots.unchecked_constructor``): a frozen dataclass's ``__init__`` sets each of its 44
fields through ``object.__setattr__`` by name, several microseconds per decision
(``scripts/bench/bench_api.py``).

Fields added with schema revision ``d41c7a9e2b18`` have defaults (None) so that older callers
keep working; None is stored as NULL and means "not recorded" (see each field).

``RecordSink`` is the protocol the executor writes to: every method is synchronous and touches
memory only. ``NullSink`` drops everything (evaluation runs without a database).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

# The raw ExecutionState features, in the order the decisions table stores them as columns.
from rlexec.rl.types import STATE_FEATURES as STATE_FEATURES
from rlexec.slots import unchecked_constructor

# Action labels, in ExecutionAction order; ``q_values`` tuples follow this order.
ACTION_LABELS: tuple[str, ...] = (
    "Wait",
    "PlaceSmall",
    "PlaceMedium",
    "PlaceLarge",
    "PlaceAll",
    "Cancel",
)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the only clock the records use)."""
    return datetime.now(UTC)


def new_run_id() -> str:
    """A fresh run id: one per train / evaluate / compare invocation (a uuid4 text)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One parent order, written when it ends (forced completion included).

    ``run_id``: the train / evaluate / compare invocation that ran the episode (one uuid per
    invocation, shared by every executor it ran); ``reward_mode``: the learning executor's
    reward mode (``shortfall`` / ``original``; None for a baseline executor, which learns
    nothing); ``urgency``: the parent's ``Urgency`` value (0 low, 1 normal, 2 high);
    ``completed_step``: the step (0 = the parent's first) at which its filled quantity reached
    its size; a resting child's fill during the market's move from step k to k + 1 counts at
    k + 1, and the forced completion at ``horizon_steps - 1``; ``order_id``: the engine's own
    id of the parent order (``start_order(order_id=...)``; None: not given, or not an
    engine's order). ``episode_id`` is rlexec's, unique: an engine may reuse its ids.
    """

    episode_id: str
    agent_name: str
    executor: str
    mode: str
    market: str
    side: str
    quantity: Decimal
    arrival_mid: Decimal
    seed: int
    horizon_steps: int
    config_hash: str
    snapshot_id: int | None
    started_at: datetime
    ended_at: datetime
    filled_by_policy: Decimal
    avg_price: Decimal
    implementation_shortfall_bps: float
    completion_quantity: Decimal
    completion_cost_bps: float
    child_orders: int
    total_reward: float
    terminated: bool
    truncated: bool
    run_id: str | None = None
    reward_mode: str | None = None
    urgency: int | None = None
    completed_step: int | None = None
    order_id: str | None = None

    @property
    def forced_completion(self) -> bool:
        """Whether the horizon's market order had to complete the parent."""
        return self.completion_quantity > 0


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision of the audit trail: what the agent saw, chose, and what came of it.

    ``urgency`` is the Urgency's integer value. ``q_values`` are the six Q-values the policy saw
    (ACTION_LABELS order); ``action_probability`` the probability the epsilon-greedy policy gave
    the chosen action (for off-policy estimates).

    ``filled_quantity`` / ``fill_price`` are every fill of the parent between this decision and
    the next (earlier children still resting and, for the last decision, the forced completion
    included); ``child_filled_quantity`` is the part of this decision's own child that filled
    in that interval (None when the decision placed no child).

    ``schedule_action`` / ``schedule_quantity``: the base schedule's action (label) and the
    quantity the base would have sent at this step (what the agent falls back to);
    ``greedy_action``: the action the policy's decision rule preferred (what it takes when not
    exploring); ``side`` (``buy`` / ``sell``) and ``arrival_mid`` (price units) are the
    parent's, copied here because decisions are stored before their episode row.
    """

    episode_id: str
    seq: int
    step: int
    decided_at: datetime
    remaining_size: float
    time_elapsed_pct: float
    urgency: int
    bid_ask_spread: float
    orderbook_imbalance: float
    recent_volatility: float
    queue_depth_at_price: float
    hour_of_day: int
    minute_of_hour: int
    seconds_since_last_trade: float | None  # None: no trade seen since the parent started
    recent_fill_rate: float
    avg_slippage_last_n: float
    tick_size: float
    mid_price: float
    typical_queue_depth: float
    state_key: str
    state_index: int
    action: str
    epsilon: float
    action_probability: float
    q_values: tuple[float, float, float, float, float, float]
    explored: bool
    child_quantity: Decimal | None
    child_price: Decimal | None
    filled_quantity: Decimal
    fill_price: Decimal | None
    fill_rate_reward: float
    slippage_penalty: float
    time_penalty: float
    market_impact_penalty: float
    reward_total: float
    schedule_action: str | None = None
    schedule_quantity: Decimal | None = None
    greedy_action: str | None = None
    side: str | None = None
    arrival_mid: Decimal | None = None
    child_filled_quantity: Decimal | None = None
    resting_share: float = 0.0
    schedule_lag: float = 0.0
    resting_behind_ticks: float = 0.0

    @classmethod
    def from_values(cls, values: DecisionValues) -> DecisionRecord:
        """The record of ``values`` in field order (the executor's path, once per decision):
        the same record as the keyword constructor's, set through the slots directly."""
        return _unchecked_decision(values)

    @property
    def deviated(self) -> bool | None:
        """Whether the agent's action differs from the base schedule's (None: not logged)."""
        return None if self.schedule_action is None else self.action != self.schedule_action

    @property
    def slippage_bps(self) -> float | None:
        """Cost of this interval's fills against the mid at the decision, in bps of that mid:
        ``sign * (fill_price - mid_price) / mid_price * 1e4`` with sign +1 for a buy and -1
        for a sell, so positive = we paid more (bought higher, sold lower) than the decision
        mid. None when nothing filled or the side is not logged."""
        if self.fill_price is None or self.side is None:
            return None
        sign = 1.0 if self.side == "buy" else -1.0
        return sign * (float(self.fill_price) - self.mid_price) / self.mid_price * 1e4


DecisionValues = tuple[
    str,
    int,
    int,
    datetime,  # episode_id, seq, step, decided_at
    float,
    float,
    int,
    float,
    float,
    float,
    float,
    int,
    int,
    float | None,
    float,
    float,
    float,
    float,
    float,  # the state features, STATE_FEATURES order up to typical_queue_depth
    str,
    int,
    str,
    float,
    float,  # state_key, state_index, action, epsilon, action_probability
    tuple[float, float, float, float, float, float],
    bool,  # q_values, explored
    Decimal | None,
    Decimal | None,
    Decimal,
    Decimal | None,  # child qty / price, filled, price
    float,
    float,
    float,
    float,
    float,  # the reward parts and reward_total
    str | None,
    Decimal | None,
    str | None,  # schedule_action, schedule_quantity, greedy_action
    str | None,
    Decimal | None,
    Decimal | None,  # side, arrival_mid, child_filled_quantity
    float,
    float,
    float,  # resting_share, schedule_lag, resting_behind_ticks
]
"""A ``DecisionRecord``'s values in field order (``DecisionRecord.from_values``)."""
_unchecked_decision = unchecked_constructor(DecisionRecord)


@dataclass(frozen=True, slots=True)
class ExperienceRecord:
    """One transition, by state key, as the replay buffer needs it after a restart."""

    state_key: str
    action: str
    reward: float
    next_state_key: str
    terminated: bool
    truncated: bool
    created_at: datetime = field(default_factory=utc_now)
    next_schedule_action: str | None = None  # the base's action at the next state (bootstrap)


METRICS_SOURCES: tuple[str, ...] = ("training", "evaluation", "engine")


@dataclass(frozen=True, slots=True)
class PolicyMetricsRecord:
    """A periodic snapshot of the policy; ``action_distribution`` maps label -> share of the
    visited states whose greedy action it is.

    ``mode``: the agent's mode when the row was taken (``training``, ``production``,
    ``evaluation``; says what ``epsilon`` means: an evaluation row's 0 is the greedy run's, not
    the agent's exploration rate); ``source``: what wrote it (``training``: the training loop;
    ``evaluation``: a greedy evaluation, with ``estimated_improvement_bps``; ``engine``: an
    outside engine using the store); ``run_id``: the invocation that wrote it (as episodes).
    """

    recorded_at: datetime
    states_visited: int
    mean_q: float
    action_distribution: Mapping[str, float]
    epsilon: float
    estimated_improvement_bps: float | None
    updates: int
    mode: str | None = None
    source: str | None = None
    run_id: str | None = None

    def greedy_counts(self) -> tuple[int, int, int, int, int, int]:
        """Visited states per greedy action (ACTION_LABELS order): share x states_visited."""
        n = self.states_visited
        c = [round(float(self.action_distribution.get(label, 0.0)) * n) for label in ACTION_LABELS]
        return (c[0], c[1], c[2], c[3], c[4], c[5])


@runtime_checkable
class RecordSink(Protocol):
    """Where the executor writes its records. Synchronous, memory only, never blocks on I/O."""

    def append_episode(self, record: EpisodeRecord) -> None: ...

    def append_decision(self, record: DecisionRecord) -> None: ...

    def append_experience(self, record: ExperienceRecord) -> None: ...

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None: ...


class NullSink:
    """A RecordSink that drops everything (evaluation without a database, tests)."""

    def append_episode(self, record: EpisodeRecord) -> None:
        return None

    def append_decision(self, record: DecisionRecord) -> None:
        return None

    def append_experience(self, record: ExperienceRecord) -> None:
        return None

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None:
        return None
