#!/usr/bin/env bash
# Install rlexec with its dev extras into ./.venv (created if missing) and run the whole suite:
# ruff (lint and format), mypy and pytest (two workers). PostgreSQL tests need the server on 127.0.0.1:5432
# (database `test`, trust auth); set TEST_PG_DSN (e.g. postgresql://postgres@127.0.0.1:5432/test)
# to point elsewhere. It is deliberately outside the RLEXEC_ prefix: rlexec reads every RLEXEC_*
# variable as a config key.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/ruff check rlexec tests scripts migrations examples
.venv/bin/ruff format --check rlexec tests scripts migrations examples
.venv/bin/mypy rlexec tests scripts examples migrations
.venv/bin/pytest -n 2 "$@"
