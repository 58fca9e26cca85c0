#!/usr/bin/env bash
# A real install: build the wheel (not editable), install it into a fresh virtual environment,
# and from another folder (no checkout, no config file) create the database and train.
#
#   scripts/check_wheel.sh
#
# Fails if the wheel misses its migrations or anything else a user needs. Run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
wheel=$(ls "$work"/dist/rlexec-*.whl)
echo "built $(basename "$wheel")"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$wheel"

mkdir "$work/elsewhere"
cd "$work/elsewhere"
env -u RLEXEC_CONFIG -u RLEXEC_DATABASE__URL "$work/venv/bin/rlexec" --version
env -u RLEXEC_CONFIG -u RLEXEC_DATABASE__URL "$work/venv/bin/rlexec" db upgrade
env -u RLEXEC_CONFIG -u RLEXEC_DATABASE__URL "$work/venv/bin/rlexec" train --episodes 5 --no-progress
env -u RLEXEC_CONFIG -u RLEXEC_DATABASE__URL "$work/venv/bin/rlexec" db current | grep -q "(head)"
test -f data/rlexec.db
echo "wheel install: db upgrade and train --episodes 5 work outside the repository"
