"""The README's "Using it" block, command by command, exactly as written, on a fresh SQLite
store in an empty folder (no config file: the defaults), each command exiting 0.

Only sizes are changed, so that the walk takes seconds: ``--episodes N`` becomes 5 and
``--seeds N`` 4, and the environment shortens episodes and evaluations
(``RLEXEC_SIMULATOR__HORIZON_STEPS``, ``RLEXEC_EVALUATION__SEEDS``). Placeholders are filled
in: ``EPISODE_ID`` from the output of the command before it (``rlexec episodes list``), and
the PostgreSQL URL by a new database on the test server.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from rlexec.cli.main import main
from tests.store.conftest import pg_empty_url  # noqa: F401 (a fixture)

README = Path(__file__).resolve().parents[2] / "README.md"
PG_PLACEHOLDER = "postgresql+asyncpg://user@host/db"
SIZES = {"--episodes": "5", "--seeds": "4"}
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def using_it_commands() -> list[list[str]]:
    """The rlexec commands of the first bash block under "## Using it" (comments dropped)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None, "README: no bash block under 'Using it'"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[:2] == [".", ".venv/bin/activate"]:
            continue
        assert words[0] == "rlexec", f"README 'Using it' runs something else: {line!r}"
        commands.append(words[1:])
    return commands


def _sized(words: list[str]) -> list[str]:
    out = list(words)
    for i, word in enumerate(out[:-1]):
        if word in SIZES:
            out[i + 1] = SIZES[word]
    return out


def test_the_block_is_parsed() -> None:
    commands = using_it_commands()
    assert len(commands) >= 10
    assert commands[0] == ["db", "upgrade"]
    assert any(c[:2] == ["replay", "episode"] for c in commands)


@pytest.mark.postgres
@pytest.mark.slow  # about 12 s: 500 default episodes on PostgreSQL
def test_every_command_of_the_readme_runs_as_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pg_empty_url: str,  # noqa: F811
) -> None:
    for name in list(os.environ):
        if name.startswith("RLEXEC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RLEXEC_SIMULATOR__HORIZON_STEPS", "40")
    monkeypatch.setenv("RLEXEC_SIMULATOR__PARENT_QUANTITY", "300")
    monkeypatch.setenv("RLEXEC_EVALUATION__SEEDS", "4")
    monkeypatch.chdir(tmp_path)
    previous = ""
    for words in using_it_commands():
        argv = [pg_empty_url if w == PG_PLACEHOLDER else w for w in _sized(words)]
        if "EPISODE_ID" in argv:
            ids = UUID.findall(previous)
            assert ids, f"no episode id in the output before {words}: {previous!r}"
            argv[argv.index("EPISODE_ID")] = ids[-1]
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"rlexec {shlex.join(words)} exited {code}: {captured.err}"
        previous = captured.out
    assert (tmp_path / "data" / "rlexec.db").exists()  # the fresh SQLite store was used
    assert (tmp_path / "reports" / "x" / "summary.md").exists()
    assert (tmp_path / "exports" / "decisions.csv").exists()
