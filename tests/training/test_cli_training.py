"""The train/evaluate/compare/report commands: a run end to end, and bad arguments as one
clear line with exit code 2 (never a traceback)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rlexec.cli.main import main


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code: int | str | None
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--episodes", "0"], "--episodes: 0 must be >= 1"),
        (["train", "--minutes", "soon"], "--minutes: 'soon' is not a number"),
        (["train", "--reward-mode", "profit"], "--reward-mode: invalid choice"),
        (["evaluate", "--seeds", "x"], "--seeds: 'x' is not an integer"),
        (["compare", "--agents", "a,,b"], "expected comma-separated agent names"),
        (["compare", "--agents", "a,a"], "an agent is named twice"),
        (["compare", "--risk-aversion", "-1"], "must be a number >= 0"),
        (["compare", "--market", "moon"], "--market: invalid choice"),
    ],
)
def test_bad_arguments_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert expected in _one_line_error(capsys, argv)


def test_user_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    line = _one_line_error(capsys, ["evaluate", "--agent", "nobody", "--database-url", url])
    assert "does not exist: create it with `rlexec db upgrade`" in line
    assert not (tmp_path / "x.db").exists()
    assert main(["db", "upgrade", "--database-url", url]) == 0
    line = _one_line_error(capsys, ["evaluate", "--agent", "nobody", "--database-url", url])
    assert "agent 'nobody' is not in the store" in line
    line = _one_line_error(capsys, ["report", "--out", str(tmp_path / "none"),
                                    "--database-url", url])  # fmt: skip
    assert "run 'rlexec compare" in line
    line = _one_line_error(capsys, ["--database-url", "mysql://u:pw@h/db", "train"])
    assert "not supported" in line and "pw" not in line


def test_commands_end_to_end(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RLEXEC_SIMULATOR__HORIZON_STEPS", "40")
    monkeypatch.setenv("RLEXEC_SIMULATOR__PARENT_QUANTITY", "300")
    out = tmp_path / "rep"
    assert main(["train", "--episodes", "5", "--no-progress", "--database-url", url]) == 0
    assert "5 episodes, seeds 0..4" in capsys.readouterr().out
    assert main(["train", "--episodes", "1", "--no-progress", "--database-url", url]) == 0
    printed = capsys.readouterr().out  # resumed on a seed the store allocates
    assert re.search(r": 1 episode, seed \d+, ", printed) and "1 episodes" not in printed
    assert main(["evaluate", "--seeds", "2", "--no-progress", "--database-url", url]) == 0
    assert "estimated improvement" in capsys.readouterr().out
    args = ["compare", "--seeds", "2", "--out", str(out), "--no-progress", "--database-url", url]
    assert main(args) == 0
    assert "| rl:default | 2 |" in capsys.readouterr().out
    assert main(["report", "--out", str(out), "--database-url", url]) == 0
    printed = capsys.readouterr().out
    assert f"report written: {(out / 'summary.md').resolve()}" in printed
    assert (out / "is_distribution.png").exists()
