"""The composition root: the one place that assembles a persistent agent from a ``Config`` and
a database URL: the Q-learning agent, its write-behind ``AgentStore`` and the executor factory
(the configured TWAP/VWAP base wrapped in ``RlEnhancedExecutor``). Training, evaluation and
comparison sessions, model import/export, replay, the public API (``rlexec.api``) and the
example all ask it; none assembles the parts again.

    persistent = assemble(config, "desk-1", mode=AgentMode.PRODUCTION)
    await persistent.load()              # or persistent.load_blocking() without an event loop
    executor = persistent.executor()     # one per engine; any number of parents at once
    ...
    await persistent.store.close()

It does not migrate (callers check the schema with ``rlexec.store.migrate.require_schema``)
or build simulators: a caller that runs a simulator passes the market's
``typical_queue_depth`` to ``executor()``.

**The policy a mode acts on** (``act_on_mode_policy``, called by the sessions and the public
API after ``load``), and the ``snapshot_id`` its episodes record (``episodes.snapshot_id``):

- ``training``: the live table, which every episode changes: no snapshot is that policy, so
  training episodes record NULL;
- ``evaluation``: a snapshot of the stored table taken at the start, which the agent then acts
  on exactly (greedy): its episodes name that snapshot, and re-simulating one from it gives the
  same decisions (a learner writing meanwhile cannot change what ran);
- ``production``: the agent's latest promoted snapshot (``rlexec.store.promotions``), explored
  at the production epsilon, while learning goes on in the live table; its episodes name that
  snapshot. Nothing promoted: the agent runs its base (an empty acting table, no exploration)
  and its episodes record NULL.

**Binding**: what an agent's Q-values mean is fixed when it is created and kept in its stored
config snapshot (``agents.config_snapshot``): the state configuration (bucket counts and the
optional features of the key), the reward mode and the simulated problem it learns
(``simulator.market`` and the parent orders: ``side``, ``parent_quantity``, ``horizon_steps``,
and the market's own settings: ``lob`` overrides, ``almgren_chriss_preset``,
``recorded_path``). ``load`` refuses an existing agent whose binding differs, before any
table is read or lease taken, with one line naming the first difference:

- the state configuration must be equal (``state.typical_queue_depth``, a yardstick, may
  differ);
- an explicitly requested reward mode must be the stored one (without a request the stored
  mode is used: the config's ``reward.mode`` is the mode of a *new* agent);
- ``check_market``: the configured simulator must be the stored problem (training refuses
  another one; evaluation refuses it unless told to go on, then warns): an agent trained on
  500 contracts is not silently scored on 2000. The public API,
  which trades on the engine's own market, does not check it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from rlexec.config import (
    AgentMode,
    Config,
    RewardConfig,
    RewardMode,
    SimulatorConfig,
    StateConfig,
    override,
)
from rlexec.errors import InvalidInputError, StoreError
from rlexec.execution.rl_executor import RlEnhancedExecutor
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import TWAP, ScheduledExecutor
from rlexec.execution.vwap import VWAP
from rlexec.names import CURRENT_POLICY, PROMOTED_POLICY, PolicyChoice, check_agent_name
from rlexec.records import PolicyMetricsRecord, RecordSink, utc_now
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.promotions import latest_promoted_snapshot_of
from rlexec.store.snapshots import (
    config_data,
    create_snapshot,
    get_snapshot,
    hash_config_data,
    load_snapshot_policy,
    save_config,
)
from rlexec.store.write_behind import AgentStore, LoadResult, Role

log = logging.getLogger(__name__)

# State settings that do not change what a state key means (a yardstick the builder uses).
_STATE_NOT_BOUND = frozenset({"typical_queue_depth"})
# The simulated problem an agent learns: its Q-values are the costs of these parent orders on
# this market (the market's own settings only where they apply to it).
_SIMULATOR_BOUND_ALWAYS = ("side", "parent_quantity", "horizon_steps")
_SIMULATOR_BOUND_BY_MARKET: dict[str, tuple[str, ...]] = {
    "equity": ("lob",),
    "prediction_market": ("lob",),
    "almgren_chriss": ("almgren_chriss_preset",),
    "recorded": ("recorded_path",),
}
_SIMULATOR_BOUND = (
    "market",
    *_SIMULATOR_BOUND_ALWAYS,
    *sorted({key for keys in _SIMULATOR_BOUND_BY_MARKET.values() for key in keys}),
)


class BindingError(InvalidInputError):
    """An existing agent was opened with a config whose Q-values would mean something else."""


def nothing_promoted(name: str) -> InvalidInputError:
    """The error of ``policy = 'promoted'`` for an agent with no promoted policy."""
    return InvalidInputError(
        f"policy = 'promoted': agent {name!r} has no promoted policy (in production it runs "
        "its base; see rlexec promotions list)"
    )


def config_hash(config: Config) -> str:
    """The short stable hash episodes carry (``rlexec.store.snapshots.hash_config_data`` of
    the config without its database section)."""
    return hash_config_data(config_data(config))


def config_snapshot(config: Config, reward_mode: RewardMode) -> dict[str, Any]:
    """What a new agent's row stores: the config (database excluded) with the reward mode the
    agent keeps."""
    data = config_data(config)
    data["reward"]["mode"] = str(reward_mode)
    return data


def with_database(config: Config, database_url: str | None) -> Config:
    """``config`` with ``database_url`` (if given) as its database URL."""
    return config if database_url is None else override(config, "database", url=database_url)


def base_executor(config: Config) -> ScheduledExecutor:
    """The TWAP/VWAP schedule the RL executor wraps (``[rl_execution.executor]``)."""
    ex = config.rl_execution.executor
    if ex.base == "twap":
        return TWAP(slices=ex.slices, style=ex.base_style)
    return VWAP(profile="u_shaped", slices=ex.slices, style=ex.base_style)


def base_executor_name(config: Config) -> str:
    """The stored name of the RL executor's base: ``twap``/``vwap`` (aggressive) or
    ``twap_passive``/``vwap_passive``."""
    ex = config.rl_execution.executor
    return ex.base if ex.base_style == "aggressive" else f"{ex.base}_passive"


def new_q_agent(
    config: Config, *, mode: AgentMode | str, seed: int = 0, replay: bool = True
) -> QTableAgent:
    """The Q-learning agent of ``config`` (``replay``: with the configured replay buffer;
    actors do not replay, their learner does)."""
    rl = config.rl_execution
    return QTableAgent(
        rl.q_learning,
        rl.state,
        mode=AgentMode(mode),
        seed=seed,
        replay_config=rl.replay_buffer if replay else None,
    )


def new_executor(
    config: Config,
    agent: QTableAgent,
    *,
    sink: RecordSink | None,
    agent_name: str,
    reward_mode: RewardMode,
    typical_queue_depth: float | None = None,
    decision_interval_steps: int | None = None,
    config_hash_: str | None = None,
) -> RlEnhancedExecutor:
    """The RL-enhanced executor around the configured base, writing to ``sink``.

    ``typical_queue_depth``: the market's, when a simulator knows it; the config's
    ``state.typical_queue_depth`` overrides it; neither: estimated from the books seen.
    ``decision_interval_steps``: default ``executor.decision_interval_steps``."""
    rl = config.rl_execution
    depth = rl.state.typical_queue_depth
    return RlEnhancedExecutor(
        base_executor(config),
        agent,
        state_builder=StateBuilder(typical_queue_depth=depth or typical_queue_depth),
        reward=RewardConfig(**{**rl.reward.model_dump(), "mode": reward_mode}),
        enabled=rl.enabled,
        decision_interval_steps=(
            rl.executor.decision_interval_steps
            if decision_interval_steps is None
            else decision_interval_steps
        ),
        sink=sink,
        agent_name=agent_name,
        config_hash=config_hash(config) if config_hash_ is None else config_hash_,
    )


def policy_metrics_record(
    agent: QTableAgent,
    *,
    source: str,
    improvement: float | None = None,
    run_id: str | None = None,
    acting: bool = False,
) -> PolicyMetricsRecord:
    """``agent``'s policy metrics now, as the row ``source`` writes in run ``run_id``
    (``acting``: of the table it acts on, see ``QTableAgent.policy_metrics``)."""
    metrics = agent.policy_metrics(acting=acting)
    return PolicyMetricsRecord(
        recorded_at=utc_now(),
        states_visited=metrics.num_states_visited,
        mean_q=metrics.avg_q_value,
        action_distribution=dict(metrics.action_distribution),
        epsilon=float(agent.epsilon),
        estimated_improvement_bps=improvement,
        updates=int(agent.updates),
        mode=str(agent.mode),
        source=source,
        run_id=run_id,
    )


# ---- binding ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Binding:
    """What an agent's Q-values mean (see the module doc)."""

    state: StateConfig
    reward_mode: RewardMode
    simulator: Mapping[str, Any]  # the stored values of the bound simulator keys

    @property
    def market(self) -> str:
        return str(self.simulator["market"])

    @classmethod
    def of_snapshot(cls, agent_name: str, snapshot: Mapping[str, Any]) -> Binding:
        """The binding a stored config snapshot records (a simulator key it lacks, from an
        older rlexec, has its default)."""
        try:
            # a state config stored before the touch part existed had none
            stored_state = {"include_touch": False, **snapshot.get("state", {})}
            state = StateConfig.model_validate(stored_state)
            reward_mode = RewardMode(snapshot.get("reward", {}).get("mode", "shortfall"))
            stored = dict(snapshot.get("simulator", {}))
            simulator = {
                key: stored.get(key, SimulatorConfig.model_fields[key].get_default())
                for key in _SIMULATOR_BOUND
            }
        except (ValidationError, ValueError, AttributeError, TypeError) as exc:
            raise StoreError(
                f"agent {agent_name!r}: its stored config snapshot cannot be read ({exc!r:.200})"
            ) from None
        return cls(state, reward_mode, simulator)

    def refusal(
        self,
        agent_name: str,
        config: Config,
        *,
        reward_mode: RewardMode | None,
        check_market: bool,
    ) -> str | None:
        """Why ``config`` (with an explicitly requested ``reward_mode``) cannot open this
        agent, in one line; None if it can."""
        rl = config.rl_execution
        stored = self.state.model_dump()
        wanted = rl.state.model_dump()
        for key in stored:
            if key not in _STATE_NOT_BOUND and stored[key] != wanted[key]:
                return (
                    f"agent {agent_name!r} was created with state.{key} = {stored[key]!r}, "
                    f"this config has {wanted[key]!r}: its Q-table keys mean other states; "
                    "use the agent's state config or another agent name"
                )
        if reward_mode is not None and reward_mode is not self.reward_mode:
            return (
                f"agent {agent_name!r} learns with reward mode {self.reward_mode.value!r}, "
                f"not {reward_mode.value!r}: one Q-table cannot mix reward definitions; "
                "train another agent name for that mode"
            )
        if not check_market:
            return None
        simulator = rl.simulator
        market_differs = simulator.market != self.market
        keys: tuple[str, ...] = _SIMULATOR_BOUND_ALWAYS
        if not market_differs:
            keys = (*keys, *_SIMULATOR_BOUND_BY_MARKET.get(self.market, ()))
        pairs = [(key, self.simulator[key], getattr(simulator, key)) for key in keys]
        differences = [
            f"simulator.{key} = {trained!r}, this config has {configured!r}"
            for key, trained, configured in pairs
            if trained != configured
        ]
        if market_differs:
            return "; ".join(
                [
                    f"agent {agent_name!r} was trained on market {self.market!r}, this config "
                    f"simulates {simulator.market!r}",
                    *(f"and with {d}" for d in differences),
                ]
            )
        if differences:
            return (
                f"agent {agent_name!r} was trained with {'; '.join(differences)}: its Q-values "
                "are the costs of other parent orders"
            )
        return None


