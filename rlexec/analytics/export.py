"""Export the audit trail (``decisions``) and ``episodes`` to CSV or Parquet files.

``export_tables(engine, out_dir, fmt)`` writes ``decisions.csv`` / ``episodes.csv`` (or
``.parquet``) into ``out_dir``, streaming the rows in chunks (bounded memory), ordered by
(episode_id, seq) and by started_at. Types:

- CSV: a header row; money (NUMERIC) as exact decimal text, timestamps ISO-8601 UTC, booleans
  ``true``/``false``, NULL as an empty field;
- Parquet (needs ``pyarrow``): money as float64, timestamps ``timestamp[us, UTC]``, integers
  int64, booleans bool, text string. Without pyarrow a clear error says how to install it.
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.errors import InvalidInputError, StoreError
from rlexec.progress import Progress
from rlexec.store.engine import describe_error, redact_url
from rlexec.store.models import Decision, Episode, UtcDateTime

FORMATS = ("csv", "parquet")
CHUNK_ROWS = 20_000


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _arrow_schema(pa: Any, table: sa.Table) -> Any:
    fields = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, UtcDateTime):
            arrow = pa.timestamp("us", tz="UTC")
        elif isinstance(kind, sa.Boolean):
            arrow = pa.bool_()
        elif isinstance(kind, sa.Integer):
            arrow = pa.int64()
        elif isinstance(kind, sa.Numeric | sa.Float | sa.Double):  # Double and money alike
            arrow = pa.float64()
        else:
            arrow = pa.string()
        fields.append(pa.field(column.name, arrow, nullable=column.nullable))
    return pa.schema(fields)


def _arrow_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _load_pyarrow() -> tuple[Any, Any]:
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise InvalidInputError(
            "--format parquet needs pyarrow, which is not installed: "
            "pip install pyarrow (or 'pip install rlexec[dev]'), or use --format csv"
        ) from None
    return pa, pq


async def _chunks(
    engine: AsyncEngine, stmt: sa.Select[Any], progress: Progress | None = None
) -> AsyncIterator[Sequence[Any]]:
    async with engine.connect() as conn:
        result = await conn.stream(stmt)
        async for chunk in result.partitions(CHUNK_ROWS):
            yield chunk
            if progress is not None:
                progress.update(len(chunk))


async def _export_csv(
    engine: AsyncEngine,
    table: sa.Table,
    stmt: sa.Select[Any],
    path: Path,
    progress: Progress | None,
) -> int:
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([c.name for c in table.columns])
        async for chunk in _chunks(engine, stmt, progress):
            rows += len(chunk)
            out.writerows([_csv_value(v) for v in row] for row in chunk)
    return rows


async def _export_parquet(
    engine: AsyncEngine,
    table: sa.Table,
    stmt: sa.Select[Any],
    path: Path,
    progress: Progress | None,
) -> int:
    pa, pq = _load_pyarrow()
    schema = _arrow_schema(pa, table)
    rows = 0
    writer = pq.ParquetWriter(str(path), schema)
    try:
        async for chunk in _chunks(engine, stmt, progress):
            rows += len(chunk)
            columns = list(zip(*chunk, strict=True))
            arrays = [
                pa.array([_arrow_value(v) for v in col], type=schema.field(i).type)
                for i, col in enumerate(columns)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    finally:
        writer.close()
    return rows


async def export_tables(
    engine: AsyncEngine, out_dir: str | Path, fmt: str = "csv", progress: Progress | None = None
) -> dict[str, tuple[Path, int]]:
    """Write decisions and episodes to ``out_dir`` in ``fmt``; returns table -> (file, rows).
    ``progress`` (if given) counts the rows written."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"--format = {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        _load_pyarrow()
    target = Path(out_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"--out = {str(target)!r}: cannot create it ({exc.strerror})"
        ) from None
    decisions = cast(sa.Table, Decision.__table__)
    episodes = cast(sa.Table, Episode.__table__)
    written: dict[str, tuple[Path, int]] = {}
    export = _export_csv if fmt == "csv" else _export_parquet
    try:
        for name, table, order in (
            ("decisions", decisions, (decisions.c.episode_id, decisions.c.seq)),
            ("episodes", episodes, (episodes.c.started_at, episodes.c.episode_id)),
        ):
            path = target / f"{name}.{fmt}"
            rows = await export(engine, table, sa.select(table).order_by(*order), path, progress)
            written[name] = (path, rows)
    except (InvalidInputError, StoreError):
        raise
    except OSError as exc:
        raise InvalidInputError(f"--out = {str(target)!r}: cannot write ({exc})") from None
    except Exception as exc:  # driver errors differ per backend
        raise StoreError(
            f"export from {redact_url(engine.url)!r} failed: {describe_error(exc, engine.url)}"
        ) from None
    return written
