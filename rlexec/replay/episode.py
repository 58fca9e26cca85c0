"""``rlexec replay episode ID``: re-simulate a stored episode and check that it comes out the
same.

What is re-created, and from what:

- the **market path**: a fresh market built from the episode's config (the ``configs`` row of
  its ``config_hash``; else the agent's stored config snapshot or the current config, when
  their hash is the episode's), reset with the episode's **seed**;
- the **parent order**: the episode's side, quantity and horizon (urgency from its decisions),
  with the episode id as parent id;
- the **executor**: the RL-enhanced executor around the configured base schedule, with the
  agent's reward mode and decision interval — a deterministic function of the market and of
  the agent's choices;
- the **agent's choices**: a ``ReplayAgent`` that, at decision ``seq``, re-derives the action
  with the one decision rule (``rlexec.rl.policy``). Its greedy action is
  - for an *evaluation* episode run with a policy snapshot: recomputed, the rule applied to the
    snapshot's table (Q-values, visits, and variances, unknown (NaN) until the store keeps
    them) with the decision's logged ``schedule_action`` as the base's action;
  - otherwise (a training episode: the table it saw changed while it learned, and the visits
    and variances of that moment are not logged) the logged ``greedy_action``, whose
    consistency with the logged action is what is checked.
  Explored decisions are re-derived with ``policy.choose`` from the decision's exploration
  draw (episodes run by rlexec's training loop, evaluation and comparison draw it from a
  per-episode stream seeded by their market seed, ``rl_executor.exploration_stream``), and in
  a training episode the length of the exploration stretch it starts with
  ``policy.stretch_length``: the stretch's later decisions repeat its action (explored,
  probability 1). An outside engine's episode (its market is not a simulator: ``external``
  by default) cannot be re-simulated, and replay says so first.
  When the episode ran greedily (evaluation mode) with a policy snapshot, the logged Q-values
  are also checked against the snapshot.

What is verified, decision by decision (first difference reported): the step, every raw state
feature (own resting share and schedule lag included), the state key and index, the base
schedule's action, the greedy action and the action with its consistency (above), the logged
probability (``policy.action_probability``), the child
order (quantity, limit price), the fills (quantity, average price) and every reward part; then
the episode's totals (arrival mid, filled by policy, average price, IS, completion, child
orders, total reward). Floats must be equal to 1e-9 relative (storage round-trips doubles
exactly; NUMERIC(20, 8) money is compared at its stored precision). ``schedule_action`` and
``greedy_action`` are compared where they were logged (rows older than the columns hold NULL
where the migration could not derive them), ``greedy_action`` only when the agent decided (a
disabled run logs the live table's preference, which a replay without that table lacks).

The re-simulation itself (``resimulate``) is pure: it takes the episode's records and config,
and the snapshot table when there is one; ``replay_episode`` loads them from the store.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import AgentMode, Config, RewardMode, SimulatorConfig, parse_config
from rlexec.errors import InvalidInputError
from rlexec.execution.paired_baseline import baseline_shortfall_path
from rlexec.execution.rl_executor import EpisodeMeta
from rlexec.execution.runner import run_episode
from rlexec.execution.types import ParentOrder
from rlexec.market.book import Side
from rlexec.records import STATE_FEATURES, DecisionRecord, EpisodeRecord
from rlexec.rl import policy
from rlexec.rl.policy import PolicyTable
from rlexec.rl.q_learning import Decision, QTableAgent
from rlexec.rl.types import ExecutionAction, Urgency
from rlexec.store.engine import session_factory
from rlexec.store.repositories import AgentRepository, DecisionRepository, EpisodeRepository
from rlexec.store.snapshots import config_data, hash_config_data, load_config_data

_ACTION_BY_LABEL = {action.label: action for action in ExecutionAction}
_MONEY_TOLERANCE = 1e-8

_DECISION_FIELDS: tuple[str, ...] = (
    "step",
    *STATE_FEATURES,
    "state_key",
    "state_index",
    "schedule_action",
    "greedy_action",
    "action",
    "explored",
    "action_probability",
    "child_quantity",
    "child_price",
    "filled_quantity",
    "fill_price",
    "fill_rate_reward",
    "slippage_penalty",
    "time_penalty",
    "market_impact_penalty",
    "reward_total",
)
# NULL on rows older than the column
_LOGGED_SINCE: frozenset[str] = frozenset(
    {"schedule_action", "greedy_action", "resting_behind_ticks"}
)
_EPISODE_FIELDS: tuple[str, ...] = (
    "arrival_mid",
    "filled_by_policy",
    "avg_price",
    "implementation_shortfall_bps",
    "completion_quantity",
    "completion_cost_bps",
    "child_orders",
    "total_reward",
)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first difference: ``seq`` None means an episode total (or the decision count)."""

    seq: int | None
    field: str
    stored: Any
    replayed: Any

    def describe(self) -> str:
        where = "episode" if self.seq is None else f"decision seq {self.seq}"
        return f"{where}: {self.field}: stored {self.stored!r}, replayed {self.replayed!r}"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    episode_id: str
    decisions_stored: int
    decisions_replayed: int
    explored_from_log: int
    explored_rederived: int
    mismatch: Mismatch | None
    config_source: str

    @property
    def identical(self) -> bool:
        return self.mismatch is None


