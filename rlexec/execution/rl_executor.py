"""The RL-enhanced executor: a Q-learning agent decides timing and size on top of a TWAP/VWAP
base schedule, which it wraps without changing.

What each side decides:
- the **base** (``ScheduledExecutor``: TWAP or VWAP) gives the schedule and the limit price: the
  near touch while the parent is on schedule, the far touch when it is behind (passive style),
  or always the far touch (aggressive style);
- the **agent** decides, every ``decision_interval_steps`` steps, one of the six actions.
  At each decision the base's own action names what the base would do now (Cancel when it
  pulls its resting children, else the Place action closest in size to what it would send,
  else Wait). Choosing *it* means **follow the base exactly** until the next decision (its
  cancels, its children, its prices, step by step), so the base is representable exactly and
  an untrained agent, whose decision rule (``rlexec.rl.policy``) takes the base's action until
  the data says otherwise, *is* its base, paired, on every seed. Choosing any other action
  acts once, at the decision, and then holds until the next one: Wait (nothing new; resting
  children keep their queue place), PlaceSmall / PlaceMedium / PlaceLarge / PlaceAll (a child
  of 10 / 25 / 50 / 100 % of the quantity neither filled nor resting, at least one lot, at the
  base's limit price), Cancel (cancel every resting child of this parent).

Reward (``[rl_execution.reward] mode``), per transition from one decision to the next:
- ``shortfall`` (default): minus the change of the mark-to-market shortfall
  ``S_t = sign * (sum q_i (p_i - P0) + R_t (m_t - P0)) / (X P0) * 1e4`` (bps of the arrival
  value; ``R_t`` still to trade, ``m_t`` the mid now). ``S_0 = 0`` and after the forced
  completion ``S_T`` is the implementation shortfall, so an episode's rewards sum exactly to
  minus its IS, completion cost included; each transition is charged the fills it made and
  the price moves on what it left unexecuted.
- ``original``: the original design's fill-rate / slippage / time / impact mix
  (``rlexec.rl.reward.original_reward``) over the transition's fills.
Reward arithmetic is in floats (a learning signal); orders, fills and stored prices are Decimal.

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
the episode from them). Many parent orders may run at
once on one executor and one shared agent: all per-parent memory is keyed by parent id, and
``finish`` removes all of it.

Disabled (``enabled = false``, the kill switch): the base works the parent exactly as it would
alone, every step. The episode and its decisions are still recorded, with the base as the
behaviour policy: at every decision step a decision row logs the state, the Q-values the agent
would have seen and its greedy action, with action = the base's action (the action that names
what the base does), probability 1, epsilon 0, never explored. Nothing is learned
and no experience is written (the logged action only approximates what the base sent).

Synchronous core: ``cancels``, ``next_order``, ``fill`` and ``end`` do the work and touch
memory only (no I/O, no await); the ``ExecutionAlgorithm`` coroutines the simulator runner
awaits call them, and a synchronous engine (``rlexec.api``) calls them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from rlexec.config import RewardConfig, RewardMode
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
from rlexec.rl.reward import original_reward
from rlexec.rl.types import ExecutionAction, ExecutionReward, ExecutionState

ZERO = Decimal(0)
ONE_LOT = Decimal(1)
_PLACE_ACTIONS = (
    ExecutionAction.PLACE_SMALL,
    ExecutionAction.PLACE_MEDIUM,
    ExecutionAction.PLACE_LARGE,
    ExecutionAction.PLACE_ALL,
)


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
    sign: int
    quantity: float
    arrival_mid: float
    side: str = ""
    arrival_mid_exact: Decimal = ZERO  # the Decimal arrival mid, for the records
    filled: float = 0.0
    cost: float = 0.0  # sign * sum q (p - P0), money units
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
    shortfall_at_decision: float = 0.0
    mid_at_decision: float = 0.0
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
    experiences: list[ExperienceRecord] = field(default_factory=list)
    completed_step: int | None = None
    interval_filled: Decimal = ZERO
    interval_notional: Decimal = ZERO
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
        if self._runs[parent_id].following:
            return self.base.cancels(context)
        if action is ExecutionAction.CANCEL:
            return list(context.open_orders)
        return []

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
        if run.following:
            wanted = self.base.next_order(parent_id, context)
            if wanted is None:
                return None
            order = Order(
                parent_id,
                self.next_order_id(parent_id),
                context.parent.side,
                wanted.quantity,
                wanted.limit_price,
            )  # the base's child, under this executor's id
            self._track_child(run, order, own=True)
            return order
        if action is None or action not in _PLACE_ACTIONS:
            return None
        unplaced = context.remaining_quantity - _resting(context)
        if unplaced < ONE_LOT:
            return None
        if action is ExecutionAction.PLACE_ALL:
            quantity = unplaced.to_integral_value(ROUND_FLOOR)
        else:
            share = Decimal(repr(action.size_fraction))
            quantity = max(ONE_LOT, (unplaced * share).to_integral_value(ROUND_FLOOR))
        price = self.base.limit_price(context)
        order_id = self.next_order_id(parent_id)
        order = Order(parent_id, order_id, context.parent.side, quantity, price)
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
        quantity = float(filled)
        run.filled += quantity
        run.cost += run.sign * quantity * (float(price) - run.arrival_mid)
        run.notional += filled * price
        run.total_filled += filled
        run.interval_filled += filled
        run.interval_notional += filled * price
        if order_id == run.child_order_id:
            run.interval_child_filled += filled
        if run.completed_step is None and run.total_filled >= context.parent.quantity:
            run.completed_step = context.step
        if order_id in run.child_ids:
            run.policy_filled += filled
            mid = float(context.book.mid)
            slippage_bps = run.sign * (float(price) - mid) / mid * 1e4
            self.builder.record_fill(parent_id, quantity, slippage_bps)
        else:  # the runner's forced completion at the horizon
            run.completion_quantity += filled
            run.completion_cost += run.sign * quantity * (float(price) - run.arrival_mid)

    def end(self, parent_id: str, context: ExecutionContext) -> EpisodeRecord:
        """The parent is done (after the forced completion): its last decision is closed, its
        episode record written to the sink and returned, and every memory of it dropped."""
        run = self._run(parent_id, context)
        if run.decision is not None and run.state is not None:
            if self.enabled:
                self._close_transition(parent_id, run, context, None, terminated=True)
            else:
                self._close_logged(parent_id, run, context, terminated=True)
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
        schedule_action, schedule_quantity = self._schedule(context)
        state = self._state(context)
        agent = self.agent
        index = agent.discretizer.state_index(state)
        if run.decision is not None and run.state is not None:
            self._close_logged(parent_id, run, context, terminated=False)
        q = tuple(agent.q_values[index].tolist())
        greedy = agent.greedy_index(index, int(schedule_action))
        decision = Decision(schedule_action, False, 1.0, q, greedy, 0.0, index)
        self._start_decision(run, context, state, decision, schedule_action, schedule_quantity)

    def _close_logged(
        self, parent_id: str, run: _ParentRun, context: ExecutionContext, *, terminated: bool
    ) -> None:
        """The outcome of a logged base decision: its reward parts, no learning."""
        parts = self._reward(run, context, terminated)
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
                schedule_action, schedule_quantity = self._schedule(context)
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
            resting=_resting(context),
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
        run.shortfall_at_decision = self._shortfall_bps(run, context)
        run.mid_at_decision = float(context.book.mid)
        run.child_quantity = None
        run.child_price = None
        run.child_order_id = None
        run.interval_child_filled = ZERO
        run.interval_filled = ZERO
        run.interval_notional = ZERO

    def _schedule(self, context: ExecutionContext) -> tuple[ExecutionAction, Decimal]:
        """What the base would do now, as the action that names it: Cancel when it pulls the
        resting children (a passive base catching up, an aggressive one re-pricing), else the
        Place action closest in size to what it would send, else Wait. Choosing that action
        follows the base exactly; so Wait, when it is not the base's action, is a true hold
        (what submit-and-leave does after posting everything)."""
        unplaced = context.remaining_quantity - _resting(context)
        wanted = self.base.wanted_quantity(context)
        if self.base.cancels(context):
            return ExecutionAction.CANCEL, max(wanted, ZERO)
        if wanted <= 0 or unplaced <= 0:
            return ExecutionAction.WAIT, max(wanted, ZERO)
        share = float(wanted / unplaced)
        best = min(_PLACE_ACTIONS, key=lambda a: abs(a.size_fraction - share))
        return best, wanted

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
        parts = self._reward(run, context, terminated)
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
            discretizer = agent.discretizer
            run.experiences.append(
                ExperienceRecord(
                    state_key=discretizer.key_text(decision.state_index),
                    action=decision.action.label,
                    reward=reward,
                    next_state_key=discretizer.key_text(next_index),
                    terminated=terminated,
                    truncated=False,
                    next_schedule_action=None if next_base is None else next_base.label,
                )
            )
            if terminated:  # the agent learns from the whole parent order at once
                agent.observe_episode(run.steps)
                for record in run.experiences:
                    self.sink.append_experience(record)
                run.steps = []
                run.experiences = []
        self.sink.append_decision(self._decision_record(parent_id, run, parts))

    def _reward(
        self, run: _ParentRun, context: ExecutionContext, terminated: bool
    ) -> ExecutionReward:
        if self.reward_config.mode is RewardMode.SHORTFALL:
            now = self._shortfall_bps(run, context)
            cost = now - run.shortfall_at_decision
            baseline = run.meta.baseline
            if baseline is None:
                return ExecutionReward(0.0, cost, 0.0, 0.0)
            last = len(baseline) - 1
            now_index = last if terminated else min(context.step, last)
            base_cost = baseline[now_index] - baseline[min(run.decision_step, last)]
            return ExecutionReward(base_cost, cost, 0.0, 0.0)
        filled = run.interval_filled
        price = None if filled <= 0 else run.interval_notional / filled
        return original_reward(
            filled=filled,
            order_size=context.parent.quantity,
            price=price,
            mid_price=run.mid_at_decision,
            time_elapsed_pct=1.0 if terminated else context.time_elapsed_pct,
            price_after=context.book.mid if price is not None else None,
            weights=self.reward_config,
        )

    def _shortfall_bps(self, run: _ParentRun, context: ExecutionContext) -> float:
        """The mark-to-market shortfall S_t in bps of the arrival value (see module doc)."""
        remaining = run.quantity - run.filled
        mark = run.sign * remaining * (float(context.book.mid) - run.arrival_mid)
        return (run.cost + mark) / (run.quantity * run.arrival_mid) * 1e4

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
                sign=parent.side.sign,
                side=str(parent.side),
                quantity=float(parent.quantity),
                arrival_mid=float(context.arrival_mid),
                arrival_mid_exact=context.arrival_mid,
            )
            self._runs[parent_id] = run
        return run

    def _decision_record(
        self, parent_id: str, run: _ParentRun, parts: ExecutionReward
    ) -> DecisionRecord:
        decision = run.decision
        state = run.state
        assert decision is not None and state is not None and run.decided_at is not None
        filled = run.interval_filled
        q = decision.q_values
        return DecisionRecord(
            episode_id=parent_id,
            seq=run.seq,
            step=run.decision_step,
            decided_at=run.decided_at,
            remaining_size=state.remaining_size,
            time_elapsed_pct=state.time_elapsed_pct,
            urgency=int(state.urgency),
            bid_ask_spread=state.bid_ask_spread,
            orderbook_imbalance=state.orderbook_imbalance,
            recent_volatility=state.recent_volatility,
            queue_depth_at_price=state.queue_depth_at_price,
            hour_of_day=state.hour_of_day,
            minute_of_hour=state.minute_of_hour,
            seconds_since_last_trade=state.seconds_since_last_trade,
            recent_fill_rate=state.recent_fill_rate,
            avg_slippage_last_n=state.avg_slippage_last_n,
            tick_size=state.tick_size,
            mid_price=state.mid_price,
            typical_queue_depth=state.typical_queue_depth,
            state_key=self.agent.discretizer.key_text(decision.state_index),
            state_index=decision.state_index,
            action=decision.action.label,
            epsilon=decision.epsilon,
            action_probability=decision.probability,
            q_values=(q[0], q[1], q[2], q[3], q[4], q[5]),
            explored=decision.explored,
            child_quantity=run.child_quantity,
            child_price=run.child_price,
            filled_quantity=filled,
            fill_price=(run.interval_notional / filled) if filled > 0 else None,
            fill_rate_reward=parts.fill_rate_reward,
            slippage_penalty=parts.slippage_penalty,
            time_penalty=parts.time_penalty,
            market_impact_penalty=parts.market_impact_penalty,
            reward_total=parts.total(),
            schedule_action=run.schedule_action.label,
            schedule_quantity=run.schedule_quantity,
            greedy_action=decision.greedy_action.label,
            side=run.side,
            arrival_mid=run.arrival_mid_exact,
            child_filled_quantity=None if run.child_order_id is None else run.interval_child_filled,
            resting_share=state.resting_share,
            schedule_lag=state.schedule_lag,
        )

    def _episode_record(
        self, parent_id: str, run: _ParentRun, context: ExecutionContext
    ) -> EpisodeRecord:
        parent = context.parent
        arrival_value = run.quantity * run.arrival_mid
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
            implementation_shortfall_bps=run.cost / arrival_value * 1e4,
            completion_quantity=run.completion_quantity,
            completion_cost_bps=run.completion_cost / arrival_value * 1e4,
            child_orders=run.child_orders,
            total_reward=run.total_reward,
            terminated=complete,
            truncated=not complete,
            run_id=run.meta.run_id,
            reward_mode=str(self.reward_config.mode),
            urgency=int(parent.urgency),
            completed_step=run.completed_step,
        )


def _resting(context: ExecutionContext) -> Decimal:
    return sum((r.remaining for r in context.open_orders.values()), ZERO)
