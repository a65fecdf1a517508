"""The few pieces of SQL that differ between the engines the query plan runs on
(docs/results-computation.md, "Dialects").

The plan (metrics.plan.query) is written once; every piece below is how one engine spells
it. `POSTGRES` is the default and reads Gatehouse's own tables; `CLICKHOUSE` reads the
ClickHouse tables of the events store (`events`, `exposures`, docs/events.md); `REDSHIFT`
is the intersection of Redshift's SQL and PostgreSQL's (it runs on both) for a customer's
warehouse, where the plan reads the sources the caller passes (metrics.plan.sources).

Types are named the PostgreSQL way ("integer", "text", "text[]", "boolean", "date",
"timestamptz", "float8", "interval"); each dialect binds them its own way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metrics.plan.fields import Params


class Dialect:
    """PostgreSQL (psycopg's `%(p0)s` parameters)."""

    name = "postgres"
    # The daily series comes back as extra rows after the groups' (else a JSON column).
    series_rows = False
    # The keyword after a CTE's name for one the engine must compute once.
    materialized = "AS MATERIALIZED"
    # The keyword after the name of a CTE the statement reads more than once (joined,
    # perunit, caps): PostgreSQL computes such a CTE once by itself.
    shared = "AS"
    # Text appended to every statement.
    suffix = ""
    # Each percentile cap in a query of its own (one ORDER BY per query).
    percentiles_apart = False

    # Parameters and types ------------------------------------------------------------------

    def placeholder(self, key: str, cast: str) -> str:
        return f"%({key})s::{cast}" if cast else f"%({key})s"

    def value(self, value: Any, cast: str) -> Any:
        """The parameter's value as the driver takes it."""
        return value

    def cast(self, sql: str, to: str) -> str:
        return f"({sql})::{to}"

    def null(self, to: str) -> str:
        return f"NULL::{to}"

    def number(self, value: float | int, to: str = "float8") -> str:
        """A constant of the plan (never a user's value)."""
        return f"{value}::{to}"

    def bool_number(self, condition: str) -> str:
        """1.0 when `condition` holds, else 0.0."""
        return f"({condition})::int::float8"

    # Aggregates ----------------------------------------------------------------------------

    def count_if(self, condition: str) -> str:
        return f"count(*) FILTER (WHERE {condition})"

    def count_value_if(self, value: str, condition: str) -> str:
        """Rows where `condition` holds and `value` is not NULL."""
        return f"count({value}) FILTER (WHERE {condition})"

    def count_distinct_if(self, value: str, condition: str) -> str:
        return f"count(DISTINCT {value}) FILTER (WHERE {condition})"

    def sum_if(self, value: str, condition: str) -> str:
        """The sum, NULL (or 0) over no row: callers coalesce."""
        return f"sum({value}) FILTER (WHERE {condition})"

    def any_if(self, condition: str) -> str:
        """Whether any row satisfies `condition` (false over no row)."""
        return f"coalesce(bool_or({condition}), false)"

    def nonzero_percentile(self, fraction: str, column: str) -> str:
        """The continuous percentile (linear interpolation) of the non-zero values of
        `column`; NULL when there is none. `fraction` is SQL (a bound parameter)."""
        return (
            f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {column}) "
            f"FILTER (WHERE {column} <> 0)"
        )

    def fraction(self, value: float, p: Params) -> str:
        return p.bind(value, "float8")

    def lag(self, value: str, window: str) -> str:
        """The previous row's `value` in `window` (NULL or 0 on the first row: callers
        coalesce)."""
        return f"lag({value}) OVER {window}"

    # Times ---------------------------------------------------------------------------------

    def utc_day(self, ts: str) -> str:
        return f"({ts} AT TIME ZONE 'UTC')::date"

    def minus_days(self, ts: str, days: int, p: Params) -> str:
        return f"{ts} - {p.bind(dt.timedelta(days=days), 'interval')}"

    def plus_hours(self, ts: str, hours: int, p: Params) -> str:
        return f"{ts} + make_interval(hours => {p.bind(int(hours), 'integer')})"

    # Lists ---------------------------------------------------------------------------------

    def in_list(self, expr: str, values: Sequence[str], p: Params) -> str:
        """`expr` is one of `values` (NULL when `expr` is NULL)."""
        return f"{expr} = ANY({p.bind(list(values), 'text[]')})"

    def not_in_list(self, expr: str, values: Sequence[str], p: Params) -> str:
        return f"{expr} <> ALL({p.bind(list(values), 'text[]')})"

    def like_any(self, expr: str, patterns: Sequence[str], p: Params) -> str:
        return f"{expr} LIKE ANY({p.bind(list(patterns), 'text[]')})"

    def groups(self, names: Sequence[str], p: Params) -> str:
        """A FROM item `g(name, ord)`: the groups in order, numbered from 1."""
        return f"unnest({p.bind(list(names), 'text[]')}) WITH ORDINALITY AS g(name, ord)"

    # Texts ---------------------------------------------------------------------------------

    def matches(self, text: str, pattern: str) -> str:
        return f"{text} ~ {pattern}"

    def text_to_number(self, text: str) -> str:
        """A text the number pattern accepted, as a double."""
        return f"({text})::float8"

    def series_column(self) -> str:
        """The group's daily series, one JSON array per day, in a column (when not
        `series_rows`); `g.name` is the group."""
        return (
            "(SELECT json_agg(json_build_array(dy.day, dy.n, dy.s, dy.ss, dy.sd, dy.sdd, dy.syd)"
            "\n                        ORDER BY dy.day)"
            "\n        FROM daily dy WHERE dy.group_name = g.name)"
        )

    # Gatehouse's own tables ----------------------------------------------------------------

    events_table = "metrics_event"
    # Whether the events table is partitioned by received day (a bound on received_at,
    # which is never before time, prunes the partitions).
    events_by_received_day = True

    def json_text(self, column: str, key: str) -> str:
        """The text of `column`'s top-level `key` (SQL), NULL when missing."""
        return f"({column} ->> {key})"

    def user_field(self, alias: str, key: str) -> str:
        return f'({alias}."user" ->> {key})'

    def user_custom_field(self, alias: str, key: str) -> str:
        return f"({alias}.\"user\" -> 'custom' ->> {key})"

    def custom_id(self, alias: str, lowered_type: str) -> str:
        """The event's custom ID whose type is `lowered_type` (SQL) without regard to case."""
        return (
            f"(SELECT c.value FROM jsonb_each_text({alias}.custom_ids) AS c "
            f"WHERE lower(c.key) = {lowered_type} LIMIT 1)"
        )

    def exposures(self, where: str) -> str:
        """A FROM item `x`: each unit's first exposure with the columns unit_id,
        group_name, first_at, crossover, is_bot, country, browser, os, custom, for the
        rows satisfying `where` (over environment_id, kind, name, unit_type)."""
        return f"metrics_exposure x WHERE {where}"


