"""Build the simulated (or recorded) market that training, evaluation and comparison run on,
from ``[rl_execution.simulator]``.

- ``equity`` / ``prediction_market``: the limit-order-book presets (``rlexec.market.presets``)
  with the ``[rl_execution.simulator.lob]`` overrides applied;
- ``almgren_chriss``: the Almgren-Chriss model of ``almgren_chriss_preset``: the intraday-equity
  scaling (``EQUITY_INTRADAY``: one-second steps, price 100, the default) or the paper's example
  (``PAPER``: daily steps, price 50, for 1,000,000 shares over 5 steps); the risk
  aversion is a property of the *objective*, not of the market, and is passed separately to the
  optimal-schedule executor (``ac_params``);
- ``recorded``: ``RecordedMarket`` over ``recorded_path`` (the snapshots CSV) and
  ``recorded_trades_path`` (the trades CSV; if not set, a file next to the snapshots named like
  it with ``snapshots`` replaced by ``trades`` is used if it exists). Without trades a warning
  says that passive orders then fill only when the recorded book crosses them. The tick size
  is ``lob.tick_size`` if given, else 0.01; ``lob.bounded = true`` bounds prices to
  (0, 1) (a prediction market). Episodes are ``horizon_steps`` long. Held out in time
  (``recorded_split``): training seeds replay the first ``recorded_training_share`` of the
  file, validation and promotion seeds the next ``recorded_validation_share``, evaluation seeds
  the rest; which band a seed is in is ``EvaluationConfig.seed_band``, the rule that also
  stops training below the validation seeds.

Every market also has a ``typical_queue_depth`` (the state builder's yardstick for queue depth):
the LOB presets and the recorded market compute theirs; for the Almgren-Chriss model, which has
no queues, it is the displayed size.
"""

from __future__ import annotations

import functools
import logging
import random
import uuid
from decimal import Decimal
from pathlib import Path

from rlexec.config import RlExecutionConfig, SimulatorConfig
from rlexec.errors import ConfigError, InvalidInputError
from rlexec.execution.types import ParentOrder
from rlexec.market.almgren_chriss import AcParams, AlmgrenChrissMarket
from rlexec.market.almgren_chriss import preset as ac_preset
from rlexec.market.base import Market
from rlexec.market.book import Side
from rlexec.market.presets import make_market
from rlexec.market.recorded import RecordedMarket, TimeSplit

LOB_PRESETS = ("equity", "prediction_market")

log = logging.getLogger(__name__)


def ac_params(simulator: SimulatorConfig, risk_aversion: float | None = None) -> AcParams:
    """The Almgren-Chriss parameters of ``simulator.almgren_chriss_preset`` (risk aversion
    replaced if given)."""
    params = ac_preset(simulator.almgren_chriss_preset)
    if risk_aversion is None:
        return params
    return params.with_risk_aversion(risk_aversion)


def build_market(rl: RlExecutionConfig) -> Market:
    """A fresh market for ``rl.simulator`` (the evaluation section sets the seed bands of a
    recorded market); call ``reset(seed)`` before use."""
    simulator = rl.simulator
    name = simulator.market
    try:
        if name in LOB_PRESETS:
            return make_market(name, **simulator.lob)
        if name == "almgren_chriss":
            return AlmgrenChrissMarket(ac_params(simulator))
        return _recorded(simulator, recorded_split(rl))
    except InvalidInputError as exc:
        raise ConfigError(f"rl_execution.simulator (market = {name!r}): {exc}") from None


def side_for_seed(simulator: SimulatorConfig, seed: int) -> Side:
    """The parent's side: fixed, or for ``side = "random"`` drawn from the episode seed (so
    every executor of a paired comparison works the same side on the same seed)."""
    if simulator.side == "buy":
        return Side.BUY
    if simulator.side == "sell":
        return Side.SELL
    return Side.BUY if random.Random(seed).random() < 0.5 else Side.SELL


