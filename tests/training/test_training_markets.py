"""Markets built from ``[rl_execution.simulator]``: presets with overrides, the AC model, recorded
CSV, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlexec.errors import ConfigError
from rlexec.market.almgren_chriss import AlmgrenChrissMarket
from rlexec.market.lob import LobMarket
from rlexec.market.recorded import RecordedMarket
from rlexec.training.markets import build_market, trades_path_for, typical_queue_depth
from tests.training.conftest import small_config

DATA = Path(__file__).resolve().parents[1] / "data"


def _sim(**kw: object):  # type: ignore[no-untyped-def]
    return small_config("sqlite+aiosqlite:///unused.db", **kw).rl_execution


def test_presets_take_the_lob_overrides() -> None:
    market = build_market(_sim(market="equity", lob={"mo_rate": 2.5}))
    assert isinstance(market, LobMarket)
    assert market.params.mo_rate == 2.5
    assert typical_queue_depth(market) > 0


def test_almgren_chriss_and_recorded_markets() -> None:
    assert isinstance(build_market(_sim(market="almgren_chriss")), AlmgrenChrissMarket)
    path = DATA / "sample_snapshots.csv"
    assert trades_path_for(path) == DATA / "sample_trades.csv"
    market = build_market(_sim(market="recorded", recorded_path=str(path)))
    assert isinstance(market, RecordedMarket)
    assert market.episode_steps == 60
    market.reset(3)


def test_recorded_market_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recorded_path is not set"):
        build_market(_sim(market="recorded"))
    with pytest.raises(ConfigError, match="file not found"):
        build_market(_sim(market="recorded", recorded_path=str(tmp_path / "none.csv")))


def test_recorded_market_splits_time_by_the_configured_seed_bands() -> None:
    path = str(DATA / "sample_snapshots.csv")
    rl = _sim(market="recorded", recorded_path=path, recorded_training_share=0.5)
    rl = rl.model_copy(update={"evaluation": rl.evaluation.model_copy(update={"first_seed": 1000})})
    market = build_market(rl)
    assert isinstance(market, RecordedMarket)
    training = {market.reset(seed).step for seed in range(1000)}
    evaluation = {market.reset(seed).step for seed in range(1000, 2000)}
    assert max(training) + 60 <= 300 and min(evaluation) >= 300  # 600 rows, half each
    with pytest.raises(ConfigError, match=r"evaluation range .* fewer than episode_steps = 60"):
        build_market(_sim(market="recorded", recorded_path=path, recorded_training_share=0.95))
