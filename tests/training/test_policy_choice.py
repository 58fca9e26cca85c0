"""``evaluate`` / ``compare --policy``: an evaluation scores the current table (default), the
latest promoted snapshot (what production runs) or a snapshot by id, and its episodes name the
snapshot scored; a choice that names nothing is one clear line (real store, real agent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.cli.main import main
from rlexec.config import AgentMode, Config
from rlexec.errors import InvalidInputError
from rlexec.names import PolicyChoice
from rlexec.rl.types import ExecutionAction
from rlexec.store.engine import create_engine
from rlexec.store.promotions import record_promotion
from rlexec.training.evaluate import ComparisonRun, evaluate_agent, policy_note, run_comparison
from rlexec.training.session import open_session
from tests.training.conftest import small_config
from tests.training.test_production_policy import _promotion, _store_policy


async def _greedy_everywhere(config: Config, name: str, policy: PolicyChoice) -> set[int]:
    session = await open_session(config, name, mode=AgentMode.EVALUATION, policy=policy)
    try:
        agent = session.agent
        wait = int(ExecutionAction.WAIT)
        return {int(agent.greedy_index(s, wait)) for s in range(agent.num_states)}
    finally:
        await session.close()


async def _scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar()


async def test_an_evaluation_scores_the_policy_it_is_asked_for(
    sqlite_url: str, tmp_path: Path
) -> None:
    config = small_config(sqlite_url)
    promoted = await _store_policy(config, "desk", ExecutionAction.PLACE_ALL)
    await _store_policy(config, "desk", ExecutionAction.PLACE_SMALL)  # the current table now

    with pytest.raises(InvalidInputError, match="agent 'desk' has no promoted policy"):
        await evaluate_agent(config, "desk", seeds=2, store=False, policy="promoted")
    engine = create_engine(sqlite_url)
    try:
        await record_promotion(engine, "desk", _promotion(promoted, True))
        assert await _greedy_everywhere(config, "desk", "current") == {ExecutionAction.PLACE_SMALL}
        assert await _greedy_everywhere(config, "desk", "promoted") == {ExecutionAction.PLACE_ALL}
        assert await _greedy_everywhere(config, "desk", promoted) == {ExecutionAction.PLACE_ALL}

        snapshots = await _scalar(engine, "SELECT COUNT(*) FROM policy_snapshots")
        by_promotion = await evaluate_agent(config, "desk", seeds=3, policy="promoted")
        by_id = await evaluate_agent(config, "desk", seeds=3, store=False, policy=promoted)
        assert [r.is_bps for r in by_promotion.agent] == [r.is_bps for r in by_id.agent]
        assert by_promotion.snapshot_id == by_id.snapshot_id == promoted
        note = policy_note("promoted", {"desk": by_promotion.snapshot_id})
        assert f"latest promoted snapshot (snapshot desk {promoted})" in note
        # the metrics describe the table scored, not the current one
        assert by_id.metrics.action_distribution.get("PlaceAll") == 1.0
        current = await evaluate_agent(config, "desk", seeds=2, store=False)
        assert current.metrics.action_distribution.get("PlaceSmall") == 1.0
        # a stored snapshot is scored as it is: no new snapshot, the episodes name it
        assert await _scalar(engine, "SELECT COUNT(*) FROM policy_snapshots") == snapshots
        named = await _scalar(
            engine,
            "SELECT COUNT(*) FROM episodes WHERE executor = 'rl:desk' AND snapshot_id = :s",
            s=promoted,
        )
        assert named == 3

        other = await _store_policy(config, "other", ExecutionAction.WAIT)
        with pytest.raises(InvalidInputError, match=f"snapshot {other} is agent 'other'"):
            await evaluate_agent(config, "desk", seeds=2, store=False, policy=other)
        with pytest.raises(InvalidInputError, match="no such snapshot"):
            await evaluate_agent(config, "desk", seeds=2, store=False, policy=other + 100)
        with pytest.raises(InvalidInputError, match="a snapshot id names one agent's table"):
            await run_comparison(config, ["desk", "other"], seeds=2, store=False, policy=promoted)
        run = await run_comparison(config, ["desk", "other"], seeds=2, store=False,
                                   policy="current")  # fmt: skip
        assert {"rl:desk", "rl:other"} <= set(run.results)
        assert run.snapshot_ids == {"desk": None, "other": None}  # frozen copies, not stored
        promoted_run = await run_comparison(config, ["desk"], seeds=2, store=False,
                                            policy="promoted", out_dir=tmp_path)  # fmt: skip
        assert promoted_run.snapshot_ids == {"desk": promoted}
        assert ComparisonRun.load(tmp_path).snapshot_ids == {"desk": promoted}
    finally:
        await engine.dispose()


@pytest.mark.parametrize("value", ["latest", "0", "-3", "1.5"])
def test_a_bad_policy_argument_is_one_line(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--policy", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--policy" in err[-1] and "expected current, promoted or a snapshot id" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_evaluate_prints_what_it_scored(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    argv = ["--database-url", sqlite_url]
    assert main([*argv, "train", "--agent", "cli", "--episodes", "2", "--no-progress"]) == 0
    capsys.readouterr()
    # progress on: refused before any episode ran, the error is all it prints
    code = main([*argv, "evaluate", "--agent", "cli", "--seeds", "2", "--policy", "promoted"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "has no promoted policy" in err[0], err
    assert main([*argv, "evaluate", "--agent", "cli", "--seeds", "2", "--no-progress"]) == 0
    assert "--policy promoted scores that" in capsys.readouterr().out
