"""``rlexec db ...`` (schema migrations) and ``rlexec model ...`` (JSON model file) commands.

    rlexec db upgrade [REV]      bring the database to REV (default: head)
    rlexec db downgrade REV      take it down to REV ("base" drops every rlexec table)
    rlexec db current            print the revision the database is at
    rlexec db prune --before DATE [--dry-run]
                                 remove audit rows older than DATE, logged in audit_prunes
    rlexec model export PATH     write an agent's Q-table from the store to a JSON model file
    rlexec model import PATH     load a JSON model file into an agent in the store

The database URL comes from ``--database-url``, else the config / RLEXEC_DATABASE__URL; it is
only ever printed with its password masked.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rlexec.cli.common import config_from_args
from rlexec.store.engine import redact_url
from rlexec.store.migrate import current_revision, downgrade_database, upgrade_database


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database schema migrations (Alembic)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="migrate the database up (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_upgrade)
    down = db_sub.add_parser("downgrade", help="migrate the database down to REVISION")
    down.add_argument("revision")
    down.set_defaults(handler=_downgrade)
    cur = db_sub.add_parser("current", help="print the database's schema revision")
    cur.set_defaults(handler=_current)
    prune = db_sub.add_parser(
        "prune", help="remove episodes and decisions older than a date (logged in audit_prunes)"
    )
    prune.add_argument("--before", required=True, help="ISO-8601 date or time (UTC default)")
    prune.add_argument("--dry-run", action="store_true", help="count, remove nothing")
    prune.set_defaults(handler=_prune)

    model = subparsers.add_parser("model", help="export or import the JSON model file")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    for name, handler, text in (
        ("export", _model_export, "write the agent's Q-table from the store to PATH"),
        ("import", _model_import, "load PATH into the agent in the store"),
    ):
        p = model_sub.add_parser(name, help=text)
        p.add_argument("path", nargs="?", help="default: persistence.model_path")
        p.add_argument("--agent", default="default", help="agent name in the store")
        p.set_defaults(handler=handler)


def _url(args: argparse.Namespace) -> str:
    return config_from_args(args).rl_execution.database.url


def _upgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    asyncio.run(upgrade_database(url, args.revision))
    print(f"{redact_url(url)}: upgraded to {args.revision}")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    asyncio.run(downgrade_database(url, args.revision))
    print(f"{redact_url(url)}: downgraded to {args.revision}")
    return 0


def _current(args: argparse.Namespace) -> int:
    url = _url(args)
    revision = asyncio.run(current_revision(url))
    print(f"{redact_url(url)}: {revision or 'empty (no rlexec schema)'}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from rlexec.analytics.retention import prune_audit_trail
    from rlexec.analytics.selection import parse_time
    from rlexec.cli.snapshot import with_engine

    before = parse_time(args.before, "--before")
    assert before is not None
    result = with_engine(
        args, lambda engine, _: prune_audit_trail(engine, before, dry_run=args.dry_run)
    )
    print(result.describe())
    return 0


def _model_export(args: argparse.Namespace) -> int:
    from rlexec.store.model_file import export_agent_from_store

    config = config_from_args(args)
    path = args.path or config.rl_execution.persistence.model_path
    rows = asyncio.run(export_agent_from_store(config, args.agent, path))
    print(f"agent {args.agent!r}: {rows} Q entries written to {path}")
    return 0


def _model_import(args: argparse.Namespace) -> int:
    from rlexec.store.model_file import import_agent_into_store

    config = config_from_args(args)
    path = args.path or config.rl_execution.persistence.model_path
    rows = asyncio.run(import_agent_into_store(config, args.agent, path))
    print(f"agent {args.agent!r}: {rows} Q entries imported from {path}")
    return 0
