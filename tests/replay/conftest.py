"""Replay / analytics fixtures: the store fixtures (SQLite and PostgreSQL) and a store holding
a few short training episodes of agent ``a1``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rlexec.config import Config, parse_config
from tests.store.conftest import (  # noqa: F401 (fixtures)
    db_url,
    empty_db_url,
    engine,
    no_child_left,
    open_stores,
)


def short_config(url: str) -> Config:
    """Short episodes (60 steps, 500 shares) so that training a few takes a fraction of a s."""
    return parse_config(
        {
            "rl_execution": {
                "database": {"url": url},
                "simulator": {"horizon_steps": 60, "parent_quantity": 500},
            }
        }
    )


@dataclass
class TrainedStore:
    url: str
    config: Config
    episodes: int


@pytest.fixture
async def trained(db_url: str) -> TrainedStore:  # noqa: F811
    from rlexec.training.train import train

    config = short_config(db_url)
    await train(config, "a1", episodes=4, progress=False, handle_signals=False)
    return TrainedStore(db_url, config, 4)
