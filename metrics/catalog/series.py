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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from console.models import Environment
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
    """SQL text and its parameters, built together so they stay in order."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        self.params.append(value)
        return "%s"


def _text(sql: _Sql, field: str) -> str:
    if field == "value":
        return "e.value_text"
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
    return f"(CASE WHEN {text} ~ {pattern} THEN ({text_again})::float8 END)"


def _condition(sql: _Sql, field: str, operator: Operator, values: tuple[str, ...]) -> str:
    if operator in (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE):
        op = {Operator.GT: ">", Operator.GTE: ">=", Operator.LT: "<", Operator.LTE: "<="}[operator]
        return f"{_number(sql, field)} {op} {sql.p(float(values[0]))}"
    x = _text(sql, field)
    if operator == Operator.EQ:
        return f"{x} = {sql.p(values[0])}"
    if operator == Operator.NEQ:
        x2 = _text(sql, field)
        return f"({x} IS NULL OR {x2} <> {sql.p(values[0])})"
    if operator == Operator.IN:
        return f"{x} = ANY({sql.p(list(values))})"
    if operator == Operator.NOT_IN:
        x2 = _text(sql, field)
        return f"({x} IS NULL OR NOT ({x2} = ANY({sql.p(list(values))})))"
    if operator == Operator.CONTAINS:
        parts = []
        for i, v in enumerate(values):
            xi = x if i == 0 else _text(sql, field)
            parts.append(f"strpos(lower({xi}), lower({sql.p(v)})) > 0")
        return "(" + " OR ".join(parts) + ")"
    if operator == Operator.IS_SET:
        return f"{x} IS NOT NULL"
    return f"{x} IS NULL"


def _events(
    sql: _Sql, selector: EventSelector, environment_id: int, since: dt.datetime, *, value: str = ""
) -> str:
    """The CTE body of one selector's events: day, unit, time, and `num`/`txt` of `value`."""
    columns = ["(e.time AT TIME ZONE 'UTC')::date AS d", f"{UNIT} AS unit", "e.time AS t"]
    if value:
        columns.append(f"{_number(sql, value)} AS num")
        columns.append(f"{_text(sql, value)} AS txt")
    where = [
        f"e.environment_id = {sql.p(environment_id)}",
        # An event is received after it happened: the received day bounds the partitions.
        f"e.received_at >= {sql.p(since)}",
        f"e.time >= {sql.p(since)}",
        f"e.event_name = {sql.p(selector.event_name)}",
        "NOT e.is_bot",
    ]
    where += [_condition(sql, f.field, f.operator, f.values) for f in selector.filters]
    return f"SELECT {', '.join(columns)} FROM metrics_event e WHERE {' AND '.join(where)}"


_UNIT_VALUE = {
    MetricType.EVENT_COUNT: "count(*)::float8",
    MetricType.USER_COUNT: "1::float8",
    MetricType.SUM: "coalesce(sum(num), 0)",
    MetricType.MEAN: "avg(num)",
    MetricType.COUNT_DISTINCT: "count(DISTINCT txt)::float8",
}


def _unit_days(sql: _Sql, metric: MetricDefinition, environment_id: int, since) -> str:
    """Per (day, unit): the unit's value of `metric` that day (a ratio's part)."""
    assert metric.events is not None
    value = metric.value_field if metric.type in _VALUED else ""
    events = _events(sql, metric.events, environment_id, since, value=value)
    return (
        f"SELECT d, unit, {_UNIT_VALUE[metric.type]} AS v FROM ({events}) x "
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
    sql = _Sql()
    env = environment.pk
    percent = False
    if definition.type == MetricType.RATIO:
        assert definition.numerator is not None
        assert definition.denominator is not None
        # The denominator comes first in the SQL text, so its parameters do too.
        den = _unit_days(sql, definition.denominator, env, since)
        num = _unit_days(sql, definition.numerator, env, since)
        body = (
            f"SELECT den.d, sum(coalesce(num.v, 0)) / nullif(sum(den.v), 0) AS value "
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
        value = definition.value_field if definition.type in _VALUED else ""
        events = _events(sql, definition.events, env, since, value=value)
        body = f"SELECT d, {expression} AS value FROM ({events}) x GROUP BY d"
    zero = definition.type in _COUNTED
    query = (
        "SELECT days.d::date, r.value FROM generate_series(%s::date, %s::date, interval '1 day') "
        f"AS days(d) LEFT JOIN ({body}) r ON r.d = days.d::date ORDER BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [first, today, *sql.params])
        rows = cursor.fetchall()
    values = [float(v) if v is not None else (0.0 if zero else None) for _, v in rows]
    return MetricSeries([d for d, _ in rows], values, label, percent, bars=zero)


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
    ctes.append(
        "s0 AS (SELECT d, unit, min(t) AS t0, min(t) AS t FROM ev0 "
        "WHERE unit IS NOT NULL GROUP BY d, unit)"
    )
    for i in range(1, len(definition.steps)):
        if definition.funnel_window_hours:
            window = (
                f" AND e.t <= s.t0 + {sql.p(definition.funnel_window_hours)} * interval '1 hour'"
            )
        ctes.append(
            f"s{i} AS (SELECT s.d, s.unit, s.t0, min(e.t) AS t FROM s{i - 1} s "
            f"JOIN ev{i} e ON e.unit = s.unit AND e.t >= s.t{window} GROUP BY s.d, s.unit, s.t0)"
        )
    last = len(definition.steps) - 1
    return (
        f"WITH {', '.join(ctes)} "
        f"SELECT s0.d, 100.0 * count(s{last}.unit) / count(*) AS value FROM s0 "
        f"LEFT JOIN s{last} ON s{last}.d = s0.d AND s{last}.unit = s0.unit GROUP BY s0.d"
    )
