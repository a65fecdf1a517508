"""A metric's value per UTC day over the last 30 days, for its page: one SQL query over
`metrics_event` (its (environment_id, event_name, time) index and the day partitions bound
the scan), never a loop over events in Python. Bots are left out; a unit is its userID,
else its stableID.

What a day's value is, per type (docs/metrics.md, "The metric's page"):

- event count: the events of the day; user count: the units that had one that day;
- sum: the day's total; mean: the day's total over its events that carry a number;
- count distinct: the distinct values seen that day (all units together);
- ratio: Σ numerator / Σ denominator over the units whose denominator that day is not 0,
  each unit's parts computed as their own metric would for that unit and day;
- funnel: of the units that did the first step that day, the share (%) that went on to do
  every step in order (within the window after their first step, when there is one).

Winsorization and caps are for experiment results (per unit over the whole experiment),
not for this chart.

With GATEHOUSE_EVENTS_ENGINE "clickhouse" the same query is written in ClickHouse's dialect
over its `events` (whose maps hold the texts `->>` gives: metrics.clickhouse) and run there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from console.models import Environment
from metrics import clickhouse as ch
from metrics.definitions import EventSelector, MetricDefinition, MetricType, Operator

DAYS = 30
UNIT = (
    "CASE WHEN e.user_id <> '' THEN 'u:' || e.user_id "
    "WHEN e.stable_id <> '' THEN 's:' || e.stable_id END"
)
# A number written as text, small enough for float8 (no error on "1e999" or "abc").
_NUMERIC = r"^\s*[-+]?([0-9]{1,20}(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,2})?\s*$"


@dataclass(frozen=True)
class MetricSeries:
    days: list[dt.date]
    values: list[float | None]
    label: str
    percent: bool = False
    bars: bool = False  # counts and sums are bars; means, ratios and rates are lines

    @property
    def total(self) -> float:
        return sum(v for v in self.values if v is not None)

    @property
    def has_data(self) -> bool:
        return any(v for v in self.values)

    def as_chart(self) -> dict[str, Any]:
        return {
            "type": "bar" if self.bars else "line",
            "labels": [f"{d:%b} {d.day}" for d in self.days],
            "series": [
                {
                    "label": self.label,
                    "data": [None if v is None else round(v, 6) for v in self.values],
                }
            ],
            "decimals": not self.bars,
        }


class _Sql:
    """SQL text and its parameters, built together so they stay in order: PostgreSQL's
    positional ones, or ClickHouse's named and typed ones (`ch`)."""

    def __init__(self, *, ch: bool = False) -> None:
        self.ch = ch
        self.params: list[Any] = []
        self.named: dict[str, Any] = {}

    def p(self, value: Any, type_: str = "String") -> str:
        if self.ch:
            name = f"p{len(self.named)}"
            self.named[name] = value
            return f"{{{name}:{type_}}}"
        self.params.append(value)
        return "%s"


# ClickHouse's maps of `->>` texts, by the field's prefix (metrics.clickhouse.event_row).
_MAPS = (("metadata.", "e.metadata"), ("user.custom.", "e.user_custom"), ("user.", "e.user_fields"))


def _text(sql: _Sql, field: str) -> str:
    if field == "value":
        return "e.value_text"
    if sql.ch:
        prefix, column = next((p, c) for p, c in _MAPS if field.startswith(p))
        key = sql.p(field.removeprefix(prefix))
        return f"if(mapContains({column}, {key}), {column}[{key}], NULL)"
    if field.startswith("metadata."):
        return f"(e.metadata ->> {sql.p(field.removeprefix('metadata.'))})"
    if field.startswith("user.custom."):
        return f"(e.\"user\" -> 'custom' ->> {sql.p(field.removeprefix('user.custom.'))})"
    return f'(e."user" ->> {sql.p(field.removeprefix("user."))})'


