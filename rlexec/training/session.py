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
- The agent, its store and its executor come from the composition root (``rlexec.agent``),
  which also checks the agent's binding: the reward mode of an agent is fixed when it is
  created (``reward_mode`` or the config's ``[rl_execution.reward] mode``) and kept in its
  stored config snapshot, so ``rlexec train --agent original-reward --reward-mode original``
  once is enough and a later session uses the stored mode (asking for another one is
  refused); its state config must match; training on another market than the agent's is
  refused, evaluating on one is refused unless ``market="warn"``.
- What the session acts on and its episodes' ``snapshot_id`` (``session.snapshot_id``):
  ``PersistentAgent.act_on_mode_policy`` -- training the live table (NULL), evaluation a
  snapshot taken at the start, production the latest promoted snapshot (or its base, NULL).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.agent import assemble
from rlexec.config import AgentMode, Config, RewardMode
from rlexec.errors import InvalidInputError, StoreError
from rlexec.execution.rl_executor import RlEnhancedExecutor
from rlexec.market.base import Market
from rlexec.names import CURRENT_POLICY, PolicyChoice, check_agent_name
from rlexec.records import (
    DecisionRecord,
    EpisodeRecord,
    ExperienceRecord,
    PolicyMetricsRecord,
)
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.engine import dispose_engine, engine_for, session_factory
from rlexec.store.migrate import require_schema
from rlexec.store.models import Episode
from rlexec.store.repositories import (
    AgentRepository,
    AgentRow,
    DecisionRepository,
    EpisodeRepository,
    PolicyMetricsRepository,
    wrap_errors,
)
from rlexec.store.write_behind import AgentStore, LoadResult, Role
from rlexec.training.markets import build_market, typical_queue_depth


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
    # the policy its episodes ran: evaluation's start snapshot, production's promoted one;
    # None for training (the live table) and for production with nothing promoted (its base)
    snapshot_id: int | None = None
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
        except StoreError:  # the store is down or hangs: its connections are not closed politely
            await dispose_engine(self.engine, abandon=True)
            raise
        await dispose_engine(self.engine)  # bounded


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
    market: str = "refuse",
    snapshot: bool = True,
    policy: PolicyChoice = CURRENT_POLICY,
) -> AgentSession:
    """Open ``agent_name`` from the configured store (created if new, unless ``must_exist``)
    with its Q-table, visits, epsilon and replay experiences restored, a fresh market and the
    RL executor around the configured base. Training/production sessions start the store's
    background flush as the agent's learner (or ``role``); evaluation sessions read only and
    collect records in ``session.sink``. ``market``: another market than the agent's is
    ``refuse``d, or (evaluation) ``warn``ed about, or ``ignore``d (already checked).
    ``snapshot`` False: an evaluation that stores nothing takes no snapshot of the table;
    ``policy``: the table an evaluation scores (``rlexec.agent.PolicyChoice``)."""
    check_agent_name(agent_name)
    mode = AgentMode(mode)
    rl = config.rl_execution
    url = rl.database.url
    await require_schema(url, create=not must_exist)
    engine = engine_for(rl.database)
    store: AgentStore | None = None
    try:
        existing = await read_agent(engine, agent_name)
        if existing is None and must_exist:
            raise InvalidInputError(
                f"agent {agent_name!r} is not in the store: train it first "
                f"(rlexec train --agent {agent_name})"
            )
        next_seed = rl.simulator.seed
        if existing is not None:
            stored = await max_training_seed(engine, existing.id)
            if stored is not None:
                next_seed = max(next_seed, stored + 1)
        seed = agent_seed if agent_seed is not None else next_seed
        if role is None:
            role = Role.READER if mode is AgentMode.EVALUATION else Role.LEARNER
        if mode is not AgentMode.EVALUATION and market == "warn":
            market = "refuse"  # learning never mixes markets in one table
        persistent = assemble(
            config,
            agent_name,
            mode=mode,
            role=role,
            reward_mode=reward_mode,
            stored_snapshot=None if existing is None else existing.config_snapshot,
            seed=seed,
            market=market,
        )
        agent, store = persistent.agent, persistent.store
        loaded = await persistent.load()  # the binding checked, the config stored by hash
        # evaluation: a snapshot taken now and acted on; production: the promoted one
        snapshot_id = await persistent.act_on_mode_policy(snapshot=snapshot, policy=policy)
        row = await read_agent(engine, agent_name)
        if row is None:  # pragma: no cover - load() just created it
            raise StoreError(f"agent {agent_name!r} vanished from the store")
        simulated = build_market(rl)
        sink: CollectingSink | None = None
        if mode is AgentMode.EVALUATION:
            sink = CollectingSink(decisions=keep_decisions)
        executor = persistent.executor(
            sink=sink, typical_queue_depth=typical_queue_depth(simulated)
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
        reward_mode=persistent.reward_mode,
        agent=agent,
        market=simulated,
        executor=executor,
        engine=engine,
        store=store,
        loaded=loaded,
        agent_row=row,
        next_training_seed=next_seed,
        snapshot_id=snapshot_id,
        sink=sink,
    )


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
