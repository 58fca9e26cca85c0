"""One training run's validations and promotion verdict, stored: what the process that learns
calls, the training loop's learner (``rlexec train``) and the workers' learner
(``rlexec train --workers N``) alike.

    run = TrainingValidation.of(config, agent_name, engine, store, config_hash, run_id, depth)
    ... learn; after each episode: if run.due(done): await run.validate(agent, done)
    verdict = await run.finish(agent, done)   # final table, confirmation, champion, stored

Each validation measures a frozen copy of the table (``PolicyValidator``), flushes the store
and snapshots the stored table, so that the snapshot is the table that was measured; a store
that is down costs the snapshot, not the run. The verdict goes to ``promotions``; a promotion
needs the kept table's snapshot, so a store that was down when it was taken turns a promotion
into a refusal that says why. A table that beats its base is still refused when the policy
promoted before (the champion, measured on the same promotion seeds) is cheaper than it with
95 % confidence: a later run of a noisy learner does not replace a better deployed policy.
Each run confirms on promotion seeds no earlier verdict of the agent used (the first free
block of ``promotion_seeds`` after the validation seeds, below ``evaluation.first_seed``), so
re-running training until a table passes does not pick it on the noise of one block.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.agent import base_executor, base_executor_name
from rlexec.config import Config
from rlexec.errors import StoreError
from rlexec.rl.q_learning import QTableAgent
from rlexec.store.promotions import (
    PromotionRow,
    fresh_seed_block,
    list_promotions,
    record_promotion,
)
from rlexec.store.snapshots import create_snapshot, load_snapshot_policy
from rlexec.store.write_behind import AgentStore
from rlexec.training.markets import build_market
from rlexec.training.validation import (
    PolicyValidator,
    PromotionVerdict,
    Validation,
    champion_refusal,
    promotion_record,
)


class TrainingValidation:
    """A run's validator with the snapshots it took and where it stores its verdict."""

    def __init__(
        self,
        validator: PolicyValidator,
        *,
        agent_name: str,
        engine: AsyncEngine,
        store: AgentStore,
        config_hash: str,
        run_id: str,
        on_validation: Callable[[Validation], None] | None = None,
    ) -> None:
        self.validator = validator
        self.agent_name = agent_name
        self.engine = engine
        self.store = store
        self.config_hash = config_hash
        self.run_id = run_id
        self.on_validation = on_validation
        self.snapshot_ids: dict[int, int] = {}  # episodes trained -> the validated snapshot
        self.seconds = 0.0  # spent in validations (not training: the loop's rate leaves it out)

    @classmethod
    def of(
        cls,
        config: Config,
        *,
        agent_name: str,
        engine: AsyncEngine,
        store: AgentStore,
        config_hash: str,
        run_id: str,
        typical_queue_depth: float | None,
        on_validation: Callable[[Validation], None] | None = None,
    ) -> TrainingValidation:
        """The validation of a run of ``config`` (its market, its base, its seeds)."""
        rl = config.rl_execution
        validator = PolicyValidator(
            config,
            lambda: build_market(rl),
            lambda: base_executor(config),
            typical_queue_depth,
            base_executor_name(config),
        )
        return cls(
            validator,
            agent_name=agent_name,
            engine=engine,
            store=store,
            config_hash=config_hash,
            run_id=run_id,
            on_validation=on_validation,
        )

    @property
    def history(self) -> tuple[Validation, ...]:
        return tuple(self.validator.history)

    def due(self, done: int) -> bool:
        """A validation falls due at ``done`` episodes trained."""
        return self.validator.due(done)

    def next_due(self, done: int) -> int | None:
        """The episode count of the next validation after ``done`` (None: validation off)."""
        every = self.validator.every
        return None if every <= 0 else (done // every + 1) * every

    async def validate(self, agent: QTableAgent, done: int) -> Validation:
        """Measure the current table, then snapshot it (flushed first)."""
        started = time.perf_counter()
        try:
            return await self._validate(agent, done)
        finally:
            self.seconds += time.perf_counter() - started

    async def _validate(self, agent: QTableAgent, done: int) -> Validation:
        result = await self.validator.validate(agent, done)
        if self.on_validation is not None:
            self.on_validation(result)
        with contextlib.suppress(StoreError):
            await self.store.flush()
            row = await create_snapshot(self.engine, self.agent_name, f"validation {done}")
            self.snapshot_ids[done] = row.id
        return result

    async def finish(self, agent: QTableAgent, done: int) -> PromotionVerdict:
        """The run's end: the final table validated (unless it just was), the kept table
        confirmed on fresh promotion seeds, the champion measured beside it, the verdict
        stored (the agent's earlier verdicts are read once, for the seeds and the champion)."""
        validator = self.validator
        champion_id = None
        if validator.every and done >= validator.every:
            last = validator.history[-1].episodes_trained if validator.history else None
            if last != done:
                await self.validate(agent, done)
            try:
                earlier = await list_promotions(self.engine, self.agent_name)  # newest first
            except StoreError as exc:
                reason = f"the store was down ({exc}): the seeds earlier verdicts used are unknown"
                return PromotionVerdict(False, reason, validator.base_name)
            refusal = self._fresh_promotion_seeds(earlier)
            if refusal is not None:
                return PromotionVerdict(False, refusal, validator.base_name)
            champion_id = next((row.snapshot_id for row in earlier if row.promoted), None)
        verdict = await validator.verdict(agent, done)
        return await self._record(await self.against_champion(verdict, champion_id))

    def _fresh_promotion_seeds(self, earlier: list[PromotionRow]) -> str | None:
        """Confirm on the first block of promotion seeds that no earlier verdict of this agent
        was confirmed on (a block re-used run after run until some table passes would pick
        that table on noise); the reason for a refusal when there is none."""
        ev = self.validator.config.rl_execution.evaluation
        start = ev.validation_first_seed + ev.validation_seeds
        used = (row.record.seeds for row in earlier)
        block = fresh_seed_block(start, ev.promotion_seeds, ev.first_seed, used)
        if block is None:
            return (
                f"no fresh promotion seeds: earlier verdicts of agent {self.agent_name!r} used "
                f"the seeds from {start} so that no block of {ev.promotion_seeds} unused seeds "
                f"is left below evaluation.first_seed = {ev.first_seed}; expected one (raise "
                "evaluation.first_seed, or train a new agent)"
            )
        self.validator.promotion_seeds = tuple(block)
        return None

    async def against_champion(
        self, verdict: PromotionVerdict, champion_id: int | None
    ) -> PromotionVerdict:
        """A promotion stands only if the policy promoted before (snapshot ``champion_id``,
        measured on the same promotion seeds) is not cheaper than the new table with
        confidence; a store that is down leaves the verdict as it is (it cannot be recorded
        either)."""
        confirmation = verdict.confirmation
        if not verdict.promoted or confirmation is None or champion_id is None:
            return verdict
        state = self.validator.config.rl_execution.state
        try:
            _, table = await load_snapshot_policy(self.engine, champion_id, state)
        except StoreError:
            return verdict
        champion = await self.validator.measure(
            table, confirmation.seeds, confirmation.episodes_trained
        )
        refusal = champion_refusal(champion_id, champion, confirmation)
        if refusal is None:
            return verdict
        return dataclasses.replace(verdict, promoted=False, reason=refusal)

    async def _record(self, verdict: PromotionVerdict) -> PromotionVerdict:
        best, confirmation = verdict.best, verdict.confirmation
        if best is None or confirmation is None:
            return verdict  # nothing was validated: nothing to record
        snapshot_id = self.snapshot_ids.get(best.episodes_trained)
        if verdict.promoted and snapshot_id is None:
            verdict = dataclasses.replace(
                verdict, promoted=False, reason="the store was down when the best table was taken"
            )
        record = promotion_record(
            verdict, snapshot_id=snapshot_id, config_hash=self.config_hash, run_id=self.run_id
        )
        with contextlib.suppress(StoreError):
            await record_promotion(self.engine, self.agent_name, record)
        return verdict
