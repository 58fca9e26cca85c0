"""Every ``sql`` block of docs/analytics.md runs on SQLite and PostgreSQL against a store with
training episodes, a snapshot and policy metrics, and returns rows (the doc cannot drift).
Also the CLI faces: snapshot, replay, metrics and export through ``rlexec.cli.main``."""

from __future__ import annotations

import asyncio
import csv
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from rlexec.cli.main import main
from rlexec.store.engine import create_engine
from rlexec.store.snapshots import create_snapshot
from tests.replay.conftest import TrainedStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def sql_blocks() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [block.strip().rstrip(";") for block in blocks]


def test_the_doc_has_queries_for_every_view() -> None:
    text = "\n".join(sql_blocks())
    assert len(sql_blocks()) >= 8
    for view in ("decision_outcomes", "action_stats_by_hour", "action_stats_by_spread",
                 "episode_summary"):  # fmt: skip
        assert view in text


async def test_every_documented_query_runs_and_returns_rows(trained: TrainedStore) -> None:
    engine = create_engine(trained.url)
    try:
        await create_snapshot(engine, "a1", "doc")
        async with engine.connect() as conn:
            for block in sql_blocks():
                rows = (await conn.execute(sa.text(block))).all()
                assert rows, f"no rows from:\n{block}"
    finally:
        await engine.dispose()


def _run(url: str, *argv: str) -> int:
    return main(["--database-url", url, *argv])


async def test_cli_commands(
    trained: TrainedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = trained.url

    def cli(*argv: str) -> tuple[int, str]:
        code = _run(url, *argv)
        return code, capsys.readouterr().out

    def in_thread(*argv: str) -> tuple[int, str]:
        return cli(*argv)

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
        async with engine.connect() as conn:
            episode_id = await conn.scalar(sa.text("SELECT episode_id FROM episodes LIMIT 1"))
            n_decisions = await conn.scalar(sa.text("SELECT COUNT(*) FROM decisions"))
    finally:
        await engine.dispose()
    code, out = await asyncio.to_thread(in_thread, "replay", "episode", str(episode_id))
    assert code == 0 and "identical" in out, out

    code, out = await asyncio.to_thread(in_thread, "export", "--out", str(tmp_path / "x"))
    assert code == 0
    with (tmp_path / "x" / "decisions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_decisions and rows[0]["action"]
    code, out = await asyncio.to_thread(in_thread, "export", "--out", str(tmp_path / "p"),
                                        "--format", "parquet")  # fmt: skip
    assert code == 0
    table = pq.read_table(tmp_path / "p" / "decisions.parquet")
    assert table.num_rows == n_decisions
    assert str(table.schema.field("decided_at").type) == "timestamp[us, tz=UTC]"
    assert pq.read_table(tmp_path / "p" / "episodes.parquet").num_rows == trained.episodes


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
