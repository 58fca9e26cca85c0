"""An agent session: the Q-learning agent, its store and the RL-enhanced executor, built from a
``Config`` and an agent name, ready for training, evaluation or comparison.

    session = await open_session(config, "default", mode=AgentMode.TRAINING)
    ... run episodes with session.executor on session.market ...
    await session.close()          # final flush (training) and engine disposal

- The database must be at the schema head (``rlexec.store.migrate.require_schema``): a
  session that may create its agent (``must_exist=False``) may also create a new SQLite file;
  an older database is refused until ``rlexec db upgrade``.
- Training and production sessions learn into the store through the write-behind
  ``AgentStore`` (background flush every ``save_interval_secs``; ``close()`` flushes the rest)
  as the agent's learner (lease) or, with ``role=Role.ACTOR``, as one of its actors.
- Evaluation sessions restore the Q-table from the store but never write Q-values or the
  agent's epsilon back (an evaluation must not reset the stored exploration rate to 0); their
  episodes and decisions are collected in a ``CollectingSink`` and appended with
  ``write_records`` in one transaction.
- The reward mode of an agent is fixed when it is created (``reward_mode`` or the config's
  ``[rl_execution.reward] mode``) and kept in its stored config snapshot: a later session of
  the same agent uses the stored mode unless told otherwise, so ``rlexec train --agent
  original-reward --reward-mode original`` once is enough.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import AgentMode, Config, RewardConfig, RewardMode
from rlexec.errors import InvalidInputError, StoreError
from rlexec.execution.rl_executor import RlEnhancedExecutor
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import TWAP, ScheduledExecutor
from rlexec.execution.vwap import VWAP
from rlexec.market.base import Market
from rlexec.names import check_agent_name
from rlexec.records import (
    DecisionRecord,
    EpisodeRecord,
    ExperienceRecord,
    PolicyMetricsRecord,
    RecordSink,
    utc_now,
)
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.engine import create_engine, session_factory
from rlexec.store.migrate import require_schema
from rlexec.store.models import Episode
from rlexec.store.promotions import latest_promoted_snapshot_of
from rlexec.store.repositories import (
    AgentRepository,
    AgentRow,
    DecisionRepository,
    EpisodeRepository,
    PolicyMetricsRepository,
    wrap_errors,
)
from rlexec.store.snapshots import create_snapshot, load_snapshot_policy, save_config
from rlexec.store.write_behind import AgentStore, LoadResult, Role
from rlexec.training.markets import build_market, typical_queue_depth


def config_hash(config: Config) -> str:
    """A short stable hash of the config (database URL excluded: it may hold a password)."""
    data = config.rl_execution.model_dump(mode="json", exclude={"database"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def config_snapshot(config: Config, reward_mode: RewardMode) -> dict[str, Any]:
    data = config.rl_execution.model_dump(mode="json", exclude={"database"})
    data["reward"]["mode"] = str(reward_mode)
    return data


def base_executor(config: Config) -> ScheduledExecutor:
    """The TWAP/VWAP schedule the RL executor wraps (``[rl_execution.executor]``)."""
    ex = config.rl_execution.executor
    if ex.base == "twap":
        return TWAP(slices=ex.slices, style=ex.base_style)
    return VWAP(profile="u_shaped", slices=ex.slices, style=ex.base_style)


def rl_executor(
    config: Config,
    agent: QTableAgent,
    typical_queue_depth: float,
    *,
    reward: RewardConfig | None = None,
    sink: RecordSink | None = None,
    agent_name: str = "default",
    config_hash: str = "",
) -> RlEnhancedExecutor:
    """The RL executor of ``config`` around its base (``base_executor``), deciding with
    ``agent``: the one place that wires them (sessions, validation, benchmarks)."""
    rl = config.rl_execution
    return RlEnhancedExecutor(
        base_executor(config),
        agent,
        state_builder=StateBuilder(typical_queue_depth=typical_queue_depth),
        reward=rl.reward if reward is None else reward,
        enabled=rl.enabled,
        decision_interval_steps=rl.executor.decision_interval_steps,
        sink=sink,
        agent_name=agent_name,
        config_hash=config_hash,
    )


class CollectingSink:
    """A RecordSink that keeps everything in lists (evaluation runs)."""

    def __init__(self, *, decisions: bool = True) -> None:
        self.keep_decisions = decisions
        self.episodes: list[EpisodeRecord] = []
        self.decisions: list[DecisionRecord] = []
        self.experiences: list[ExperienceRecord] = []
        self.metrics: list[PolicyMetricsRecord] = []

    def append_episode(self, record: EpisodeRecord) -> None:
        self.episodes.append(record)

    def append_decision(self, record: DecisionRecord) -> None:
        if self.keep_decisions:
            self.decisions.append(record)

    def append_experience(self, record: ExperienceRecord) -> None:
        self.experiences.append(record)

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None:
        self.metrics.append(record)


@dataclass
class AgentSession:
    """One agent opened from the store with its executor and market (see the module doc)."""

    config: Config
    agent_name: str
    mode: AgentMode
    reward_mode: RewardMode
    agent: QTableAgent
    market: Market
    executor: RlEnhancedExecutor
    engine: AsyncEngine
    store: AgentStore
    loaded: LoadResult
    agent_row: AgentRow
    next_training_seed: int
    snapshot_id: int | None = None  # the policy snapshot taken when the session opened
    sink: CollectingSink | None = None

    @property
    def agent_id(self) -> int:
        return self.agent_row.id

    @property
    def learning(self) -> bool:
        return self.mode is not AgentMode.EVALUATION

    async def close(self) -> None:
        """Final flush (learning sessions), writer thread stopped, engine disposed."""
        try:
            await self.store.close()
        finally:
            await self.engine.dispose()


async def open_session(
    config: Config,
    agent_name: str = "default",
    *,
    mode: AgentMode | str = AgentMode.TRAINING,
    reward_mode: RewardMode | str | None = None,
    must_exist: bool = False,
    agent_seed: int | None = None,
    keep_decisions: bool = True,
    role: Role | None = None,
) -> AgentSession:
    """Open ``agent_name`` from the configured store (created if new, unless ``must_exist``)
    with its Q-table, visits, epsilon and replay experiences restored, a fresh market and the
    RL executor around the configured base. Training/production sessions start the store's
    background flush as the agent's learner (or ``role``); evaluation sessions read only and
    collect records in ``session.sink``."""
    check_agent_name(agent_name)
    mode = AgentMode(mode)
    rl = config.rl_execution
    url = rl.database.url
    await require_schema(url, create=not must_exist)
    engine = create_engine(url, connect_timeout_secs=rl.database.connect_timeout_secs)
    store: AgentStore | None = None
    try:
        existing = await read_agent(engine, agent_name)
        if existing is None and must_exist:
            raise InvalidInputError(
                f"agent {agent_name!r} is not in the store: train it first "
                f"(rlexec train --agent {agent_name})"
            )
        chosen = _reward_mode(existing, reward_mode, rl.reward.mode)
        next_seed = rl.simulator.seed
        if existing is not None:
            stored = await max_training_seed(engine, existing.id)
            if stored is not None:
                next_seed = max(next_seed, stored + 1)
        seed = agent_seed if agent_seed is not None else next_seed
        if role is None:
            role = Role.READER if mode is AgentMode.EVALUATION else Role.LEARNER
        agent = QTableAgent(
            rl.q_learning,
            rl.state,
            mode=AgentMode.TRAINING,
            seed=seed,
            replay_config=None if role is Role.ACTOR else rl.replay_buffer,  # learners replay
        )
        persistence = rl.persistence
        if mode is AgentMode.EVALUATION:
            persistence = persistence.model_copy(update={"experiences_to_load": 0})
        store = AgentStore(
            agent,
            engine,
            agent_name=agent_name,
            persistence=persistence,
            config_snapshot=config_snapshot(config, chosen),
            role=role,
        )
        loaded = await store.load()
        agent.set_mode(mode)
        if mode is AgentMode.PRODUCTION:
            await _act_on_promoted_policy(engine, agent_name, agent)
        # The audit trail's re-simulation needs the config by hash and the policy the session
        # started from: store both (a snapshot copies the stored Q-table in one statement).
        await save_config(engine, config)
        started = await create_snapshot(
            engine, agent_name, f"{mode} session {utc_now():%Y-%m-%dT%H:%M:%SZ}"
        )
        row = await read_agent(engine, agent_name)
        if row is None:  # pragma: no cover - load() just created it
            raise StoreError(f"agent {agent_name!r} vanished from the store")
        market = build_market(rl)
        sink: CollectingSink | None = None
        if mode is AgentMode.EVALUATION:
            sink = CollectingSink(decisions=keep_decisions)
        executor = rl_executor(
            config,
            agent,
            typical_queue_depth(market),
            reward=RewardConfig(**{**rl.reward.model_dump(), "mode": chosen}),
            sink=store if sink is None else sink,
            agent_name=agent_name,
            config_hash=config_hash(config),
        )
        if mode is not AgentMode.EVALUATION:
            store.start()
    except BaseException:
        if store is not None:
            with contextlib.suppress(StoreError):
                await store.close()
        await engine.dispose()
        raise
    return AgentSession(
        config=config,
        agent_name=agent_name,
        mode=mode,
        reward_mode=chosen,
        agent=agent,
        market=market,
        executor=executor,
        engine=engine,
        store=store,
        loaded=loaded,
        agent_row=row,
        next_training_seed=next_seed,
        snapshot_id=started.id,
        sink=sink,
    )


async def _act_on_promoted_policy(engine: AsyncEngine, agent_name: str, agent: QTableAgent) -> None:
    """Production acts on the agent's latest promoted policy (learning goes on in the live
    table); with nothing promoted it runs its base: an empty acting table and no
    exploration."""
    snapshot_id = await latest_promoted_snapshot_of(engine, agent_name)
    if snapshot_id is None:
        empty = np.zeros_like(agent.q_values)
        agent.set_acting_table(empty, np.zeros_like(agent.visits))
        agent.set_epsilon(0.0)
        return
    _, table = await load_snapshot_policy(engine, snapshot_id, agent.state_config)
    agent.set_acting_table(table.q, table.visits, table.variances)


def _reward_mode(
    existing: AgentRow | None, requested: RewardMode | str | None, configured: RewardMode
) -> RewardMode:
    if requested is not None:
        try:
            return RewardMode(requested)
        except ValueError:
            raise InvalidInputError(
                f"reward mode = {requested!r}: expected one of "
                f"{', '.join(m.value for m in RewardMode)}"
            ) from None
    if existing is not None:
        stored = existing.config_snapshot.get("reward", {}).get("mode")
        with contextlib.suppress(ValueError):
            if stored is not None:
                return RewardMode(stored)
    return configured


async def read_agent(engine: AsyncEngine, agent_name: str) -> AgentRow | None:
    async with session_factory(engine)() as db:
        return await AgentRepository(db).get_by_name(agent_name)


async def count_episodes(engine: AsyncEngine, agent_id: int, *, mode: str | None = None) -> int:
    """Episodes stored for the agent (optionally only of ``mode``)."""
    stmt = sa.select(sa.func.count()).select_from(Episode).where(Episode.agent_id == agent_id)
    if mode is not None:
        stmt = stmt.where(Episode.mode == mode)
    async with session_factory(engine)() as db, wrap_errors(db, "counting episodes"):
        return int(await db.scalar(stmt) or 0)


async def max_training_seed(engine: AsyncEngine, agent_id: int) -> int | None:
    """The highest seed of the agent's stored training episodes (None if none)."""
    stmt = sa.select(sa.func.max(Episode.seed)).where(
        Episode.agent_id == agent_id, Episode.mode == str(AgentMode.TRAINING)
    )
    async with session_factory(engine)() as db, wrap_errors(db, "reading training seeds"):
        value = await db.scalar(stmt)
    return None if value is None else int(value)


async def write_records(
    engine: AsyncEngine,
    agent_id: int | None,
    *,
    episodes: list[EpisodeRecord] | tuple[EpisodeRecord, ...] = (),
    decisions: list[DecisionRecord] | tuple[DecisionRecord, ...] = (),
    metrics: list[PolicyMetricsRecord] | tuple[PolicyMetricsRecord, ...] = (),
) -> None:
    """Append evaluation records in one transaction (metrics need an agent id)."""
    async with session_factory(engine)() as db, db.begin():
        await EpisodeRepository(db).append(agent_id, list(episodes))
        await DecisionRepository(db).append(agent_id, list(decisions))
        if metrics and agent_id is not None:
            await PolicyMetricsRepository(db).append(agent_id, list(metrics))