class _Diverged(Exception):
    """The replay asked for more decisions than the log holds."""


class _Collect:
    """A RecordSink keeping the replay's decisions and episode."""

    def __init__(self) -> None:
        self.decisions: list[DecisionRecord] = []
        self.episodes: list[EpisodeRecord] = []

    def append_episode(self, record: EpisodeRecord) -> None:
        self.episodes.append(record)

    def append_decision(self, record: DecisionRecord) -> None:
        self.decisions.append(record)

    def append_experience(self, record: object) -> None:
        return None

    def append_policy_metrics(self, record: object) -> None:
        return None


EXTERNAL_MARKET = EpisodeMeta().market  # what an outside engine's episodes record by default
SIMULATED_MARKETS: tuple[str, ...] = typing.get_args(
    SimulatorConfig.model_fields["market"].annotation
)  # what can be re-simulated: every other market is an outside engine's


class ReplayAgent(QTableAgent):
    """An evaluation-mode agent that re-derives each logged decision in turn with the one
    decision rule (see the module doc); it never learns. With ``table`` (an evaluation
    episode's snapshot) the greedy action is recomputed from it, else taken from the log;
    ``stretches``: the episode explored in stretches (training)."""

    def __init__(
        self,
        config: Config,
        logged: Sequence[DecisionRecord],
        table: PolicyTable | None = None,
        *,
        stretches: bool = False,
    ) -> None:
        rl = config.rl_execution
        super().__init__(rl.q_learning, rl.state, mode=AgentMode.EVALUATION)
        if table is not None:
            self.restore(table.q, table.visits, 0.0, 0, variances=table.variances)
        self.table = table
        self.stretches = stretches
        self.logged = list(logged)
        self.cursor = 0
        self.explored_from_log = 0
        self.explored_rederived = 0
        self.inconsistent: Mismatch | None = None

    def decide_index(
        self,
        state_index: int,
        default_action: int | None = None,
        uniform: float | None = None,
        repeat: int | None = None,
    ) -> Decision:
        if self.cursor >= len(self.logged):
            raise _Diverged
        record = self.logged[self.cursor]
        self.cursor += 1
        row = tuple(float(v) for v in record.q_values)
        eps = float(record.epsilon)
        logged = int(_ACTION_BY_LABEL[record.action])
        greedy, source = self._greedy(record, state_index, default_action)
        stretch = 0
        if repeat is not None and self.stretches:  # a stretch's later decision: its action
            action, explored = repeat, True
            self.explored_rederived += 1
        elif uniform is None:  # no per-episode stream: explored draws cannot be re-derived
            explored = bool(record.explored)
            action = logged if explored else greedy
            if explored:
                self.explored_from_log += 1
        else:
            action, explored = policy.choose(greedy, eps, uniform)
            if explored:
                self.explored_rederived += 1
                if self.stretches:
                    stretch = policy.stretch_length(uniform, eps) - 1
        if (action, explored) != (logged, bool(record.explored)) and self.inconsistent is None:
            self.inconsistent = Mismatch(
                record.seq,
                "action",
                f"{record.action} (explored {bool(record.explored)})",
                f"{ExecutionAction(action).label} (explored {explored}; greedy "
                f"{ExecutionAction(greedy).label}, {source})",
            )
        repeated = repeat is not None and self.stretches
        return Decision(
            ExecutionAction(action),
            explored,
            1.0 if repeated else policy.action_probability(action, greedy, eps),
            row,
            ExecutionAction(greedy),
            eps,
            state_index,
            stretch,
        )

    def _greedy(
        self, record: DecisionRecord, state_index: int, default_action: int | None
    ) -> tuple[int, str]:
        """The decision's greedy action and where it comes from."""
        base = (
            int(_ACTION_BY_LABEL[record.schedule_action])
            if record.schedule_action in _ACTION_BY_LABEL
            else default_action
        )
        if self.table is not None:
            return int(self.greedy_index(state_index, base)), "the rule on the snapshot's table"
        if record.greedy_action in _ACTION_BY_LABEL:
            return int(_ACTION_BY_LABEL[record.greedy_action]), "as logged"
        # a row older than greedy_action (the migration left it NULL only for explored
        # decisions whose Q-values tied): a greedy decision took its greedy action, and an
        # explored one whose logged probability is the greedy one's did too
        action = int(_ACTION_BY_LABEL[record.action])
        eps = float(record.epsilon)
        if not record.explored or math.isclose(
            record.action_probability, policy.action_probability(action, action, eps)
        ):
            return action, "not logged: the logged action"
        if self.inconsistent is None:
            self.inconsistent = Mismatch(
                record.seq,
                "greedy_action",
                None,
                "not logged for this explored decision: it cannot be re-derived",
            )
        return (action + 1) % len(ExecutionAction), "not logged"


