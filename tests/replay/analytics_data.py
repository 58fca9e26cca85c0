"""The same audit data on SQLite and PostgreSQL, for the cross-backend analytics tests.

``build_stores`` trains two agents (``default``, shortfall reward, and ``original``, the
original reward) on short episodes of both sides, snapshots, evaluates ``default`` and compares
both against every baseline, all into a fresh SQLite file through the real training code; it
then copies every table row by row (ids and timestamps included) into a fresh PostgreSQL
database migrated to head. ``normalized`` makes a result row comparable across backends.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rlexec.analytics.export import csv_time
from rlexec.config import Config, parse_config
from rlexec.store.engine import create_engine
from rlexec.store.migrate import upgrade_database
from rlexec.store.models import metadata
from tests.store.conftest import new_pg_database

SEEDED_BY_MIGRATION = {"urgencies"}


def analytics_config(url: str) -> Config:
    return parse_config(
        {
            "rl_execution": {
                "database": {"url": url},
                "simulator": {"horizon_steps": 60, "parent_quantity": 3000, "side": "random"},
            }
        }
    )


@dataclass(frozen=True)
class Stores:
    sqlite_url: str
    pg_url: str
    config: Config  # the SQLite one


async def _fill(url: str) -> None:
    from rlexec.store.promotions import PromotionRecord, record_promotion
    from rlexec.store.snapshots import create_snapshot
    from rlexec.training.evaluate import evaluate_agent, run_comparison
    from rlexec.training.train import train

    config = analytics_config(url)
    await train(config, "default", episodes=6, progress=False, handle_signals=False,
                metrics_every=2)  # fmt: skip
    await train(config, "original", episodes=3, reward_mode="original", progress=False,
                handle_signals=False)  # fmt: skip
    engine = create_engine(url)
    try:
        snapshot = await create_snapshot(engine, "default", "doc")
        # a refused candidate (no snapshot kept), then a promoted one
        for promoted, snapshot_id, diff in ((False, None, 0.4), (True, snapshot.id, -0.6)):
            await record_promotion(engine, "default", PromotionRecord(
                promoted=promoted, reason="CI excludes 0" if promoted else "CI includes 0",
                snapshot_id=snapshot_id, validation_seed_first=500_000,
                validation_seed_count=8, base_executor="twap_passive",
                policy_mean_is_bps=1.0 + diff, base_mean_is_bps=1.0, mean_difference_bps=diff,
                difference_ci_low_bps=diff - 0.5, difference_ci_high_bps=diff + 0.5 * promoted,
                episodes_trained=6, config_hash="doc",
            ))  # fmt: skip
    finally:
        await engine.dispose()
    await evaluate_agent(config, "default", seeds=2)
    await run_comparison(config, ["default", "original"], seeds=2)


async def copy_rows(source: str, target: str) -> None:
    """Every row of every rlexec table from ``source`` into ``target`` (same schema)."""
    src, dst = create_engine(source), create_engine(target)
    try:
        async with src.connect() as read, dst.begin() as write:
            for table in metadata.sorted_tables:
                if table.name in SEEDED_BY_MIGRATION:
                    continue
                rows = [dict(r._mapping) for r in await read.execute(sa.select(table))]
                if rows:
                    await write.execute(table.insert(), rows)
    finally:
        await src.dispose()
        await dst.dispose()


def build_stores(folder: Path) -> Stores:
    sqlite_url = f"sqlite+aiosqlite:///{folder / 'analytics.db'}"
    pg_url = new_pg_database()

    async def build() -> None:
        await upgrade_database(sqlite_url)
        await _fill(sqlite_url)
        await upgrade_database(pg_url)
        await copy_rows(sqlite_url, pg_url)

    asyncio.run(build())
    return Stores(sqlite_url, pg_url, analytics_config(sqlite_url))


def normalized(value: Any) -> Any:
    """Booleans as 0/1, Decimal as float, timestamps as the exported text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return csv_time(value)
    return value


def same(a: Any, b: Any) -> bool:
    a, b = normalized(a), normalized(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def first_difference(rows_a: list[tuple[Any, ...]], rows_b: list[tuple[Any, ...]]) -> str | None:
    """None when both results are equal (floats to 1e-9), else where they differ."""
    if len(rows_a) != len(rows_b):
        return f"{len(rows_a)} rows vs {len(rows_b)} rows"
    for i, (a, b) in enumerate(zip(rows_a, rows_b, strict=True)):
        if len(a) != len(b) or not all(same(x, y) for x, y in zip(a, b, strict=True)):
            return f"row {i}: {a!r} vs {b!r}"
    return None