def _number(sql: _Sql, field: str) -> str:
    if field == "value":
        return "e.value_num"
    # Parameters are taken in the order the SQL text uses them.
    text = _text(sql, field)
    pattern = sql.p(_NUMERIC)
    text_again = _text(sql, field)
    if sql.ch:
        return (
            f"if(match(coalesce({text}, ''), {pattern}), "
            f"toFloat64OrNull(replaceRegexpAll(trimBoth({text_again}), '^[+]', '')), NULL)"
        )
    return f"(CASE WHEN {text} ~ {pattern} THEN ({text_again})::float8 END)"


def _condition(sql: _Sql, field: str, operator: Operator, values: tuple[str, ...]) -> str:
    if operator in (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE):
        op = {Operator.GT: ">", Operator.GTE: ">=", Operator.LT: "<", Operator.LTE: "<="}[operator]
        return f"{_number(sql, field)} {op} {sql.p(float(values[0]), 'Float64')}"
    x = _text(sql, field)
    if operator == Operator.EQ:
        return f"{x} = {sql.p(values[0])}"
    if operator == Operator.NEQ:
        x2 = _text(sql, field)
        return f"({x} IS NULL OR {x2} <> {sql.p(values[0])})"
    if operator == Operator.IN:
        if sql.ch:
            return f"coalesce(has({sql.p(list(values), 'Array(String)')}, {x}), false)"
        return f"{x} = ANY({sql.p(list(values))})"
    if operator == Operator.NOT_IN:
        x2 = _text(sql, field)
        if sql.ch:
            return f"({x} IS NULL OR NOT has({sql.p(list(values), 'Array(String)')}, {x2}))"
        return f"({x} IS NULL OR NOT ({x2} = ANY({sql.p(list(values))})))"
    if operator == Operator.CONTAINS:
        parts = []
        for i, v in enumerate(values):
            xi = x if i == 0 else _text(sql, field)
            if sql.ch:
                parts.append(
                    f"coalesce(positionUTF8(lowerUTF8({xi}), lowerUTF8({sql.p(v)})) > 0, false)"
                )
            else:
                parts.append(f"strpos(lower({xi}), lower({sql.p(v)})) > 0")
        return "(" + " OR ".join(parts) + ")"
    if operator == Operator.IS_SET:
        return f"{x} IS NOT NULL"
    return f"{x} IS NULL"


def _events(
    sql: _Sql, selector: EventSelector, environment_id: int, since: dt.datetime, *, value: str = ""
) -> str:
    """The CTE body of one selector's events: day, unit, time, and `num`/`txt` of `value`."""
    columns = (
        ["toDate(e.time) AS d", f"{_CH_UNIT} AS unit", "e.time AS t"]
        if sql.ch
        else ["(e.time AT TIME ZONE 'UTC')::date AS d", f"{UNIT} AS unit", "e.time AS t"]
    )
    if value:
        columns.append(f"{_number(sql, value)} AS num")
        columns.append(f"{_text(sql, value)} AS txt")
    at = "DateTime64(3, 'UTC')"
    where = [
        f"e.environment_id = {sql.p(environment_id, 'UInt32')}",
        # An event is received after it happened: the received day bounds the partitions.
        f"e.received_at >= {sql.p(since, at)}",
        f"e.time >= {sql.p(since, at)}",
        f"e.event_name = {sql.p(selector.event_name)}",
        "NOT e.is_bot",
    ]
    where += [_condition(sql, f.field, f.operator, f.values) for f in selector.filters]
    table = "events" if sql.ch else "metrics_event"
    return f"SELECT {', '.join(columns)} FROM {table} e WHERE {' AND '.join(where)}"


_CH_UNIT = (
    "multiIf(e.user_id != '', concat('u:', e.user_id), "
    "e.stable_id != '', concat('s:', e.stable_id), NULL)"
)