def _same(stored: Any, replayed: Any) -> bool:
    if stored is None or replayed is None:
        return stored is None and replayed is None
    if isinstance(stored, bool) or isinstance(replayed, bool) or isinstance(stored, str):
        return bool(stored == replayed)
    if isinstance(stored, Decimal) or isinstance(replayed, Decimal):
        return math.isclose(float(stored), float(replayed), rel_tol=1e-12, abs_tol=_MONEY_TOLERANCE)
    return math.isclose(float(stored), float(replayed), rel_tol=1e-9, abs_tol=1e-12)


def compare(
    stored: Sequence[DecisionRecord],
    replayed: Sequence[DecisionRecord],
    stored_episode: EpisodeRecord,
    replayed_episode: EpisodeRecord | None,
    *,
    agent_decided: bool = True,
) -> Mismatch | None:
    """The first difference between the stored and the re-simulated records, or None
    (``agent_decided`` False: a disabled run, whose logged greedy actions are not compared)."""
    for a, b in zip(stored, replayed, strict=False):
        for name in _DECISION_FIELDS:
            if name == "greedy_action" and not agent_decided:
                continue
            if name in _LOGGED_SINCE and getattr(a, name) is None:
                continue  # not logged in this row
            if not _same(getattr(a, name), getattr(b, name)):
                return Mismatch(a.seq, name, getattr(a, name), getattr(b, name))
    if len(stored) != len(replayed):
        return Mismatch(None, "decisions", len(stored), len(replayed))
    if replayed_episode is None:
        return Mismatch(None, "episode record", "stored", "missing")
    for name in _EPISODE_FIELDS:
        if not _same(getattr(stored_episode, name), getattr(replayed_episode, name)):
            return Mismatch(
                None, name, getattr(stored_episode, name), getattr(replayed_episode, name)
            )
    return None


async def _episode_config(
    engine: AsyncEngine, episode: EpisodeRecord, current: Config, agent_snapshot: dict[str, Any]
) -> tuple[Config, str]:
    stored = await load_config_data(engine, episode.config_hash)
    if stored is not None:
        return _config_from(stored), f"configs row {episode.config_hash}"
    if agent_snapshot and hash_config_data(agent_snapshot) == episode.config_hash:
        return _config_from(agent_snapshot), "the agent's stored config snapshot"
    if hash_config_data(config_data(current)) == episode.config_hash:
        return current, "the current config"
    raise InvalidInputError(
        f"episode {episode.episode_id}: config hash {episode.config_hash!r} is not stored and "
        "the current config hashes differently: run with the config the episode ran with "
        "(--config PATH)"
    )


def _config_from(data: dict[str, Any]) -> Config:
    return parse_config({"rl_execution": data}, source="stored config")


@dataclass(frozen=True, eq=False)
class Resimulation:
    """What ``resimulate`` re-created and the first difference it found (None: identical)."""

    decisions: list[DecisionRecord]
    episode: EpisodeRecord | None
    agent: ReplayAgent
    mismatch: Mismatch | None


