"""The README's public-API examples run as they are written (taken from README.md, so the
README stays true), on SQLite and PostgreSQL: only the database URL is replaced."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from rlexec.store.engine import create_engine
from rlexec.store.migrate import upgrade_database

README = Path(__file__).resolve().parents[2] / "README.md"
README_URL = "sqlite+aiosqlite:///data/desk.db"
MAX_SYNC_LINES = 20


def snippet(name: str) -> str:
    """The ```python block right after ``<!-- readme-test: name -->``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- readme-test: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match is not None, f"README.md has no block marked readme-test: {name}"
    return match.group(1)


async def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(sa.text(sql))).all()]
    finally:
        await engine.dispose()


EPISODES = (
    "SELECT e.agent_name, e.side, COUNT(d.seq) FROM episodes e JOIN decisions d "
    "ON d.episode_id = e.episode_id GROUP BY e.agent_name, e.side ORDER BY e.agent_name"
)
PROMOTIONS = (
    "SELECT a.name, p.validation_seed_first, p.validation_seed_count FROM promotions p "
    "JOIN agents a ON a.id = p.agent_id"
)


@pytest.mark.parametrize("name", ["sync", "async"])
def test_readme_example_runs(
    name: str, empty_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = snippet(name)
    assert README_URL in code
    if name == "sync":
        assert len(code.strip().splitlines()) <= MAX_SYNC_LINES
    if empty_db_url.startswith("postgresql"):
        asyncio.run(upgrade_database(empty_db_url))  # create=True creates SQLite files only
    exec(compile(code.replace(README_URL, empty_db_url), f"README.md ({name})", "exec"), {})
    assert re.fullmatch(r"IS [+-]\d+\.\d\d bps(, \d+ child orders)?\n", capsys.readouterr().out)
    expected = ("desk-1", "buy", 12) if name == "sync" else ("desk-2", "sell", 6)
    assert asyncio.run(_rows(empty_db_url, EPISODES)) == [expected]


def test_readme_validation_example_runs(
    empty_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's validation example: trained through the API, validated on held-out seeds
    of the engine's simulator, its verdict printed and stored."""
    code = snippet("validate")
    assert README_URL in code
    if empty_db_url.startswith("postgresql"):
        asyncio.run(upgrade_database(empty_db_url))
    exec(compile(code.replace(README_URL, empty_db_url), "README.md (validate)", "exec"), {})
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"(not )?promoted: policy - twap_passive = [+-]\d+\.\d{3} bps, 95% CI .* on 100 "
        r"held-out seeds \(10000-10099; the table of 100 training episodes\); .*\n",
        out,
    ), out
    assert asyncio.run(_rows(empty_db_url, PROMOTIONS)) == [("desk-3", 10_000, 100)]