def check_binding(
    agent_name: str,
    snapshot: Mapping[str, Any],
    config: Config,
    *,
    reward_mode: RewardMode | None = None,
    market: str = "refuse",
) -> None:
    """Raise ``BindingError`` if ``config`` cannot open the stored agent. ``market``:
    ``refuse`` another market, ``warn`` (log a warning and go on) or ``ignore``."""
    binding = Binding.of_snapshot(agent_name, snapshot)
    reason = binding.refusal(agent_name, config, reward_mode=reward_mode, check_market=False)
    if reason is not None:
        raise BindingError(reason)
    if market == "ignore":
        return
    reason = binding.refusal(agent_name, config, reward_mode=None, check_market=True)
    if reason is None:
        return
    if market == "warn":
        log.warning("%s; going on as asked", reason)
        return
    raise BindingError(
        f"{reason}: use the agent's settings or another agent name (rlexec evaluate and "
        "compare take --force to score it anyway)"
    )


def stored_reward_mode(
    snapshot: Mapping[str, Any] | None, requested: RewardMode | str | None, configured: RewardMode
) -> RewardMode:
    """The reward mode a session runs with: the requested one, else the stored agent's, else
    the configured one (a new agent)."""
    if requested is not None:
        try:
            return RewardMode(requested)
        except ValueError:
            raise InvalidInputError(
                f"reward mode = {requested!r}: expected one of "
                f"{', '.join(m.value for m in RewardMode)}"
            ) from None
    if snapshot is not None:
        stored = snapshot.get("reward", {}).get("mode")
        with contextlib.suppress(ValueError):
            if stored is not None:
                return RewardMode(stored)
    return configured