class ClickHouseDialect(Dialect):
    """ClickHouse's server-side parameters `{p0:Type}` (metrics.clickhouse)."""

    name = "clickhouse"
    series_rows = True
    materialized = "AS"
    # ClickHouse inlines a CTE at each reference: one read several times is computed once,
    # into a temporary table, only when MATERIALIZED (enable_materialized_cte). Not the
    # funnel's steps: chdb 26.9 then fails ("Reading from materialized CTE 'joined' before
    # its materialization completed"); nor `units`: a unit breakdown then finds no segment.
    shared = "AS MATERIALIZED"
    # Rows a LEFT JOIN does not match get NULLs (ClickHouse's default is the type's default).
    # A column's name means the column, never an alias of the same name (as in PostgreSQL).
    suffix = (
        "\nSETTINGS join_use_nulls = 1, prefer_column_name_to_alias = 1, "
        "enable_materialized_cte = 1"
    )

    TYPES = {
        "integer": "Int64",
        "text": "String",
        "text[]": "Array(String)",
        "boolean": "Bool",
        "date": "Date",
        "timestamptz": "DateTime64(6, 'UTC')",
        "float8": "Float64",
    }

    def placeholder(self, key: str, cast: str) -> str:
        return "{" + f"{key}:{self.TYPES[cast or 'text']}" + "}"

    def cast(self, sql: str, to: str) -> str:
        return {"float8": "toFloat64", "bigint": "toInt64", "int": "toInt64"}[to] + f"({sql})"

    def null(self, to: str) -> str:
        return {"float8": "CAST(NULL AS Nullable(Float64))"}[to]

    def number(self, value: float | int, to: str = "float8") -> str:
        return self.cast(str(value), to)

    def bool_number(self, condition: str) -> str:
        return f"toFloat64({condition})"

    def count_if(self, condition: str) -> str:
        return f"countIf({condition})"

    def count_value_if(self, value: str, condition: str) -> str:
        return f"countIf({value} IS NOT NULL AND {condition})"

    def count_distinct_if(self, value: str, condition: str) -> str:
        return f"uniqExactIf({value}, {value} IS NOT NULL AND {condition})"

    def sum_if(self, value: str, condition: str) -> str:
        return f"sumIf({value}, {condition})"

    def any_if(self, condition: str) -> str:
        return f"(countIf({condition}) > 0)"

    def nonzero_percentile(self, fraction: str, column: str) -> str:
        # quantileExactInclusive interpolates as percentile_cont does; NaN over no value.
        return (
            f"if(countIf({column} <> 0) = 0, NULL, "
            f"quantileExactInclusiveIf({fraction})({column}, {column} <> 0))"
        )

    def fraction(self, value: float, p: Params) -> str:
        # A parametric aggregate's parameter is a literal: a float from the definition.
        return repr(float(value))

    def lag(self, value: str, window: str) -> str:
        # The default frame (up to the current row) holds the previous row.
        return f"lagInFrame({value}) OVER {window}"

    def utc_day(self, ts: str) -> str:
        return f"toDate({ts}, 'UTC')"

    def minus_days(self, ts: str, days: int, p: Params) -> str:
        return f"{ts} - toIntervalDay({p.bind(int(days), 'integer')})"

    def plus_hours(self, ts: str, hours: int, p: Params) -> str:
        return f"{ts} + toIntervalHour({p.bind(int(hours), 'integer')})"

    def in_list(self, expr: str, values: Sequence[str], p: Params) -> str:
        return f"has({p.bind(list(values), 'text[]')}, {expr})"

    def not_in_list(self, expr: str, values: Sequence[str], p: Params) -> str:
        return f"NOT has({p.bind(list(values), 'text[]')}, {expr})"

    def like_any(self, expr: str, patterns: Sequence[str], p: Params) -> str:
        if not patterns:
            return "false"
        return "(" + " OR ".join(f"{expr} LIKE {p.bind(v, 'text')}" for v in patterns) + ")"

    def groups(self, names: Sequence[str], p: Params) -> str:
        return (
            f"(SELECT name, ord FROM (SELECT {p.bind(list(names), 'text[]')} AS a) "
            "ARRAY JOIN a AS name, arrayEnumerate(a) AS ord) AS g"
        )

    def matches(self, text: str, pattern: str) -> str:
        return f"match({text}, {pattern})"

    def text_to_number(self, text: str) -> str:
        # toFloat64 takes no surrounding space, which the pattern (and PostgreSQL) allow.
        return rf"toFloat64(replaceRegexpAll({text}, '^\\s+|\\s+$', ''))"

    events_table = "events"
    events_by_received_day = True  # PARTITION BY toYYYYMMDD(received_at)

    def json_text(self, column: str, key: str) -> str:
        return f"if(mapContains({column}, {key}), {column}[{key}], NULL)"

    def user_field(self, alias: str, key: str) -> str:
        return self.json_text(f"{alias}.user_fields", key)

    def user_custom_field(self, alias: str, key: str) -> str:
        return self.json_text(f"{alias}.user_custom", key)

    def custom_id(self, alias: str, lowered_type: str) -> str:
        found = f"indexOf(arrayMap(k -> lower(k), mapKeys({alias}.custom_ids)), {lowered_type})"
        return f"if({found} = 0, NULL, arrayElement(mapValues({alias}.custom_ids), {found}))"

    def exposures(self, where: str) -> str:
        # A unit's rows folded as PostgreSQL's upsert folds them (metrics.services.
        # _upsert_units): the earliest row's group and user, any row's bot flag, a
        # crossover when a row says so or two rows name different groups.
        from metrics.clickhouse import first_exposures

        return f"({first_exposures(where)}) AS x WHERE true"


