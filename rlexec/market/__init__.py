"""Markets to learn in: the limit-order-book simulator and its presets, recorded-data replay.

``make_market("equity" | "prediction_market", **overrides)`` builds a simulator;
``RecordedMarket`` replays CSV snapshots and trades (docs/recorded-data.md). Every market
implements ``rlexec.market.base.Market``. Pure: nothing here imports storage or CLI code.
"""

from rlexec.market.base import Market
from rlexec.market.book import BookLevel, BookSnapshot, Fill, Side, Trade
from rlexec.market.lob import LobMarket
from rlexec.market.params import LobParams
from rlexec.market.presets import PRESETS, make_market, preset_params

__all__ = [
    "PRESETS",
    "BookLevel",
    "BookSnapshot",
    "Fill",
    "LobMarket",
    "LobParams",
    "Market",
    "Side",
    "Trade",
    "make_market",
    "preset_params",
]
