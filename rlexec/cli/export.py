"""``rlexec export --out DIR``: audit tables to CSV/Parquet files, optionally filtered.

    rlexec export --out DIR [--format csv|parquet] [--tables decisions,episodes,...]
                  [--agent A] [--since TIME] [--until TIME] [--mode MODE]

Progress goes to stderr: a bar on a terminal, else a plain line every ``PROGRESS_EVERY`` rows
of a table (and when it is done).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from tqdm import tqdm

from rlexec.analytics.export import FORMATS, TABLES, export_tables
from rlexec.analytics.selection import MODES, parse_time
from rlexec.cli.snapshot import with_engine

PROGRESS_EVERY = 100_000


def register(subparsers: Any) -> None:
    export = subparsers.add_parser("export", help="write audit tables to CSV/Parquet")
    export.add_argument("--out", required=True, help="directory to write into")
    export.add_argument("--format", choices=FORMATS, default="csv")
    export.add_argument(
        "--tables",
        default=",".join(TABLES),
        help=f"comma-separated, default all: {','.join(TABLES)}",
    )
    export.add_argument("--agent", help="only this agent's rows")
    export.add_argument("--since", help="only rows at or after this ISO-8601 time (UTC default)")
    export.add_argument("--until", help="only rows before this ISO-8601 time")
    export.add_argument("--mode", choices=MODES, help="only episodes (and their decisions, "
                        "policy metrics) of this mode")  # fmt: skip
    export.set_defaults(handler=_export)


class ExportProgress:
    """``progress(table, rows, total)`` for ``export_tables``: a tqdm bar per table on a
    terminal, else a plain line every ``every`` rows and at the end of each table."""

    def __init__(self, stream: TextIO, every: int = PROGRESS_EVERY) -> None:
        self.stream = stream
        self.every = every
        self.terminal = stream.isatty()
        self._bar: tqdm[Any] | None = None
        self._table = ""
        self._printed = 0

    def __call__(self, table: str, rows: int, total: int) -> None:
        if table != self._table:
            self.close()
            self._table, self._printed = table, 0
            if self.terminal:
                self._bar = tqdm(total=total, file=self.stream, unit="row", desc=table)
        if self._bar is not None:
            self._bar.update(rows - self._bar.n)
        elif rows // self.every > self._printed // self.every or rows == total:
            self._printed = rows
            print(f"export {table}: {rows} of {total} rows", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _export(args: argparse.Namespace) -> int:
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    progress = ExportProgress(sys.stderr)
    try:
        written = with_engine(
            args,
            lambda engine, _: export_tables(
                engine, args.out, args.format, tables=tables, agent=args.agent, since=since,
                until=until, mode=args.mode, progress=progress,
            ),
        )  # fmt: skip
    finally:
        progress.close()
    for name, (path, rows) in written.items():
        print(f"{name}: {rows} rows -> {path}")
    return 0
