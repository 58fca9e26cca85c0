"""Validation and promotion on the engine's own simulator (``Agent.validate``).

``rlexec train`` validates and promotes a table on rlexec's simulators; an agent an engine
trained through the public API learned a market rlexec cannot simulate, so the engine runs the
paired episodes itself and rlexec judges them by the same rule:

- the table measured is the agent's current one, frozen (greedy: no exploration, no learning);
- for every seed of a held-out block (``first_seed`` .. ``first_seed + seeds - 1``, seeds the
  agent was not trained on), the engine's ``run_parent(desk, seed)`` is called twice: with a
  desk whose orders that table works, then with one whose orders the base works alone (the
  kill switch). Each call works one parent order on the engine's simulator seeded with
  ``seed``, from ``desk.start_order`` to ``finish()``; the same seed must give the same market,
  so that the two runs are paired;
- a block that overlaps one the agent was validated on before is refused: a block re-used
  until some table passes picks that table on noise (so does validating on block after block
  until one promotes: the stored verdicts show it);
- when every run is done, the store is flushed and the table snapshotted (so the snapshot is
  what was measured; a trial that fails leaves nothing behind). If the agent learned meanwhile
  (orders of its own finished during the trial, or, in an asyncio engine, before the snapshot),
  the table measured is no longer its table: the stored table is compared with it right before
  the copy, nothing is snapshotted and the verdict is a refusal that says so;
- when a policy was promoted before (the champion), a third desk works each seed with it, and
  the new table must not be worse than it: as training keeps its best table, a table that beats
  the base is not promoted when the champion is cheaper than it with 95 % confidence (without this,
  re-validating as training goes on would replace a good policy by a worse one that still beats
  the base: measured on the outside market, docs/learning.md);
- the verdict is training's (``rlexec.training.validation.gate_reason``): promoted only when
  policy - base has a 95 % CI below 0 (and the champion is not cheaper); stored in
  ``promotions`` either way (``rlexec promotions list``). A production agent acts on the
  newest promoted policy: the one that validated at once, others when they open. Any mode may
  validate (the table measured is the agent's live one: what training learned, or production
  learned online).

The trial's episodes are not stored (as training's validation episodes are not).
"""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.agent import PersistentAgent, base_executor_name
from rlexec.errors import InvalidInputError
from rlexec.execution.metrics import paired_difference
from rlexec.execution.rl_executor import RlEnhancedExecutor
from rlexec.records import new_run_id
from rlexec.rl.policy import PolicyTable
from rlexec.store.promotions import (
    MAX_SEED,
    PromotionRow,
    fresh_seed_block,
    learned_episodes_of,
    list_promotions,
    overlapping,
    record_promotion,
)
from rlexec.store.snapshots import create_snapshot, load_current_policy, load_snapshot_policy
from rlexec.training.validation import (
    PromotionVerdict,
    Validation,
    champion_refusal,
    frozen_executor,
    gate_reason,
    promotion_record,
)

MIN_SEEDS = 2  # a paired confidence interval needs two pairs
LEARNED_MEANWHILE = (
    "not promoted: the agent's table changed while it was validated (orders of its own "
    "finished, or another process published to it), so the table measured is no longer its "
    "table; validate while nothing learns on it"
)


def same_table(a: PolicyTable, b: PolicyTable) -> bool:
    """The same Q-values and visits (what learning changes)."""
    return np.array_equal(a.q, b.q, equal_nan=True) and np.array_equal(a.visits, b.visits)


def _count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_SEED:
        raise InvalidInputError(f"{name} = {value!r}: expected an integer >= {low}")
    return value


