"""Fixtures of the report tests: a small SQLite store with two trained agents (shortfall and
original reward) and a stored comparison of both against every baseline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from rlexec.config import Config
from rlexec.training.evaluate import ComparisonRun, run_comparison
from rlexec.training.train import train
from tests.training.conftest import small_config

SEEDS = 6


@dataclass(frozen=True)
class Compared:
    config: Config
    url: str
    database: Path
    comparison: Path  # the folder holding comparison.json
    run: ComparisonRun


async def _setup(config: Config, out: Path) -> ComparisonRun:
    await train(config, "default", episodes=12, progress=False)
    await train(config, "original-reward", episodes=8, reward_mode="original", progress=False)
    return await run_comparison(config, ["default", "original-reward"], seeds=SEEDS, out_dir=out)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Compared:
    folder = tmp_path_factory.mktemp("compared")
    database = folder / "rlexec.db"
    url = f"sqlite+aiosqlite:///{database}"
    config = small_config(url)
    run = asyncio.run(_setup(config, folder / "comparison"))
    return Compared(config, url, database, folder / "comparison", run)
