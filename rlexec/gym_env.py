"""A ``gymnasium.Env`` over any ``Market``, so that any RL library can try the same execution task.

- Observation: the ``ExecutionState`` features (``FEATURES``, in that order) as a float32 Box;
  a missing feature (``seconds_since_last_trade`` before the first trade) is ``MISSING``
  (-1, below every real value).
- Action: ``Discrete(6)``, the six ``ExecutionAction``s. ``PlaceSmall/Medium/Large/All`` post that
  fraction of the quantity neither filled nor resting (whole lots, at least one lot) as a limit
  at the near touch; ``Cancel`` cancels every resting child; ``Wait`` does nothing. Then the
  market advances one step.
- Episode: one parent order of ``horizon_steps`` steps. At the horizon the resting children are
  cancelled and the remainder is completed by a market order (that cost counts); the episode
  then *terminates* (the task is done; nothing truncates it).
- Reward: minus the cost in bps (of the parent's arrival value) of the step's fills against the
  arrival mid, so an episode's rewards sum to minus its implementation shortfall.

gymnasium is an optional dependency (``pip install rlexec[gym]``); nothing else in rlexec
imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

try:
    import gymnasium
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "rlexec.gym_env needs gymnasium: install it with `pip install rlexec[gym]`"
    ) from exc

from rlexec.errors import InvalidInputError
from rlexec.execution.runner import EpisodeDriver
from rlexec.execution.state_builder import StateBuilder
from rlexec.execution.types import Order, ParentOrder
from rlexec.market.base import Market
from rlexec.market.book import BookSnapshot, Side
from rlexec.rl.types import STATE_FEATURES, ExecutionAction, ExecutionState, Urgency

FEATURES = STATE_FEATURES
_INF = 1e12  # finite bounds (gymnasium warns on infinite ones); no feature comes near
MISSING = -1.0  # the observation of a missing feature
_LOW = np.array(
    [0, 0, 0, 0, -1, 0, 0, 0, 0, MISSING, 0, -_INF, 0, 0, 0], dtype=np.float32
)
_HIGH = np.array(
    [1, 1, 2, _INF, 1, _INF, _INF, 23, 59, _INF, 1, _INF, _INF, _INF, _INF], dtype=np.float32
)
ObsType = npt.NDArray[np.float32]


def state_vector(state: ExecutionState) -> ObsType:
    """The state's features as float32, in ``FEATURES`` order (``MISSING`` for None)."""
    values = (getattr(state, name) for name in FEATURES)
    return np.array([MISSING if v is None else float(v) for v in values], dtype=np.float32)


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
        lot: Decimal = Decimal(1),
    ) -> None:
        super().__init__()
        self.market: Market = market() if callable(market) else market
        try:
            self.side = Side(side)
        except ValueError:
            raise InvalidInputError(f"side = {side!r}: expected 'buy' or 'sell'") from None
        self.quantity = Decimal(quantity)
        self.horizon_steps = horizon_steps
        self.urgency = urgency
        self.lot = lot
        if typical_queue_depth is None:
            params = getattr(self.market, "params", None)
            typical_queue_depth = float(getattr(params, "typical_queue_depth", 1.0))
        self.builder = StateBuilder(typical_queue_depth=typical_queue_depth)
        self.observation_space = spaces.Box(_LOW, _HIGH, dtype=np.float32)
        self.action_space = spaces.Discrete(len(ExecutionAction))
        self._episode = 0
        self._parent = ParentOrder("gym-0", self.side, self.quantity, horizon_steps, urgency)
        self._driver = EpisodeDriver(self.market, self._parent)
        self._children = 0
        self._book: BookSnapshot | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        market_seed = seed if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
        self.builder.forget(self._parent.parent_id)
        self._episode += 1
        self._parent = ParentOrder(
            f"gym-{self._episode}", self.side, self.quantity, self.horizon_steps, self.urgency
        )
        self._driver = EpisodeDriver(self.market, self._parent)
        self._driver.start(market_seed)
        self._children = 0
        return self._observe(), {"seed": market_seed}

    def step(self, action: np.int64 | int) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        driver = self._driver
        book = self._book  # the observed book: nothing has changed it since the observation
        if driver.done or book is None:
            raise InvalidInputError("episode is over: call reset() before step()")
        act = ExecutionAction(int(action))
        cost_before = driver.cost
        parent_id = self._parent.parent_id
        if act is ExecutionAction.CANCEL:
            driver.cancel_all()
        elif act is not ExecutionAction.WAIT:
            quantity = self._child_quantity(act)
            if quantity > 0:
                self._children += 1
                order = Order(
                    parent_id,
                    f"{parent_id}-{self._children}",
                    self.side,
                    quantity,
                    book.near_touch(self.side).price,
                )
                self.builder.record_child(parent_id, float(quantity))
                self._record(driver.submit(order), book.mid)
        terminated = driver.at_last_step
        if not terminated:
            self._record(driver.advance(), book.mid)
        info: dict[str, Any] = {}
        if terminated:
            driver.complete()
            result = driver.result("gym")
            info = {"is_bps": result.is_bps, "fill_rate": result.fill_rate}
        reward = -driver.cost_bps(driver.cost - cost_before)
        return self._observe(), reward, terminated, False, info

    def _child_quantity(self, action: ExecutionAction) -> Decimal:
        unplaced = self._driver.unplaced
        if unplaced <= 0:
            return Decimal(0)
        if action is ExecutionAction.PLACE_ALL:
            return unplaced
        wanted = unplaced * Decimal(repr(action.size_fraction)) / self.lot
        quantity = wanted.to_integral_value(ROUND_FLOOR) * self.lot
        return min(max(quantity, self.lot), unplaced)

    def _record(self, fills: list[Any], mid: Decimal) -> None:
        sign = self.side.sign
        for fill in fills:
            slippage = float(sign * (fill.price - mid) / mid) * 1e4
            self.builder.record_fill(self._parent.parent_id, float(fill.quantity), slippage)

    def _observe(self) -> ObsType:
        context = self._driver.context()
        self._book = context.book
        self.builder.observe_market(context)
        vector = state_vector(self.builder.build(context))
        if not np.all(np.isfinite(vector)):
            raise InvalidInputError(f"observation has a non-finite feature: {vector}")
        return vector
