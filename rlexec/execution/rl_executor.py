"""The RL-enhanced executor: a Q-learning agent decides timing and size on top of a TWAP/VWAP
base schedule, which it wraps without changing.

The MDP is three small objects beside the market, as in Qlib's order-execution package; the
executor orchestrates them per parent order and writes the records, and the gymnasium env
(``rlexec.gym_env``) runs this executor, so training, the env and a live engine share one MDP:
- **state**: ``rlexec.execution.state_builder.StateBuilder`` (the context to an
  ``ExecutionState``; the agent's discretizer turns it into the state key);
- **action**: ``rlexec.execution.actions.ActionInterpreter`` (the base's own action at a
  decision; a chosen action to cancels and a child order: the base's action follows the base
  exactly until the next decision, any other acts once and then holds);
- **reward**: ``rlexec.rl.reward.TransitionReward`` (``[rl_execution.reward] mode``:
  ``shortfall``, minus the change of the mark-to-market shortfall, or ``original``), over the
  parent's running ``Shortfall``, which also gives the episode record its IS.

What each side decides: the **base** (``ScheduledExecutor``: TWAP or VWAP) gives the schedule
and the limit price; the **agent** decides, every ``decision_interval_steps`` steps, one of
the six actions, with the base's action as its default (``rlexec.rl.policy``: an untrained
agent *is* its base, paired, on every seed).

Cancels: the runner asks ``cancel_requests`` before ``get_next_order`` (only when children
rest); whichever comes first in a decision step makes the decision, so a Cancel takes effect
in the same step.

Exploration: with ``EpisodeMeta.exploration_seed`` (the training loop passes the episode's
market seed) every decision's draw comes from a per-episode stream (``exploration_stream``), so
an episode's explored decisions can be re-derived from its seed; without it, from the agent's
own stream.

Learning: the agent learns from a parent order when it ends (``QTableAgent.observe_episode``:
each decision's target is the order's actual cost from that decision on, or a lambda-return).

Records: every decision goes to the ``RecordSink`` (the write-behind store) once its outcome
is known (at the next decision or at the end); its transition (an experience) and the episode
record are written by ``finish`` (which also returns the episode record), an episode's
experiences together and in order (a learner applying an actor's queued transitions rebuilds
the episode from them). Many parent orders may run at once on one executor and one shared
agent: all per-parent memory is keyed by parent id, and ``finish`` removes all of it.

Disabled (``enabled = false``, the kill switch): the base works the parent exactly as it would
alone, every step. The episode and its decisions are still recorded, with the base as the
behaviour policy: at every decision step a decision row logs the state, the Q-values the agent
would have seen and its greedy action, with action = the base's action (the action that names
what the base does), probability 1, epsilon 0, never explored. Nothing is learned
and no experience is written (the logged action only approximates what the base sent).

Synchronous core: ``cancels``, ``next_order``, ``fill`` and ``end`` do the work and touch
memory only (no I/O, no await); the ``ExecutionAlgorithm`` coroutines the simulator runner
awaits call them, and a synchronous engine (``rlexec.api``) calls them directly. Reward and
feature arithmetic is in floats (a learning signal); orders, fills and stored prices are
Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import cast

import numpy as np

from rlexec.config import RewardConfig
from rlexec.execution.actions import ActionInterpreter
from rlexec.execution.base import BaseExecutor
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import ScheduledExecutor
from rlexec.execution.types import ExecutionContext, Order
from rlexec.records import (
    DecisionRecord,
    EpisodeRecord,
    ExperienceRecord,
    NullSink,
    RecordSink,
    utc_now,
)
from rlexec.rl.q_learning import Decision, EpisodeStep, QTableAgent
from rlexec.rl.reward import TransitionReward
from rlexec.rl.types import ExecutionAction, ExecutionReward, ExecutionState

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class EpisodeMeta:
    """What the audit trail needs to re-simulate an episode; an outside engine may leave the
    defaults."""

    seed: int = 0
    market: str = "external"
    snapshot_id: int | None = None
    baseline: Sequence[float] | None = None  # the base's S_t on the same seed (training only)
    exploration_seed: int | None = None  # per-episode exploration draws; None: the agent's
    run_id: str | None = None  # the train / evaluate / compare invocation (audit trail)
    order_id: str | None = None  # the engine's own id of the parent order (public API)


EXPLORATION_SALT = 0x5EED_E7A1  # keeps the exploration stream apart from the market's


def exploration_stream(exploration_seed: int) -> np.random.Generator:
    """The per-episode stream of exploration draws: one uniform per decision, in order. Replay
    rebuilds it from the episode's seed to re-derive explored decisions."""
    return np.random.default_rng([EXPLORATION_SALT, exploration_seed])