_UNIT_VALUE = {
    MetricType.EVENT_COUNT: "count(*)::float8",
    MetricType.USER_COUNT: "1::float8",
    MetricType.SUM: "coalesce(sum(num), 0)",
    MetricType.MEAN: "avg(num)",
    MetricType.COUNT_DISTINCT: "count(DISTINCT txt)::float8",
}


_CH_UNIT_VALUE = {
    MetricType.EVENT_COUNT: "toFloat64(count())",
    MetricType.USER_COUNT: "toFloat64(1)",
    MetricType.SUM: "coalesce(sum(num), 0)",
    MetricType.MEAN: "avg(num)",
    MetricType.COUNT_DISTINCT: "toFloat64(uniqExact(txt))",
}


def _unit_days(sql: _Sql, metric: MetricDefinition, environment_id: int, since) -> str:
    """Per (day, unit): the unit's value of `metric` that day (a ratio's part)."""
    assert metric.events is not None
    value = metric.value_field if metric.type in _VALUED else ""
    events = _events(sql, metric.events, environment_id, since, value=value)
    expression = (_CH_UNIT_VALUE if sql.ch else _UNIT_VALUE)[metric.type]
    return (
        f"SELECT d, unit, {expression} AS v FROM ({events}) x "
        "WHERE unit IS NOT NULL GROUP BY d, unit"
    )


_VALUED = frozenset({MetricType.SUM, MetricType.MEAN, MetricType.COUNT_DISTINCT})
# Days without events count 0 for these; means, ratios and funnels have no value then.
_COUNTED = frozenset(
    {MetricType.EVENT_COUNT, MetricType.USER_COUNT, MetricType.SUM, MetricType.COUNT_DISTINCT}
)
_DAY_VALUE = {
    MetricType.EVENT_COUNT: ("count(*)::float8", "Events per day"),
    MetricType.USER_COUNT: ("count(DISTINCT unit)::float8", "Units with the event per day"),
    MetricType.SUM: ("coalesce(sum(num), 0)", "Total per day"),
    MetricType.MEAN: ("sum(num) / nullif(count(num), 0)", "Mean per event"),
    MetricType.COUNT_DISTINCT: ("count(DISTINCT txt)::float8", "Distinct values per day"),
}
_CH_DAY_VALUE = {
    MetricType.EVENT_COUNT: "toFloat64(count())",
    MetricType.USER_COUNT: "toFloat64(uniqExact(unit))",
    MetricType.SUM: "coalesce(sum(num), 0)",
    MetricType.MEAN: "sum(num) / nullIf(count(num), 0)",
    MetricType.COUNT_DISTINCT: "toFloat64(uniqExact(txt))",
}


