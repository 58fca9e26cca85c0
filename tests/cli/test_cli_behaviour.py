"""The command line as a finished tool: help and version, episode listing, explicit schema
rules (read-only commands never create a database), verbatim ``--database-url``, agent names,
model import/export hygiene, downgrade confirmation, Ctrl-C, closed pipes, missing drivers.

Subprocess tests run the real ``rlexec`` entry point (``python -m rlexec.cli.main``)."""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlexec import __version__
from rlexec.cli.main import build_parser, main
from rlexec.store.migrate import head_revision

SMALL = {
    "RLEXEC_SIMULATOR__HORIZON_STEPS": "40",
    "RLEXEC_SIMULATOR__PARENT_QUANTITY": "300",
    "RLEXEC_EVALUATION__SEEDS": "2",
}


@pytest.fixture(autouse=True)
def small_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RLEXEC_"):
            monkeypatch.delenv(name)
    for name, value in SMALL.items():
        monkeypatch.setenv(name, value)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse (--help, --version, bad arguments)
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLEXEC_")}
    return {**env, **SMALL, **extra}


RLEXEC = [sys.executable, "-m", "rlexec.cli.main"]


@pytest.fixture
def trained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A store with agent 'default' trained for 3 episodes and evaluated on 2 seeds."""
    url = sqlite_url(tmp_path / "trained.db")
    assert run(capsys, "train", "--episodes", "3", "--no-progress", "--database-url", url)[0] == 0
    code, out, _ = run(capsys, "evaluate", "--no-progress", "--database-url", url)
    assert code == 0
    assert "scored on the current table" in out and "--policy promoted" in out  # says which
    assert "parents: equity: buy 300 over 40 steps" in out  # which problem was scored
    return url


# ---- help and version ----------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"rlexec {__version__} (database schema {head_revision()})"


def _leaf_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaf_parsers(child, (*path, name))


def test_every_command_takes_config_and_database_url_and_shows_defaults() -> None:
    leaves = dict(_leaf_parsers(build_parser()))
    assert ("episodes", "list") in leaves and ("model", "import") in leaves
    for path, parser in leaves.items():
        text = parser.format_help()
        assert "--config" in text and "--database-url" in text, path
        for action in parser._actions:
            if action.default not in (None, False, argparse.SUPPRESS) and action.help:
                shown = " ".join(text.split())
                assert f"(default: {action.default})" in shown, (path, action.dest)
    assert "target revision (default: head)" in leaves[("db", "upgrade")].format_help()
    assert "default: 500" in leaves[("train",)].format_help()
    assert "exits 128 + the signal (130, 143)" in " ".join(leaves[("train",)].format_help().split())


def test_per_command_options_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[rl_execution.database]\nurl = "{trained}"\n', encoding="utf-8")
    for argv in (
        ["metrics"],
        ["snapshot", "list"],
        ["episodes", "list"],
        ["export", "--out", str(tmp_path / "x"), "--no-progress"],
        ["model", "export", str(tmp_path / "m.json")],
    ):
        assert run(capsys, *argv, "--database-url", trained)[0] == 0, argv
        assert run(capsys, *argv, "--config", str(config))[0] == 0, argv


# ---- episodes list -------------------------------------------------------------------------


def test_episodes_list_with_filters(capsys: pytest.CaptureFixture[str], trained: str) -> None:
    def ids(*argv: str) -> list[str]:
        code, out, _ = run(capsys, "episodes", "list", *argv, "--database-url", trained)
        assert code == 0
        return [line.split()[0] for line in out.splitlines()[1:]]

    training = ids("--mode", "training")
    assert len(training) == 3
    con = sqlite3.connect(trained.removeprefix("sqlite+aiosqlite:///"))
    stored = [
        r[0]
        for r in con.execute(
            "SELECT episode_id FROM episodes WHERE mode = 'training' ORDER BY started_at"
        )
    ]
    con.close()
    assert training == stored  # newest last
    assert len(ids("--executor", "rl:default")) == 2
    assert len(ids("--agent", "baselines", "--executor", "twap_passive")) == 2
    assert ids("--last", "2") == ids()[-2:]
    assert ids("--agent", "nobody") == []
    code, out, _ = run(capsys, "replay", "episode", training[0], "--database-url", trained)
    assert code == 0 and "identical" in out


def test_replay_evaluate_current_needs_no_agent(
    capsys: pytest.CaptureFixture[str], trained: str
) -> None:
    code, out, err = run(
        capsys, "replay", "evaluate", "--policy", "current", "--database-url", trained
    )
    assert code == 0, err
    assert "agent 'default' (current Q-table)" in out


def test_read_only_commands_run_while_another_connection_holds_the_write_lock(
    capsys: pytest.CaptureFixture[str],
    trained: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command that only reads never takes SQLite's write lock (a training process's
    flushes would wait for it): here another connection holds the lock for the whole test,
    and a busy timeout of 0.5 s would fail any command that asked for it."""
    import rlexec.store.engine as engine_module

    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 500)
    listing = run(capsys, "episodes", "list", "--database-url", trained)[1]
    episode = listing.splitlines()[1].split()[0]
    holder = sqlite3.connect(trained.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as a flush holds it
    try:
        for argv in (
            ["episodes", "list"],
            ["metrics"],
            ["export", "--out", str(tmp_path / "out"), "--no-progress"],
            ["replay", "episode", episode],
            ["replay", "evaluate", "--policy", "current"],
            ["promotions", "list"],
            ["snapshot", "list"],
        ):
            code, _, err = run(capsys, *argv, "--database-url", trained)
            assert code in (0, 1), (argv, err)  # 1: replay found a difference (not a lock)
            assert "locked" not in err, (argv, err)
        # a command that writes does ask for the lock (and says so when it cannot get it)
        code, _, err = run(capsys, "snapshot", "create", "--label", "x", "--database-url", trained)
        assert code == 2 and "locked" in err, err
    finally:
        holder.rollback()
        holder.close()


# ---- explicit schema: nothing created or migrated silently ---------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["metrics"],
        ["export", "--out", "OUT"],
        ["snapshot", "list"],
        ["episodes", "list"],
        ["replay", "episode", "x"],
        ["db", "current"],
        ["db", "downgrade", "base", "--yes"],
        ["model", "export", "OUT/m.json"],
        ["evaluate"],
        ["compare", "--seeds", "2"],
        ["report", "--out", "OUT"],
    ],
)
def test_read_only_commands_on_a_missing_database_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    db = tmp_path / "nofolder" / "x.db"
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    line = one_line_error(capsys, *argv, "--database-url", sqlite_url(db))
    assert "does not exist" in line or "rlexec compare" in line
    assert not db.parent.exists()


