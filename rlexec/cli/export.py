"""``rlexec export --out DIR [--format csv|parquet]``: decisions and episodes to files."""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.analytics.export import FORMATS, export_tables
from rlexec.cli.common import command, with_engine
from rlexec.progress import Progress


def register(subparsers: Any) -> None:
    export = command(subparsers, "export", "write decisions and episodes to CSV/Parquet")
    export.add_argument("--out", required=True, help="directory to write into")
    export.add_argument("--format", choices=FORMATS, default="csv", help="file format")
    export.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    with Progress("export", unit="rows", enabled=not args.no_progress) as progress:
        written = with_engine(
            args, lambda engine, _: export_tables(engine, args.out, args.format, progress)
        )
    for name, (path, rows) in written.items():
        print(f"{name}: {rows} rows -> {path}")
    return 0
