"""rlexec: learn when and how much to trade while working a parent order.

The public face (``rlexec.api``), for a trading engine::

    import rlexec

    with rlexec.Agent.open(database_url="sqlite+aiosqlite:///data/desk.db", create=True) as agent:
        order = agent.start_order("buy", 1000, horizon_secs=300, book=book, now=t0)
        ...

``Agent`` (synchronous) and ``AsyncAgent`` (asyncio) open a persistent agent; ``book`` builds a
validated book from (price, size) levels; ``WorkingOrder``, ``Instructions``, ``ChildOrder``
and ``OrderResult`` are what they hand back; ``load_config`` (a TOML file and ``RLEXEC_*``),
``parse_config`` (a mapping shaped like the file) and ``Config`` the configuration;
every error a user can cause is an ``RlexecError`` (``InvalidInputError``, and its
``BindingError``: an existing agent opened with a config that would change what its Q-values
mean; ``ConfigError``, ``StoreError``). The names are imported on first use, so ``import
rlexec`` stays light.

Packages by concern (internal):
- ``rlexec.rl``: the learning core (state, Q-learning agent, replay buffer, reward). Pure.
- ``rlexec.market``: market simulators (limit order book, Almgren-Chriss, recorded data). Pure.
- ``rlexec.execution``: executors (TWAP, VWAP, ...), the episode runner and cost metrics.
- ``rlexec.store``: the SQL store, Alembic migrations and the write-behind cache.
- ``rlexec.agent``: the composition root (agent, store, executor factory).
- ``rlexec.cli``: the ``rlexec`` command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rlexec.agent import BindingError
    from rlexec.api import (
        Agent,
        AsyncAgent,
        ChildOrder,
        Instructions,
        OrderDesk,
        OrderResult,
        WorkingOrder,
        book,
    )
    from rlexec.config import AgentMode, Config, load_config, parse_config
    from rlexec.errors import ConfigError, InvalidInputError, RlexecError, StoreError
    from rlexec.market.book import BookSnapshot, Side, Trade
    from rlexec.records import EpisodeRecord
    from rlexec.rl.types import Urgency
    from rlexec.training.validation import PromotionVerdict

_EXPORTS: dict[str, str] = {
    "Agent": "rlexec.api",
    "AsyncAgent": "rlexec.api",
    "ChildOrder": "rlexec.api",
    "Instructions": "rlexec.api",
    "OrderDesk": "rlexec.api",
    "OrderResult": "rlexec.api",
    "WorkingOrder": "rlexec.api",
    "book": "rlexec.api",
    "BindingError": "rlexec.agent",
    "AgentMode": "rlexec.config",
    "Config": "rlexec.config",
    "load_config": "rlexec.config",
    "parse_config": "rlexec.config",
    "ConfigError": "rlexec.errors",
    "InvalidInputError": "rlexec.errors",
    "RlexecError": "rlexec.errors",
    "StoreError": "rlexec.errors",
    "BookSnapshot": "rlexec.market.book",
    "Side": "rlexec.market.book",
    "Trade": "rlexec.market.book",
    "EpisodeRecord": "rlexec.records",
    "Urgency": "rlexec.rl.types",
    "PromotionVerdict": "rlexec.training.validation",
}

__all__ = [
    "Agent",
    "AgentMode",
    "AsyncAgent",
    "BindingError",
    "BookSnapshot",
    "ChildOrder",
    "Config",
    "ConfigError",
    "EpisodeRecord",
    "Instructions",
    "InvalidInputError",
    "OrderDesk",
    "OrderResult",
    "PromotionVerdict",
    "RlexecError",
    "Side",
    "StoreError",
    "Trade",
    "Urgency",
    "WorkingOrder",
    "__version__",
    "book",
    "load_config",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlexec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
