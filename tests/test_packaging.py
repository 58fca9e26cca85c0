"""What a user installs and reads agrees with the code: the wheel ships the migrations, the
shipped config file documents every key, and the test database variable (named alike in the
tests, scripts/test.sh and the README) stays outside the RLEXEC_ config prefix."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from pydantic import BaseModel

from rlexec.config import ENV_PREFIX, Config, load_config
from tests.store.conftest import PG_DSN_VARIABLE

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_migrations(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("rlexec", "migrations"):
        shutil.copytree(REPO / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(tree),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("rlexec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"rlexec/migrations/versions/{p.name}"
        for p in (REPO / "migrations" / "versions").glob("*.py")
    }
    assert expected and expected <= names
    assert {"rlexec/migrations/env.py", "rlexec/migrations/script.py.mako"} <= names
    assert "rlexec/store/migrate.py" in names


def _keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.extend(_keys(annotation, (*prefix, name)))
        else:
            out.append((*prefix, name))
    return out


def test_the_shipped_config_file_documents_every_key() -> None:
    text = (REPO / "config" / "rl_execution.toml").read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        header = re.match(r"#?\s*\[([\w.]+)\]", line)
        if header:
            current = header.group(1)
            continue
        setting = re.match(r"#?\s*(\w+)\s*=", line)
        if setting:
            sections.setdefault(current, "")
            sections[current] += f" {setting.group(1)} "
    missing = []
    for path in _keys(Config):
        section, key = ".".join(path[:-1]), path[-1]
        if f" {key} " not in sections.get(section, "") and f"{section}.{key}" not in sections:
            missing.append(".".join(path))
    assert missing == []


def test_the_test_database_variable_is_outside_the_config_prefix() -> None:
    assert not PG_DSN_VARIABLE.startswith(ENV_PREFIX)
    for doc in ("scripts/test.sh", "README.md"):
        named = set(re.findall(r"\b[A-Z_]*TEST_PG_[A-Z]+\b", (REPO / doc).read_text()))
        assert named == {PG_DSN_VARIABLE}, doc
    # set in the environment, it does not disturb rlexec's config
    load_config(
        REPO / "config" / "rl_execution.toml",
        env={PG_DSN_VARIABLE: "postgresql://postgres@127.0.0.1:5432/test"},
    )
