"""docs/analytics.md and the shipped views tell the same truth on SQLite and PostgreSQL.

The same rows (trained, evaluated and compared agents: ``analytics_data``) are stored in both;
every ``sql`` block of the doc and every view returns rows and the *same* rows on both (floats
to 1e-9). Also: the ratios the issue found wrong are fractions, the pandas helper reads both
backends, the CLI faces (snapshot, replay, metrics, export)."""

from __future__ import annotations

import asyncio
import csv
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from rlexec.cli.main import main
from rlexec.store.engine import create_engine, sync_engine
from rlexec.store.snapshots import create_snapshot
from tests.replay.analytics_data import Stores, build_stores, first_difference
from tests.replay.conftest import TrainedStore
from tests.store.conftest import drop_pg_database

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
# every view, ordered by its key (so that both backends list the rows in the same order)
VIEW_QUERIES = {
    "decision_outcomes": "SELECT * FROM decision_outcomes ORDER BY episode_id, seq",
    "action_stats_by_hour": "SELECT * FROM action_stats_by_hour "
    "ORDER BY agent_id, hour_of_day, action",
    "action_stats_by_spread": "SELECT * FROM action_stats_by_spread "
    "ORDER BY agent_id, spread_ticks, action",
    "episode_summary": "SELECT * FROM episode_summary ORDER BY episode_id",
}


def sql_blocks() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [block.strip().rstrip(";") for block in blocks]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    built = build_stores(tmp_path_factory.mktemp("analytics"))
    try:
        yield built
    finally:
        drop_pg_database(built.pg_url)


async def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(sa.text(sql))).all()]
    finally:
        await engine.dispose()


def test_the_doc_has_queries_for_every_view_and_question() -> None:
    text = "\n".join(sql_blocks())
    assert len(sql_blocks()) >= 19
    for name in (*VIEW_QUERIES, "remaining_bucket", "deviated", "slippage_bps", "run_id",
                 "reward_mode", "urgencies", "greedy_wait", "source", "promotions",
                 "own_orders_bucket", "schedule_bucket", "resting_share"):  # fmt: skip
        assert name in text


@pytest.mark.postgres
@pytest.mark.parametrize("sql", [*VIEW_QUERIES.values(), *sql_blocks()])
async def test_views_and_documented_queries_agree_on_both_backends(
    stores: Stores, sql: str
) -> None:
    on_sqlite = await _rows(stores.sqlite_url, sql)
    on_postgres = await _rows(stores.pg_url, sql)
    assert on_sqlite, f"no rows from:\n{sql}"
    difference = first_difference(on_sqlite, on_postgres)
    assert difference is None, f"SQLite and PostgreSQL differ ({difference}) on:\n{sql}"


@pytest.mark.postgres
async def test_fill_ratios_are_fractions_on_both_backends(stores: Stores) -> None:
    for url in (stores.sqlite_url, stores.pg_url):
        ratios = [r[0] for r in await _rows(
            url, "SELECT child_fill_ratio FROM decision_outcomes WHERE child_fill_ratio IS NOT NULL"
        )]  # fmt: skip
        assert ratios and all(0 <= float(r) <= 1 for r in ratios)
        shares = [float(r[0]) for r in await _rows(
            url, "SELECT policy_fill_share FROM episode_summary"
        )]  # fmt: skip
        assert all(0 <= s <= 1 for s in shares)
        assert any(0 < s < 1 for s in shares)  # not an integer division
    # own-child fills never exceed the child; all fills of the interval may (earlier children)
    counted = await _rows(
        stores.sqlite_url,
        "SELECT COUNT(*) FROM decisions WHERE child_filled_quantity > child_quantity",
    )
    assert counted == [(0,)]


@pytest.mark.postgres
def test_pandas_reads_both_backends_through_sync_engine(stores: Stores) -> None:
    sql = "SELECT episode_id, executor, implementation_shortfall_bps, policy_fill_share, " \
          "started_at FROM episode_summary ORDER BY episode_id"  # fmt: skip
    frames = []
    for url in (stores.sqlite_url, stores.pg_url):
        engine = sync_engine(url)
        try:
            frames.append(pd.read_sql(sql, engine, parse_dates=["started_at"]))
        finally:
            engine.dispose()
    on_sqlite, on_postgres = frames
    assert len(on_sqlite) > 10
    pd.testing.assert_frame_equal(on_sqlite, on_postgres, check_dtype=False)
    assert str(on_sqlite["started_at"].dt.tz) == "UTC"


