"""The base executor's mark-to-market shortfall path on the same market seed, for the paired
("common random numbers") training reward of the RL executor.

Why: in the shortfall reward, every transition is charged the price moves on what is still to
trade, ``R_t (m_{t+1} - m_t)``. On a noisy market (the Almgren-Chriss paper preset: about 190
bps of noise per step at full inventory) that term dwarfs the cost differences between actions,
and Q-learning's max over noisy estimates turns it into a bias. In simulation the base schedule
can be run first on the same seed; charging each transition the *difference* between the
agent's and the base's shortfall change removes the exogenous noise the two share, and since the
base's path does not depend on the agent's actions, an episode's rewards sum to
``-(IS_agent - IS_base)``: the same optimal total as minus the agent's IS, with far less noise.

When it biases (why it is off by default, ``reward.paired_baseline``): the base's cost change
is independent of the agent's *actions* but not of the market path, and Q-learning credits it
per transition to the agent's discretized state. Where hidden market state (regimes, a thin
book's gaps) makes the base's future costs correlate with the agent's state, the learned values
and the greedy policy shift. Measured (``scripts/bench/bench_training.py --targets``): on the
Almgren-Chriss paper preset (a Markov random walk) it is what lets the agent stay within 3% of
E*; on the prediction-market preset it made the trained policy worse than the plain shortfall
reward (mean IS about 190-200 against about 98 bps).
"""

from __future__ import annotations

from decimal import Decimal

from rlexec.execution.base import BaseExecutor
from rlexec.execution.runner import run_episode
from rlexec.execution.types import ExecutionAlgorithm, ExecutionContext, Order, ParentOrder
from rlexec.market.base import Market
from rlexec.rl.reward import Shortfall


class ShortfallRecorder(BaseExecutor):
    """Delegates to ``base`` and records ``S_t`` (bps of the arrival value) at every step and,
    as the last entry, the implementation shortfall after the forced completion."""

    def __init__(self, base: ExecutionAlgorithm) -> None:
        super().__init__()
        self.base = base
        self.name = base.name
        self.path: list[float] = []
        self._shortfall: Shortfall[float] | None = None  # the parent's, from its first context

    def _account(self, context: ExecutionContext) -> Shortfall[float]:
        shortfall = self._shortfall
        if shortfall is None:
            parent = context.parent
            shortfall = Shortfall(
                parent.side.sign, float(parent.quantity), float(context.arrival_mid)
            )
            self._shortfall = shortfall
        return shortfall

    def _record(self, context: ExecutionContext) -> None:
        self.path.append(self._account(context).marked_bps(float(context.book.mid)))

    async def cancel_requests(self, parent_id: str, context: ExecutionContext) -> list[str]:
        return await self.base.cancel_requests(parent_id, context)

    async def get_next_order(self, parent_id: str, context: ExecutionContext) -> Order | None:
        self._record(context)
        return await self.base.get_next_order(parent_id, context)

    async def record_fill(
        self,
        parent_id: str,
        order_id: str,
        filled: Decimal,
        price: Decimal,
        context: ExecutionContext,
    ) -> None:
        self._account(context).add_fill(float(filled), float(price))
        await self.base.record_fill(parent_id, order_id, filled, price, context)

    async def finish(self, parent_id: str, context: ExecutionContext) -> None:
        self._record(context)
        await self.base.finish(parent_id, context)


async def baseline_shortfall_path(
    base: ExecutionAlgorithm, market: Market, parent: ParentOrder, seed: int
) -> list[float]:
    """Run ``base`` for ``parent`` on ``market`` reset with ``seed``; return ``S_t`` for
    t = 0 .. horizon (the last entry is the base's implementation shortfall)."""
    recorder = ShortfallRecorder(base)
    await run_episode(recorder, market, parent, seed)
    return recorder.path
