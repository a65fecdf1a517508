"""What a source is made of (its SQL or table, its columns) and checking one against the
warehouse: the first rows, every named column present and of the right type
(docs/warehouse.md).

A source's SQL must be one SELECT that parses in the connection's dialect (sqlglot's
"postgres" or "redshift"); it is always used as a subquery, `(<sql>) AS src`, and its
columns are quoted, so they are named exactly as the query returns them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot.errors import SqlglotError

from console.exceptions import DomainError
from metrics.warehouse.client import Target, WarehouseError, fetch
from metrics.warehouse.models import WarehouseKind

SQL_MAX = 20000
PREVIEW_ROWS = 10
CELL_MAX = 200
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# PostgreSQL's type OIDs (Redshift reports the same ones).
TEXT_TYPES = {25: "text", 1043: "varchar", 1042: "char", 19: "name", 2950: "uuid"}
INTEGER_TYPES = {20: "bigint", 21: "smallint", 23: "integer"}
NUMBER_TYPES = {**INTEGER_TYPES, 700: "real", 701: "double precision", 1700: "numeric"}
TIME_TYPES = {1114: "timestamp", 1184: "timestamptz"}
TYPE_NAMES = {**TEXT_TYPES, **NUMBER_TYPES, **TIME_TYPES, 16: "boolean", 1082: "date"}

# What a column must be: (accepted type OIDs, how the message says it).
UNIT_ID = ({**TEXT_TYPES, **INTEGER_TYPES}, "text (or an integer)")
TEXT = (TEXT_TYPES, "text")
TIMESTAMP = (TIME_TYPES, "a timestamp")
NUMBER = (NUMBER_TYPES, "a number")


def dialect(kind: str) -> str:
    return "redshift" if kind == WarehouseKind.REDSHIFT else "postgres"


def clean_sql(value: str, kind: str, *, field: str = "sql") -> str:
    """One SELECT (or WITH ... SELECT, or a UNION) that parses in the warehouse's dialect,
    without its trailing semicolon."""
    text = (value or "").strip().rstrip(";").strip()
    if not text:
        raise DomainError("Enter the SQL query.", code="required", field=field)
    if len(text) > SQL_MAX:
        raise DomainError(
            f"The SQL can be at most {SQL_MAX} characters.", code="too_long", field=field
        )
    try:
        trees = [t for t in sqlglot.parse(text, read=dialect(kind)) if t is not None]
    except SqlglotError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise DomainError(f"The SQL does not parse: {first}", code="bad_sql", field=field) from exc
    if len(trees) != 1 or not isinstance(trees[0], sqlglot.exp.Query):
        raise DomainError(
            "The SQL must be one SELECT statement (a source is read, never written).",
            code="bad_sql",
            field=field,
        )
    return text


def clean_column(value: str, *, what: str, field: str) -> str:
    name = (value or "").strip()
    if not name:
        raise DomainError(f"Name the {what} column.", code="required", field=field)
    if not _IDENTIFIER.match(name):
        raise DomainError(
            f"{name!r} is not a column name (letters, digits and _, not starting with a digit).",
            code="invalid_column",
            field=field,
        )
    return name


def clean_table(value: str, *, field: str = "table") -> str:
    """`table` or `schema.table`."""
    name = (value or "").strip()
    parts = name.split(".")
    if not name or len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise DomainError(
            "Name the table as table or schema.table (letters, digits and _).",
            code="invalid_table",
            field=field,
        )
    return name


def quote(identifier: str) -> str:
    """A column or table name, quoted (names are checked by clean_column/clean_table)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in identifier.split("."))


def from_sql(sql: str, table: str) -> str:
    """What a source reads, to put after FROM (the caller adds the alias). The query ends
    its line, so a trailing `--` comment cannot swallow the parenthesis."""
    return f"({sql}\n)" if sql else quote(table)


@dataclass(frozen=True, slots=True)
class Preview:
    columns: list[tuple[str, str]]  # name, type
    rows: list[list[str]]


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
    return text if len(text) <= CELL_MAX else text[: CELL_MAX - 1] + "…"


def check_columns(
    columns: list[tuple[str, int]], required: dict[str, tuple[str, tuple[dict[int, str], str]]]
) -> None:
    """`required`: key -> (column name, (accepted types, their description)), the key a
    form field or `field:column` when columns share a field. WarehouseError
    (missing_column or wrong_type, on the field) for the first that fails."""
    found = {name: type_code for name, type_code in columns}
    lowered = {name.lower(): name for name in found}
    for key, (column, (types, described)) in required.items():
        field = key.split(":", 1)[0]
        if column not in found:
            near = lowered.get(column.lower())
            hint = f" (it returns {near!r}: names are matched exactly)" if near else ""
            returned = ", ".join(found) or "none"
            raise WarehouseError(
                f"The source has no column {column!r}{hint}. Its columns: {returned}.",
                code="missing_column",
                field=field,
            )
        type_code = found[column]
        if type_code not in types:
            name = TYPE_NAMES.get(type_code, f"type {type_code}")
            raise WarehouseError(
                f"The column {column!r} is {name}; it must be {described}.",
                code="wrong_type",
                field=field,
            )


def preview(
    target: Target,
    source_from: str,
    required: dict[str, tuple[str, tuple[dict[int, str], str]]],
) -> Preview:
    """The source's first rows, after checking its columns (WarehouseError otherwise)."""
    columns, rows = fetch(target, f"SELECT * FROM {source_from} AS src LIMIT {PREVIEW_ROWS}")
    check_columns(columns, required)
    return Preview(
        columns=[(name, TYPE_NAMES.get(code, str(code))) for name, code in columns],
        rows=[[_cell(v) for v in row] for row in rows],
    )