def test_train_creates_a_new_sqlite_database_with_a_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "new" / "folder" / "x.db"
    code, _, err = run(
        capsys, "train", "--episodes", "2", "--no-progress", "--database-url", sqlite_url(db)
    )
    assert code == 0
    notices = [r.getMessage() for r in caplog.records if "created a new database" in r.message]
    assert len(notices) == 1 and str(db) in notices[0]
    # a notice, not a warning: the message alone on stderr (no time, no level)
    assert f"{notices[0]}\n" in err and "WARNING" not in err
    caplog.clear()
    assert (
        run(capsys, "train", "--episodes", "1", "--no-progress", "--database-url", sqlite_url(db))[
            0
        ]
        == 0
    )
    assert not [r for r in caplog.records if "created" in r.message]


def test_an_old_schema_is_refused_until_db_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(tmp_path / "old.db")
    first = "60cb4f8afbb3"
    assert run(capsys, "db", "upgrade", first, "--database-url", url)[0] == 0
    code, out, _ = run(capsys, "db", "current", "--database-url", url)
    assert code == 1 and f"schema at {first}, this rlexec needs {head_revision()}" in out
    for argv in (["train", "--episodes", "1"], ["metrics"], ["episodes", "list"]):
        line = one_line_error(capsys, *argv, "--database-url", url)
        assert (
            f"schema at {first}, this rlexec needs {head_revision()}: run `rlexec db upgrade`"
            in line
        )
    con = sqlite3.connect(tmp_path / "old.db")
    assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (first,)
    con.close()
    code, out, _ = run(capsys, "db", "upgrade", "--database-url", url)
    assert code == 0 and f"upgraded from {first} to {head_revision()} (head)" in out
    code, out, _ = run(capsys, "db", "current", "--database-url", url)
    assert code == 0 and out.strip().endswith(f"{head_revision()} (head)")


def test_a_newer_database_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = sqlite_url(tmp_path / "new.db")
    assert run(capsys, "db", "upgrade", "--database-url", url)[0] == 0
    con = sqlite3.connect(tmp_path / "new.db")
    con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    con.commit()
    con.close()
    line = one_line_error(capsys, "train", "--episodes", "1", "--database-url", url)
    assert "database is newer than this rlexec (revision ffffffffffff)" in " ".join(line.split())
    code, out, _ = run(capsys, "db", "current", "--database-url", url)
    assert code == 1 and "newer than this rlexec" in out


# ---- URLs ----------------------------------------------------------------------------------


def test_database_url_is_used_verbatim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = 'a\\tb"c.db'  # a backslash-t and a double quote, as typed
    assert run(capsys, "db", "upgrade", "--database-url", sqlite_url(tmp_path / name))[0] == 0
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".db"] == [name]


