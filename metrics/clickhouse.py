"""ClickHouse as the events engine (GATEHOUSE_EVENTS_ENGINE = "clickhouse", docs/events.md).

One small interface over two clients: `clickhouse-connect` talks to a server when
GATEHOUSE_CLICKHOUSE_URL is set; otherwise the embedded engine `chdb` keeps its data at
GATEHOUSE_CLICKHOUSE_PATH (one path per process: tests and one-process trials). Both take
ClickHouse's server-side parameters (`{p0:String}`, `{t:DateTime64(3, 'UTC')}`) and give
the same Python values back: numbers as int/float (doubles exact), DateTime64 as aware UTC
datetimes, Date as date, arrays as lists, maps as dicts, NULL as None.

`events` holds one row per stored event (metrics_event's columns; its JSON columns become
maps of the text PostgreSQL's `->>` gives, `event_row`), `exposures` one row per unit and
pending batch (metrics.services' pending units), folded into first exposures by the readers.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson
from clickhouse_connect.driver.binding import DT64Param, format_bind_value
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ClickHouseError(Exception):
    """ClickHouse refused a statement or could not be reached: nothing was written."""


class ClickHouse(Protocol):
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        dedupe_token: str | None = None,
    ) -> None: ...


# How many recent inserts each table remembers, so that a retried insert with the same
# dedupe token is stored once (the worker's exposures, the intake's resent events).
DEDUPLICATION_WINDOW = 10_000

EVENT_COLUMNS = (
    "id",
    "received_at",
    "environment_id",
    "time",
    "client_time",
    "event_name",
    "user_id",
    "stable_id",
    "custom_ids",
    "value_text",
    "value_num",
    "metadata",
    "user_fields",
    "user_custom",
    "secondary_exposures",
    "sdk_type",
    "sdk_version",
    "is_bot",
)
EXPOSURE_COLUMNS = (
    "environment_id",
    "kind",
    "name",
    "unit_type",
    "unit_id",
    "rule_id",
    "group_name",
    "first_at",
    "last_at",
    "count",
    "crossover",
    "is_bot",
    "country",
    "browser",
    "os",
    "custom",
)

SCHEMA = (
    f"""
    CREATE TABLE IF NOT EXISTS events (
        id UInt64,
        received_at DateTime64(3, 'UTC'),
        environment_id UInt32,
        time DateTime64(3, 'UTC'),
        client_time Nullable(Int64),
        event_name String,
        user_id String,
        stable_id String,
        custom_ids Map(String, String),
        value_text Nullable(String),
        value_num Nullable(Float64),
        metadata Map(String, String),
        user_fields Map(String, String),
        user_custom Map(String, String),
        secondary_exposures String,
        sdk_type String,
        sdk_version String,
        is_bot Bool
    ) ENGINE = MergeTree
    PARTITION BY toYYYYMMDD(received_at)
    ORDER BY (environment_id, event_name, time)
    SETTINGS non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}
    """,
    f"""
    CREATE TABLE IF NOT EXISTS exposures (
        environment_id UInt32,
        kind LowCardinality(String),
        name String,
        unit_type String,
        unit_id String,
        rule_id String,
        group_name String,
        first_at DateTime64(3, 'UTC'),
        last_at DateTime64(3, 'UTC'),
        count UInt64,
        crossover Bool,
        is_bot Bool,
        country String,
        browser String,
        os String,
        custom Map(String, String)
    ) ENGINE = MergeTree
    ORDER BY (environment_id, kind, name, unit_type, unit_id)
    SETTINGS non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}
    """,
)
TABLES = ("events", "exposures")


# ---------------------------------------------------------------- parameters and values


class _Bound:
    """A parameter already in ClickHouse's text form. clickhouse-connect formats objects it
    does not know with str() (a str it would escape again), so both clients send the same
    text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _bind_text(value: Any, top_level: bool = True) -> str:
    """`value` as ClickHouse parses a query parameter: DateTime64 with its milliseconds
    (clickhouse-connect's default drops them), maps as map literals."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return format_bind_value(DT64Param(aware.astimezone(dt.UTC), dt.UTC), dt.UTC, top_level)
    if isinstance(value, list | tuple):
        inner = ", ".join(_bind_text(item, False) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, Mapping):
        pairs = (f"{_bind_text(k, False)}:{_bind_text(v, False)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_bind_value(value, dt.UTC, top_level)


def _bound(params: Mapping[str, Any] | None) -> dict[str, _Bound]:
    return {name: _Bound(_bind_text(value)) for name, value in (params or {}).items()}


def _python(value: Any) -> Any:
    """The same Python value from either client: aware UTC datetimes, lists, dicts."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, list | tuple):
        return [_python(item) for item in value] if isinstance(value, list) else value
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    return value


