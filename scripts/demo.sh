#!/usr/bin/env bash
# The README's main command: install, train (both reward modes), compare, report.
#
#   scripts/demo.sh
#
# On a fresh machine (Python >= 3.11) it creates .venv, installs the package into it, migrates
# the embedded SQLite store (data/rlexec.db, or $RLEXEC_DATABASE__URL), trains two agents on the
# equity simulator - "default" with the shortfall reward and "original-reward" with the
# original design's reward - compares both (greedy) against TWAP, VWAP and submit-and-leave on
# paired held-out seeds, and writes the report. About five minutes on two cores, install
# included. Sizes can be changed: DEMO_EPISODES (per agent), DEMO_SEEDS, DEMO_OUT.
# Running it again continues training the same agents (seeds continue where they stopped).
set -euo pipefail

cd "$(dirname "$0")/.."
EPISODES="${DEMO_EPISODES:-1500}"
SEEDS="${DEMO_SEEDS:-300}"
OUT="${DEMO_OUT:-reports/latest}"
PYTHON="${PYTHON:-python3}"
started=$(date +%s)

step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

if [ ! -x .venv/bin/python ]; then
    step "creating .venv"
    "$PYTHON" -m venv .venv
fi
step "installing rlexec into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

RLEXEC=.venv/bin/rlexec
step "migrating the store"
"$RLEXEC" db upgrade
step "training agent 'default' (reward: shortfall), $EPISODES episodes"
"$RLEXEC" train --agent default --reward-mode shortfall --episodes "$EPISODES"
step "training agent 'original-reward' (reward: original), $EPISODES episodes"
"$RLEXEC" train --agent original-reward --reward-mode original --episodes "$EPISODES"
step "comparing on $SEEDS paired held-out seeds"
"$RLEXEC" compare --agents default,original-reward --seeds "$SEEDS" --out "$OUT"
step "writing the report"
"$RLEXEC" report --out "$OUT"
printf '\nDone in %ss. Report: %s\n' "$(( $(date +%s) - started ))" "$(cd "$OUT" && pwd)/summary.md"