@dataclass
class _ParentRun:
    """Per-parent bookkeeping of the executor (floats for reward, Decimal for outcomes)."""

    meta: EpisodeMeta
    started_at: datetime
    exploration: np.random.Generator | None
    reward: TransitionReward  # the transition's reward and the parent's running shortfall
    side: str = ""
    arrival_mid: Decimal = ZERO  # for the records
    completion_quantity: Decimal = ZERO
    completion_cost: float = 0.0
    policy_filled: Decimal = ZERO
    notional: Decimal = ZERO
    total_filled: Decimal = ZERO
    child_ids: set[str] = field(default_factory=set)
    child_orders: int = 0
    seq: int = 0
    decided_step: int = -1
    prepared_step: int = -1  # the step state_at last ran for
    # this step's (state, state index, base action, base quantity); None between decisions
    prepared: tuple[ExecutionState, int, ExecutionAction, Decimal] | None = None
    action: ExecutionAction | None = None
    state: ExecutionState | None = None
    decision: Decision | None = None
    decided_at: datetime | None = None
    decision_step: int = 0
    child_quantity: Decimal | None = None
    child_price: Decimal | None = None
    child_order_id: str | None = None  # the current decision's own child
    interval_child_filled: Decimal = ZERO
    schedule_action: ExecutionAction = ExecutionAction.WAIT
    schedule_quantity: Decimal = ZERO
    following: bool = False  # the current decision took the base's action: follow the base
    stretch_action: ExecutionAction | None = None  # an exploration being repeated
    stretch_left: int = 0
    steps: list[EpisodeStep] = field(default_factory=list)  # learned from at the end
    # per step: (next state index, next base action, terminated, closed at), for the
    # experience records, built at the end with the episode's (off the decision path)
    nexts: list[tuple[int, ExecutionAction | None, bool, datetime]] = field(default_factory=list)
    completed_step: int | None = None
    total_reward: float = 0.0


