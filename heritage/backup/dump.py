"""A portable logical dump of the database: every table as JSON lines, types kept.

One file per table, ``database/<table>.jsonl``. Its first line is a header,
``{"table": "users", "columns": [["id", "int"], ["email", "str"], ...]}``; every
further line is one row as a JSON array, in primary-key order, each value
encoded by the kind of its column (see :data:`KINDS`): datetimes, dates and
times as ISO 8601, bytes as base64, decimals as strings, enums by value, JSON
columns as they are. Nothing in it is specific to SQLite or PostgreSQL, so a
dump of one loads into the other.

A dump is taken inside one read transaction (:func:`snapshot`), so it shows
the database at one instant even while the instance keeps working.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Column, Connection, Table, func, inspect, select, text
from sqlalchemy import types as sqltypes

from heritage.db.base import Base
from heritage.db.engine import Database

FORMAT = "heritage-cloud-table-dump"
BATCH = 1000
# Column kinds and how their values are written; anything else is refused rather than guessed.
KINDS = (
    "int",
    "float",
    "decimal",
    "bool",
    "str",
    "bytes",
    "datetime",
    "date",
    "time",
    "interval",
    "uuid",
    "enum",
    "json",
)


class DumpError(Exception):
    """A dump file is malformed, or does not fit the tables of this version."""


def tables() -> list[Table]:
    """Every table of the application, parents before children (foreign keys).

    Tables marked ``info={"derived": True}`` are left out: their rows are remade
    from the others (the search outbox, say) and a restore remakes them.
    """
    import heritage.db.models  # noqa: F401 - every package's tables in the metadata

    return [table for table in Base.metadata.sorted_tables if not table.info.get("derived")]


def column_kind(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, sqltypes.TypeDecorator):
        kind = kind.impl_instance
    # order matters: Enum is a String, Float a Numeric, DateTime not a Date
    checks: list[tuple[type[Any], str]] = [
        (sqltypes.JSON, "json"),
        (sqltypes.Enum, "enum"),
        (sqltypes.Boolean, "bool"),
        (sqltypes.Integer, "int"),
        (sqltypes.Float, "float"),
        (sqltypes.Numeric, "decimal"),
        (sqltypes.DateTime, "datetime"),
        (sqltypes.Date, "date"),
        (sqltypes.Time, "time"),
        (sqltypes.Interval, "interval"),
        (sqltypes.Uuid, "uuid"),
        (sqltypes.LargeBinary, "bytes"),
        (sqltypes.String, "str"),
    ]
    for type_, name in checks:
        if isinstance(kind, type_):
            return name
    raise DumpError(f"column {column.table.name}.{column.name}: type {kind!r} has no dump form")


def encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind in ("datetime", "date", "time"):
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind == "decimal":
        return str(value)
    if kind == "interval":
        return value.total_seconds()
    if kind == "uuid":
        return str(value)
    if kind == "enum":
        return value.value if isinstance(value, enum.Enum) else value
    return value


def decode(kind: str, value: Any, column: Column[Any]) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "time":
        return time.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value, validate=True)
    if kind == "decimal":
        return Decimal(value)
    if kind == "interval":
        return timedelta(seconds=value)
    if kind == "uuid":
        return uuid.UUID(value)
    if kind == "enum":
        enum_class = getattr(column.type, "enum_class", None)
        return enum_class(value) if enum_class is not None else value
    return value


@contextmanager
def snapshot(database: Database) -> Iterator[Connection]:
    """A read transaction that sees the whole database at one instant.

    SQLite (WAL): the first read of a deferred transaction fixes the snapshot
    every later read sees. PostgreSQL: REPEATABLE READ, read only.
    """
    with database.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with connection.begin():
            # the snapshot starts with the first read (SQLite: one that touches the file)
            first = "SELECT 1 FROM sqlite_master LIMIT 1" if database.is_sqlite else "SELECT 1"
            connection.execute(text(first))
            yield connection


@dataclass(frozen=True)
class TableDump:
    name: str
    file: str  # relative to the backup directory
    rows: int


def _ordered(table: Table, connection: Connection) -> Any:
    order = []
    for column in table.primary_key.columns:
        # byte order on both databases, so both dumps list rows the same way
        if connection.dialect.name == "postgresql" and column_kind(column) == "str":
            order.append(column.collate("C"))
        else:
            order.append(column)
    return select(*table.columns).order_by(*order)


def _line(values: Iterable[Any]) -> bytes:
    return (
        json.dumps(list(values), ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    ).encode("utf-8")


def dump_table(
    connection: Connection, table: Table, out: IO[bytes], where: Any | None = None
) -> int:
    """Write ``table`` (header, then rows, those matching ``where`` if given) to ``out``;
    the number of rows."""
    kinds = [(column.name, column_kind(column)) for column in table.columns]
    header = {"format": FORMAT, "table": table.name, "columns": kinds}
    out.write(json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n")
    count = 0
    query = _ordered(table, connection)
    if where is not None:
        query = query.where(where)
    result = connection.execution_options(stream_results=True, max_row_buffer=BATCH).execute(query)
    for row in result:
        out.write(_line(encode(kind, value) for (_, kind), value in zip(kinds, row, strict=True)))
        count += 1
    return count


def read_table(path: Path, table: Table) -> Iterator[dict[str, Any]]:
    """The rows of a dump file, decoded for ``table`` (refused when the columns do not fit)."""
    with path.open("rb") as stream:
        try:
            header = json.loads(stream.readline())
        except ValueError:
            raise DumpError(f"{path.name}: the first line is not a JSON header") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise DumpError(f"{path.name} is not a table dump")
        if header.get("table") != table.name:
            raise DumpError(f"{path.name} holds table {header.get('table')!r}, not {table.name}")
        columns: list[tuple[str, str, Column[Any]]] = []
        for name, kind in header["columns"]:
            if name not in table.columns:
                raise DumpError(f"{path.name}: column {table.name}.{name} does not exist here")
            columns.append((name, kind, table.columns[name]))
        for number, line in enumerate(stream, start=2):
            try:
                values = json.loads(line)
            except ValueError:
                raise DumpError(f"{path.name} line {number} is not JSON") from None
            if not isinstance(values, list) or len(values) != len(columns):
                raise DumpError(f"{path.name} line {number} does not match the header")
            yield {
                name: decode(kind, value, column)
                for (name, kind, column), value in zip(columns, values, strict=True)
            }


def load_table(connection: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            connection.execute(table.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        connection.execute(table.insert(), batch)
        count += len(batch)
    return count


def reset_sequences(connection: Connection) -> None:
    """PostgreSQL: make each serial column's sequence continue after the loaded rows.

    Rows were inserted with their ids, which does not advance the sequences;
    SQLite needs nothing (a new rowid is always the largest plus one).
    """
    if connection.dialect.name != "postgresql":
        return
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        largest = select(func.max(column)).scalar_subquery()
        connection.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(table.name, column.name),
                    func.coalesce(largest, 0) + 1,
                    False,
                )
            )
        )


def row_counts(connection: Connection) -> dict[str, int]:
    """Rows per application table that exists in the database (missing tables are left out)."""
    present = set(inspect(connection).get_table_names())
    return {
        table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
        for table in tables()
        if table.name in present
    }
