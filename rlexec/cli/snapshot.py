"""``rlexec snapshot ...``: versioned copies of an agent's stored Q-table.

rlexec snapshot create --agent A --label L   copy the agent's stored Q-table and visits
rlexec snapshot list [--agent A]             id, agent, version, label, time, entries
rlexec snapshot export ID PATH               write it as a JSON model file
"""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.cli.common import add_agent, agent_name, command, with_engine
from rlexec.store.snapshots import create_snapshot, export_snapshot, list_snapshots


def register(subparsers: Any) -> None:
    snap = subparsers.add_parser("snapshot", help="policy snapshots (versioned Q-tables)")
    sub = snap.add_subparsers(dest="snapshot_command", required=True)
    create = command(sub, "create", "snapshot an agent's stored Q-table")
    add_agent(create)
    create.add_argument("--label", default="", help="free text, e.g. 'before-deploy'")
    create.set_defaults(handler=_create)
    listing = command(sub, "list", "list snapshots")
    listing.add_argument("--agent", type=agent_name,
                         help="only this agent's snapshots (default: every agent's)")  # fmt: skip
    listing.set_defaults(handler=_list)
    export = command(sub, "export", "write a snapshot as a JSON model file")
    export.add_argument("id", type=int, help="snapshot id (see 'rlexec snapshot list')")
    export.add_argument("path", help="model file to write")
    export.set_defaults(handler=_export)


def _create(args: argparse.Namespace) -> int:
    row = with_engine(
        args, lambda engine, _: create_snapshot(engine, args.agent, args.label), read_only=False
    )
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
