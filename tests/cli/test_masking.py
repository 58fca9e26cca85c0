"""No password reaches the screen: every error path that may quote a database URL (a config
value in the file or in RLEXEC_*, a bad URL, an unreachable server, a bad port) prints it masked.
Each case runs the real command line and checks stdout and stderr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rlexec.cli.main import main
from rlexec.redact import mask_passwords

SECRET = "S3cr@t:pw"  # holds '@' and ':' - masked whole
URL = f"postgresql+asyncpg://trader:{SECRET}@127.0.0.1:1/rlexec"

# (name, environment, config file text or None, extra arguments, command)
CASES = [
    ("env section set to a URL", {"RLEXEC_DATABASE": URL}, None, [], ["db", "current"]),
    (
        "file section set to a URL",
        {},
        f'[rl_execution]\ndatabase = "{URL}"\n',
        [],
        ["db", "current"],
    ),
    (
        "env URL, bad driver",
        {"RLEXEC_DATABASE__URL": URL.replace("postgresql+asyncpg", "mysql")},
        None,
        [],
        ["metrics"],
    ),
    (
        "file URL, bad driver",
        {},
        f'[rl_execution.database]\nurl = "{URL.replace("postgresql+asyncpg", "mysql")}"\n',
        [],
        ["train"],
    ),
    (
        "env URL, port not a number",
        {"RLEXEC_DATABASE__URL": URL.replace(":1/", ":port/")},
        None,
        [],
        ["db", "upgrade"],
    ),
    (
        "flag URL, port not a number",
        {},
        None,
        ["--database-url", URL.replace(":1/", ":x/")],
        ["episodes", "list"],
    ),
    ("flag URL, unreachable", {}, None, ["--database-url", URL], ["db", "current"]),
    ("env URL, unreachable, train", {"RLEXEC_DATABASE__URL": URL}, None, [], ["train"]),
    (
        "flag URL, password in the query, unreachable",
        {},
        None,
        ["--database-url", f"postgresql+asyncpg://trader@127.0.0.1:1/rlexec?password={SECRET}"],
        ["db", "current"],
    ),
    ("env URL, unreachable, upgrade", {"RLEXEC_DATABASE__URL": URL}, None, [], ["db", "upgrade"]),
    (
        "URL fine, another key bad",
        {"RLEXEC_DATABASE__URL": URL, "RLEXEC_DATABASE__CONNECT_TIMEOUT_SECS": "soon"},
        None,
        [],
        ["metrics"],
    ),
    (
        "file URL as a number's value",
        {},
        f'[rl_execution.database]\nconnect_timeout_secs = "{URL}"\n',
        [],
        ["db", "current"],
    ),
    (
        "env value of a wrong type",
        {"RLEXEC_PERSISTENCE__SAVE_INTERVAL_SECS": URL},
        None,
        [],
        ["metrics"],
    ),
]


@pytest.mark.parametrize(
    ("name", "env", "config", "extra", "command"), CASES, ids=[c[0] for c in CASES]
)
def test_no_error_path_prints_the_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    env: dict[str, str],
    config: str | None,
    extra: list[str],
    command: list[str],
) -> None:
    for variable in list(os.environ):
        if variable.startswith("RLEXEC_"):
            monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.chdir(tmp_path)
    if config is not None:
        (tmp_path / "c.toml").write_text(config, encoding="utf-8")
        extra = ["--config", str(tmp_path / "c.toml"), *extra]
    code = main([*extra, *command])
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert code == 2, shown
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    for part in (SECRET, "S3cr", "pw@"):
        assert part not in shown, shown


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (URL, "postgresql+asyncpg://trader:***@127.0.0.1:1/rlexec"),
        (
            f"'{URL}' and 'sqlite+aiosqlite:///x.db'",
            "'postgresql+asyncpg://trader:***@127.0.0.1:1/rlexec' and 'sqlite+aiosqlite:///x.db'",
        ),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("no URL here: a:b@c", "no URL here: a:b@c"),
        (
            "'postgresql://u@h/db?sslmode=require&password=p@ss&x=1' failed",
            "'postgresql://u@h/db?sslmode=require&password=***&x=1' failed",
        ),
        ("postgresql://u@h/db?PASSWORD=pw", "postgresql://u@h/db?PASSWORD=***"),
    ],
)
def test_mask_passwords(text: str, masked: str) -> None:
    assert mask_passwords(text) == masked
