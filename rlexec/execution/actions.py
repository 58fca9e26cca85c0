"""The action interpreter of the RL executor: between the agent's six actions and the child
orders and cancels of a TWAP/VWAP base schedule (the ``ScheduledExecutor`` it wraps).

- **The base's action** at a decision (``base_action``) names what the base would do now:
  Cancel when it pulls its resting children (a passive base catching up, an aggressive one
  re-pricing), else the Place action closest in size to what it would send (its share of the
  quantity neither filled nor resting), else Wait. It is what an untrained agent takes
  (``rlexec.rl.policy``) and what the audit trail logs as ``schedule_action``.
- **Following the base**: choosing the base's action means following the base *exactly*
  until the next decision, step by step: its cancels, its children (sizes and prices, under
  the executor's own child ids). So the base is representable exactly and an untrained agent
  is its base, paired, on every seed. Wait, when it is not the base's action, is therefore a
  true hold (what submit-and-leave does after posting everything).
- **Any other action** acts once, at the decision, and then holds until the next one: Wait
  (nothing new; resting children keep their queue place), PlaceSmall / PlaceMedium /
  PlaceLarge (a child of 10 / 25 / 50 % of the quantity neither filled nor resting, rounded
  down to whole units, at least one, at the base's limit price: the near touch while on
  schedule, the far touch when behind or aggressive), PlaceAll (everything unfilled working
  at the near touch: the children the price has left behind it are cancelled and what is
  neither filled nor resting, theirs included, is posted at the near touch; children at or
  ahead of the touch keep their queue place), Cancel (every resting child of the parent).

  PlaceAll re-pegs because "post everything and leave it" loses all of its cost beyond the
  half-spread on the paths where the price runs away from its limit (about one in eight on
  the prediction-market preset: docs/learning.md); priced at the base's limit, a passive base
  that is behind would put it at the far touch, which is a different action (crossing).

Stateless: the executor keeps, per parent, the action in force and whether it follows the
base, and asks here at every step (``action`` None between decisions).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal

from rlexec.execution.twap import ScheduledExecutor
from rlexec.execution.types import ExecutionContext, Order
from rlexec.rl.types import ExecutionAction

ZERO = Decimal(0)
ONE_LOT = Decimal(1)
PLACE_ACTIONS = (
    ExecutionAction.PLACE_SMALL,
    ExecutionAction.PLACE_MEDIUM,
    ExecutionAction.PLACE_LARGE,
    ExecutionAction.PLACE_ALL,
)
_PLACE_SHARES = {a: Decimal(repr(a.size_fraction)) for a in PLACE_ACTIONS}
_PLACE_FRACTIONS = tuple((a.size_fraction, a) for a in PLACE_ACTIONS)


def closest_place_action(share: float) -> ExecutionAction:
    """The Place action whose size fraction is closest to ``share`` (the smaller on a tie)."""
    best, best_gap = PLACE_ACTIONS[0], math.inf
    for fraction, action in _PLACE_FRACTIONS:
        gap = abs(fraction - share)
        if gap < best_gap:
            best, best_gap = action, gap
    return best


class ActionInterpreter:
    """Reads the six actions against ``base`` (see the module doc)."""

    def __init__(self, base: ScheduledExecutor) -> None:
        self.base = base

    def base_action(self, context: ExecutionContext) -> tuple[ExecutionAction, Decimal]:
        """The base's action now and the quantity it would send (0 when none); after a
        Cancel, what it sends once those children are cancelled (a re-post, a catch-up)."""
        base = self.base
        cancelled = base.cancels(context)
        if cancelled:
            gone = set(cancelled)
            kept = {k: r for k, r in context.open_orders.items() if k not in gone}
            after = dataclasses.replace(context, open_orders=kept)
            return ExecutionAction.CANCEL, max(base.wanted_quantity(after), ZERO)
        unplaced = context.remaining_quantity - context.resting_quantity
        wanted = base.wanted_quantity(context)
        if wanted <= 0 or unplaced <= 0:
            return ExecutionAction.WAIT, max(wanted, ZERO)
        return closest_place_action(float(wanted / unplaced)), wanted

    def cancels(
        self, context: ExecutionContext, action: ExecutionAction | None, *, following: bool
    ) -> list[str]:
        """Ids of resting children to cancel at this step: the base's while following it,
        every resting child on a Cancel decision, those behind the near touch on a PlaceAll
        decision, else none."""
        if following:
            return self.base.cancels(context)
        if action is ExecutionAction.CANCEL:
            return list(context.open_orders)
        if action is ExecutionAction.PLACE_ALL:
            return list(context.behind_touch())
        return []

    def child_order(
        self,
        parent_id: str,
        context: ExecutionContext,
        action: ExecutionAction | None,
        *,
        following: bool,
        new_order_id: Callable[[str], str],
        base_wanted: Decimal | None = None,
    ) -> Order | None:
        """The child to send at this step, if any (``new_order_id`` names it): the base's
        own child while following it, the Place action's size at a Place decision (PlaceAll:
        after its cancels, which the engine has applied or counts as applied).
        ``base_wanted``: the quantity ``base_action`` found at this step, when nothing has been
        cancelled since (the base's ``wanted_quantity`` is then the same; None: ask it)."""
        side = context.parent.side
        if following:
            base = self.base
            if base_wanted is None:
                wanted = base.next_order(parent_id, context)
            else:
                wanted = base.order_for(parent_id, context, base_wanted)
            if wanted is None:
                return None
            return Order(
                parent_id, new_order_id(parent_id), side, wanted.quantity, wanted.limit_price
            )
        if action is None or action not in _PLACE_SHARES:
            return None
        unplaced = context.remaining_quantity - context.resting_quantity
        if unplaced < ONE_LOT:
            return None
        if action is ExecutionAction.PLACE_ALL:
            quantity = unplaced.to_integral_value(ROUND_FLOOR)
            price = context.book.near_touch(side).price
        else:
            quantity = max(
                ONE_LOT, (unplaced * _PLACE_SHARES[action]).to_integral_value(ROUND_FLOOR)
            )
            price = self.base.limit_price(context)
        return Order(parent_id, new_order_id(parent_id), side, quantity, price)
