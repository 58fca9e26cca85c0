"""Paired comparisons (every executor, the same seeds, saved and reloaded) and the report."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from rlexec.report.build import write_report
from rlexec.store.engine import create_engine
from rlexec.training.evaluate import ComparisonRun, run_comparison
from rlexec.training.train import train
from tests.training.conftest import small_config

PNG = b"\x89PNG\r\n\x1a\n"
BASELINES = {
    "twap", "twap_passive", "vwap", "vwap_passive", "submit_and_leave", "pov", "imbalance",
}  # fmt: skip


async def test_compare_pairs_seeds_includes_every_executor_and_reports(
    sqlite_url: str, tmp_path: Path
) -> None:
    config = small_config(sqlite_url, side="random")
    await train(config, "default", episodes=15, progress=False)
    await train(config, "original-reward", episodes=15, reward_mode="original", progress=False)
    out = tmp_path / "report"
    run = await run_comparison(config, ["default", "original-reward"], seeds=4, out_dir=out)
    names = set(run.results)
    assert names == BASELINES | {"rl:default", "rl:original-reward"}
    assert set(run.baseline_results) == BASELINES
    seeds = [r.seed for r in run.results["twap"]]
    assert seeds == list(range(1_000_000_000, 1_000_000_004))
    for results in run.results.values():
        assert [r.seed for r in results] == seeds
        assert all(r.completed for r in results)
    sides = [r.side for r in run.results["twap"]]
    assert all([r.side for r in res] == sides for res in run.results.values())
    assert run.reward_modes == {"default": "shortfall", "original-reward": "original"}
    assert run.closed_form is None

    loaded = ComparisonRun.load(out)
    assert loaded.results == run.results
    assert loaded.agents == run.agents

    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            rows: dict[str, int] = dict(
                (
                    await conn.execute(
                        sa.text(
                            "select executor, count(*) from episodes where mode = 'evaluation' "
                            "group by executor"
                        )
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert rows == {name: 4 for name in names}

    report = await write_report(config, out)
    files = {p.name for p in report.plots}
    assert files == {
        "learning_curve.png",
        "is_distribution.png",
        "paired_differences.png",
        "action_heatmap_default.png",
        "action_heatmap_original-reward.png",
    }
    for plot in report.plots:
        data = plot.read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
    text = report.summary.read_text()
    assert "| executor | n | mean IS bps |" in text  # the table rlexec compare prints
    for name in names:
        assert f"| {name} | 4 |" in text
    assert "(learning_curve.png)" in text


async def test_compare_on_almgren_chriss_adds_the_optimum(sqlite_url: str) -> None:
    config = small_config(sqlite_url, market="almgren_chriss")
    run = await run_comparison(config, [], seeds=3, store=False)
    assert "almgren_chriss_optimal" in run.results
    assert run.closed_form is not None and run.closed_form.expected_cost_bps > 0
    assert "closed form E*" in run.table()
