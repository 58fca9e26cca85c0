"""Helpers shared by the CLI command modules: building command parsers (every command takes
``--config`` and ``--database-url``, and its help shows the defaults), the config with CLI
overrides, agent-name arguments, and running work on the configured database.

``--database-url`` is used verbatim (never parsed as TOML or unescaped), like
``RLEXEC_DATABASE__URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.config import Config, load_config, override
from rlexec.errors import InvalidInputError
from rlexec.names import check_agent_name

T = TypeVar("T")

DEFAULT_AGENT = "default"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after every option that has a real default (not None, not a flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: absent after the command, the value given before it (rlexec --config X cmd) stays
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="config file (default: $RLEXEC_CONFIG or config/rl_execution.toml)",
    )
    common.add_argument(
        "--database-url",
        type=_database_url,
        default=argparse.SUPPRESS,
        help="database URL, used verbatim (default: rl_execution.database.url or "
        "RLEXEC_DATABASE__URL)",
    )
    return common


def _database_url(text: str) -> str:
    """Verbatim, but not empty: an empty value would silently mean the configured database."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a database URL, e.g. sqlite+aiosqlite:///data/rlexec.db"
        )
    return text


COMMON_OPTIONS = _common_options()


def command(subparsers: Any, name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A command's parser: ``--config``/``--database-url`` included, defaults in its help."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=kwargs.pop("description", help),
        parents=[COMMON_OPTIONS],
        formatter_class=HelpFormatter,
        **kwargs,
    )
    return parser


def agent_name(text: str) -> str:
    """argparse type of ``--agent``: the names rule of ``rlexec.names``, as a one-line error."""
    try:
        return check_agent_name(text)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_agent(parser: argparse.ArgumentParser, help: str = "agent name in the store") -> None:
    parser.add_argument("--agent", type=agent_name, default=DEFAULT_AGENT, help=help)


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file named by ``--config`` (or the default), RLEXEC_* overrides, then
    ``--database-url`` (verbatim) on top."""
    config = load_config(getattr(args, "config", None), dict(os.environ))
    url = getattr(args, "database_url", None)
    if url is not None:
        config = override(config, "database", url=url)
    return config


def with_engine(
    args: argparse.Namespace,
    work: Callable[[AsyncEngine, Config], Awaitable[T]],
    *,
    read_only: bool = True,
) -> T:
    """Run ``work(engine, config)`` on the configured database, which must exist and be at the
    schema head (commands never create or migrate one here).

    ``read_only`` (the default: listing, export, metrics, replay): the engine never takes
    SQLite's write lock (plain ``BEGIN``, ``query_only``; PostgreSQL read-only sessions), so
    such a command runs beside a training process and never holds up its flushes; a write
    through it fails. Commands that write (``snapshot create``, ``db prune``) pass False."""
    from rlexec.store.engine import engine_for
    from rlexec.store.migrate import require_schema

    config = config_from_args(args)
    database = config.rl_execution.database

    async def run() -> T:
        await require_schema(database.url)
        engine = engine_for(database, read_only=read_only)
        try:
            return await work(engine, config)
        finally:
            await engine.dispose()

    return asyncio.run(run())
