"""The command line tells a desk the verdict in words: ``compare`` and ``report`` lead with
each agent against its base and the best baseline, ``evaluate`` says whether the difference
from the base is significant, ``replay evaluate`` gives bps (and IS) for the shortfall reward
and says when the rewards cannot be converted."""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec.cli.main import main
from tests.cli.test_cli_behaviour import SMALL, run, small_episodes, sqlite_url

__all__ = ["small_episodes"]  # autouse: RLEXEC_* cleared, small episodes


def _quiet(*argv: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(list(argv)) == 0, argv


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Agents 'default' (shortfall), 'original-reward' and 'paired' (shortfall relative to the
    base run) trained for 3 episodes each."""
    url = sqlite_url(tmp_path_factory.mktemp("verdict") / "rlexec.db")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("RLEXEC_"):
                mp.delenv(name)
        for name, value in SMALL.items():
            mp.setenv(name, value)
        common = ("--episodes", "3", "--no-progress", "--database-url", url)
        _quiet("train", *common)
        _quiet("train", "--agent", "original-reward", "--reward-mode", "original", *common)
        mp.setenv("RLEXEC_REWARD__PAIRED_BASELINE", "true")
        _quiet("train", "--agent", "paired", *common)
    yield url


def test_evaluate_says_whether_the_difference_is_significant(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    code, out, err = run(capsys, "evaluate", "--no-store", "--no-progress", "--database-url", store)
    assert code == 0, err
    line = next(x for x in out.splitlines() if "than its base" in x or "same cost" in x)
    assert "(passive TWAP" in line
    if "same cost" in line:  # a short run: the rule has not deviated from the base anywhere
        assert "on all" in line and "paired seeds" in line
    else:
        assert "the difference is significant" in line or "is not significant" in line
        assert "95% CI" in line


def test_compare_and_report_lead_with_the_verdict(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    out_dir = str(tmp_path / "out")
    code, out, err = run(
        capsys, "compare", "--agents", "default", "--seeds", "3", "--no-progress",
        "--out", out_dir, "--database-url", store,
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Agent 'default' (rl:default): mean IS ")
    assert "its base (passive TWAP, " in lines[1]
    table = next(i for i, x in enumerate(lines) if x.startswith("| executor |"))
    assert any("The best baseline is" in x for x in lines[:table])
    assert "diff vs twap_passive [95% CI]" in lines[table]

    code, out, err = run(capsys, "report", "--out", out_dir, "--database-url", store)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Agent 'default' (rl:default): mean IS ")
    assert lines[-1].startswith("report written: ")
    assert lines.index(next(x for x in lines if x.endswith("learning_curve.png"))) > 2


def _replay(capsys: pytest.CaptureFixture[str], store: str, agent: str) -> str:
    code, out, err = run(
        capsys, "replay", "evaluate", "--policy", "current", "--agent", agent,
        "--database-url", store,
    )  # fmt: skip
    assert code == 0, err
    return out


def test_replay_evaluate_gives_bps_and_is_for_the_shortfall_reward(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    out = _replay(capsys, store, "default")
    # 3 training episodes, plus evaluation episodes when compare ran first (they count too)
    assert re.search(r"units: values in bps of the arrival value: all \d+ logged episodes", out)
    header = next(x for x in out.splitlines() if x.startswith("estimator"))
    assert "value (bps)" in header and header.rstrip().endswith("IS bps")
    row = next(x for x in out.splitlines() if x.startswith("logged_return *"))
    value, is_bps = float(row.split()[3]), float(row.split()[-1])
    assert is_bps == pytest.approx(-value, abs=1e-4)
    verdict = next(x for x in out.splitlines() if x.startswith("verdict: "))
    assert "than the logged policy in IS per episode" in verdict or "same cost" in verdict
    assert "significant" in verdict and re.search(r"\d+ logged episodes\)\.$", verdict)


def test_replay_evaluate_says_when_the_rewards_cannot_be_converted(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    out = _replay(capsys, store, "original-reward")
    assert "units: values in reward units, not bps: 3 episodes have the original reward" in out
    assert "cannot be converted" in out and "IS bps" not in out
    assert "value (reward units)" in out and "reward units" in out.splitlines()[-1]

    out = _replay(capsys, store, "paired")
    assert "3 episodes' rewards do not sum to minus their IS" in out
    assert "reward.paired_baseline" in out and "IS bps" not in out
