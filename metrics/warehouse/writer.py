"""The one write Gatehouse makes to a customer's warehouse: tables in the connection's export
schema, whose rows for one key are replaced in one transaction (docs/export.md).

Every other use of a warehouse is read-only (metrics.warehouse.client.session); this module
opens its own write-allowed session, with the connection's statement timeout. The schema and
tables are created when missing. PostgreSQL gets the rows by COPY FROM STDIN; Redshift
accepts no COPY from the client, so it gets multi-row INSERTs with bound parameters. The
statements are plain text with `%s` placeholders, so the tests parse each one with the
Redshift dialect.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings

from metrics.warehouse.client import Target, _address, explain
from metrics.warehouse.models import WarehouseKind

# Column kinds and their SQL types, which both PostgreSQL and Redshift accept. Redshift's
# TEXT is a VARCHAR(256): texts are VARCHAR(65535), its widest.
SQL_TYPES = {
    "text": "VARCHAR(65535)",
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "time": "TIMESTAMPTZ",
}
# Redshift and psycopg take at most 32,767 bound parameters in one statement.
MAX_PARAMETERS = 32_000
MAX_INSERT_ROWS = 1000


@dataclass(frozen=True)
class Table:
    """A table to write: its name, its columns (name, kind) and the columns whose values
    say which rows one write replaces."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]


def _quote(name: str) -> str:
    # Names come from our code and from a connection's schema (checked as an identifier by
    # metrics.warehouse.sources.clean_column); quoting keeps "group" a column name.
    if not name or '"' in name or "\x00" in name:
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'


def create_schema_sql(schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}"


def create_table_sql(schema: str, table: Table) -> str:
    columns = ", ".join(f"{_quote(name)} {SQL_TYPES[kind]}" for name, kind in table.columns)
    return f"CREATE TABLE IF NOT EXISTS {_quote(schema)}.{_quote(table.name)} ({columns})"


def delete_sql(schema: str, table: Table) -> str:
    where = " AND ".join(f"{_quote(name)} = %s" for name in table.key)
    return f"DELETE FROM {_quote(schema)}.{_quote(table.name)} WHERE {where}"


def insert_sql(schema: str, table: Table, rows: int) -> str:
    """A multi-row INSERT of `rows` rows, every value a bound parameter (Redshift)."""
    names = ", ".join(_quote(name) for name, _ in table.columns)
    one = "(" + ", ".join(["%s"] * len(table.columns)) + ")"
    values = ", ".join([one] * rows)
    return f"INSERT INTO {_quote(schema)}.{_quote(table.name)} ({names}) VALUES {values}"


def copy_sql(schema: str, table: Table) -> str:
    names = ", ".join(_quote(name) for name, _ in table.columns)
    return f"COPY {_quote(schema)}.{_quote(table.name)} ({names}) FROM STDIN"


def insert_batch_rows(table: Table) -> int:
    return max(1, min(MAX_INSERT_ROWS, MAX_PARAMETERS // len(table.columns)))


@contextlib.contextmanager
def write_session(target: Target) -> Iterator[psycopg.Connection[Any]]:
    """A write-allowed connection with the statement timeout, not in autocommit (the caller
    commits); WarehouseError when it cannot be opened or a statement fails."""
    params: dict[str, Any] = {
        "host": target.host,
        "hostaddr": _address(target),
        "port": target.port,
        "dbname": target.database,
        "user": target.user,
        "password": target.password,
        "sslmode": target.sslmode,
        "connect_timeout": settings.GATEHOUSE_WAREHOUSE_CONNECT_TIMEOUT,
        "application_name": "gatehouse-export",
    }
    try:
        connection = psycopg.connect(**params)
    except psycopg.Error as exc:
        raise explain(exc, target) from exc
    try:
        timeout_ms = target.statement_timeout_seconds * 1000
        connection.execute(f"SET statement_timeout TO {int(timeout_ms)}")
        yield connection
    except psycopg.Error as exc:
        connection.rollback()
        raise explain(exc, target) from exc
    finally:
        connection.close()


@dataclass(frozen=True)
class Written:
    """How many rows each table got."""

    rows: dict[str, int]


def replace_rows(
    target: Target,
    schema: str,
    writes: list[tuple[Table, tuple[Any, ...], Iterable[tuple[Any, ...]]]],
) -> Written:
    """For each (table, key values, rows): delete the table's rows with those key values and
    insert `rows` (read as they come), all in one transaction, so readers see the old rows
    or the new ones, never half. Creates the schema and the tables when missing."""
    counts: dict[str, int] = {}
    redshift = target.kind == WarehouseKind.REDSHIFT
    with write_session(target) as connection:
        with connection.cursor() as cursor:
            cursor.execute(create_schema_sql(schema))
            for table, _, _ in writes:
                cursor.execute(create_table_sql(schema, table))
        connection.commit()
        with connection.cursor() as cursor:
            for table, key, rows in writes:
                if len(key) != len(table.key):
                    raise ValueError(f"{table.name}: one value per key column")
                cursor.execute(delete_sql(schema, table), key)
                write = _insert if redshift else _copy
                counts[table.name] = write(cursor, schema, table, rows)
        connection.commit()
    return Written(counts)


def _copy(cursor: psycopg.Cursor[Any], schema: str, table: Table, rows: Iterable[tuple]) -> int:
    count = 0
    with cursor.copy(copy_sql(schema, table)) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _insert(cursor: psycopg.Cursor[Any], schema: str, table: Table, rows: Iterable[tuple]) -> int:
    size, count = insert_batch_rows(table), 0
    full = insert_sql(schema, table, size)
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        statement = full if len(batch) == size else insert_sql(schema, table, len(batch))
        cursor.execute(statement, [value for row in batch for value in row])
        count += len(batch)
    return count