@pytest.mark.parametrize("url", ["", "  "])
def test_an_empty_database_url_is_refused(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """Not the configured database instead, without a word."""
    line = one_line_error(capsys, "db", "current", "--database-url", url)
    assert "--database-url" in line and "expected a database URL" in line


@pytest.mark.parametrize("port", ["notaport", "port"])
def test_a_port_that_is_not_a_number_is_one_line(
    capsys: pytest.CaptureFixture[str], port: str
) -> None:
    url = f"postgresql+asyncpg://u:SECRET@127.0.0.1:{port}/db"
    line = one_line_error(capsys, "db", "current", "--database-url", url)
    assert "the port is not a number" in line and "SECRET" not in line


def test_a_missing_driver_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['asyncpg'] = None\n"  # as if asyncpg were not installed
        "from rlexec.cli.main import main\n"
        "sys.exit(main(['--database-url', 'postgresql+asyncpg://u@127.0.0.1/x', 'db', 'current']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rlexec: error: database URL 'postgresql+asyncpg://u@127.0.0.1/x': its driver asyncpg "
        "is not installed: pip install 'rlexec[postgres]'"
    ]


def test_a_bad_environment_value_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLEXEC_Q_LEARNING__ALPHA", "abc")
    line = one_line_error(capsys, "db", "current")
    assert "environment variable RLEXEC_Q_LEARNING__ALPHA" in line
    assert "rl_execution.toml" not in line


# ---- agent names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x" * 10_000, "two\nlines", " padded", "a,b", ""])
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--episodes", "1", "--agent"],
        ["model", "import", "MODEL", "--agent"],
        ["model", "export", "MODEL", "--agent"],
        ["snapshot", "create", "--agent"],
        ["metrics", "--agent"],
        ["episodes", "list", "--agent"],
        ["replay", "evaluate", "--policy", "current", "--agent"],
    ],
)
def test_bad_agent_names_are_refused_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], name: str
) -> None:
    db = tmp_path / "n.db"
    argv = [a.replace("MODEL", str(tmp_path / "m.json")) for a in argv]
    line = one_line_error(capsys, *argv, name, "--database-url", sqlite_url(db))
    assert "agent name" in line
    assert not db.exists()


@pytest.mark.parametrize("names", ["x" * 10_000, "a,two\nlines", "a,,b", ""])
def test_bad_agent_lists_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: str
) -> None:
    db = tmp_path / "n.db"
    line = one_line_error(capsys, "compare", "--agents", names, "--database-url", sqlite_url(db))
    assert "--agents" in line and not db.exists()


async def test_the_store_refuses_a_bad_name_whatever_the_caller(tmp_path: Path) -> None:
    from rlexec.errors import InvalidInputError
    from rlexec.store.engine import create_engine, session_factory
    from rlexec.store.migrate import upgrade_database
    from rlexec.store.repositories import AgentRepository

    url = sqlite_url(tmp_path / "r.db")
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db, db.begin():
            with pytest.raises(InvalidInputError, match="at most 200"):
                await AgentRepository(db).get_or_create("x" * 201, {}, 0.3)
    finally:
        await engine.dispose()


# ---- model files, downgrade ----------------------------------------------------------------


def test_exporting_an_unknown_agent_is_an_error_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained: str
) -> None:
    out = tmp_path / "nosuch.json"
    line = one_line_error(
        capsys, "model", "export", str(out), "--agent", "nosuch", "--database-url", trained
    )
    assert "agent 'nosuch' is not in the store" in line
    assert not out.exists()
    con = sqlite3.connect(trained.removeprefix("sqlite+aiosqlite:///"))
    assert con.execute("SELECT COUNT(*) FROM agents WHERE name = 'nosuch'").fetchone() == (0,)
    con.close()


def test_export_refuses_before_it_creates_its_folder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    trained: str,
) -> None:
    out = tmp_path / "y"
    line = one_line_error(
        capsys, "export", "--agent", "nosuch", "--out", str(out), "--database-url", trained
    )
    assert "'nosuch': not in the store" in line and not out.exists()
    monkeypatch.chdir(tmp_path)
    line = one_line_error(capsys, "export", "--out", "-", "--database-url", trained)
    assert "not standard output" in line and not (tmp_path / "-").exists()


def test_model_import_onto_an_agent_snapshots_it_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained: str
) -> None:
    before = tmp_path / "before.json"
    assert run(capsys, "model", "export", str(before), "--database-url", trained)[0] == 0
    other = sqlite_url(tmp_path / "other.db")
    assert run(capsys, "train", "--episodes", "4", "--no-progress", "--database-url", other)[0] == 0
    incoming = tmp_path / "incoming.json"
    assert run(capsys, "model", "export", str(incoming), "--database-url", other)[0] == 0
    code, out, _ = run(capsys, "model", "import", str(incoming), "--database-url", trained)
    match = re.search(r"the table it replaced is snapshot (\d+)", out)
    assert code == 0 and match is not None, out
    undo = tmp_path / "undo.json"
    assert (
        run(capsys, "snapshot", "export", match.group(1), str(undo), "--database-url", trained)[0]
        == 0
    )
    import json

    def entries(path: Path) -> list[list[object]]:
        return sorted(json.loads(path.read_text())["entries"])

    assert entries(undo) == entries(before) != entries(incoming)
    # a new agent has nothing to snapshot
    code, out, _ = run(
        capsys, "model", "import", str(incoming), "--agent", "fresh", "--database-url", trained
    )
    assert code == 0 and "snapshot" not in out


