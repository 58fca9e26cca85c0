"""The Almgren-Chriss optimal schedule as an executor: trades the closed-form trade list
``n_1 .. n_N`` (one slice per step over the parent's horizon, whole lots, summing exactly to the
parent) with market orders. Its shape depends on ``kappa T`` only, so the same executor works for
any parent size; ``risk_aversion`` 0 gives TWAP.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal

from rlexec.execution.base import ONE_LOT
from rlexec.execution.twap import ScheduledExecutor
from rlexec.execution.types import ExecutionContext
from rlexec.market.almgren_chriss import PAPER, AcParams, optimal_trade_list


class AlmgrenChrissSchedule(ScheduledExecutor):
    name = "almgren_chriss"
    use_market_orders = True

    def __init__(
        self,
        params: AcParams = PAPER,
        *,
        risk_aversion: float | None = None,
        lot: Decimal = ONE_LOT,
        name: str | None = None,
    ) -> None:
        super().__init__(slices=None, lot=lot)
        self.params = params if risk_aversion is None else params.with_risk_aversion(risk_aversion)
        if name is not None:
            self.name = name

    def slice_weights(self, context: ExecutionContext, bounds: Sequence[int]) -> list[float]:
        trades = optimal_trade_list(1.0, context.parent.horizon_steps, self.params)
        return [float(trades[b:e].sum()) for b, e in itertools.pairwise(bounds)]