def parent_for_seed(simulator: SimulatorConfig, seed: int) -> ParentOrder:
    """A new parent order (uuid4 id: the id of its stored episode) for episode ``seed``."""
    return ParentOrder(
        str(uuid.uuid4()),
        side_for_seed(simulator, seed),
        Decimal(simulator.parent_quantity),
        simulator.horizon_steps,
    )


def describe_parents(simulator: SimulatorConfig) -> str:
    """The simulated problem in words, e.g. "prediction_market: buy 500 over 300 steps" (the
    ``simulator`` keys ``market``, ``side``, ``parent_quantity``, ``horizon_steps``)."""
    side = "buy or sell (random per seed)" if simulator.side == "random" else simulator.side
    return (
        f"{simulator.market}: {side} {simulator.parent_quantity} over "
        f"{simulator.horizon_steps} steps"
    )


def typical_queue_depth(market: Market) -> float:
    """The market's typical touch queue (shares/contracts) for the state builder."""
    depth = getattr(market, "typical_queue_depth", None)
    if isinstance(depth, int | float) and depth > 0:
        return float(depth)
    if isinstance(market, AlmgrenChrissMarket):
        return float(market.params.display_size)
    return 1000.0


def trades_path_for(snapshots: Path) -> Path | None:
    """The trades CSV that goes with a snapshots CSV, if it exists."""
    if "snapshots" not in snapshots.name:
        return None
    candidate = snapshots.with_name(snapshots.name.replace("snapshots", "trades"))
    return candidate if candidate.exists() else None


def recorded_split(rl: RlExecutionConfig) -> TimeSplit:
    """The held-out time ranges of a recorded market, one per seed band of
    ``EvaluationConfig.seed_band``: training seeds (below ``evaluation.validation_first_seed``)
    in the first ``simulator.recorded_training_share`` of the file, validation and promotion
    seeds (up to ``evaluation.first_seed``) in the next ``recorded_validation_share``,
    evaluation seeds in the rest."""
    simulator, ev = rl.simulator, rl.evaluation
    return TimeSplit.held_out(
        simulator.recorded_training_share,
        simulator.recorded_validation_share,
        ev.validation_first_seed,
        ev.first_seed,
    )


def _recorded(simulator: SimulatorConfig, split: TimeSplit) -> RecordedMarket:
    if not simulator.recorded_path:
        raise ConfigError(
            "rl_execution.simulator.recorded_path is not set: market = 'recorded' needs the path "
            "of a snapshots CSV (see docs/recorded-data.md)"
        )
    path = Path(simulator.recorded_path)
    if not path.exists():
        raise ConfigError(f"rl_execution.simulator.recorded_path = {str(path)!r}: file not found")
    trades = _recorded_trades(simulator, path)
    tick = simulator.lob.get("tick_size", 0.01)
    bounded = bool(simulator.lob.get("bounded", False))
    return RecordedMarket(
        path,
        trades,
        tick_size=Decimal(repr(float(tick))),
        split=split,
        price_bounds=(Decimal(0), Decimal(1)) if bounded else None,
        episode_steps=simulator.horizon_steps,
    )


def _recorded_trades(simulator: SimulatorConfig, snapshots: Path) -> Path | None:
    if simulator.recorded_trades_path:
        trades = Path(simulator.recorded_trades_path)
        if not trades.exists():
            raise ConfigError(
                f"rl_execution.simulator.recorded_trades_path = {str(trades)!r}: file not found"
            )
        return trades
    found = trades_path_for(snapshots)
    if found is None:
        _warn_no_trades(snapshots.resolve())
    return found


@functools.cache  # once per file and process: a comparison builds the market many times
def _warn_no_trades(snapshots: Path) -> None:
    log.warning(
        "rlexec: no recorded trades for %s (set rl_execution.simulator.recorded_trades_path): "
        "passive orders fill only when the recorded book crosses them",
        snapshots,
    )