async def resimulate(
    config: Config,
    episode: EpisodeRecord,
    stored: Sequence[DecisionRecord],
    *,
    reward_mode: RewardMode,
    table: PolicyTable | None = None,
) -> Resimulation:
    """Re-run ``episode`` from its config, seed and logged decisions (and, for an evaluation
    episode with a snapshot, its ``table``) and compare with ``stored``. No I/O."""
    from rlexec.agent import new_executor
    from rlexec.training.markets import build_market, typical_queue_depth

    rl = config.rl_execution
    if not stored:
        raise InvalidInputError(
            f"episode id = {episode.episode_id!r}: it has no logged decisions (a baseline "
            "executor's episode): nothing to replay"
        )
    if episode.market != rl.simulator.market:
        raise InvalidInputError(
            f"episode {episode.episode_id}: market {episode.market!r}, but its config "
            f"simulates {rl.simulator.market!r}: it cannot be re-simulated"
        )
    market = build_market(rl)
    training = episode.mode == str(AgentMode.TRAINING)
    agent = ReplayAgent(config, stored, table, stretches=training)
    sink = _Collect()
    executor = new_executor(
        config,
        agent,
        sink=sink,
        agent_name=episode.agent_name,
        reward_mode=reward_mode,
        typical_queue_depth=typical_queue_depth(market),
        config_hash_=episode.config_hash,
    )
    episode_id = episode.episode_id
    parent = ParentOrder(
        episode_id,
        Side(episode.side),
        episode.quantity,
        episode.horizon_steps,
        Urgency(stored[0].urgency),
    )
    paired = reward_mode is RewardMode.SHORTFALL and rl.reward.paired_baseline and training
    baseline = (
        await baseline_shortfall_path(executor.base, market, parent, episode.seed)
        if paired
        else None
    )
    executor.begin(
        episode_id,
        EpisodeMeta(
            seed=episode.seed,
            market=episode.market,
            snapshot_id=episode.snapshot_id,
            baseline=baseline,
            exploration_seed=None if episode.market == EXTERNAL_MARKET else episode.seed,
        ),
    )
    try:
        await run_episode(executor, market, parent, episode.seed)
    except _Diverged:
        mismatch: Mismatch | None = Mismatch(
            None, "decisions", len(stored), f"more than {len(stored)}"
        )
    else:
        mismatch = compare(
            stored,
            sink.decisions,
            episode,
            sink.episodes[-1] if sink.episodes else None,
            agent_decided=rl.enabled,
        )
    inconsistent = agent.inconsistent
    if (
        inconsistent is not None
        and inconsistent.seq is not None
        and (mismatch is None or mismatch.seq is None or inconsistent.seq <= mismatch.seq)
    ):
        mismatch = inconsistent
    return Resimulation(
        sink.decisions, sink.episodes[-1] if sink.episodes else None, agent, mismatch
    )


async def replay_episode(engine: AsyncEngine, episode_id: str, current: Config) -> ReplayResult:
    """Re-simulate episode ``episode_id`` of the store and compare (see the module doc)."""
    from rlexec.store.snapshots import load_snapshot_policy

    async with session_factory(engine)() as session:
        episode = await EpisodeRepository(session).get(episode_id)
        if episode is None:
            raise InvalidInputError(f"episode id = {episode_id!r}: no such episode in the store")
        stored = await DecisionRepository(session).for_episode(episode_id)
        agent_row = await AgentRepository(session).get_by_name(episode.agent_name)
    if episode.market not in SIMULATED_MARKETS:
        raise InvalidInputError(
            f"episode {episode_id}: it ran on market {episode.market!r} (an outside engine's, "
            "not a simulator): it cannot be re-simulated; `rlexec replay evaluate` scores its "
            "logged decisions under another policy"
        )
    if not stored:
        raise InvalidInputError(
            f"episode id = {episode_id!r}: it has no logged decisions (a baseline executor's "
            "episode): nothing to replay"
        )
    agent_snapshot = {} if agent_row is None else dict(agent_row.config_snapshot)
    config, source = await _episode_config(engine, episode, current, agent_snapshot)
    rl = config.rl_execution
    mode = RewardMode(agent_snapshot.get("reward", {}).get("mode", rl.reward.mode))
    table = None
    if episode.snapshot_id is not None and episode.mode == str(AgentMode.EVALUATION):
        _, table = await load_snapshot_policy(engine, episode.snapshot_id, rl.state)
    result = await resimulate(config, episode, stored, reward_mode=mode, table=table)
    mismatch = result.mismatch
    if mismatch is None and table is not None:
        mismatch = _check_snapshot_q(table, stored)
    return ReplayResult(
        episode_id=episode_id,
        decisions_stored=len(stored),
        decisions_replayed=len(result.decisions),
        explored_from_log=result.agent.explored_from_log,
        explored_rederived=result.agent.explored_rederived,
        mismatch=mismatch,
        config_source=source,
    )


def _check_snapshot_q(table: PolicyTable, stored: Sequence[DecisionRecord]) -> Mismatch | None:
    """A greedy episode run with a snapshot must have seen the snapshot's Q-values."""
    for record in stored:
        expected = tuple(float(v) for v in table.q[record.state_index])
        if not all(_same(a, b) for a, b in zip(record.q_values, expected, strict=True)):
            return Mismatch(record.seq, "q_values vs snapshot", record.q_values, expected)
    return None


def format_result(result: ReplayResult) -> str:
    """The text ``rlexec replay episode`` prints."""
    head = (
        f"episode {result.episode_id}: {result.decisions_replayed} of "
        f"{result.decisions_stored} decisions re-simulated (config from {result.config_source}; "
        f"{result.explored_rederived} explored actions re-derived from the episode's "
        f"exploration stream, {result.explored_from_log} taken from the log)"
    )
    if result.mismatch is None:
        return head + "\nidentical: states, actions, child orders, fills, rewards and totals"
    return head + f"\nMISMATCH at {result.mismatch.describe()}"