def _insert_sql(table: str, columns: Sequence[str], dedupe_token: str | None) -> str:
    settings_sql = ""
    if dedupe_token is not None:
        settings_sql = f" SETTINGS insert_deduplication_token = '{_escape(dedupe_token)}'"
    return f"INSERT INTO {table} ({', '.join(columns)}){settings_sql}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _json_cell(value: Any) -> Any:
    """A cell of a JSONEachRow insert: times as 'YYYY-MM-DD hh:mm:ss.fff' in UTC."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# ---------------------------------------------------------------- the two clients


class Embedded:
    """chdb in this process, its data at `path`. Its results are read as Arrow (doubles,
    times and maps exact); its inserts are JSONEachRow (orjson writes the shortest text
    that reads back as the same double). One statement at a time per process."""

    def __init__(self, path: str) -> None:
        from chdb import session

        self.path = path
        self._lock = threading.Lock()
        try:
            self._session = session.Session(path)
        except Exception as exc:  # chdb allows one path per process, one process per path
            # (manage.py's checks refuse to run the console this way: metrics.checks)
            raise ClickHouseError(
                f"The embedded ClickHouse cannot open {path}: {exc}. It allows one data "
                "path per process, and one process per path: set GATEHOUSE_CLICKHOUSE_URL to "
                "run several processes (docs/events.md)."
            ) from exc

    def _run(self, sql: str, fmt: str, params: Mapping[str, Any] | None = None):
        with self._lock:
            try:
                texts = {name: str(value) for name, value in _bound(params).items()}
                return self._session.query(sql, fmt, params=texts or None)
            except Exception as exc:
                raise ClickHouseError(str(exc)) from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        import pyarrow as pa  # type: ignore[import-untyped]

        table = self._run(sql, "ArrowTable", params)
        if table is None or table.num_columns == 0:
            return []
        columns = []
        for column in table.columns:
            values = column.to_pylist()
            if pa.types.is_map(column.type):
                values = [None if v is None else dict(v) for v in values]
            columns.append([_python(v) for v in values])
        return list(zip(*columns, strict=True))

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, "CSV", params)

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        dedupe_token: str | None = None,
    ) -> None:
        if not rows:
            return
        lines = b"\n".join(
            orjson.dumps(dict(zip(columns, map(_json_cell, row), strict=True))) for row in rows
        )
        sql = f"{_insert_sql(table, columns, dedupe_token)} FORMAT JSONEachRow\n"
        self._run(sql + lines.decode(), "CSV")


def connect_kwargs(url: str) -> dict[str, Any]:
    """clickhouse-connect's arguments for GATEHOUSE_CLICKHOUSE_URL: clickhouse:// or http://
    (port 8123 unless given), clickhouses:// or https:// for TLS (8443); user and password
    from the URL (percent-decoded), the database from its path (default "default")."""
    parts = urlsplit(url)
    if parts.scheme not in ("clickhouse", "http", "clickhouses", "https") or not parts.hostname:
        raise ImproperlyConfigured(
            "GATEHOUSE_CLICKHOUSE_URL must look like clickhouse://user:pass@host:8123/database "
            "(clickhouses:// or https:// for TLS)."
        )
    secure = parts.scheme in ("clickhouses", "https")
    return {
        "host": parts.hostname,
        "port": parts.port or (8443 if secure else 8123),
        "username": unquote(parts.username or "default"),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.strip("/")) or "default",
        "secure": secure,
        "interface": "https" if secure else "http",
    }


class Server:
    """A ClickHouse server through clickhouse-connect (HTTP)."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import Error

        self._errors: tuple[type[BaseException], ...] = (Error, OSError)
        try:
            self._client = clickhouse_connect.get_client(
                **connect_kwargs(url), connect_timeout=5, send_receive_timeout=60
            )
        except self._errors as exc:
            raise ClickHouseError(f"ClickHouse cannot be reached: {exc}") from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            result = self._client.query(sql, parameters=_bound(params))
        except self._errors as exc:
            raise ClickHouseError(str(exc)) from exc
        return [tuple(_python(v) for v in row) for row in result.result_rows]

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters=_bound(params))
        except self._errors as exc:
            raise ClickHouseError(str(exc)) from exc

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        dedupe_token: str | None = None,
    ) -> None:
        if not rows:
            return
        extra = {"insert_deduplication_token": dedupe_token} if dedupe_token else None
        try:
            self._client.insert(
                table, [list(row) for row in rows], column_names=list(columns), settings=extra
            )
        except self._errors as exc:
            raise ClickHouseError(str(exc)) from exc


