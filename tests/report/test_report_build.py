"""``write_report`` on a real SQLite store: the summary leads with the verdict and keeps the
command line's columns, the promotion section appears only when given, the data read for
the plots is the stored truth (epsilon, deviations), and writing a report writes nothing to
the store."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rlexec.config import DatabaseConfig, parse_config
from rlexec.report.build import write_report
from rlexec.report.data import read_agent_data
from rlexec.report.verdict import comparison_verdict
from rlexec.store.engine import create_engine
from rlexec.store.promotions import PromotionRecord, record_promotion
from rlexec.store.snapshots import create_snapshot
from rlexec.training.evaluate import ComparisonRun
from tests.report.conftest import Compared


def _copy(compared: Compared, tmp_path: Path) -> Path:
    out = tmp_path / "report"
    out.mkdir()
    shutil.copy(compared.comparison / "comparison.json", out / "comparison.json")
    return out


def _counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        tables = ("episodes", "decisions", "policy_snapshots", "configs", "policy_metrics")
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


def test_a_comparison_pairs_against_the_agents_base_and_saves_it(compared: Compared) -> None:
    run = compared.run
    assert run.base == "twap_passive" and run.reference == "twap_passive"
    assert run.run_id is not None
    loaded = ComparisonRun.load(compared.comparison)
    assert (loaded.base, loaded.run_id, loaded.reference) == (run.base, run.run_id, run.reference)
    header = run.table().splitlines()[0]
    assert "diff vs twap_passive [95% CI]" in header


async def test_summary_leads_with_the_verdict_and_keeps_the_cli_columns(
    compared: Compared, tmp_path: Path
) -> None:
    out = _copy(compared, tmp_path)
    report = await write_report(compared.config, out)
    text = report.summary.read_text()
    verdict = comparison_verdict(compared.run, "twap_passive")
    assert report.verdict == verdict.blocks()
    assert text.index("## Verdict") < text.index("## Setup") < text.index("| executor |")
    for block in verdict.blocks():
        assert f"**{block[0]}**" in text
        for line in block[1:]:
            assert f"- {line}" in text
    assert "its base (passive TWAP, " in text  # better / worse than, or the same cost as
    assert "the best baseline of this market" in text or "also the best baseline" in text
    assert compared.run.table() in text  # the table rlexec compare prints, with its columns
    header = next(line for line in text.splitlines() if line.startswith("| executor |"))
    for column in ("policy fill rate", "child orders", "completion cost bps", "better than"):
        assert column in header
    assert "mean vs" not in text
    # which table each agent was scored on (the comparison stored its episodes: a snapshot)
    for agent, snapshot in compared.run.snapshot_ids.items():
        assert snapshot is not None
        assert f"agent `{agent}` trained with" in text and f"scored on snapshot {snapshot}" in text
    # no agent was validated (12 and 8 episodes, validate_every 1000): each runs its base
    assert text.index("## Verdict") < text.index("## Promotion for production")
    assert "default: never validated (no promotion stored): in production it runs its base" in text


async def test_the_promotion_section_shows_each_agents_stored_verdict(
    compared: Compared, tmp_path: Path
) -> None:
    database = tmp_path / "copy.db"
    shutil.copy(compared.database, database)
    url = f"sqlite+aiosqlite:///{database}"
    config = compared.config.model_copy(
        update={
            "rl_execution": compared.config.rl_execution.model_copy(
                update={"database": DatabaseConfig(url=url)}
            )
        }
    )
    engine = create_engine(url)
    try:
        snapshot = await create_snapshot(engine, "default", "validated")
        record = PromotionRecord(
            promoted=True, reason="cheaper than its base", snapshot_id=snapshot.id,
            validation_seed_first=900_000_200, validation_seed_count=500,
            base_executor="twap_passive", policy_mean_is_bps=-1.0, base_mean_is_bps=-0.5,
            mean_difference_bps=-0.5, difference_ci_low_bps=-0.8, difference_ci_high_bps=-0.2,
            episodes_trained=1000, config_hash="x",
        )  # fmt: skip
        await record_promotion(engine, "default", record)
    finally:
        await engine.dispose()
    text = (await write_report(config, _copy(compared, tmp_path))).summary.read_text()
    assert (
        f"default: promoted (snapshot version {snapshot.version}); on 500 promotion seeds "
        "policy - twap_passive = -0.50 bps (95% CI -0.80 to -0.20), after 1000 training "
        "episodes; cheaper than its base"
    ) in text
    assert "original-reward: never validated" in text


async def test_the_promotion_section_is_rendered_only_when_given(
    compared: Compared, tmp_path: Path
) -> None:
    out = _copy(compared, tmp_path)
    line = "agent 'default': not promoted (validation: -0.10 bps vs submit-and-leave, n.s.)"
    report = await write_report(compared.config, out, promotion=[line])
    text = report.summary.read_text()
    assert text.index("## Verdict") < text.index("## Promotion for production")
    assert text.index(f"- {line}") < text.index("## Setup")


async def test_writing_a_report_writes_nothing_to_the_store(
    compared: Compared, tmp_path: Path
) -> None:
    before = _counts(compared.database)
    await write_report(compared.config, _copy(compared, tmp_path))
    assert _counts(compared.database) == before


async def test_an_older_comparison_without_a_base_takes_the_configured_one(
    compared: Compared, tmp_path: Path
) -> None:
    out = _copy(compared, tmp_path)
    data = json.loads((out / "comparison.json").read_text())
    for key in ("base", "run_id"):
        del data[key]
    data["reference"] = "twap"
    (out / "comparison.json").write_text(json.dumps(data))
    report = await write_report(compared.config, out)
    assert "its base (passive TWAP, " in report.verdict[0][1]
    assert "diff vs twap [95% CI]" in report.summary.read_text()


async def test_the_learning_curve_reads_the_real_epsilon(compared: Compared) -> None:
    engine = create_engine(compared.url)
    try:
        data = await read_agent_data(engine, compared.config.rl_execution.state, "default", None)
    finally:
        await engine.dispose()
    with sqlite3.connect(compared.database) as conn:
        rows = conn.execute(
            "select e.implementation_shortfall_bps, avg(d.epsilon) from episodes e "
            "join agents a on a.id = e.agent_id join decisions d on d.episode_id = e.episode_id "
            "where a.name = 'default' and e.mode = 'training' "
            "group by e.episode_id order by e.seed, e.started_at"
        ).fetchall()
    assert len(rows) == 12
    np.testing.assert_allclose(data.curve.is_bps, [r[0] for r in rows])
    np.testing.assert_allclose(data.curve.epsilon, [r[1] for r in rows])
    assert data.curve.epsilon[0] > data.curve.epsilon[-1]  # it decays during training


@pytest.mark.parametrize("from_run", [True, False])
async def test_the_deviation_map_counts_the_stored_decisions(
    compared: Compared, from_run: bool
) -> None:
    run_id = compared.run.run_id if from_run else None
    engine = create_engine(compared.url)
    try:
        data = await read_agent_data(engine, compared.config.rl_execution.state, "default", run_id)
    finally:
        await engine.dispose()
    grid = data.deviations
    where = "e.run_id = ?" if from_run else "e.mode = 'evaluation'"
    params = (run_id,) if from_run else ()
    with sqlite3.connect(compared.database) as conn:
        total, deviated = conn.execute(
            "select count(*), sum(d.deviated) from decisions d "
            "join episodes e on e.episode_id = d.episode_id join agents a on a.id = d.agent_id "
            f"where a.name = 'default' and d.deviated is not null and {where}",
            params,
        ).fetchone()
        cell = conn.execute(
            "select d.remaining_bucket, d.time_bucket, count(*) from decisions d "
            "join episodes e on e.episode_id = d.episode_id join agents a on a.id = d.agent_id "
            f"where a.name = 'default' and d.deviated and {where} "
            "group by 1, 2 order by 3 desc limit 1",
            params,
        ).fetchone()
    assert total > 0 and grid.total == total and int(grid.deviated.sum()) == deviated
    if cell is not None:
        assert grid.deviated[cell[0], cell[1]] == cell[2] and grid.instead[cell[0], cell[1]] >= 0
    expected = "greedy decisions of this comparison" if from_run else "every stored evaluation"
    assert expected in grid.source


async def test_a_report_describes_the_parents_compared_whatever_the_config_says(
    compared: Compared, tmp_path: Path
) -> None:
    out = _copy(compared, tmp_path)
    data = compared.config.model_dump(mode="json")
    data["rl_execution"]["simulator"].update(market="prediction_market", parent_quantity=900)
    other = parse_config(data)
    # a report reads results already computed: another simulated problem in the config is
    # not a reason to refuse (evaluate and compare refuse it), and the parents shown are the
    # comparison's
    report = await write_report(other, out)
    text = report.summary.read_text()
    assert f"parents: {compared.run.parents}" in text
    assert compared.run.parents == "equity: buy 400 over 60 steps"
    assert "buy 900" not in text
