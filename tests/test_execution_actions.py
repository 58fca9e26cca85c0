"""The action interpreter against a real passive / aggressive TWAP: the base's action at a
decision (Cancel, the closest Place, Wait), following the base exactly, and what each of the
six actions sends when it is not the base's (PlaceAll re-pegs what the price left behind)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rlexec.execution.actions import ActionInterpreter
from rlexec.execution.twap import TWAP
from rlexec.execution.types import ExecutionContext, Order, ParentOrder, RestingOrder
from rlexec.market.book import Side
from rlexec.rl.types import ExecutionAction
from tests.test_execution_schedules import BOOK  # bid 99.99 x 500, ask 100.01 x 400

A = ExecutionAction
PARENT = ParentOrder("p", Side.BUY, Decimal(2000), 100)  # 10 slices of 200, one per 10 steps


def context(
    step: int = 0,
    filled: int = 0,
    resting: dict[str, int] | None = None,
    prices: dict[str, str] | None = None,
) -> ExecutionContext:
    """``resting``: child id -> quantity, at the bid (99.99) unless ``prices`` says otherwise."""
    limits = prices or {}
    open_orders = {
        order_id: RestingOrder(
            Order("p", order_id, Side.BUY, Decimal(q), Decimal(limits.get(order_id, "99.99"))),
            Decimal(q),
        )
        for order_id, q in (resting or {}).items()
    }
    return ExecutionContext(
        PARENT, step, BOOK.time_of_day_secs + step, BOOK, BOOK.mid, Decimal(filled),
        open_orders=open_orders, step_seconds=1.0,
    )  # fmt: skip


class Ids:
    """Child ids as the executor hands them out."""

    def __init__(self) -> None:
        self.given: list[str] = []

    def __call__(self, parent_id: str) -> str:
        self.given.append(f"{parent_id}-rl-{len(self.given) + 1}")
        return self.given[-1]


def passive() -> ActionInterpreter:
    return ActionInterpreter(TWAP(slices=10, style="passive"))


def test_the_base_action_is_the_place_closest_to_what_the_base_sends() -> None:
    actions = passive()
    # step 0: the first slice (200 of 2000 unplaced: 10 %) -> PlaceSmall, 200
    assert actions.base_action(context()) == (A.PLACE_SMALL, Decimal(200))
    # step 10 with the first slice filled and nothing resting: 200 of 1800 (11 %) -> Small
    assert actions.base_action(context(10, filled=200)) == (A.PLACE_SMALL, Decimal(200))
    # 1000 resting from earlier, nothing filled, slice 1 due: wants 200 - 0 - 1000 < 0 -> Wait
    assert actions.base_action(context(0, resting={"c": 1000})) == (A.WAIT, Decimal(0))


def test_the_base_action_is_cancel_when_the_base_pulls_its_children() -> None:
    actions = passive()
    # step 20: the first two slices (400) should be filled; nothing is: behind -> Cancel
    behind = context(20, filled=0, resting={"c1": 200})
    assert actions.base.cancels(behind) == ["c1"]
    action, quantity = actions.base_action(behind)
    assert action is A.CANCEL
    # what it sends once c1 is cancelled: the whole previous target (the 200 resting is gone)
    assert quantity == Decimal(400)
    after = context(20, filled=0, resting={})
    assert quantity == actions.base.wanted_quantity(after)


def test_following_the_base_sends_its_cancels_and_its_children_exactly() -> None:
    actions = passive()
    ids = Ids()
    behind = context(20, filled=0, resting={"c1": 200})
    assert actions.cancels(behind, A.CANCEL, following=True) == ["c1"]
    assert actions.cancels(behind, None, following=True) == ["c1"]  # between decisions too
    mirror = TWAP(slices=10, style="passive")  # the same base, asked on its own
    for ctx in (context(), behind, context(10, filled=200), context(15, filled=400)):
        expected = mirror.next_order("p", ctx)
        got = actions.child_order("p", ctx, None, following=True, new_order_id=ids)
        if expected is None:
            assert got is None
        else:
            assert got is not None
            assert (got.quantity, got.limit_price, got.side) == (
                expected.quantity, expected.limit_price, expected.side,
            )  # fmt: skip
            assert got.order_id == ids.given[-1]  # under the executor's id, not the base's
    # the base's quantity read with its action at this step gives the same child (the
    # executor passes it when the base cancels nothing: nothing changed in between)
    for ctx in (context(), context(10, filled=200), context(15, filled=400)):
        action, wanted = actions.base_action(ctx)
        assert action is not A.CANCEL
        asked = actions.child_order("p", ctx, None, following=True, new_order_id=ids)
        known = actions.child_order(
            "p", ctx, None, following=True, new_order_id=ids, base_wanted=wanted
        )
        assert (None if asked is None else (asked.quantity, asked.limit_price)) == (
            None if known is None else (known.quantity, known.limit_price)
        )
    # behind, the base crosses: its child is at the far touch (the ask, for a buy)
    crossing = actions.child_order("p", behind, None, following=True, new_order_id=ids)
    assert crossing is not None and crossing.limit_price == Decimal("100.01")


def test_an_action_that_is_not_the_base_acts_at_its_decision_only() -> None:
    actions = passive()
    ids = Ids()
    ctx = context(10, filled=300, resting={"c1": 100, "c2": 200})  # 1400 neither filled nor resting
    assert actions.cancels(ctx, A.CANCEL, following=False) == ["c1", "c2"]
    for action in (A.WAIT, A.PLACE_ALL, None):  # nothing rests behind the touch
        assert actions.cancels(ctx, action, following=False) == []
    sizes = {}
    for action in (A.PLACE_SMALL, A.PLACE_MEDIUM, A.PLACE_LARGE, A.PLACE_ALL):
        order = actions.child_order("p", ctx, action, following=False, new_order_id=ids)
        assert order is not None
        assert order.limit_price == Decimal("99.99")  # on schedule: the near touch (the bid)
        sizes[action] = order.quantity
    assert sizes == {
        A.PLACE_SMALL: Decimal(140), A.PLACE_MEDIUM: Decimal(350),
        A.PLACE_LARGE: Decimal(700), A.PLACE_ALL: Decimal(1400),
    }  # fmt: skip
    assert ids.given == ["p-rl-1", "p-rl-2", "p-rl-3", "p-rl-4"]
    for action in (A.WAIT, A.CANCEL, None):  # nothing new; None: between decisions, holding
        assert actions.child_order("p", ctx, action, following=False, new_order_id=ids) is None
    assert len(ids.given) == 4  # no id spent on an order that was not sent


@pytest.mark.parametrize(
    ("unplaced", "action", "expected"),
    [
        (3, A.PLACE_SMALL, Decimal(1)),  # 10 % of 3 floors to 0: at least one
        (7, A.PLACE_LARGE, Decimal(3)),  # 3.5 floors to 3
        (1, A.PLACE_ALL, Decimal(1)),
        (0, A.PLACE_ALL, None),  # everything rests already: nothing to place
    ],
)
def test_place_sizes_are_whole_and_at_least_one(
    unplaced: int, action: ExecutionAction, expected: Decimal | None
) -> None:
    ctx = context(50, filled=1990, resting={"c": 10 - unplaced} if unplaced < 10 else None)
    order = passive().child_order("p", ctx, action, following=False, new_order_id=Ids())
    assert (None if order is None else order.quantity) == expected


def test_an_aggressive_base_prices_the_partial_places_at_the_far_touch() -> None:
    actions = ActionInterpreter(TWAP(slices=10, style="aggressive"))
    ctx = context(0, resting={"c": 50})
    assert actions.base_action(ctx)[0] is A.CANCEL  # it re-prices leftovers every step
    for action in (A.PLACE_SMALL, A.PLACE_MEDIUM, A.PLACE_LARGE):
        order = actions.child_order("p", ctx, action, following=False, new_order_id=Ids())
        assert order is not None and order.limit_price == Decimal("100.01")
    order = actions.child_order("p", ctx, A.PLACE_MEDIUM, following=False, new_order_id=Ids())
    assert order is not None and order.quantity == Decimal(487)  # 25 % of 1950, floored
    everything = actions.child_order("p", ctx, A.PLACE_ALL, following=False, new_order_id=Ids())
    assert everything is not None and everything.limit_price == Decimal("99.99")  # near touch
    assert everything.quantity == Decimal(1950)


def test_place_all_re_pegs_the_children_left_behind_the_touch() -> None:
    actions = passive()
    # c1 at the bid, c2 and c3 below it (the price moved up since they were posted)
    prices = {"c2": "99.98", "c3": "99.90"}
    ctx = context(10, filled=300, resting={"c1": 100, "c2": 200, "c3": 50}, prices=prices)
    assert ctx.behind_touch() == {"c2": Decimal("0.01"), "c3": Decimal("0.09")}
    assert actions.cancels(ctx, A.PLACE_ALL, following=False) == ["c2", "c3"]
    for action in (A.WAIT, A.PLACE_SMALL, A.PLACE_MEDIUM, A.PLACE_LARGE, None):
        assert actions.cancels(ctx, action, following=False) == []  # only PlaceAll re-pegs
    # the engine applied the cancels: what c2 and c3 held is posted again, at the bid
    after = context(10, filled=300, resting={"c1": 100})
    order = actions.child_order("p", after, A.PLACE_ALL, following=False, new_order_id=Ids())
    assert order is not None
    assert (order.quantity, order.limit_price) == (Decimal(1600), Decimal("99.99"))
    # a sell's ask above the best ask is behind; at the ask it is not
    sell = ParentOrder("s", Side.SELL, Decimal(100), 100)
    asks = {
        "a1": RestingOrder(Order("s", "a1", Side.SELL, Decimal(5), Decimal("100.01")), Decimal(5)),
        "a2": RestingOrder(Order("s", "a2", Side.SELL, Decimal(5), Decimal("100.03")), Decimal(5)),
    }
    selling = ExecutionContext(sell, 0, BOOK.time_of_day_secs, BOOK, BOOK.mid, Decimal(0),
                               open_orders=asks, step_seconds=1.0)  # fmt: skip
    assert actions.cancels(selling, A.PLACE_ALL, following=False) == ["a2"]


def test_place_all_posts_at_the_near_touch_even_when_the_base_would_cross() -> None:
    actions = passive()
    behind = context(20, filled=0, resting={"c1": 200})  # the passive base catches up
    assert actions.base.limit_price(behind) == Decimal("100.01")
    large = actions.child_order("p", behind, A.PLACE_LARGE, following=False, new_order_id=Ids())
    assert large is not None and large.limit_price == Decimal("100.01")
    everything = actions.child_order("p", behind, A.PLACE_ALL, following=False, new_order_id=Ids())
    assert everything is not None and everything.limit_price == Decimal("99.99")
    assert everything.quantity == Decimal(1800)