def enabled() -> bool:
    """Whether ClickHouse is the events engine (settings.GATEHOUSE_EVENTS_ENGINE)."""
    return settings.GATEHOUSE_EVENTS_ENGINE == "clickhouse"


_instances: dict[tuple[str, str], ClickHouse] = {}
_instances_lock = threading.Lock()


def clickhouse() -> ClickHouse:
    """The process-wide client of the configured ClickHouse (its tables created on first
    use): a server when GATEHOUSE_CLICKHOUSE_URL is set, else chdb at the path. Raises
    ClickHouseError when the server cannot be reached (nothing kept: the next call tries
    again)."""
    url = settings.GATEHOUSE_CLICKHOUSE_URL
    key = ("url", url) if url else ("path", str(settings.GATEHOUSE_CLICKHOUSE_PATH))
    with _instances_lock:
        found = _instances.get(key)
        if found is None:
            found = Server(url) if url else Embedded(key[1])
            _create_tables(found)
            _instances[key] = found
    return found


def _create_tables(client: ClickHouse) -> None:
    for statement in SCHEMA:
        client.command(statement)


def ensure_schema() -> None:
    """Create the `events` and `exposures` tables if missing (idempotent)."""
    _create_tables(clickhouse())


# ---------------------------------------------------------------- events as rows


def event_row(
    *,
    id: int,  # noqa: A002 (the column's name)
    received_at: dt.datetime,
    environment_id: int,
    time: dt.datetime,
    client_time: int | None,
    event_name: str,
    user_id: str,
    stable_id: str,
    custom_ids: Mapping[str, str],
    value_text: str | None,
    value_num: float | None,
    metadata: Mapping[str, Any] | None,
    user: Mapping[str, Any] | None,
    secondary_exposures: Sequence[Any] | None,
    sdk_type: str,
    sdk_version: str,
    is_bot: bool,
) -> tuple[Any, ...]:
    """A stored event as the `events` row (EVENT_COLUMNS' order), from the values
    metrics_event stores: each JSON object becomes a map of the text `jsonb ->> key` gives
    for its keys (JSON nulls left out, as `->>` gives NULL for them)."""
    custom = (user or {}).get("custom")
    return (
        id,
        received_at,
        environment_id,
        time,
        client_time,
        event_name,
        user_id,
        stable_id,
        dict(custom_ids),
        value_text,
        value_num,
        text_map(metadata),
        text_map(user),
        text_map(custom if isinstance(custom, Mapping) else None),
        jsonb_text(secondary_exposures) if secondary_exposures is not None else "",
        sdk_type,
        sdk_version,
        is_bot,
    )