def test_downgrade_needs_confirmation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path / "d.db")
    assert run(capsys, "train", "--episodes", "1", "--no-progress", "--database-url", url)[0] == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: cannot ask
    line = one_line_error(capsys, "db", "downgrade", "base", "--database-url", url)
    assert "run again with --yes" in line
    con = sqlite3.connect(tmp_path / "d.db")
    assert con.execute("SELECT COUNT(*) FROM episodes").fetchone() == (1,)
    con.close()
    code, out, _ = run(capsys, "db", "downgrade", "base", "--yes", "--database-url", url)
    assert code == 0 and "downgraded from" in out
    con = sqlite3.connect(tmp_path / "d.db")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "episodes" not in tables


# ---- recorded market -----------------------------------------------------------------------


def test_recorded_market_without_a_path_prints_no_progress(
    capsys: pytest.CaptureFixture[str], trained: str
) -> None:
    line = one_line_error(capsys, "evaluate", "--market", "recorded", "--database-url", trained)
    assert "was trained on market 'equity'" in line and "--force" in line  # refused first
    code, _, err = run(
        capsys, "evaluate", "--market", "recorded", "--force", "--database-url", trained
    )
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 2, err  # the warning and the one-line error: no bar
    assert "going on as asked" in lines[0] and "recorded_path is not set" in lines[1]


def test_recorded_trades_path_key_and_the_warning_without_trades(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    from rlexec.config import parse_config
    from rlexec.market.recorded import RecordedMarket
    from rlexec.training.markets import build_market

    data = Path(__file__).resolve().parents[1] / "data"
    snapshots = tmp_path / "book.csv"  # a name the trades file cannot be guessed from
    shutil.copy(data / "sample_snapshots.csv", snapshots)

    def market(**keys: str) -> RecordedMarket:
        simulator = {"market": "recorded", "recorded_path": str(snapshots), "horizon_steps": 50}
        built = build_market(
            parse_config({"rl_execution": {"simulator": {**simulator, **keys}}}).rl_execution
        )
        assert isinstance(built, RecordedMarket)
        return built

    without = market()
    assert any("no recorded trades" in r.message for r in caplog.records)
    caplog.clear()
    with_trades = market(recorded_trades_path=str(data / "sample_trades.csv"))
    assert not caplog.records
    assert sum(map(len, with_trades._trades)) > 0 == sum(map(len, without._trades))


# ---- signals, pipes, progress (subprocesses) -----------------------------------------------


def test_ctrl_c_exits_130_after_the_final_flush(tmp_path: Path) -> None:
    db = tmp_path / "sig.db"
    proc = subprocess.Popen(
        [*RLEXEC, "train", "--minutes", "1", "--database-url", sqlite_url(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert proc.stderr is not None
    progress_line = ""
    for line in proc.stderr:  # stderr is a pipe: plain progress lines
        if line.startswith("train default:"):
            progress_line = line
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "of 1:00" in progress_line and "left " in progress_line  # the budget and time left
    assert "\r" not in progress_line + err and "Traceback" not in err
    printed = re.search(r"(\d+) episodes, .*stopped by signal", out)
    assert printed is not None, out
    con = sqlite3.connect(db)
    stored = con.execute("SELECT COUNT(*) FROM episodes WHERE mode = 'training'").fetchone()[0]
    con.close()
    assert stored == int(printed.group(1)) > 0  # every episode run was flushed


def test_progress_piped_to_a_file_is_plain_lines(tmp_path: Path) -> None:
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        done = subprocess.run(
            [
                *RLEXEC,
                "train",
                "--episodes",
                "300",
                "--database-url",
                sqlite_url(tmp_path / "p.db"),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=subprocess_env(),
            timeout=120,
        )
    assert done.returncode == 0
    text = log.read_text()
    lines = [line for line in text.splitlines() if line.startswith("train default:")]
    assert "\r" not in text
    assert 2 <= len(lines) <= 12, text  # a start line, at most one a tenth / second, the end
    assert lines[-1].startswith("train default: 300/300 ep (100%)")
    assert len(text) < 2000


def test_a_closed_pipe_is_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained: str
) -> None:
    proc = subprocess.Popen(
        [*RLEXEC, "metrics", "--database-url", trained],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -1` that has gone: every write fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""