class RlEnhancedExecutor(BaseExecutor):
    """An ``ExecutionAlgorithm`` that lets ``agent`` time and size the children of ``base``."""

    def __init__(
        self,
        base: ScheduledExecutor,
        agent: QTableAgent,
        *,
        state_builder: StateBuilder,
        reward: RewardConfig | None = None,
        enabled: bool = True,
        decision_interval_steps: int = 5,
        sink: RecordSink | None = None,
        agent_name: str = "default",
        config_hash: str = "",
    ) -> None:
        super().__init__()
        if decision_interval_steps < 1:
            raise ValueError(f"decision_interval_steps = {decision_interval_steps}: expected >= 1")
        self.base = base
        self.agent = agent
        self.builder = state_builder
        self.actions = ActionInterpreter(base)
        self.reward_config = reward or RewardConfig()
        self.enabled = enabled
        self.interval = decision_interval_steps
        self.sink: RecordSink = sink if sink is not None else NullSink()
        self.agent_name = agent_name
        self.config_hash = config_hash
        self.name = f"rl-{base.name}" if enabled else base.name
        self._runs: dict[str, _ParentRun] = {}
        self._meta: dict[str, EpisodeMeta] = {}

    # -- episode metadata -------------------------------------------------------------------
    def begin(self, parent_id: str, meta: EpisodeMeta) -> None:
        """Attach the seed / market / snapshot of a parent before it starts (optional); kept
        until ``finish``."""
        self._meta[parent_id] = meta

    def prepare(self, parent_id: str, context: ExecutionContext) -> None:
        """Set the parent up now from its arrival context (step 0): its bookkeeping, the state
        builder's memory and the base's schedule, work the first decision would otherwise do
        (optional; the public API calls it when an order starts, so that its first decision
        costs what the others do). Call ``begin`` first."""
        self._run(parent_id, context)
        self.builder.memory(parent_id)
        self.base.schedule(context)

    @property
    def active_parents(self) -> int:
        """Parents with memory held (begun or started, not finished)."""
        return len(self._runs.keys() | self._meta.keys())

    # -- the protocol (the simulator runner awaits these; each calls its synchronous core) ---
    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        return self.cancels(parent_id, context)

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        return self.next_order(parent_id, context)

    async def record_fill(
        self,
        parent_id: str,
        order_id: str,
        filled: Decimal,
        price: Decimal,
        context: ExecutionContext,
    ) -> None:
        self.fill(parent_id, order_id, filled, price, context)

    async def finish(self, parent_id: str, context: ExecutionContext) -> EpisodeRecord:
        return self.end(parent_id, context)

    # -- the synchronous core ---------------------------------------------------------------
    def cancels(self, parent_id: str, context: ExecutionContext) -> list[str]:
        """Ids of resting children to cancel now (asked before ``next_order``)."""
        if not self.enabled:
            self._observe_base(parent_id, context)
            return self.base.cancels(context)
        action = self._decide(parent_id, context)
        return self.actions.cancels(context, action, following=self._runs[parent_id].following)

    def next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        """The child order to send now, if any."""
        if not self.enabled:
            self._observe_base(parent_id, context)
            base_order = self.base.next_order(parent_id, context)
            if base_order is not None:
                run = self._runs[parent_id]
                self._track_child(run, base_order, own=run.action is not None)
            return base_order
        action = self._decide(parent_id, context)
        run = self._runs[parent_id]
        # at a decision step where the base cancels nothing, the base's wanted quantity is the
        # one its action was read from (no cancel in between): no need to ask it again
        known = action is not None and run.schedule_action is not ExecutionAction.CANCEL
        order = self.actions.child_order(
            parent_id,
            context,
            action,
            following=run.following,
            new_order_id=self.next_order_id,
            base_wanted=run.schedule_quantity if known else None,
        )
        if order is not None:
            self._track_child(run, order, own=True)
        return order

    def _track_child(self, run: _ParentRun, order: Order, *, own: bool) -> None:
        """A child sent for the parent; ``own``: the current decision's child."""
        run.child_ids.add(order.order_id)
        run.child_orders += 1
        if own and run.child_order_id is None:
            run.child_quantity = order.quantity
            run.child_price = order.limit_price
            run.child_order_id = order.order_id
        self.builder.record_child(order.parent_id, float(order.quantity))

    def fill(
        self,
        parent_id: str,
        order_id: str,
        filled: Decimal,
        price: Decimal,
        context: ExecutionContext,
    ) -> None:
        """A fill of the parent: one of its children, or (another id) the forced completion.
        (The base, a schedule, reads its progress from the context: it needs no fills.)"""
        run = self._run(parent_id, context)
        cost = run.reward.add_fill(filled, price)
        run.notional += filled * price
        run.total_filled += filled
        if order_id == run.child_order_id:
            run.interval_child_filled += filled
        if run.completed_step is None and run.total_filled >= context.parent.quantity:
            run.completed_step = context.step
        if order_id in run.child_ids:
            run.policy_filled += filled
            mid = float(context.book.mid)
            slippage_bps = run.reward.shortfall.sign * (float(price) - mid) / mid * 1e4
            self.builder.record_fill(parent_id, float(filled), slippage_bps)
        else:  # the runner's forced completion at the horizon
            run.completion_quantity += filled
            run.completion_cost += cost

    def end(self, parent_id: str, context: ExecutionContext) -> EpisodeRecord:
        """The parent is done (after the forced completion): its last decision is closed, its
        episode record written to the sink and returned, and every memory of it dropped."""
        run = self._run(parent_id, context)
        if run.decision is not None and run.state is not None:
            if self.enabled:
                self._close_transition(parent_id, run, context, None, terminated=True)
            else:
                self._close_logged(
                    parent_id, run, context, float(context.book.mid), terminated=True
                )
        record = self._episode_record(parent_id, run, context)
        self.sink.append_episode(record)
        self._runs.pop(parent_id, None)
        self._meta.pop(parent_id, None)
        self.builder.forget(parent_id)
        self.base.forget(parent_id)
        return record

    # -- the disabled path: the base decides, its actions are logged ---------------------------
    def _observe_base(self, parent_id: str, context: ExecutionContext) -> None:
        """Once per step: observe the market; at a decision step close the previous logged
        decision and log the base's action as this one (see the module doc)."""
        run = self._run(parent_id, context)
        step = context.step
        if run.decided_step == step:
            return
        run.decided_step = step
        self.builder.observe_market(context)
        if step % self.interval != 0:
            run.action = None
            return
        schedule_action, schedule_quantity = self.actions.base_action(context)
        state = self._state(context)
        agent = self.agent
        index = agent.discretizer.state_index(state)
        if run.decision is not None and run.state is not None:
            self._close_logged(parent_id, run, context, state.mid_price, terminated=False)
        q = tuple(agent.q_values[index].tolist())
        greedy = agent.greedy_index(index, int(schedule_action))
        decision = Decision(schedule_action, False, 1.0, q, greedy, 0.0, index)
        self._start_decision(run, context, state, decision, schedule_action, schedule_quantity)

    def _close_logged(
        self,
        parent_id: str,
        run: _ParentRun,
        context: ExecutionContext,
        mid: float,
        *,
        terminated: bool,
    ) -> None:
        """The outcome of a logged base decision: its reward parts, no learning."""
        parts = self._reward(run, context, mid, terminated)
        run.total_reward += parts.total()
        self.sink.append_decision(self._decision_record(parent_id, run, parts))

    # -- decisions --------------------------------------------------------------------------
    def state_at(
        self, parent_id: str, context: ExecutionContext
    ) -> tuple[ExecutionState, ExecutionAction] | None:
        """The state the agent decides on at this step and the base's action there (None
        between decisions). Once per step (later calls return the same): it observes the
        market and closes the previous decision's transition (its record is then in the
        sink). The gymnasium environment reads its observation here."""
        run = self._run(parent_id, context)
        step = context.step
        if run.prepared_step != step:
            run.prepared_step = step
            run.prepared = None
            self.builder.observe_market(context)
            if step % self.interval == 0:
                schedule_action, schedule_quantity = self.actions.base_action(context)
                state = self._state(context)
                index = self.agent.discretizer.state_index(state)
                if run.decision is not None and run.state is not None:
                    self._close_transition(
                        parent_id, run, context, (state, index, schedule_action), terminated=False
                    )
                run.prepared = (state, index, schedule_action, schedule_quantity)
        prepared = run.prepared
        return None if prepared is None else (prepared[0], prepared[2])

    def _decide(self, parent_id: str, context: ExecutionContext) -> ExecutionAction | None:
        """Make this step's decision once (or return the one already made this step)."""
        run = self._run(parent_id, context)
        step = context.step
        if run.decided_step == step:
            return run.action
        self.state_at(parent_id, context)
        run.decided_step = step
        if run.prepared is None:
            run.action = None
            return None
        state, index, schedule_action, schedule_quantity = run.prepared
        draw = None if run.exploration is None else float(run.exploration.random())
        stretch = run.stretch_action if run.stretch_left > 0 else None
        repeat = None if stretch is None else int(stretch)
        decision = self.agent.decide_index(index, int(schedule_action), draw, repeat)
        if repeat is not None:
            run.stretch_left -= 1
        else:
            run.stretch_left = decision.stretch
            run.stretch_action = decision.action if decision.stretch else None
        self._start_decision(run, context, state, decision, schedule_action, schedule_quantity)
        run.following = decision.action is schedule_action
        return decision.action

    def _state(self, context: ExecutionContext) -> ExecutionState:
        return self.builder.build(
            context,
            resting=context.resting_quantity,
            schedule_target=self.base.schedule_quantity(context),
        )

    def _start_decision(
        self,
        run: _ParentRun,
        context: ExecutionContext,
        state: ExecutionState,
        decision: Decision,
        schedule_action: ExecutionAction,
        schedule_quantity: Decimal,
    ) -> None:
        """Make ``decision`` the parent's current one; its interval's outcome starts at 0."""
        run.schedule_action = schedule_action
        run.schedule_quantity = schedule_quantity
        run.seq += 1
        run.action = decision.action
        run.state = state
        run.decision = decision
        run.decided_at = utc_now()
        run.decision_step = context.step
        run.reward.open(state.mid_price)  # the book's mid, as a float
        run.child_quantity = None
        run.child_price = None
        run.child_order_id = None
        run.interval_child_filled = ZERO

    def _close_transition(
        self,
        parent_id: str,
        run: _ParentRun,
        context: ExecutionContext,
        next_state: tuple[ExecutionState, int, ExecutionAction] | None,
        *,
        terminated: bool,
    ) -> None:
        """Reward the previous decision, update the agent, write its audit record."""
        decision = run.decision
        state = run.state
        assert decision is not None and state is not None
        mid = float(context.book.mid) if next_state is None else next_state[0].mid_price
        parts = self._reward(run, context, mid, terminated)
        reward = parts.total()
        run.total_reward += reward
        next_index = decision.state_index if next_state is None else next_state[1]
        next_base = None if next_state is None else next_state[2]
        agent = self.agent
        if agent.learning:
            action = int(decision.action)
            run.steps.append(
                EpisodeStep(decision.state_index, action, reward, int(run.schedule_action))
            )
            run.nexts.append((next_index, next_base, terminated, utc_now()))
            if terminated:  # the agent learns from the whole parent order at once
                agent.observe_episode(run.steps)
                for record in self._experience_records(run):
                    self.sink.append_experience(record)
                run.steps = []
                run.nexts = []
        self.sink.append_decision(self._decision_record(parent_id, run, parts))

    def _experience_records(self, run: _ParentRun) -> list[ExperienceRecord]:
        """The parent's transitions as experience records, in order."""
        key_text = self.agent.discretizer.key_text
        return [
            ExperienceRecord(
                state_key=key_text(step.state_index),
                action=ExecutionAction(step.action).label,
                reward=step.reward,
                next_state_key=key_text(next_index),
                terminated=terminated,
                truncated=False,
                created_at=closed_at,
                next_schedule_action=None if next_base is None else next_base.label,
            )
            for step, (next_index, next_base, terminated, closed_at) in zip(
                run.steps, run.nexts, strict=True
            )
        ]

    def _reward(
        self, run: _ParentRun, context: ExecutionContext, mid: float, terminated: bool
    ) -> ExecutionReward:
        """The reward of the parent's current transition, closed now at mid ``mid``."""
        return run.reward.close(
            opened_step=run.decision_step,
            step=context.step,
            mid=mid,
            time_elapsed_pct=context.time_elapsed_pct,
            terminated=terminated,
        )

    # -- records ----------------------------------------------------------------------------
    def _run(self, parent_id: str, context: ExecutionContext) -> _ParentRun:
        run = self._runs.get(parent_id)
        if run is None:
            parent = context.parent
            meta = self._meta.get(parent_id, EpisodeMeta())
            seed = meta.exploration_seed
            run = _ParentRun(
                meta=meta,
                started_at=utc_now(),
                exploration=None if seed is None else exploration_stream(seed),
                reward=TransitionReward(
                    self.reward_config,
                    sign=parent.side.sign,
                    quantity=parent.quantity,
                    arrival_mid=context.arrival_mid,
                    baseline=meta.baseline,
                ),
                side=str(parent.side),
                arrival_mid=context.arrival_mid,
            )
            self._runs[parent_id] = run
        return run

    def _decision_record(
        self, parent_id: str, run: _ParentRun, parts: ExecutionReward
    ) -> DecisionRecord:
        decision = run.decision
        state = run.state
        assert decision is not None and state is not None and run.decided_at is not None
        reward = run.reward
        q = decision.q_values
        return DecisionRecord.from_values(
            (
                parent_id,  # episode_id
                run.seq,  # seq
                run.decision_step,  # step
                run.decided_at,  # decided_at
                state.remaining_size,  # remaining_size
                state.time_elapsed_pct,  # time_elapsed_pct
                int(state.urgency),  # urgency
                state.bid_ask_spread,  # bid_ask_spread
                state.orderbook_imbalance,  # orderbook_imbalance
                state.recent_volatility,  # recent_volatility
                state.queue_depth_at_price,  # queue_depth_at_price
                state.hour_of_day,  # hour_of_day
                state.minute_of_hour,  # minute_of_hour
                state.seconds_since_last_trade,  # seconds_since_last_trade
                state.recent_fill_rate,  # recent_fill_rate
                state.avg_slippage_last_n,  # avg_slippage_last_n
                state.tick_size,  # tick_size
                state.mid_price,  # mid_price
                state.typical_queue_depth,  # typical_queue_depth
                self.agent.discretizer.key_text(decision.state_index),  # state_key
                decision.state_index,  # state_index
                decision.action.label,  # action
                decision.epsilon,  # epsilon
                decision.probability,  # action_probability
                cast("tuple[float, float, float, float, float, float]", q),  # q_values
                decision.explored,  # explored
                run.child_quantity,  # child_quantity
                run.child_price,  # child_price
                reward.interval_filled,  # filled_quantity
                reward.interval_price,  # fill_price
                parts.fill_rate_reward,  # fill_rate_reward
                parts.slippage_penalty,  # slippage_penalty
                parts.time_penalty,  # time_penalty
                parts.market_impact_penalty,  # market_impact_penalty
                parts.total(),  # reward_total
                run.schedule_action.label,  # schedule_action
                run.schedule_quantity,  # schedule_quantity
                decision.greedy_action.label,  # greedy_action
                run.side,  # side
                run.arrival_mid,  # arrival_mid
                # child_filled_quantity
                None if run.child_order_id is None else run.interval_child_filled,
                state.resting_share,  # resting_share
                state.schedule_lag,  # schedule_lag
                state.resting_behind_ticks,  # resting_behind_ticks
            )
        )

    def _episode_record(
        self, parent_id: str, run: _ParentRun, context: ExecutionContext
    ) -> EpisodeRecord:
        parent = context.parent
        shortfall = run.reward.shortfall
        total = run.total_filled
        complete = total >= parent.quantity  # else the engine stopped it early: truncated
        return EpisodeRecord(
            episode_id=parent_id,
            agent_name=self.agent_name,
            executor=self.name,
            mode=str(self.agent.mode),
            market=run.meta.market,
            side=str(parent.side),
            quantity=parent.quantity,
            arrival_mid=context.arrival_mid,
            seed=run.meta.seed,
            horizon_steps=parent.horizon_steps,
            config_hash=self.config_hash,
            snapshot_id=run.meta.snapshot_id,
            started_at=run.started_at,
            ended_at=utc_now(),
            filled_by_policy=run.policy_filled,
            avg_price=(run.notional / total) if total > 0 else ZERO,
            implementation_shortfall_bps=shortfall.bps(),
            completion_quantity=run.completion_quantity,
            completion_cost_bps=shortfall.bps(run.completion_cost),
            child_orders=run.child_orders,
            total_reward=run.total_reward,
            terminated=complete,
            truncated=not complete,
            run_id=run.meta.run_id,
            reward_mode=str(self.reward_config.mode),
            urgency=int(parent.urgency),
            completed_step=run.completed_step,
            order_id=run.meta.order_id,
        )