class RedshiftDialect(Dialect):
    """Redshift's SQL that PostgreSQL runs too: no aggregate FILTER, json_agg, unnest,
    make_interval nor arrays (docs/results-computation.md)."""

    name = "redshift"
    series_rows = True
    materialized = "AS"
    # Redshift's sort-based aggregates (percentile_cont) of one query must share their
    # ORDER BY: the numerator's and denominator's caps are read apart.
    percentiles_apart = True

    def value(self, value: Any, cast: str) -> Any:
        if cast == "interval":
            assert isinstance(value, dt.timedelta)
            return f"{int(value.total_seconds())} seconds"
        return value

    def placeholder(self, key: str, cast: str) -> str:
        # VARCHAR alone is 256 bytes in Redshift.
        cast = {"text": "varchar(65535)"}.get(cast, cast)
        return f"%({key})s::{cast}" if cast else f"%({key})s"

    def count_if(self, condition: str) -> str:
        return f"count(CASE WHEN {condition} THEN 1 END)"

    def count_value_if(self, value: str, condition: str) -> str:
        return f"count(CASE WHEN {condition} THEN {value} END)"

    def count_distinct_if(self, value: str, condition: str) -> str:
        return f"count(DISTINCT CASE WHEN {condition} THEN {value} END)"

    def sum_if(self, value: str, condition: str) -> str:
        return f"sum(CASE WHEN {condition} THEN {value} END)"

    def any_if(self, condition: str) -> str:
        return f"(count(CASE WHEN {condition} THEN 1 END) > 0)"

    def nonzero_percentile(self, fraction: str, column: str) -> str:
        # No FILTER: the zeros become NULLs, which percentile_cont ignores.
        return (
            f"percentile_cont({fraction}) WITHIN GROUP "
            f"(ORDER BY CASE WHEN {column} <> 0 THEN {column} END)"
        )

    def plus_hours(self, ts: str, hours: int, p: Params) -> str:
        return f"{ts} + {p.bind(dt.timedelta(hours=hours), 'interval')}"

    def in_list(self, expr: str, values: Sequence[str], p: Params) -> str:
        if not values:
            return "false"
        return f"{expr} IN ({', '.join(p.bind(v, 'text') for v in values)})"

    def not_in_list(self, expr: str, values: Sequence[str], p: Params) -> str:
        if not values:
            return "true"
        return f"{expr} NOT IN ({', '.join(p.bind(v, 'text') for v in values)})"

    def like_any(self, expr: str, patterns: Sequence[str], p: Params) -> str:
        if not patterns:
            return "false"
        return "(" + " OR ".join(f"{expr} LIKE {p.bind(v, 'text')}" for v in patterns) + ")"

    def groups(self, names: Sequence[str], p: Params) -> str:
        rows = " UNION ALL ".join(
            f"SELECT {p.bind(name, 'text')} AS name, {i} AS ord"
            for i, name in enumerate(names, start=1)
        )
        return f"({rows}) AS g"

    events_table = ""
    events_by_received_day = False

    def json_text(self, column: str, key: str) -> str:
        raise ValueError("a warehouse source has no event fields but its value")

    def user_field(self, alias: str, key: str) -> str:
        raise ValueError("a warehouse source has no user fields")

    def user_custom_field(self, alias: str, key: str) -> str:
        raise ValueError("a warehouse source has no user fields")

    def custom_id(self, alias: str, lowered_type: str) -> str:
        raise ValueError("a warehouse source gives its units")

    def exposures(self, where: str) -> str:
        raise ValueError("a warehouse source gives its assignments")


POSTGRES = Dialect()
CLICKHOUSE = ClickHouseDialect()
REDSHIFT = RedshiftDialect()