def metric_series(
    *,
    definition: MetricDefinition,
    environment: Environment,
    now: dt.datetime | None = None,
    days: int = DAYS,
) -> MetricSeries:
    """The metric's value per UTC day, oldest first, the last of them today. Days with no
    data are 0 for counts and sums, None (a gap) for means, ratios and funnels."""
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    sql = _Sql(ch=settings.GATEHOUSE_EVENTS_ENGINE == "clickhouse")
    env = environment.pk
    percent = False
    if definition.type == MetricType.RATIO:
        assert definition.numerator is not None
        assert definition.denominator is not None
        # The denominator comes first in the SQL text, so its parameters do too.
        den = _unit_days(sql, definition.denominator, env, since)
        num = _unit_days(sql, definition.numerator, env, since)
        body = (
            f"SELECT den.d AS d, sum(coalesce(num.v, 0)) / nullif(sum(den.v), 0) AS value "
            f"FROM ({den}) den LEFT JOIN ({num}) num ON num.d = den.d AND num.unit = den.unit "
            "WHERE den.v <> 0 GROUP BY den.d"
        )
        label = f"Σ {_id(definition.numerator)} ÷ Σ {_id(definition.denominator)}"
    elif definition.type == MetricType.FUNNEL:
        body = _funnel(sql, definition, env, since)
        label, percent = "Conversion (%)", True
    else:
        assert definition.events is not None
        expression, label = _DAY_VALUE[definition.type]
        if sql.ch:
            expression = _CH_DAY_VALUE[definition.type]
        value = definition.value_field if definition.type in _VALUED else ""
        events = _events(sql, definition.events, env, since, value=value)
        body = f"SELECT d, {expression} AS value FROM ({events}) x GROUP BY d"
    zero = definition.type in _COUNTED
    if sql.ch:
        return _series_clickhouse(sql, body, first, today, label, percent, zero)
    query = (
        "SELECT days.d::date, r.value FROM generate_series(%s::date, %s::date, interval '1 day') "
        f"AS days(d) LEFT JOIN ({body}) r ON r.d = days.d::date ORDER BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [first, today, *sql.params])
        rows = cursor.fetchall()
    values = [float(v) if v is not None else (0.0 if zero else None) for _, v in rows]
    return MetricSeries([d for d, _ in rows], values, label, percent, bars=zero)


def _series_clickhouse(
    sql: _Sql, body: str, first: dt.date, today: dt.date, label: str, percent: bool, zero: bool
) -> MetricSeries:
    """`body` run on ClickHouse (LEFT JOINs give NULL where nothing matched, as in
    PostgreSQL), its days filled in as PostgreSQL's generate_series does."""
    rows = ch.clickhouse().query(
        f"SELECT d, value FROM ({body}) r SETTINGS join_use_nulls = 1", sql.named
    )
    found = dict(rows)
    days = [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]
    values = [
        float(v) if (v := found.get(d)) is not None else (0.0 if zero else None) for d in days
    ]
    return MetricSeries(days, values, label, percent, bars=zero)


def _id(definition: MetricDefinition) -> str:
    return f"{definition.name}::{definition.type.value}"


def _funnel(sql: _Sql, definition: MetricDefinition, env: int, since: dt.datetime) -> str:
    """Per day: started = units whose first step happened that day (their first of the
    day), done = those of them that did every later step in order; the value is
    done / started in %."""
    window = ""
    ctes = []
    for i, step in enumerate(definition.steps):
        events = _events(sql, step, env, since)
        ctes.append(f"ev{i} AS ({events})")
    # ClickHouse refuses an alias of an alias here (`t0 AS t`): its first step is `t0` alone.
    first = "" if sql.ch else ", min(t) AS t"
    ctes.append(
        f"s0 AS (SELECT d, unit, min(t) AS t0{first} FROM ev0 "
        "WHERE unit IS NOT NULL GROUP BY d, unit)"
    )
    for i in range(1, len(definition.steps)):
        if definition.funnel_window_hours and sql.ch:
            window = f" AND e.t <= addHours(s.t0, {sql.p(definition.funnel_window_hours, 'Int64')})"
        elif definition.funnel_window_hours:
            window = (
                f" AND e.t <= s.t0 + {sql.p(definition.funnel_window_hours)} * interval '1 hour'"
            )
        # (an inner join: its time conditions filter as well in WHERE, where ClickHouse
        # takes them)
        ctes.append(
            f"s{i} AS (SELECT s.d AS d, s.unit AS unit, s.t0 AS t0, min(e.t) AS t "
            f"FROM s{i - 1} s JOIN ev{i} e ON e.unit = s.unit "
            f"WHERE e.t >= s.{'t0' if i == 1 else 't'}{window} "
            "GROUP BY s.d, s.unit, s.t0)"
        )
    last = len(definition.steps) - 1
    return (
        f"WITH {', '.join(ctes)} "
        f"SELECT s0.d AS d, 100.0 * count(s{last}.unit) / count(*) AS value FROM s0 "
        f"LEFT JOIN s{last} ON s{last}.d = s0.d AND s{last}.unit = s0.unit GROUP BY s0.d"
    )