# ---- timestamps: the exported text is the stored text and filters the same rows ----------


@pytest.mark.postgres
async def test_an_exported_timestamp_filters_the_same_rows_on_both_backends(
    stores: Stores, tmp_path: Path
) -> None:
    code = await asyncio.to_thread(
        main, ["--database-url", stores.sqlite_url, "export", "--out", str(tmp_path),
               "--tables", "decisions"],
    )  # fmt: skip
    assert code == 0
    with (tmp_path / "decisions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    exported = sorted(r["decided_at"] for r in rows)
    middle = exported[len(exported) // 2]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", middle)
    stored = await _rows(stores.sqlite_url, "SELECT decided_at FROM decisions")
    assert sorted(r[0] for r in stored) == exported  # the stored text is the exported text
    expected = sum(1 for t in exported if t >= middle)
    sql = f"SELECT COUNT(*) FROM decisions WHERE decided_at >= '{middle}'"
    assert await _rows(stores.sqlite_url, sql) == [(expected,)]
    assert await _rows(stores.pg_url, sql) == [(expected,)]


# ---- export: filters, tables, progress -------------------------------------------------------


async def _count(url: str, sql: str) -> int:
    return int((await _rows(url, sql))[0][0])


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


async def test_export_filters_and_tables(
    stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = stores.sqlite_url

    def export(out: str, *argv: str) -> Path:
        code = main(["--database-url", url, "export", "--out", str(tmp_path / out), *argv])
        assert code == 0
        return tmp_path / out

    everything = await asyncio.to_thread(export, "all")
    captured = capsys.readouterr()
    for table in ("decisions", "episodes", "q_values", "policy_metrics"):
        n = await _count(url, f"SELECT COUNT(*) FROM {table}")
        assert n > 0 and len(_csv_rows(everything / f"{table}.csv")) == n
        assert f"{table}: {n} rows" in captured.out
    decisions_total = await _count(url, "SELECT COUNT(*) FROM decisions")
    # stderr is not a terminal: plain lines of the table's rlexec.progress.Progress, the last
    # one at the table's row count
    progress = [line for line in captured.err.splitlines() if line.startswith("export decisions")]
    assert progress and "\r" not in captured.err
    assert progress[-1].startswith(
        f"export decisions: {decisions_total}/{decisions_total} rows (100%)"
    )

    agent = await asyncio.to_thread(export, "agent", "--agent", "original",
                                    "--tables", "decisions,episodes,q_values")  # fmt: skip
    original = "(SELECT id FROM agents WHERE name = 'original')"
    for table in ("decisions", "episodes", "q_values"):
        n = await _count(url, f"SELECT COUNT(*) FROM {table} WHERE agent_id = {original}")
        assert 0 < n == len(_csv_rows(agent / f"{table}.csv"))
    assert not (agent / "policy_metrics.csv").exists()

    mode = await asyncio.to_thread(export, "mode", "--mode", "evaluation")
    episodes = _csv_rows(mode / "episodes.csv")
    assert episodes and {r["mode"] for r in episodes} == {"evaluation"}
    evaluated = {r["episode_id"] for r in episodes}
    assert {r["episode_id"] for r in _csv_rows(mode / "decisions.csv")} <= evaluated
    assert {r["mode"] for r in _csv_rows(mode / "policy_metrics.csv")} == {"evaluation"}

    times = sorted(r["decided_at"] for r in _csv_rows(everything / "decisions.csv"))
    since, until = times[len(times) // 4], times[3 * len(times) // 4]
    window = await asyncio.to_thread(export, "window", "--tables", "decisions",
                                     "--since", since, "--until", until)  # fmt: skip
    got = sorted(r["decided_at"] for r in _csv_rows(window / "decisions.csv"))
    assert got == [t for t in times if since <= t < until]


def test_export_and_prune_arguments_are_checked_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"
    assert main(["--database-url", url, "db", "upgrade"]) == 0  # an unknown agent needs a store
    capsys.readouterr()
    cases = [
        (["export", "--out", str(tmp_path), "--since", "yesterday"], "--since = 'yesterday'"),
        (["export", "--out", str(tmp_path), "--tables", "decisions,nope"], "--tables ="),
        (["export", "--out", str(tmp_path), "--agent", "ghost"], "--agent = 'ghost'"),
        (["export", "--out", str(tmp_path), "--since", "2024-02-01", "--until", "2024-01-01"],
         "is not before --until"),
        (["db", "prune", "--before", "soon"], "--before = 'soon'"),
    ]  # fmt: skip
    for argv, expected in cases:
        assert main(["--database-url", url, *argv]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err


# ---- the CLI faces on a trained store ---------------------------------------------------------


def _run(url: str, *argv: str) -> int:
    return main(["--database-url", url, *argv])


async def test_cli_commands(
    trained: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = trained.url

    def in_thread(*argv: str) -> tuple[int, str]:
        code = _run(url, *argv)
        return code, capsys.readouterr().out

    code, out = await asyncio.to_thread(in_thread, "snapshot", "create", "--agent", "a1",
                                        "--label", "cli")  # fmt: skip
    created = re.match(r"snapshot (\d+): agent 'a1' version (\d+) label 'cli'", out)
    assert code == 0 and created is not None, out
    snapshot_id = created.group(1)
    code, out = await asyncio.to_thread(in_thread, "snapshot", "list")
    assert code == 0 and "cli" in out
    model = tmp_path / "m.json"
    code, out = await asyncio.to_thread(in_thread, "snapshot", "export", snapshot_id, str(model))
    assert code == 0 and model.exists()
    code, out = await asyncio.to_thread(in_thread, "replay", "evaluate", "--policy", snapshot_id,
                                        "--agent", "a1")  # fmt: skip
    assert code == 0 and "snips" in out and "agreement" in out
    code, out = await asyncio.to_thread(in_thread, "metrics", "--agent", "a1")
    assert code == 0 and "states visited" in out and "trend" in out

    engine = create_engine(url)
    try:
        await create_snapshot(engine, "a1", "doc")
        async with engine.connect() as conn:
            episode_id = await conn.scalar(sa.text("SELECT episode_id FROM episodes LIMIT 1"))
            n_decisions = await conn.scalar(sa.text("SELECT COUNT(*) FROM decisions"))
    finally:
        await engine.dispose()
    code, out = await asyncio.to_thread(in_thread, "replay", "episode", str(episode_id))
    assert code == 0 and "identical" in out, out

    code, out = await asyncio.to_thread(in_thread, "export", "--out", str(tmp_path / "p"),
                                        "--format", "parquet")  # fmt: skip
    assert code == 0
    table = pq.read_table(tmp_path / "p" / "decisions.parquet")
    assert table.num_rows == n_decisions
    assert str(table.schema.field("decided_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("child_filled_quantity").type) == "double"
    assert pq.read_table(tmp_path / "p" / "episodes.parquet").num_rows == trained.episodes
    metrics = pq.read_table(tmp_path / "p" / "policy_metrics.parquet").to_pylist()
    assert metrics and all(math.isfinite(m["mean_q"]) for m in metrics)
    assert all(isinstance(m["action_distribution"], str) for m in metrics)  # JSON text


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"
    assert _run(url, "replay", "evaluate", "--policy", "nope") == 2
    assert "--policy = 'nope'" in capsys.readouterr().err
    assert _run(url, "replay", "episode", "missing") == 2  # read-only: no database is created
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "e.db").exists()
    assert _run(url, "db", "upgrade") == 0
    assert _run(url, "snapshot", "export", "7", str(tmp_path / "m.json")) == 2
    assert "no such snapshot" in capsys.readouterr().err
    assert _run(url, "replay", "episode", "missing") == 2
    assert "no such episode" in capsys.readouterr().err
