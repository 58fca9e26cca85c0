"""Audit records: what the executor hands to storage, as plain dataclasses.

These are produced on the decision path and consumed by the write-behind store
(``rlexec.store.write_behind.AgentStore``); they import nothing from SQLAlchemy so that the
pure core can build them. Money is Decimal (quantities, prices); rewards, probabilities and
Q-values are floats. Timestamps are timezone-aware UTC datetimes.

``RecordSink`` is the protocol the executor writes to: every method is synchronous and touches
memory only. ``NullSink`` drops everything (evaluation runs without a database).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

# The raw ExecutionState features, in the order the decisions table stores them as columns.
from rlexec.rl.types import STATE_FEATURES as STATE_FEATURES

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


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One parent order, written when it ends (forced completion included)."""

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


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision of the audit trail: what the agent saw, chose, and what came of it.

    ``urgency`` is the Urgency's integer value. ``q_values`` are the six Q-values the policy saw
    (ACTION_LABELS order); ``action_probability`` the probability the epsilon-greedy policy gave
    the chosen action (for off-policy estimates).
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
    seconds_since_last_trade: float
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


@dataclass(frozen=True, slots=True)
class PolicyMetricsRecord:
    """A periodic snapshot of the policy; ``action_distribution`` maps label -> share."""

    recorded_at: datetime
    states_visited: int
    mean_q: float
    action_distribution: Mapping[str, float]
    epsilon: float
    estimated_improvement_bps: float | None
    updates: int


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
