"""``rlexec export --out DIR``: audit tables to CSV/Parquet files, optionally filtered.

    rlexec export --out DIR [--format csv|parquet] [--tables decisions,episodes,...]
                  [--agent A] [--since TIME] [--until TIME] [--mode MODE] [--no-progress]

Progress goes to stderr, one ``rlexec.progress.Progress`` per table (a bar on a terminal, else
plain lines).
"""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.analytics.export import FORMATS, TABLES, check_tables, export_tables
from rlexec.analytics.selection import MODES, parse_time
from rlexec.cli.common import agent_name, command, with_engine
from rlexec.progress import Progress


def register(subparsers: Any) -> None:
    export = command(subparsers, "export", "write audit tables to CSV/Parquet")
    export.add_argument("--out", required=True, help="directory to write into")
    export.add_argument("--format", choices=FORMATS, default="csv", help="file format")
    export.add_argument(
        "--tables",
        default=",".join(TABLES),
        help="comma-separated list of tables to write",
    )
    export.add_argument("--agent", type=agent_name, help="only this agent's rows (default: all)")
    export.add_argument("--since", help="only rows at or after this ISO-8601 time (UTC default)")
    export.add_argument("--until", help="only rows before this ISO-8601 time")
    export.add_argument("--mode", choices=MODES, help="only episodes (and their decisions, "
                        "policy metrics) of this mode")  # fmt: skip
    export.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    tables = check_tables([t.strip() for t in args.tables.split(",") if t.strip()])

    def progress(table: str, total: int) -> Progress:
        return Progress(f"export {table}", total=total, unit="rows", enabled=not args.no_progress)

    written = with_engine(
        args,
        lambda engine, _: export_tables(
            engine, args.out, args.format, tables=tables, agent=args.agent, since=since,
            until=until, mode=args.mode, progress=progress,
        ),
    )  # fmt: skip
    for name, (path, rows) in written.items():
        print(f"{name}: {rows} rows -> {path}")
    return 0
