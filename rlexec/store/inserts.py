"""Bulk inserts of the store's rows in two steps, so that a flush holds the database's write
lock (SQLite's one lock, which every other process's flush waits for) only for the inserts:

- ``prepare_insert(dialect, table, columns, rows)``, before the transaction: the driver's
  values (Python work: on SQLite timestamps to UTC text, Decimal to float at the column's
  scale, JSON to text, what SQLAlchemy's types would do; PostgreSQL takes the rows as they
  are);
- ``insert_prepared(session, prepared)``, in the caller's transaction. PostgreSQL: COPY for
  large batches, executemany otherwise. SQLite: multi-row ``INSERT ... VALUES (...), (...)``
  statements of about ``SQLITE_STATEMENT_VALUES`` values each, one call into SQLite per
  statement. (``executemany`` calls into SQLite once per row and gives the GIL up and takes
  it back each time: in a process whose training loop keeps the GIL busy, each take waits
  for the loop's switch interval, and a flush of a few thousand rows held the write lock for
  ~0.4 s, about 20x its SQLite work: measured with two actors and a learner, 2026-12-02.)

    prepared = prepare_insert("sqlite", table, ("agent_id", "seq"), rows)   # no session
    async with session.begin():
        await insert_prepared(session, prepared)

``sqlite_multirow`` is the SQLite statement loop itself, with an optional ``ON CONFLICT``
clause: the learner's Q-table upsert (``QValueRepository.put``) uses it too (20,000 cells
beside a busy Python thread: 0.7 s, 8-9 s as executemany; measured 2026-12-02).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from rlexec.store.models import UtcDateTime, sqlite_time_text

CHUNK_ROWS = 5_000  # rows per statement batch: bounded memory, the event loop breathes between
COPY_MIN_ROWS = 2_000  # PostgreSQL: COPY pays for itself above this many rows
# the host parameters one SQLite statement may hold (SQLITE_MAX_VARIABLE_NUMBER's default:
# 32766 since SQLite 3.32.0, 999 before)
SQLITE_MAX_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
# values per multi-row statement: SQLite binds and inserts a row of the decisions table's 62
# values in ~6 us, so a statement is about a millisecond of work, the interpreter's switch
# interval while the store's writer runs: another thread (a decision of the public API) waits
# for one statement about as long as for any other thread's turn
SQLITE_STATEMENT_VALUES = min(10_000, SQLITE_MAX_VARIABLES)

Converter = Callable[[tuple[Any, ...]], tuple[Any, ...]]
_CONVERTERS: dict[tuple[str, tuple[str, ...]], Converter | None] = {}
_STATEMENTS: dict[tuple[str, tuple[str, ...], int, str], str] = {}


@dataclass(frozen=True, slots=True)
class PreparedInsert:
    """Rows for one table, ready for the driver of ``dialect``."""

    table: sa.Table
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    dialect: str
    copy: bool = True  # PostgreSQL: COPY a large batch (False: executemany always)

    def with_column(self, name: str, values: Iterable[Any]) -> PreparedInsert:
        """The same rows with column ``name`` set to ``values`` (one per row, in order); the
        values must need no conversion (integers, text)."""
        i = self.columns.index(name)
        rows = [
            (*row[:i], value, *row[i + 1 :]) for row, value in zip(self.rows, values, strict=True)
        ]
        return PreparedInsert(self.table, self.columns, rows, self.dialect, self.copy)


def chunks(rows: Sequence[Any], size: int = CHUNK_ROWS) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def prepare_insert(
    dialect: str,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    copy: bool = True,
) -> PreparedInsert:
    """``rows`` (tuples in ``columns`` order) as the driver of ``dialect`` takes them."""
    names = tuple(columns)
    if dialect == "sqlite":
        convert = _sqlite_converter(table, names)
        values = [convert(row) for row in rows] if convert is not None else list(rows)
    else:
        values = list(rows)
    return PreparedInsert(table, names, values, dialect, copy)


async def insert_prepared(session: AsyncSession, prepared: PreparedInsert) -> int:
    """Insert the prepared rows in the session's transaction; the number inserted."""
    rows = prepared.rows
    if not rows:
        return 0
    table, columns = prepared.table, prepared.columns
    conn = await session.connection()
    if prepared.dialect == "sqlite":
        await sqlite_multirow(conn, table.name, columns, rows)
        return len(rows)
    if prepared.copy and prepared.dialect == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        await conn.execute(sa.text("SELECT 1"))  # make sure the transaction has begun
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        for chunk in chunks(rows, 50_000):
            await driver.copy_records_to_table(  # type: ignore[union-attr]
                table.name, records=chunk, columns=list(columns)
            )
        return len(rows)
    stmt = table.insert()
    for chunk in chunks(rows):
        await conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in chunk])
        await asyncio.sleep(0)
    return len(rows)


async def sqlite_multirow(
    conn: AsyncConnection,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    suffix: str = "",
) -> None:
    """``INSERT INTO table (columns) VALUES (...), (...) <suffix>`` over ``rows`` (driver
    values, in ``columns`` order) on SQLite, about ``SQLITE_STATEMENT_VALUES`` values per
    statement; ``suffix``: an ``ON CONFLICT ...`` clause for an upsert (SQLite applies it row
    by row, in order, as it would over the same rows one statement each)."""
    per_statement = max(1, SQLITE_STATEMENT_VALUES // len(columns))
    for chunk in chunks(rows, per_statement):
        sql = _sqlite_statement(table, columns, len(chunk), suffix)
        await conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))
        await asyncio.sleep(0)


def _sqlite_statement(table: str, columns: tuple[str, ...], rows: int, suffix: str) -> str:
    key = (table, columns, rows, suffix)
    sql = _STATEMENTS.get(key)
    if sql is None:
        group = f"({', '.join('?' * len(columns))})"
        values = ", ".join([group] * rows)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}{suffix}"
        if len(_STATEMENTS) < 256:  # full chunks repeat; a partial last one is built each time
            _STATEMENTS[key] = sql
    return sql


def _money_to_sqlite(scale: int | None) -> Callable[[Any], Any]:
    """Decimal to float at the column's scale: PostgreSQL's NUMERIC(20, 8) keeps 8 decimals,
    so SQLite must store the same rounded value (else an average fill price keeps more digits
    on SQLite and SQL over it differs between the backends)."""
    step = Decimal(1).scaleb(-(scale or 0))
    return lambda v: None if v is None else float(Decimal(v).quantize(step))


def _sqlite_converter(table: sa.Table, columns: tuple[str, ...]) -> Converter | None:
    """The row converter doing what SQLAlchemy's types would do on SQLite (None: the rows go
    as they are)."""
    key = (table.name, columns)
    if key in _CONVERTERS:
        return _CONVERTERS[key]
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        col_type = table.c[name].type
        if isinstance(col_type, UtcDateTime):
            converters.append((i, lambda v: None if v is None else sqlite_time_text(v)))
        elif isinstance(col_type, sa.Numeric) and not isinstance(col_type, sa.Float):
            converters.append((i, _money_to_sqlite(col_type.scale)))
        elif isinstance(col_type, sa.JSON):
            converters.append((i, lambda v: None if v is None else json.dumps(v)))

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(row)
        for i, fn in converters:
            out[i] = fn(out[i])
        return tuple(out)

    result = convert if converters else None
    _CONVERTERS[key] = result
    return result
