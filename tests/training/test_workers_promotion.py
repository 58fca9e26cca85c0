"""``train --workers N``: the learner validates and promotes as single-process training does
(validations while it applies, the kept table confirmed at the end, the verdict stored and
printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rlexec.cli.main import main
from rlexec.config import Config, parse_config
from rlexec.store.engine import create_engine
from rlexec.store.promotions import list_promotions
from rlexec.training.promotion import TrainingValidation
from rlexec.training.workers import train_workers
from tests.training.conftest import small_config


def validating(url: str, **evaluation: Any) -> Config:
    config = small_config(url)
    data = config.model_dump(mode="json")
    data["rl_execution"]["evaluation"].update(
        {"validate_every": 10, "validation_seeds": 6, "promotion_seeds": 6, **evaluation}
    )
    return parse_config(data)


async def test_the_workers_learner_validates_snapshots_and_records_its_verdict(
    sqlite_url: str,
) -> None:
    config = validating(sqlite_url)
    result = await train_workers(config, "crew", 2, episodes=30, handle_signals=False)
    assert result.episodes == 30
    trained = [v.episodes_trained for v in result.validations]
    # the learner holds the queue at every multiple of validate_every: validations at exactly
    # 10, 20 and 30 episodes, as single-process training makes them
    assert trained == [10, 20, 30]
    verdict = result.promotion
    assert verdict is not None and verdict.confirmation is not None
    assert len(verdict.confirmation.seeds) == 6
    engine = create_engine(sqlite_url)
    try:
        rows = await list_promotions(engine, "crew")
        async with engine.connect() as conn:
            query = sa.text("SELECT label FROM policy_snapshots")
            labels = (await conn.execute(query)).scalars().all()
    finally:
        await engine.dispose()
    assert sorted(labels) == sorted(f"validation {n}" for n in trained)
    assert len(rows) == 1
    record = rows[0].record
    assert record.promoted == verdict.promoted
    assert record.run_id == result.actor_results[0]["run_id"]  # the invocation's run id
    assert record.episodes_trained in trained and record.validation_seed_count == 6


async def test_a_workers_run_without_validation_promotes_nothing(sqlite_url: str) -> None:
    config = validating(sqlite_url, validate_every=0)
    result = await train_workers(config, "crew", 1, episodes=4, handle_signals=False)
    assert result.validations == ()
    assert result.promotion is not None and not result.promotion.promoted
    assert "validation is off" in result.promotion.reason


def test_validations_fall_due_at_every_multiple() -> None:
    validation = TrainingValidation.of(
        validating("sqlite+aiosqlite:///unused.db"),
        agent_name="crew",
        engine=None,  # type: ignore[arg-type]  # due() touches no store
        store=None,  # type: ignore[arg-type]
        config_hash="",
        run_id="",
        typical_queue_depth=None,
    )
    assert [n for n in range(1, 31) if validation.due(n)] == [10, 20, 30]
    assert [validation.next_due(n) for n in (0, 9, 10, 29)] == [10, 10, 20, 30]


def test_train_workers_prints_the_validations_and_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    for key, value in {
        "RLEXEC_SIMULATOR__PARENT_QUANTITY": "400",
        "RLEXEC_SIMULATOR__HORIZON_STEPS": "60",
        "RLEXEC_EXECUTOR__DECISION_INTERVAL_STEPS": "5",
        "RLEXEC_PERSISTENCE__SAVE_INTERVAL_SECS": "3600",
        "RLEXEC_EVALUATION__VALIDATE_EVERY": "10",
        "RLEXEC_EVALUATION__VALIDATION_SEEDS": "4",
        "RLEXEC_EVALUATION__PROMOTION_SEEDS": "4",
    }.items():
        monkeypatch.setenv(key, value)
    argv = ["--database-url", url, "train", "--agent", "crew", "--workers", "2",
            "--episodes", "20", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "parents: equity: buy 400 over 60 steps" in lines
    (summary,) = [line for line in lines if line.startswith("agent 'crew': 2 actors")]
    assert "seeds 0..9, " in summary and "running mean IS " in summary, summary  # 10 each
    assert "epsilon 0." in summary
    validations = [line for line in lines if line.startswith("validation at ")]
    assert [line.split(" episodes")[0] for line in validations] == [
        "validation at 10",
        "validation at 20",
    ]
    promotion = [line for line in lines if line.startswith("promotion: ")]
    assert len(promotion) == 1 and "on 4 held-out seeds" in promotion[0], lines


async def test_the_workers_learner_writes_policy_metrics(sqlite_url: str) -> None:
    config = validating(sqlite_url)
    await train_workers(config, "crew", 2, episodes=20, handle_signals=False)
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT source, run_id FROM policy_metrics"))).all()
    finally:
        await engine.dispose()
    # one row at each validation (10, 20) and one at the end, all of this run
    assert len(rows) == 3 and {r.source for r in rows} == {"training"}
    assert len({r.run_id for r in rows}) == 1 and None not in {r.run_id for r in rows}


def test_train_workers_shows_progress_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLEXEC_SIMULATOR__HORIZON_STEPS", "60")
    monkeypatch.setenv("RLEXEC_EXECUTOR__DECISION_INTERVAL_STEPS", "5")
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    argv = ["--database-url", url, "train", "--agent", "crew", "--workers", "1", "--episodes", "6"]
    assert main(argv) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "train crew" in line]
    # plain lines (not a terminal): the learner's count of applied episodes, ending at 6
    assert lines and lines[-1].startswith("train crew (1 actors): 6/6 ep"), lines
