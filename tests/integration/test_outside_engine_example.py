"""``examples/outside_engine.py`` runs as a user would run it (a subprocess) against a fresh
store (upgraded first, as ``rlexec db upgrade`` does at deploy); the store then holds its
episodes and decisions, and a second run resumes the agent; with ``--validate`` it validates
the agent on held-out venue seeds and stores the verdict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from rlexec.store.engine import create_engine

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "outside_engine.py"
PARENTS = 4
STEPS = 120


def _run(url: str, *more: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLEXEC_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--database-url", url, "--parents", str(PARENTS),
         "--steps", str(STEPS), "--quantity", "800", *more],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _counts(url: str) -> tuple[int, int, int, int, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            async def one(sql: str) -> int:
                return int((await conn.execute(sa.text(sql))).scalar_one())

            return (
                await one("SELECT COUNT(*) FROM episodes"),
                await one("SELECT COUNT(*) FROM decisions"),
                await one("SELECT COUNT(*) FROM q_values"),
                await one("SELECT updates FROM agents WHERE name = 'outside-engine'"),
                await one("SELECT COUNT(*) FROM policy_metrics"),
            )
    finally:
        await engine.dispose()


async def test_example_writes_the_store_and_resumes(db_url: str) -> None:
    first = _run(db_url)
    assert first.startswith("new agent 'outside-engine'")
    assert "mode production" in first
    assert first.count(" bps, ") == PARENTS
    episodes, decisions, q_rows, updates, metrics = await _counts(db_url)
    assert episodes == PARENTS
    assert decisions == updates == PARENTS * (STEPS // 5)  # default decision interval
    assert q_rows > 0 and metrics == 1

    second = _run(db_url)
    assert second.startswith("resumed agent 'outside-engine' from ")
    assert f": {q_rows} Q rows, {updates} updates, {decisions} experiences" in second
    episodes2, decisions2, _, updates2, metrics2 = await _counts(db_url)
    assert episodes2 == 2 * episodes and decisions2 == 2 * decisions
    assert updates2 == 2 * updates and metrics2 == 2


async def test_example_trains_then_validates_on_held_out_venue_seeds(db_url: str) -> None:
    out = _run(db_url, "--mode", "training", "--validate", "6", "--validate-first-seed", "500")
    (verdict,) = [line for line in out.splitlines() if "promoted: policy - " in line]
    assert "on 6 held-out seeds" in verdict and f"of {PARENTS} training episodes" in verdict
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text("SELECT validation_seed_first, validation_seed_count FROM promotions")
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [(500, 6)]