# ---- the persistent agent -----------------------------------------------------------------


@dataclass
class PersistentAgent:
    """An agent, its store and its executor factory (see the module doc)."""

    config: Config
    agent_name: str
    agent: QTableAgent
    store: AgentStore
    reward_mode: RewardMode
    loaded: LoadResult | None = None
    snapshot_id: int | None = None  # the policy its episodes ran (act_on_mode_policy)

    @property
    def effective_config(self) -> Config:
        """The config as this agent runs: its reward mode (the one requested, or the stored
        one of an existing agent) in place of the file's ``reward.mode``. What its episodes'
        ``config_hash`` names and what ``configs`` stores under that hash."""
        if self.config.rl_execution.reward.mode is self.reward_mode:
            return self.config
        return override(self.config, "reward", mode=self.reward_mode)

    @property
    def config_hash(self) -> str:
        return config_hash(self.effective_config)

    def executor(
        self,
        *,
        sink: RecordSink | None = None,
        typical_queue_depth: float | None = None,
        decision_interval_steps: int | None = None,
    ) -> RlEnhancedExecutor:
        """A new RL executor of this agent writing to ``sink`` (default: the store)."""
        return new_executor(
            self.config,
            self.agent,
            sink=self.store if sink is None else sink,
            agent_name=self.agent_name,
            reward_mode=self.reward_mode,
            typical_queue_depth=typical_queue_depth,
            decision_interval_steps=decision_interval_steps,
            config_hash_=self.config_hash,
        )

    def policy_metrics_record(
        self, *, source: str, improvement: float | None = None, run_id: str | None = None
    ) -> PolicyMetricsRecord:
        """The agent's policy metrics now, as the row ``source`` writes (in run ``run_id``)."""
        return policy_metrics_record(
            self.agent, source=source, improvement=improvement, run_id=run_id
        )

    async def load(self) -> LoadResult:
        """Load the agent from the store (binding checked) and store its config by hash, so
        that its episodes' ``config_hash`` resolves."""
        loaded = await self.store.load()
        try:
            await self.store.writer.run(self._save_config)
        except BaseException:
            with contextlib.suppress(StoreError):
                await self.store.close()
            raise
        self.loaded = loaded
        return loaded

    def load_blocking(self) -> LoadResult:
        """``load`` without an event loop (the writer thread does the I/O)."""
        loaded = self.store.load_blocking()
        try:
            self.store.writer.submit(self._save_config).result()
        except BaseException:
            with contextlib.suppress(StoreError):
                self.store.close_blocking()
            raise
        self.loaded = loaded
        return loaded

    async def _save_config(self, engine: Any) -> None:
        await save_config(engine, self.effective_config)

    async def act_on_mode_policy(
        self, *, snapshot: bool = True, policy: PolicyChoice = CURRENT_POLICY
    ) -> int | None:
        """After ``load``: point the agent at the policy its mode acts on (see the module
        doc); returns (and keeps in ``snapshot_id``) the snapshot its episodes record.
        Evaluation only: ``policy`` is the table scored (``PolicyChoice``); with the current
        table and ``snapshot`` False (an evaluation whose episodes are not stored) it acts on
        a frozen copy of the loaded table without writing a snapshot of it."""
        evaluation = self.agent.mode is AgentMode.EVALUATION
        if policy != CURRENT_POLICY and not evaluation:
            raise InvalidInputError(
                f"policy = {policy!r}: only an evaluation chooses its policy ({self.agent.mode} "
                "acts on its mode's)"
            )
        if not snapshot and evaluation and policy == CURRENT_POLICY:
            agent = self.agent
            agent.set_acting_table(agent.q_values, agent.visits, agent.variances)
            self.snapshot_id = None
            return None

        async def choose(engine: Any) -> int | None:
            return await self._mode_policy(engine, policy)

        self.snapshot_id = await self.store.writer.run(choose)
        return self.snapshot_id

    def act_on_mode_policy_blocking(self) -> int | None:
        """``act_on_mode_policy`` without an event loop (the writer thread does the I/O)."""
        self.snapshot_id = self.store.writer.submit(self._mode_policy).result()
        return self.snapshot_id

    async def _mode_policy(self, engine: Any, policy: PolicyChoice = CURRENT_POLICY) -> int | None:
        agent = self.agent
        name = self.agent_name
        if agent.mode is AgentMode.TRAINING:
            return None
        if agent.mode is AgentMode.PRODUCTION:
            snapshot_id = await latest_promoted_snapshot_of(engine, name)
            if snapshot_id is None:  # nothing promoted: the base, exactly
                agent.set_acting_table(np.zeros_like(agent.q_values), np.zeros_like(agent.visits))
                agent.set_epsilon(0.0)
                return None
            agent.set_mode(AgentMode.PRODUCTION)  # its exploration, if it ran its base so far
        elif policy == PROMOTED_POLICY:
            snapshot_id = await latest_promoted_snapshot_of(engine, name)
            if snapshot_id is None:
                raise nothing_promoted(name)
        elif isinstance(policy, int):
            owner = (await get_snapshot(engine, policy)).agent_name
            if owner != name:
                raise InvalidInputError(
                    f"policy = {policy}: snapshot {policy} is agent {owner!r}'s, not {name!r}'s"
                )
            snapshot_id = policy
        else:
            label = f"{agent.mode} session {utc_now():%Y-%m-%dT%H:%M:%SZ}"
            snapshot_id = (await create_snapshot(engine, name, label)).id
        _, table = await load_snapshot_policy(engine, snapshot_id, agent.state_config)
        agent.set_acting_table(table.q, table.visits, table.variances)
        return snapshot_id


