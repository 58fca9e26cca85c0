"""``rlexec export --out DIR [--format csv|parquet]``: decisions and episodes to files."""

from __future__ import annotations

import argparse
from typing import Any

from rlexec.analytics.export import FORMATS, export_tables
from rlexec.cli.snapshot import with_engine


def register(subparsers: Any) -> None:
    export = subparsers.add_parser("export", help="write decisions and episodes to CSV/Parquet")
    export.add_argument("--out", required=True, help="directory to write into")
    export.add_argument("--format", choices=FORMATS, default="csv")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    written = with_engine(args, lambda engine, _: export_tables(engine, args.out, args.format))
    for name, (path, rows) in written.items():
        print(f"{name}: {rows} rows -> {path}")
    return 0