def exposure_row(environment_id: int, unit: Mapping[str, Any]) -> tuple[Any, ...]:
    """A pending unit (a row of metrics.services._units_json) as an `exposures` row."""

    def at(ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)

    return (
        environment_id,
        unit["kind"],
        unit["name"],
        unit["unit_type"],
        unit["unit_id"],
        unit["rule_id"],
        unit["group_name"],
        at(unit["first_ms"]),
        at(unit["last_ms"]),
        unit["n"],
        unit["x"],
        unit["bot"],
        unit["country"] or "",
        unit["browser"] or "",
        unit["os"] or "",
        unit["custom"] or {},
    )


def text_map(value: Mapping[str, Any] | None) -> dict[str, str]:
    """{key: `value ->> key`} for a JSON object's keys whose value is not null."""
    if not value:
        return {}
    return {key: arrow_text(item) for key, item in value.items() if item is not None}


def arrow_text(value: Any) -> str:
    """What PostgreSQL's `->>` gives for a (non-null) JSON value: a string as is, anything
    else as jsonb prints it."""
    return value if isinstance(value, str) else jsonb_text(value)


def jsonb_text(value: Any) -> str:
    """`value` (as the intake parsed it) the way PostgreSQL prints it once stored as jsonb:
    `, ` and `: ` separators, object keys shorter first then bytewise, numbers as numeric
    prints the text the intake wrote for them (metrics.services._json: orjson, or the
    standard encoder past 64-bit integers)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _numeric_text(orjson.dumps(value).decode())
    if isinstance(value, str):
        return _jsonb_string(value)
    if isinstance(value, Mapping):
        keys = jsonb_order(value)
        inner = ", ".join(f"{_jsonb_string(k)}: {jsonb_text(value[k])}" for k in keys)
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _numeric_text(text: str) -> str:
    """PostgreSQL's numeric output for a JSON number's text: plain notation, as many
    decimals as the text had after the point less its exponent (1e3 → 1000, 1.5e-7 →
    0.00000015, 1.0 → 1.0); no negative zero."""
    number = Decimal(text)
    printed = format(number, "f")
    if number.is_zero():
        return printed.lstrip("-")
    return printed


_JSONB_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_JSONB_ESCAPES["\t"] = "\\t"


def _jsonb_string(text: str) -> str:
    """A string as jsonb prints it: quotes, backslashes and control characters escaped
    (lower-case \\u00xx), everything else as is."""
    out = []
    for char in text:
        escaped = _JSONB_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def first_exposures(where: str) -> str:
    """SQL of the units' first exposures: the rows of `exposures` that match `where` (on
    the unit's own columns: environment, kind, name, unit type or ID), folded per unit as
    PostgreSQL's upsert folds them into metrics_exposure (metrics.services._upsert_units):
    the earliest row's rule, group and user; first and last times, counts summed; a bot
    if any row was; a crossover if any row was or two rows had different groups."""
    return f"""
        SELECT environment_id, kind, name, unit_type, unit_id, f_rule_id AS rule_id,
            f_group_name AS group_name, f_first_at AS first_at, f_last_at AS last_at,
            f_count AS count, f_crossover AS crossover, f_is_bot AS is_bot,
            f_country AS country, f_browser AS browser, f_os AS os, f_custom AS custom
        FROM (
            SELECT environment_id, kind, name, unit_type, unit_id,
                argMin(rule_id, first_at) AS f_rule_id,
                argMin(group_name, first_at) AS f_group_name,
                min(first_at) AS f_first_at, max(last_at) AS f_last_at, sum(count) AS f_count,
                max(crossover) OR uniqExactIf(group_name, group_name != '') > 1 AS f_crossover,
                max(is_bot) AS f_is_bot, argMin(country, first_at) AS f_country,
                argMin(browser, first_at) AS f_browser, argMin(os, first_at) AS f_os,
                argMin(custom, first_at) AS f_custom
            FROM exposures WHERE {where}
            GROUP BY environment_id, kind, name, unit_type, unit_id
        )
    """


def jsonb_order(keys) -> list[str]:
    """Object keys in the order jsonb keeps them (shorter first, then bytewise), so that a
    map read from ClickHouse lists its keys as PostgreSQL's column would."""
    return sorted(keys, key=lambda k: (len(k.encode()), k.encode()))