class EngineTrial:
    """One validation of an agent's current table on the engine's simulator (see the module
    doc): the executors the engine's desks work with (the table, the base, the policy promoted
    before if any), the costs they report, the stored snapshot and verdict."""

    POLICY, BASE, CHAMPION = 0, 1, 2  # the executors' order: each seed's runs, in order

    def __init__(
        self,
        persistent: PersistentAgent,
        run_parent: object,
        *,
        first_seed: object,
        seeds: object,
        typical_queue_depth: float | None,
        decision_interval_steps: int,
    ) -> None:
        if not callable(run_parent):
            raise InvalidInputError(
                f"run_parent = {run_parent!r:.60}: expected a function (desk, seed) that works "
                "one parent order on the engine's simulator"
            )
        first = _count("first_seed", first_seed, 0)
        count = _count("seeds", seeds, MIN_SEEDS)
        if first + count - 1 > MAX_SEED:
            raise InvalidInputError(f"first_seed + seeds = {first + count}: expected <= {MAX_SEED}")
        self.seeds = range(first, first + count)
        self.agent_name = persistent.agent_name
        self._config = persistent.config
        self._reward_mode = persistent.reward_mode
        self._depth = typical_queue_depth
        self._interval_steps = decision_interval_steps
        self.table = persistent.agent.policy_table()
        self.executors: list[RlEnhancedExecutor] = [self._frozen(self.table) for _ in range(2)]
        self.executors[self.BASE].enabled = False  # the base works the parent alone
        self.champion_id: int | None = None  # the policy promoted before, measured beside it
        self.base_name = base_executor_name(self._config)
        self.config_hash = persistent.config_hash
        self.costs_bps: list[list[float]] = [[], []]
        self.snapshot_id: int | None = None
        self.episodes_trained = 0

    def _frozen(self, table: PolicyTable) -> RlEnhancedExecutor:
        return frozen_executor(
            self._config,
            table,
            self._reward_mode,
            self._depth,
            decision_interval_steps=self._interval_steps,
        )

    def take(self, which: int, seed: int, started: int, result_bps: float | None) -> None:
        """The cost of the parent ``run_parent`` worked for executor ``which`` at ``seed``
        (``started``: orders it started; ``result_bps``: the IS of the last one finished,
        None if none finished)."""
        desk = ("the policy's", "the base's", "the promoted policy's")[which]
        if started != 1 or result_bps is None:
            raise InvalidInputError(
                f"run_parent(desk, seed={seed}) on {desk} desk started {started} order(s) and "
                f"finished {0 if result_bps is None else 1}: expected it to work one parent "
                "order from desk.start_order(...) to finish()"
            )
        self.costs_bps[which].append(result_bps)

    async def prepare(self, engine: AsyncEngine) -> None:
        """On the writer, before any run: the block must not overlap an earlier one; the
        policy promoted last, if any, is measured too (a third desk, the champion)."""
        earlier = await list_promotions(engine, self.agent_name)  # newest first
        self._refuse_reused_seeds(earlier)
        champion = next((row.snapshot_id for row in earlier if row.promoted), None)
        if champion is not None:
            _, table = await load_snapshot_policy(engine, champion, self._config.rl_execution.state)
            self.champion_id = champion
            self.executors.append(self._frozen(table))
            self.costs_bps.append([])

    def _refuse_reused_seeds(self, earlier: list[PromotionRow]) -> None:
        first, last = self.seeds[0], self.seeds[-1]
        row = overlapping(self.seeds, earlier)
        if row is not None:
            used = row.record.seeds
            free = fresh_seed_block(
                first, len(self.seeds), MAX_SEED + 1, (r.record.seeds for r in earlier)
            )
            hint = (
                ""
                if free is None
                else f"; the first unused block of {len(self.seeds)} from it starts at {free.start}"
            )
            raise InvalidInputError(
                f"seeds {first}-{last}: agent {self.agent_name!r} was validated on seeds "
                f"{used.start}-{used.stop - 1} (promotion {row.id}); expected a block it was "
                "neither trained nor validated on (a block re-used until a table passes picks "
                f"it on noise){hint}"
            )

    def verdict(self) -> PromotionVerdict:
        """Training's rule against the base; and the champion, when there is one, must not be
        cheaper than the new table with confidence (as training keeps its best table)."""
        measured = self._measured(self.costs_bps[self.POLICY])
        promoted, reason = measured.better, gate_reason(measured)
        if promoted and self.champion_id is not None:
            champion = self._measured(self.costs_bps[self.CHAMPION])
            refusal = champion_refusal(self.champion_id, champion, measured)
            if refusal is not None:
                promoted, reason = False, refusal
        return PromotionVerdict(promoted, reason, self.base_name, measured, measured, self.table)

    def _measured(self, costs: list[float]) -> Validation:
        """``costs`` (a desk's, per seed) against the base's, paired."""
        base = self.costs_bps[self.BASE]
        return Validation(
            self.episodes_trained,
            tuple(self.seeds),
            statistics.fmean(costs),
            statistics.fmean(base),
            paired_difference(costs, base, self.base_name),
            tuple(costs),
            tuple(base),
        )

    async def record(self, engine: AsyncEngine) -> PromotionVerdict:
        """On the writer, after a flush: the measured table's snapshot and the verdict, stored.
        The snapshot is taken only when the agent's stored table is still the table measured
        (here, on the writer, no flush can come between the check and the copy); else the
        agent learned meanwhile (its own orders finished during the trial or since, an asyncio
        engine's included) and the verdict is a refusal that says so."""
        state = self._config.rl_execution.state
        stored, _ = await load_current_policy(engine, self.agent_name, state)
        learned_meanwhile = not same_table(stored, self.table)
        if not learned_meanwhile:
            first, last = self.seeds[0], self.seeds[-1]
            label = f"engine validation {first}-{last}"
            self.snapshot_id = (await create_snapshot(engine, self.agent_name, label)).id
        self.episodes_trained = await learned_episodes_of(engine, self.agent_name)
        verdict = self.verdict()
        if learned_meanwhile:
            verdict = dataclasses.replace(verdict, promoted=False, reason=LEARNED_MEANWHILE)
        record = promotion_record(
            verdict, snapshot_id=self.snapshot_id, config_hash=self.config_hash, run_id=new_run_id()
        )
        await record_promotion(engine, self.agent_name, record)
        return verdict