def assemble(
    config: Config,
    agent_name: str,
    *,
    mode: AgentMode | str,
    role: Role | str = Role.LEARNER,
    reward_mode: RewardMode | str | None = None,
    stored_snapshot: Mapping[str, Any] | None = None,
    seed: int = 0,
    market: str = "refuse",
    experiences: bool = True,
) -> PersistentAgent:
    """Build (no I/O yet) the agent ``agent_name`` of the configured database: its Q agent in
    ``mode`` and its store in ``role``. ``stored_snapshot``: the existing agent row's config
    snapshot if the caller has read it (it fixes the reward mode); else the stored mode is
    found at load, and a new agent takes ``reward_mode`` or the config's. ``market``: how
    ``load`` treats another market (``refuse`` / ``warn`` / ``ignore``, see
    ``check_binding``); ``experiences``: load the newest experiences into the replay buffer
    (a learning agent; never in evaluation mode)."""
    check_agent_name(agent_name)
    rl = config.rl_execution
    role = Role(role)
    requested = None
    if reward_mode is not None:
        requested = stored_reward_mode(None, reward_mode, rl.reward.mode)
    chosen = stored_reward_mode(stored_snapshot, requested, rl.reward.mode)
    agent = new_q_agent(config, mode=mode, seed=seed, replay=role is not Role.ACTOR)
    persistence = rl.persistence
    if AgentMode(mode) is AgentMode.EVALUATION or not experiences:
        persistence = persistence.model_copy(update={"experiences_to_load": 0})
    persistent = PersistentAgent(
        config=config,
        agent_name=agent_name,
        agent=agent,
        store=AgentStore(
            agent,
            rl.database.url,
            agent_name=agent_name,
            persistence=persistence,
            config_snapshot=config_snapshot(config, chosen),
            role=role,
            connect_timeout_secs=rl.database.connect_timeout_secs,
            command_timeout_secs=rl.database.command_timeout_secs,
        ),
        reward_mode=chosen,
    )

    def accept(snapshot: Mapping[str, Any]) -> None:
        check_binding(agent_name, snapshot, config, reward_mode=requested, market=market)
        persistent.reward_mode = stored_reward_mode(snapshot, requested, rl.reward.mode)

    persistent.store.accept_existing = accept
    return persistent
