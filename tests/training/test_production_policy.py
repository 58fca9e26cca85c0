"""Production acts on the latest promoted policy, or runs its base when nothing was promoted;
``train`` records its verdict. Real store (SQLite and PostgreSQL), real agent."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rlexec.config import AgentMode, Config
from rlexec.rl.policy import PolicyTable
from rlexec.rl.q_learning import QTableAgent
from rlexec.rl.types import ExecutionAction
from rlexec.store.promotions import PromotionRecord, list_promotions, record_promotion
from rlexec.store.snapshots import create_snapshot, load_snapshot_policy
from rlexec.training.promotion import TrainingValidation
from rlexec.training.session import open_session
from rlexec.training.train import train
from rlexec.training.validation import PromotionVerdict
from tests.training.conftest import small_config


async def _store_policy(config: Config, name: str, preferred: ExecutionAction) -> int:
    """Put a table that confidently prefers ``preferred`` into agent ``name``; snapshot it."""
    session = await open_session(config, name, mode=AgentMode.TRAINING)
    try:
        agent = session.agent
        q = np.zeros_like(agent.q_values)
        q[:, int(preferred)] = 100.0
        visits = np.full_like(agent.visits, 1000)
        session.store.replace_table(q, visits, 0.1, 1, np.zeros_like(q))
        await session.store.flush()
    finally:
        await session.close()
    return (await create_snapshot(session.engine, name, "constructed")).id


def _promotion(snapshot_id: int, promoted: bool) -> PromotionRecord:
    return PromotionRecord(
        promoted=promoted,
        reason="constructed",
        snapshot_id=snapshot_id,
        validation_seed_first=900_000_200,
        validation_seed_count=500,
        base_executor="twap_passive",
        policy_mean_is_bps=-40.0,
        base_mean_is_bps=100.0,
        mean_difference_bps=-140.0,
        difference_ci_low_bps=-160.0,
        difference_ci_high_bps=-120.0,
        episodes_trained=1000,
        config_hash="x",
    )


async def _production_greedy(config: Config, name: str) -> tuple[ExecutionAction, float]:
    session = await open_session(config, name, mode=AgentMode.PRODUCTION)
    try:
        agent = session.agent
        return agent.greedy_index(0, int(ExecutionAction.PLACE_SMALL)), agent.epsilon
    finally:
        await session.close()


def test_production_runs_its_base_until_a_policy_is_promoted(any_db_url: str) -> None:
    config = small_config(any_db_url)

    async def run() -> None:
        snapshot_id = await _store_policy(config, "prod", ExecutionAction.PLACE_ALL)
        # the live table prefers PlaceAll, but nothing is promoted: the base, no exploration
        assert await _production_greedy(config, "prod") == (ExecutionAction.PLACE_SMALL, 0.0)
        engine_session = await open_session(config, "prod", mode=AgentMode.EVALUATION)
        try:
            await record_promotion(engine_session.engine, "prod", _promotion(snapshot_id, False))
            assert (await _production_greedy(config, "prod"))[0] is ExecutionAction.PLACE_SMALL
            await record_promotion(engine_session.engine, "prod", _promotion(snapshot_id, True))
            action, epsilon = await _production_greedy(config, "prod")
            assert action is ExecutionAction.PLACE_ALL and epsilon > 0
        finally:
            await engine_session.close()

    asyncio.run(run())


def test_train_records_its_verdict(sqlite_url: str) -> None:
    config = small_config(sqlite_url)
    config = config.model_copy(
        update={
            "rl_execution": config.rl_execution.model_copy(
                update={
                    "evaluation": config.rl_execution.evaluation.model_copy(
                        update={"validate_every": 20, "validation_seeds": 10, "promotion_seeds": 10}
                    )
                }
            )
        }
    )

    async def run() -> None:
        result = await train(config, "verdict", episodes=40, progress=False, handle_signals=False)
        assert [v.episodes_trained for v in result.validations] == [20, 40]
        # the rate is training's own: the validations inside the loop are left out
        assert 0 < result.validation_seconds < result.seconds
        training = result.seconds - result.validation_seconds
        assert result.steps_per_second == pytest.approx(result.steps / training)
        assert result.promotion is not None and result.promotion.confirmation is not None
        assert set(result.snapshot_ids) == {20, 40}
        session = await open_session(config, "verdict", mode=AgentMode.EVALUATION)
        try:
            rows = await list_promotions(session.engine, "verdict")
        finally:
            await session.close()
        assert len(rows) == 1 and rows[0].promoted == result.promotion.promoted
        assert rows[0].snapshot_id in (None, *result.snapshot_ids.values())

    asyncio.run(run())


def test_each_train_run_confirms_on_seeds_no_earlier_verdict_used(sqlite_url: str) -> None:
    """Training the same agent again confirms on the next free block of promotion seeds (a
    block re-used until some table passes picks it on noise); with no block left below the
    evaluation seeds, nothing is confirmed and the verdict says why."""
    config = small_config(sqlite_url)
    ev = config.rl_execution.evaluation
    start = ev.validation_first_seed + 10
    config = config.model_copy(
        update={
            "rl_execution": config.rl_execution.model_copy(
                update={
                    "evaluation": ev.model_copy(
                        update={
                            "validate_every": 20, "validation_seeds": 10, "promotion_seeds": 10,
                            "first_seed": start + 20,  # room for two blocks
                        }
                    )
                }
            )
        }
    )  # fmt: skip

    async def run() -> None:
        verdicts = [
            (await train(config, "rerun", episodes=20, progress=False, handle_signals=False))
            for _ in range(3)
        ]
        session = await open_session(config, "rerun", mode=AgentMode.EVALUATION)
        try:
            rows = await list_promotions(session.engine, "rerun")  # newest first
        finally:
            await session.close()
        assert [row.record.seeds for row in rows] == [range(start + 10, start + 20),
                                                      range(start, start + 10)]  # fmt: skip
        confirmed = [v.promotion.confirmation for v in verdicts[:2] if v.promotion is not None]
        assert [c.seeds for c in confirmed if c is not None] == [
            tuple(range(start, start + 10)),
            tuple(range(start + 10, start + 20)),
        ]
        last = verdicts[2].promotion
        assert last is not None and not last.promoted and last.confirmation is None
        assert last.reason.startswith("no fresh promotion seeds: earlier verdicts of agent 'rerun'")
        assert (
            f"no block of 10 unused seeds is left below evaluation.first_seed = {start + 20}"
            in (last.reason)
        )
        # the verdict line names the seeds it was confirmed on
        summary = verdicts[1].promotion.summary() if verdicts[1].promotion else ""
        assert f"on 10 held-out seeds ({start + 10}-{start + 19};" in summary

    asyncio.run(run())


def validator_states(config: Config) -> int:
    return QTableAgent(config.rl_execution.q_learning, config.rl_execution.state).num_states


def test_a_promotion_does_not_replace_a_champion_that_is_cheaper(sqlite_url: str) -> None:
    """A verdict that beats the base is refused when the policy promoted before is cheaper
    with confidence on the same promotion seeds; it stands against a champion no cheaper.
    The champion posts everything at once (on the prediction market, far cheaper than the
    passive base: test_promotion_gate)."""
    config = small_config(sqlite_url, market="prediction_market", horizon_steps=300)

    async def run() -> None:
        champion_id = await _store_policy(config, "champ", ExecutionAction.PLACE_ALL)
        session = await open_session(config, "champ", mode=AgentMode.EVALUATION)
        try:
            await record_promotion(session.engine, "champ", _promotion(champion_id, True))
            run_ = TrainingValidation.of(
                config, agent_name="champ", engine=session.engine, store=session.store,
                config_hash="x", run_id="", typical_queue_depth=None,
            )  # fmt: skip
            validator = run_.validator
            seeds = validator.promotion_seeds[:30]
            # a table that cancels everything at every decision (far dearer than posting it
            # all): say it was promoted, on those seeds
            shape = (validator_states(config), 6)
            q = np.zeros(shape)
            q[:, int(ExecutionAction.CANCEL)] = 100.0
            cancels = PolicyTable(q, np.full(shape, 1000, dtype=np.int64), np.zeros(shape))
            measured = await validator.measure(cancels, seeds, 40)
            claimed = PromotionVerdict(True, "constructed", "twap_passive", measured, measured)
            refused = await run_.against_champion(claimed, champion_id)
            assert not refused.promoted
            assert f"the policy promoted before (snapshot {champion_id}) is cheaper" in (
                refused.reason
            )
            # against itself (the champion's own table) it stands: no cheaper than itself
            _, table = await load_snapshot_policy(
                session.engine, champion_id, config.rl_execution.state
            )
            itself = await validator.measure(table, seeds, 40)
            same = PromotionVerdict(True, "constructed", "twap_passive", itself, itself)
            assert (await run_.against_champion(same, champion_id)).promoted
        finally:
            await session.close()

    asyncio.run(run())
