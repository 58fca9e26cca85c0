"""``rlexec db ...`` (schema migrations) and ``rlexec model ...`` (JSON model file) commands.

    rlexec db upgrade [REV]          bring the database to REV (default: head); creates a new
                                     SQLite file (and its folder)
    rlexec db downgrade REV --yes    take it down to REV ("base" drops every rlexec table);
                                     asks on a terminal, else needs --yes
    rlexec db current                the revision the database is at, and whether it is at head
                                     (exit status 0 at head; 1 when this rlexec cannot use it as
                                     it is: behind head, no rlexec schema, or newer than this
                                     rlexec; 2 on an error, e.g. a SQLite file that does not exist)
    rlexec db prune --before DATE [--dry-run]
                                     remove audit rows older than DATE, logged in audit_prunes
    rlexec model export PATH         write an agent's Q-table from the store to a JSON model file
    rlexec model import PATH         load a JSON model file into an agent in the store (an
                                     existing agent's table is snapshotted first)

The database URL comes from ``--database-url``, else the config / RLEXEC_DATABASE__URL; it is
only ever printed with its password masked.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from rlexec.cli.common import add_agent, command, config_from_args, with_engine
from rlexec.errors import InvalidInputError, StoreError
from rlexec.store.engine import redact_url
from rlexec.store.migrate import (
    downgrade_database,
    head_revision,
    schema_status,
    upgrade_database,
)


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database schema migrations (Alembic)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = command(db_sub, "upgrade", "migrate the database up (creates a new SQLite database)")
    up.add_argument("revision", nargs="?", default="head", help="target revision")
    up.set_defaults(handler=_upgrade)
    down = command(db_sub, "downgrade", "migrate the database down to REVISION")
    down.add_argument("revision", help="target revision ('base' drops every rlexec table)")
    down.add_argument("--yes", action="store_true",
                      help="do not ask for confirmation (required when stdin is not a "
                           "terminal)")  # fmt: skip
    down.set_defaults(handler=_downgrade)
    cur = command(db_sub, "current", "print the database's schema revision and whether it is "
                  "at this rlexec's head (exit status 0 at head, 1 when it needs `rlexec db "
                  "upgrade` or is newer than this rlexec)")  # fmt: skip
    cur.set_defaults(handler=_current)
    prune = command(
        db_sub, "prune", "remove episodes and decisions older than a date (logged in audit_prunes)"
    )
    prune.add_argument("--before", required=True, help="ISO-8601 date or time (UTC default)")
    prune.add_argument("--dry-run", action="store_true", help="count, remove nothing")
    prune.set_defaults(handler=_prune)

    model = subparsers.add_parser("model", help="export or import the JSON model file")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    for name, handler, text in (
        ("export", _model_export, "write the agent's Q-table from the store to PATH"),
        ("import", _model_import, "load PATH into the agent in the store (an existing agent's "
                                  "table is snapshotted first, so the import can be undone)"),
    ):  # fmt: skip
        p = command(model_sub, name, text)
        p.add_argument("path", nargs="?", help="model file (default: persistence.model_path)")
        add_agent(p)
        p.set_defaults(handler=handler)


def _url(args: argparse.Namespace) -> str:
    return config_from_args(args).rl_execution.database.url


def _upgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    before = asyncio.run(schema_status(url))
    asyncio.run(upgrade_database(url, args.revision))
    after = asyncio.run(schema_status(url))
    if before.revision == after.revision:
        print(f"{after.describe()}: nothing to do")
    else:
        start = before.revision or ("new database" if not before.exists else "empty")
        print(f"{redact_url(url)}: upgraded from {start} to {after.revision}"
              + (" (head)" if after.at_head else ""))  # fmt: skip
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    status = asyncio.run(schema_status(url))
    if not status.exists:
        raise StoreError(f"database {status.url} does not exist: nothing to downgrade")
    if not args.yes:
        _confirm(status.url, args.revision)
    asyncio.run(downgrade_database(url, args.revision))
    after = asyncio.run(schema_status(url))
    print(f"{redact_url(url)}: downgraded from {status.revision} to "
          f"{after.revision or 'base (no rlexec tables)'}")  # fmt: skip
    return 0


def _confirm(url: str, revision: str) -> None:
    what = "drop every rlexec table" if revision == "base" else f"go down to {revision}"
    if not sys.stdin.isatty():
        raise InvalidInputError(
            f"db downgrade {revision}: this would {what} of {url} and lose what they hold; "
            "run again with --yes to confirm"
        )
    answer = input(f"This will {what} of {url}; type 'yes' to go on: ")
    if answer.strip().lower() != "yes":
        raise InvalidInputError("db downgrade: not confirmed, nothing changed")


def _current(args: argparse.Namespace) -> int:
    url = _url(args)
    status = asyncio.run(schema_status(url))
    if not status.exists:
        raise StoreError(
            f"database {status.url} does not exist (this rlexec needs schema "
            f"{head_revision()}): create it with `rlexec db upgrade`"
        )
    print(status.describe())
    return 0 if status.at_head else 1


def _prune(args: argparse.Namespace) -> int:
    from rlexec.analytics.retention import prune_audit_trail
    from rlexec.analytics.selection import parse_time

    before = parse_time(args.before, "--before")
    assert before is not None
    result = with_engine(
        args,
        lambda engine, _: prune_audit_trail(engine, before, dry_run=args.dry_run),
        read_only=False,
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
    result = asyncio.run(import_agent_into_store(config, args.agent, path))
    print(f"agent {args.agent!r}: {result.entries} Q entries imported from {path}")
    if result.snapshot_id is not None:
        print(
            f"  the table it replaced is snapshot {result.snapshot_id} (undo: rlexec snapshot "
            f"export {result.snapshot_id} PATH, then rlexec model import PATH)"
        )
    return 0
