"""Export audit tables to CSV or Parquet files: ``decisions``, ``episodes``, ``q_values`` and
``policy_metrics``, optionally filtered (``rlexec.analytics.selection``).

``export_tables(engine, out_dir, fmt, tables=..., agent=..., since=..., until=..., mode=...)``
writes ``<table>.csv`` (or ``.parquet``) into ``out_dir``, streaming the rows in chunks
(bounded memory), ordered by (episode_id, seq), started_at, (state_key, action) and id.
``progress(table, rows_total)``, if given, opens the ``rlexec.progress.Progress`` of one table
(the one progress helper of the project), which counts that table's rows as they are written.
Types:

- CSV: a header row; money (NUMERIC) as decimal text, timestamps ISO-8601 UTC with
  microseconds (``2024-03-01T14:30:00.000000+00:00``: exactly the text SQLite stores, so a
  value copied from the file filters correctly in SQL on both backends), booleans
  ``true``/``false``, JSON as JSON text, NULL as an empty field;
- Parquet (needs ``pyarrow``): money as float64, timestamps ``timestamp[us, UTC]``, integers
  int64, booleans bool, text and JSON string. Without pyarrow a clear error says how to
  install it.
"""

from __future__ import annotations

import csv
import importlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rlexec.analytics.selection import Selection
from rlexec.errors import InvalidInputError, StoreError
from rlexec.progress import Progress
from rlexec.store.engine import describe_error, redact_url, session_factory
from rlexec.store.models import Decision, Episode, PolicyMetric, QValue, UtcDateTime
from rlexec.store.repositories import AgentRepository

FORMATS = ("csv", "parquet")
CHUNK_ROWS = 20_000
# table name -> (model, sort order of the export)
TABLES: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "decisions": (Decision, ("episode_id", "seq")),
    "episodes": (Episode, ("started_at", "episode_id")),
    "q_values": (QValue, ("agent_id", "state_key", "action")),
    "policy_metrics": (PolicyMetric, ("id",)),
}
TableProgress = Callable[[str, int], Progress]  # (table, rows to write) -> its progress


def csv_time(value: datetime) -> str:
    """A timestamp as the CSV export writes it (and SQLite stores it)."""
    return value.isoformat(timespec="microseconds")


def _csv_converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return lambda v: "" if v is None else csv_time(v)
    if isinstance(kind, sa.Boolean):
        return lambda v: "" if v is None else ("true" if v else "false")
    if isinstance(kind, sa.JSON):
        return lambda v: "" if v is None else json.dumps(v, sort_keys=True)
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return lambda v: "" if v is None else format(v, "f")
    return None  # text, integers and floats: csv writes them (None as an empty field)


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
        else:  # text, and JSON documents as their text
            arrow = pa.string()
        fields.append(pa.field(column.name, arrow, nullable=column.nullable))
    return pa.schema(fields)


def _arrow_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
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


async def _chunks(engine: AsyncEngine, stmt: sa.Select[Any]) -> AsyncIterator[Sequence[Any]]:
    async with engine.connect() as conn:
        result = await conn.stream(stmt)
        async for chunk in result.partitions(CHUNK_ROWS):
            yield chunk


class _Export:
    """One table's export: the query, the rows written so far and the table's progress."""

    def __init__(
        self, engine: AsyncEngine, table: sa.Table, stmt: sa.Select[Any], progress: Progress | None
    ) -> None:
        self.engine, self.table, self.stmt, self.progress = engine, table, stmt, progress
        self.rows = 0

    async def chunks(self) -> AsyncIterator[Sequence[Any]]:
        async for chunk in _chunks(self.engine, self.stmt):
            yield chunk
            self.rows += len(chunk)
            if self.progress is not None:
                self.progress.update(len(chunk))


async def _export_csv(job: _Export, path: Path) -> int:
    columns = list(job.table.columns)
    converters = [(i, fn) for i, c in enumerate(columns) if (fn := _csv_converter(c)) is not None]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([c.name for c in columns])
        async for chunk in job.chunks():
            if not converters:
                out.writerows(chunk)
                continue
            rows = []
            for row in chunk:
                values = list(row)
                for i, fn in converters:
                    values[i] = fn(values[i])
                rows.append(values)
            out.writerows(rows)
    return job.rows


async def _export_parquet(job: _Export, path: Path) -> int:
    pa, pq = _load_pyarrow()
    schema = _arrow_schema(pa, job.table)
    writer = pq.ParquetWriter(str(path), schema)
    try:
        async for chunk in job.chunks():
            columns = list(zip(*chunk, strict=True))
            arrays = [
                pa.array([_arrow_value(v) for v in col], type=schema.field(i).type)
                for i, col in enumerate(columns)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    finally:
        writer.close()
    return job.rows


async def _agent_id(engine: AsyncEngine, name: str | None) -> int | None:
    if name is None:
        return None
    async with session_factory(engine)() as session:
        agent = await AgentRepository(session).get_by_name(name)
    if agent is None:
        raise InvalidInputError(f"--agent = {name!r}: not in the store")
    return agent.id


def check_tables(names: Sequence[str]) -> tuple[str, ...]:
    """The table names to export, validated (default: all of ``TABLES``)."""
    unknown = [n for n in names if n not in TABLES]
    if unknown or not names:
        raise InvalidInputError(
            f"--tables = {','.join(names)!r}: expected a comma-separated list of "
            f"{', '.join(TABLES)}"
        )
    return tuple(dict.fromkeys(names))


async def export_tables(
    engine: AsyncEngine,
    out_dir: str | Path,
    fmt: str = "csv",
    *,
    tables: Sequence[str] = tuple(TABLES),
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    mode: str | None = None,
    progress: TableProgress | None = None,
) -> dict[str, tuple[Path, int]]:
    """Write the selected rows of ``tables`` to ``out_dir`` in ``fmt``; returns table ->
    (file, rows). See the module doc for the filters and formats."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"--format = {fmt!r}: expected one of {', '.join(FORMATS)}")
    names = check_tables(tables)
    if fmt == "parquet":
        _load_pyarrow()
    target = Path(out_dir)
    if str(out_dir) == "-":
        raise InvalidInputError(
            "--out = '-': expected a folder (one file per table), not standard output"
        )
    selection = Selection(await _agent_id(engine, agent), since, until, mode)  # before mkdir
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"--out = {str(target)!r}: cannot create it ({exc.strerror})"
        ) from None
    episodes = cast(sa.Table, Episode.__table__)
    written: dict[str, tuple[Path, int]] = {}
    export = _export_csv if fmt == "csv" else _export_parquet
    try:
        for name in names:
            model, order = TABLES[name]
            table = cast(sa.Table, model.__table__)
            conditions = selection.where(table, episodes)
            if name == "q_values":  # no mode
                conditions = Selection(selection.agent_id, since, until).where(table, episodes)
            async with engine.connect() as conn:
                total = int(
                    await conn.scalar(
                        sa.select(sa.func.count()).select_from(table).where(*conditions)
                    )
                    or 0
                )
            stmt = sa.select(table).where(*conditions).order_by(*(table.c[c] for c in order))
            path = target / f"{name}.{fmt}"
            if progress is None:
                rows = await export(_Export(engine, table, stmt, None), path)
            else:
                with progress(name, total) as table_progress:
                    rows = await export(_Export(engine, table, stmt, table_progress), path)
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
