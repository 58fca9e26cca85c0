"""``rlexec snapshot ...``: versioned copies of an agent's stored Q-table.

    rlexec snapshot create --agent A --label L   copy the agent's stored Q-table and visits
    rlexec snapshot list [--agent A]             id, agent, version, label, time, entries
    rlexec snapshot export ID PATH               write it as a JSON model file
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.cli.common import config_from_args
from rlexec.config import Config
from rlexec.store.engine import create_engine
from rlexec.store.snapshots import create_snapshot, export_snapshot, list_snapshots

T = TypeVar("T")


def register(subparsers: Any) -> None:
    snap = subparsers.add_parser("snapshot", help="policy snapshots (versioned Q-tables)")
    sub = snap.add_subparsers(dest="snapshot_command", required=True)
    create = sub.add_parser("create", help="snapshot an agent's stored Q-table")
    create.add_argument("--agent", default="default", help="agent name in the store")
    create.add_argument("--label", default="", help="free text, e.g. 'before-deploy'")
    create.set_defaults(handler=_create)
    listing = sub.add_parser("list", help="list snapshots")
    listing.add_argument("--agent", help="only this agent's snapshots")
    listing.set_defaults(handler=_list)
    export = sub.add_parser("export", help="write a snapshot as a JSON model file")
    export.add_argument("id", type=int, help="snapshot id (see 'rlexec snapshot list')")
    export.add_argument("path", help="model file to write")
    export.set_defaults(handler=_export)


def with_engine(args: argparse.Namespace, work: Callable[[AsyncEngine, Config], Awaitable[T]]) -> T:
    """Run ``work(engine, config)`` on the configured database (migrated to head first)."""
    config = config_from_args(args)

    async def run() -> T:
        from rlexec.training.session import ensure_schema

        url = config.rl_execution.database.url
        await ensure_schema(url)
        engine = create_engine(
            url, connect_timeout_secs=config.rl_execution.database.connect_timeout_secs
        )
        try:
            return await work(engine, config)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _create(args: argparse.Namespace) -> int:
    row = with_engine(args, lambda engine, _: create_snapshot(engine, args.agent, args.label))
    print(
        f"snapshot {row.id}: agent {row.agent_name!r} version {row.version} "
        f"label {row.label!r}, {row.entries} Q entries"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = with_engine(args, lambda engine, _: list_snapshots(engine, args.agent))
    if not rows:
        print("no snapshots")
        return 0
    print(f"{'id':>5} {'agent':<20} {'ver':>4} {'created_at (UTC)':<20} {'entries':>8} label")
    for r in rows:
        print(
            f"{r.id:>5} {r.agent_name:<20} {r.version:>4} "
            f"{r.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {r.entries:>8} {r.label}"
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    entries = with_engine(
        args,
        lambda engine, config: export_snapshot(
            engine, args.id, args.path, config.rl_execution.state
        ),
    )
    print(f"snapshot {args.id}: {entries} Q entries written to {args.path}")
    return 0
