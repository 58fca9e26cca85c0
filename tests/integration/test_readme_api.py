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


async def _episodes(url: str) -> list[tuple[str, str, int]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                sa.text(
                    "SELECT e.agent_name, e.side, COUNT(d.seq) FROM episodes e JOIN decisions d "
                    "ON d.episode_id = e.episode_id GROUP BY e.agent_name, e.side "
                    "ORDER BY e.agent_name"
                )
            )
            return [(str(a), str(s), int(n)) for a, s, n in result.all()]
    finally:
        await engine.dispose()


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
    assert asyncio.run(_episodes(empty_db_url)) == [expected]
