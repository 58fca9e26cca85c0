"""Markets built from ``[rl_execution.simulator]``: presets with overrides, the AC model, recorded
CSV, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlexec.errors import ConfigError
from rlexec.execution.twap import TWAP
from rlexec.market.almgren_chriss import AlmgrenChrissMarket
from rlexec.market.lob import LobMarket
from rlexec.market.recorded import RecordedMarket
from rlexec.training.evaluate import evaluation_seeds
from rlexec.training.markets import build_market, trades_path_for, typical_queue_depth
from rlexec.training.validation import PolicyValidator
from tests.test_market_recorded import _episode_rows
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
    rl = rl.model_copy(
        update={
            "evaluation": rl.evaluation.model_copy(
                update={"first_seed": 1000, "validation_first_seed": 500}
            )
        }
    )
    market = build_market(rl)
    assert isinstance(market, RecordedMarket)
    training = {market.reset(seed).step for seed in range(500)}
    validation = {market.reset(seed).step for seed in range(500, 1000)}
    evaluation = {market.reset(seed).step for seed in range(1000, 2000)}
    # 600 rows: training 0..299, validation 300..389 (15%), evaluation 390..599
    assert max(training) + 60 <= 300
    assert min(validation) >= 300 and max(validation) + 60 <= 390
    assert min(evaluation) >= 390
    with pytest.raises(ConfigError, match=r"evaluation range .* fewer than episode_steps = 60"):
        build_market(
            _sim(market="recorded", recorded_path=path, recorded_training_share=0.8,
                 recorded_validation_share=0.15)
        )  # fmt: skip


def test_training_validation_promotion_and_evaluation_seeds_replay_their_own_ranges() -> None:
    """The seeds each part of the product uses (training below the validation seeds, the
    validator's validation and promotion seeds, evaluate/compare's held-out seeds) replay three
    disjoint ranges of a recorded file, in time order: training 0..69%, validation 70..84%,
    evaluation 85..100% by default (600 rows: 0..419, 420..509, 510..599)."""
    config = small_config(
        "sqlite+aiosqlite:///unused.db",
        market="recorded",
        recorded_path=str(DATA / "sample_snapshots.csv"),
    )
    rl = config.rl_execution
    ev = rl.evaluation
    validator = PolicyValidator(config, lambda: build_market(rl), lambda: TWAP(), None, "twap")
    market = build_market(rl)
    assert isinstance(market, RecordedMarket)
    roles = {
        "training": range(0, 150),
        "training (last seeds)": range(ev.validation_first_seed - 50, ev.validation_first_seed),
        "validation": validator.validation_seeds[:100],
        "promotion": validator.promotion_seeds[:100],
        "evaluation": evaluation_seeds(config, 150),
    }
    expected = {"training": (0, 420), "validation": (420, 510), "evaluation": (510, 600)}
    rows: dict[str, set[int]] = {}
    for role, seeds in roles.items():
        band = ev.seed_band(seeds[0])
        assert {ev.seed_band(seed) for seed in seeds} == {band}, role
        # the market's rule is the config's rule
        assert {market.split.bands[market.split.band_of(s)].name for s in seeds} == {band}
        low, high = expected[band]
        seen = {step for seed in seeds for step in _episode_rows(market, seed)}
        assert low <= min(seen) and max(seen) < high, (role, min(seen), max(seen))
        rows.setdefault(band, set()).update(seen)
    assert {ev.seed_band(s) for s in validator.promotion_seeds} == {"validation"}
    assert not rows["training"] & rows["validation"]
    assert not rows["validation"] & rows["evaluation"]
    # each range is used, not a corner of it
    assert max(rows["validation"]) > 500 and min(rows["validation"]) < 430


def test_every_band_is_told_the_training_ranges_queue_depth(tmp_path: Path) -> None:
    """typical_queue_depth comes from the training range, which precedes the validation and
    evaluation ranges: books of those ranges do not change it."""
    source = DATA / "sample_snapshots.csv"
    lines = source.read_text().splitlines(keepends=True)
    header = lines[0].split(",")
    sizes = [i for i, name in enumerate(header) if "_size_" in name]

    def market_of(scaled_rows: range, name: str) -> RecordedMarket:
        out = [lines[0]]
        for i, line in enumerate(lines[1:]):
            fields = line.rstrip("\n").split(",")
            if i in scaled_rows:
                fields = [str(int(f) * 9) if c in sizes and f else f for c, f in enumerate(fields)]
            out.append(",".join(fields) + "\n")
        path = tmp_path / f"{name}_snapshots.csv"
        path.write_text("".join(out))
        market = build_market(_sim(market="recorded", recorded_path=str(path)))
        assert isinstance(market, RecordedMarket)
        return market

    plain = typical_queue_depth(market_of(range(0), "plain"))
    assert typical_queue_depth(market_of(range(420, 510), "validation")) == plain
    assert typical_queue_depth(market_of(range(420, 600), "future")) == plain
    assert typical_queue_depth(market_of(range(0, 420), "training")) == 9 * plain


def test_recorded_shares_must_leave_an_evaluation_range() -> None:
    with pytest.raises(ConfigError, match=r"recorded_training_share = 0\.9 \+ "
                       r"recorded_validation_share = 0\.1 leave no evaluation range"):  # fmt: skip
        _sim(recorded_training_share=0.9, recorded_validation_share=0.1)
    with pytest.raises(ConfigError, match="recorded_validation_share"):
        _sim(recorded_validation_share=0.0)
