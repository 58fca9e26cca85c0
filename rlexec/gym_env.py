"""A ``gymnasium.Env`` over any ``Market``: the RL executor's own MDP, so that any RL library can
try the same execution task the tabular agent learns.

One MDP, not two: the environment runs the ``RlEnhancedExecutor`` itself on the runner's
``EpisodeLoop``, and pauses at each of the executor's decisions to hand the choice to the
caller, so the observation, the action and the reward are the executor's own three parts:
its ``StateBuilder`` (``rlexec.execution.state_builder``), its ``ActionInterpreter`` around a
base TWAP/VWAP schedule (``rlexec.execution.actions``) and its ``TransitionReward``
(``rlexec.rl.reward``). What an agent learns here is what it would do inside rlexec.

- Observation: the ``ExecutionState`` features (``FEATURES``, in that order) as a float32 Box;
  ``seconds_since_last_trade`` is ``MISSING_SECONDS`` (-1) when no trade has printed (the
  state says None: missing, never a silent 0); ``resting_share`` is in [0, 1] and
  ``schedule_lag`` in [-1, 1] (positive: behind the base schedule); ``resting_behind_ticks``
  >= 0 (ticks our farthest resting child is behind the near touch).
- Action: ``Discrete(6)``, the six ``ExecutionAction``s as the RL executor reads them: the
  base's own action (``info["base_action"]``, the action closest to what the base would send
  now) follows the base exactly until the next decision; any other acts once, at the
  decision, and then holds: ``Wait`` (nothing new), ``PlaceSmall/Medium/Large/All`` (10 / 25 /
  50 / 100 % of the quantity neither filled nor resting, at least one lot, at the base's limit
  price), ``Cancel`` (cancel every resting child).
- Step: from one decision to the next (``decision_interval_steps`` market steps).
- Episode: one parent order of ``horizon_steps`` steps. At the horizon the resting children are
  cancelled and the remainder is completed by a market order (that cost counts); the episode
  then *terminates* (the task is done; nothing truncates it).
- Reward: the executor's (default ``shortfall``: minus the change of the mark-to-market
  shortfall in bps of the arrival value), so an episode's rewards sum to minus its
  implementation shortfall.

gymnasium is an optional dependency (``pip install rlexec[gym]``); nothing else in rlexec
imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

try:
    import gymnasium
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "rlexec.gym_env needs gymnasium: install it with `pip install rlexec[gym]`"
    ) from exc

from rlexec.config import AgentMode, QLearningConfig, RewardConfig, StateConfig
from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import EpisodeResult
from rlexec.execution.rl_executor import EpisodeMeta, RlEnhancedExecutor
from rlexec.execution.runner import EpisodeLoop
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.twap import TWAP, ScheduledExecutor
from rlexec.execution.types import ExecutionContext, ParentOrder
from rlexec.market.base import Market
from rlexec.market.book import Side
from rlexec.records import DecisionRecord, EpisodeRecord, ExperienceRecord, PolicyMetricsRecord
from rlexec.rl.q_learning import Decision, QTableAgent
from rlexec.rl.types import STATE_FEATURES, ExecutionAction, ExecutionState, Urgency

FEATURES = STATE_FEATURES
MISSING_SECONDS = -1.0  # seconds_since_last_trade when no trade has printed yet
_INF = 1e12  # finite bounds (gymnasium warns on infinite ones); no feature comes near
_BOUNDS: dict[str, tuple[float, float]] = {
    "remaining_size": (0, 1),
    "time_elapsed_pct": (0, 1),
    "urgency": (0, 2),
    "bid_ask_spread": (0, _INF),
    "orderbook_imbalance": (-1, 1),
    "recent_volatility": (0, _INF),
    "queue_depth_at_price": (0, _INF),
    "hour_of_day": (0, 23),
    "minute_of_hour": (0, 59),
    "seconds_since_last_trade": (MISSING_SECONDS, _INF),
    "recent_fill_rate": (0, 1),
    "avg_slippage_last_n": (-_INF, _INF),
    "tick_size": (0, _INF),
    "mid_price": (0, _INF),
    "typical_queue_depth": (0, _INF),
    "resting_share": (0, 1),
    "schedule_lag": (-1, 1),
    "resting_behind_ticks": (0, _INF),
}
_LOW = np.array([_BOUNDS[name][0] for name in FEATURES], dtype=np.float32)
_HIGH = np.array([_BOUNDS[name][1] for name in FEATURES], dtype=np.float32)
ObsType = npt.NDArray[np.float32]
_T = TypeVar("_T")


def state_vector(state: ExecutionState) -> ObsType:
    """The state's features as float32, in ``FEATURES`` order (a missing
    ``seconds_since_last_trade`` is ``MISSING_SECONDS``)."""
    values = []
    for name in FEATURES:
        value = getattr(state, name)
        values.append(MISSING_SECONDS if value is None else float(value))
    return np.array(values, dtype=np.float32)


def _now(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that never suspends (the executor and the loop do no I/O here)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the execution loop suspended: the gym env runs it without an event loop")


class _Chooser(QTableAgent):
    """The decision-maker the executor asks: it takes the action the env was given."""

    def __init__(self) -> None:
        super().__init__(QLearningConfig(), StateConfig(), mode=AgentMode.EVALUATION)
        self.pending: ExecutionAction = ExecutionAction.WAIT

    def decide_index(
        self,
        state_index: int,
        default_action: int | None = None,
        uniform: float | None = None,
        repeat: int | None = None,
    ) -> Decision:
        action = self.pending
        return Decision(action, False, 1.0, (0.0,) * 6, action, 0.0, state_index)


class _Rewards:
    """A RecordSink keeping the reward of each closed transition and the episode record."""

    def __init__(self) -> None:
        self.rewards: list[float] = []
        self.episode: EpisodeRecord | None = None

    def append_decision(self, record: DecisionRecord) -> None:
        self.rewards.append(record.reward_total)

    def append_episode(self, record: EpisodeRecord) -> None:
        self.episode = record

    def append_experience(self, record: ExperienceRecord) -> None:
        return None

    def append_policy_metrics(self, record: PolicyMetricsRecord) -> None:
        return None


class ExecutionEnv(gymnasium.Env[ObsType, np.int64]):
    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium API)

    def __init__(
        self,
        market: Market | Callable[[], Market],
        *,
        side: Side | str = Side.BUY,
        quantity: Decimal | int = 2000,
        horizon_steps: int = 300,
        urgency: Urgency = Urgency.NORMAL,
        typical_queue_depth: float | None = None,
        base: ScheduledExecutor | None = None,
        decision_interval_steps: int = 5,
        reward: RewardConfig | None = None,
    ) -> None:
        """``base``: the schedule the executor wraps (default passive TWAP, 10 slices, as
        the default config); ``decision_interval_steps`` and ``reward`` as the config's
        ``[rl_execution.executor]`` and ``[rl_execution.reward]``."""
        super().__init__()
        self.market: Market = market() if callable(market) else market
        try:
            self.side = Side(side)
        except ValueError:
            raise InvalidInputError(f"side = {side!r}: expected 'buy' or 'sell'") from None
        self.quantity = Decimal(quantity)
        self.horizon_steps = horizon_steps
        self.urgency = urgency
        if typical_queue_depth is None:
            params = getattr(self.market, "params", None)
            typical_queue_depth = float(getattr(params, "typical_queue_depth", 1.0))
        self._chooser = _Chooser()
        self._sink = _Rewards()
        self.executor = RlEnhancedExecutor(
            base if base is not None else TWAP(slices=10, style="passive"),
            self._chooser,
            state_builder=StateBuilder(typical_queue_depth=typical_queue_depth),
            reward=reward,
            decision_interval_steps=decision_interval_steps,
            sink=self._sink,
            agent_name="gym",
        )
        self.observation_space = spaces.Box(_LOW, _HIGH, dtype=np.float32)
        self.action_space = spaces.Discrete(len(ExecutionAction))
        self._episode = 0
        self._parent = self._new_parent()
        self._loop = EpisodeLoop(self.executor, self.market, self._parent)
        self._context: ExecutionContext | None = None  # the pending decision's context
        self._base_action = ExecutionAction.WAIT

    def _new_parent(self) -> ParentOrder:
        return ParentOrder(
            f"gym-{self._episode}", self.side, self.quantity, self.horizon_steps, self.urgency
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        market_seed = seed if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
        if self._context is not None:  # an unfinished episode: let the executor forget it
            self._finish()
        self._episode += 1
        self._parent = self._new_parent()
        self._loop = EpisodeLoop(self.executor, self.market, self._parent)
        self._loop.start(market_seed)
        self.executor.begin(self._parent.parent_id, EpisodeMeta(seed=market_seed, market="gym"))
        self._sink.rewards.clear()
        observation = self._advance_to_decision()
        assert observation is not None  # step 0 is always a decision
        return observation, {"seed": market_seed, "base_action": int(self._base_action)}

    def step(self, action: np.int64 | int) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        context = self._context
        if context is None:
            raise InvalidInputError("episode is over: call reset() before step()")
        self._chooser.pending = ExecutionAction(int(action))
        _now(self._loop.act(context))
        observation = self._advance_to_decision()
        terminated = observation is None
        if observation is None:  # the horizon: complete, close the last transition
            observation, result = self._finish()
            info: dict[str, Any] = {"is_bps": result.is_bps, "fill_rate": result.fill_rate}
        else:
            info = {"base_action": int(self._base_action)}
        # the transition from this decision closed at the next one (or at the end)
        reward = self._sink.rewards[-1]
        return observation, reward, terminated, False, info

    def _advance_to_decision(self) -> ObsType | None:
        """Run the market and the executor to the next decision; its observation, or None
        when the trading steps are over."""
        loop, executor = self._loop, self.executor
        parent_id = self._parent.parent_id
        while loop.steps_left:
            context = _now(loop.open_step())
            prepared = executor.state_at(parent_id, context)
            if prepared is not None:
                state, self._base_action = prepared
                self._context = context
                return self._vector(state)
            _now(loop.act(context))
        self._context = None
        return None

    def _finish(self) -> tuple[ObsType, EpisodeResult]:
        """The forced completion and the executor's end of the parent; the terminal
        observation (nothing left to trade) and the episode result."""
        loop = self._loop
        if self._context is not None:  # reset() in the middle of an episode: hold to the end
            self._chooser.pending = ExecutionAction.WAIT
            _now(loop.act(self._context))
            while loop.steps_left:
                _now(loop.act(_now(loop.open_step())))
        context = _now(loop.complete())
        terminal = self.executor.builder.build(
            context, resting=Decimal(0), schedule_target=context.parent.quantity
        )
        result = _now(loop.finish(context))
        self._context = None
        return self._vector(terminal), result

    def _vector(self, state: ExecutionState) -> ObsType:
        vector = state_vector(state)
        if not np.all(np.isfinite(vector)):
            raise InvalidInputError(f"observation has a non-finite feature: {vector}")
        return vector
