"""Results computed in the customer's warehouse (docs/warehouse.md): the one query plan
(metrics.plan) in the Redshift dialect, which PostgreSQL runs too, over an assignment
source (instead of metrics_exposure) and a metric source (instead of metrics_event), run on
the warehouse connection.

The sources' own SQL goes into the statement as a subquery whose columns are renamed to
what the plan reads: an assignment source's to (unit_id, experiment, group_name,
assigned_at), a metric source's to (unit_id, time) and its declared value and filter
columns, quoted. Timestamps are read as timestamptz in a UTC session
(metrics.warehouse.client), so a column without a time zone means UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils import timezone

from metrics.definitions import EventSelector, Filter, MetricDefinition, MetricType, Operator
from metrics.plan import ExperimentScope, PlanResult
from metrics.plan.dialects import REDSHIFT
from metrics.plan.fields import Params, numeric, parse_number
from metrics.plan.query import Statement, events_statement
from metrics.plan.run import _result, effective_end
from metrics.plan.sources import AssignmentQuery
from metrics.warehouse.client import Target, WarehouseError, fetch
from metrics.warehouse.models import AssignmentSource, MetricSource
from metrics.warehouse.sources import from_sql, quote


def _escaped(sql: str) -> str:
    """The source's SQL inside a statement with psycopg parameters: `%` doubled."""
    return sql.replace("%", "%%")


def assignment_query(source: AssignmentSource) -> AssignmentQuery:
    """The plan's exposure source over an assignment source."""
    return AssignmentQuery(
        f"SELECT CAST(s.{quote(source.unit_id_column)} AS varchar) AS unit_id, "
        f"CAST(s.{quote(source.experiment_column)} AS varchar) AS experiment, "
        f"CAST(s.{quote(source.group_column)} AS varchar) AS group_name, "
        f"CAST(s.{quote(source.timestamp_column)} AS timestamptz) AS assigned_at "
        f"FROM {_escaped(from_sql(source.sql, ''))} AS s"
    )


@dataclass(frozen=True, slots=True)
class SourceRows:
    """The plan's event source over a metric source: each row is an "event" of the
    metric; selectors are its filters on the source's columns, "values" its columns."""

    source: MetricSource
    # A source's rows have no user fields to break down by (breakdowns are refused).
    dimensions = False

    def relation(self, environment_id: int, names: list[str], p: Params) -> str:
        s = self.source
        extra = "".join(f", s.{quote(c)} AS {self._alias(c)}" for c in self._columns())
        return (
            f"(SELECT CAST(s.{quote(s.unit_id_column)} AS varchar) AS unit_id, "
            f"CAST(s.{quote(s.timestamp_column)} AS timestamptz) AS time{extra} "
            f"FROM {_escaped(from_sql(s.sql, s.table))} AS s) e\n  WHERE true"
        )

    @property
    def by_received_day(self) -> bool:
        return False

    def unit(self, unit_type: str, p: Params) -> str:
        return "e.unit_id"

    def selector(self, selector: EventSelector, p: Params) -> str:
        return "(" + " AND ".join(["true", *(self._filter(f, p) for f in selector.filters)]) + ")"

    def number(self, path: str, p: Params) -> str:
        if path in self.source.value_columns:
            return f"CAST(e.{self._alias(path)} AS float8)"
        return numeric(self.text(path, p), p)

    def text(self, path: str, p: Params) -> str:
        return f"CAST(e.{self._alias(path)} AS varchar)"

    def _columns(self) -> list[str]:
        return list(dict.fromkeys([*self.source.value_columns, *self.source.filter_columns]))

    def _alias(self, column: str) -> str:
        """The source's columns are renamed c0, c1, ... beside unit_id and time, so no
        column of theirs can clash with those two."""
        columns = self._columns()
        if column not in columns:
            raise WarehouseError(
                f"The metric reads the column {column!r}, which the metric source "
                f"{self.source.name} no longer declares.",
                code="missing_column",
            )
        return f"c{columns.index(column)}"

    def _filter(self, item: Filter, p: Params) -> str:
        """The catalog's filter operators (metrics.definitions.Operator) on a column, with
        the same answers for a missing value as on events' fields."""
        field = self.text(item.field, p)
        values = list(item.values)
        d = p.dialect
        op = item.operator
        if op in (Operator.EQ, Operator.IN):
            return f"coalesce({d.in_list(field, values, p)}, false)"
        if op in (Operator.NEQ, Operator.NOT_IN):
            return f"coalesce({d.not_in_list(field, values, p)}, true)"
        if op == Operator.CONTAINS:
            patterns = ["%" + _like_escape(v) + "%" for v in values]
            return f"coalesce({d.like_any(field, patterns, p)}, false)"
        if op == Operator.IS_SET:
            return f"({field} IS NOT NULL)"
        if op == Operator.IS_NOT_SET:
            return f"({field} IS NULL)"
        comparison = {Operator.GT: ">", Operator.GTE: ">=", Operator.LT: "<", Operator.LTE: "<="}
        number = parse_number(values[0]) if values else None
        if number is None:
            return "false"
        value = self.number(item.field, p)
        return f"coalesce({value} {comparison[op]} {p.bind(number, 'float8')}, false)"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def metric_sources(metric: MetricDefinition) -> set[str | None]:
    """The metric sources a metric reads (None: the ingested events)."""
    if metric.type == MetricType.RATIO:
        parts = [metric.numerator, metric.denominator]
        return {part.source for part in parts if part is not None}
    return {metric.source}


def statement(
    assignment: AssignmentSource,
    source: MetricSource,
    scope: ExperimentScope,
    metric: MetricDefinition,
    *,
    cuped_days: int,
    end: dt.datetime,
    series: bool,
) -> Statement:
    """The plan's statement for a metric over `source`, units from `assignment`."""
    return events_statement(
        0,
        scope,
        metric,
        cuped_days=cuped_days,
        end=end,
        series=series,
        dialect=REDSHIFT,
        exposures=assignment_query(assignment),
        events=SourceRows(source),
    )


def group_statistics(
    assignment: AssignmentSource,
    sources: Mapping[str, MetricSource],
    scope: ExperimentScope,
    metric: MetricDefinition,
    *,
    cuped_days: int = 7,
    now: dt.datetime | None = None,
    series: bool = True,
) -> PlanResult:
    """Per-group sufficient statistics of `metric` (over a metric source of `sources`, by
    name) for the units of `assignment`, computed by the warehouse in one statement.
    WarehouseError when the warehouse cannot answer (unreachable, timeout, bad SQL...) or
    the metric reads no source of the assignment's warehouse."""
    names = metric_sources(metric)
    name = next(iter(names)) if len(names) == 1 else None
    source = sources.get(name) if name is not None else None
    if source is None or source.connection_id != assignment.connection_id:
        raise WarehouseError(
            f"{metric.name} does not read a metric source of the warehouse "
            f"{assignment.connection.name}.",
            code="other_source",
        )
    now = now or timezone.now()
    end = effective_end(scope, now)
    built = statement(
        assignment, source, scope, metric, cuped_days=cuped_days, end=end, series=series
    )
    _columns, rows = fetch(Target.of(assignment.connection), built.sql, built.params)
    return _result(rows, built, scope, metric, "warehouse")


def exposure_statement(assignment: AssignmentSource, scope: ExperimentScope) -> tuple[str, dict]:
    """The scope's first exposures in the assignment source, counted by group, UTC day and
    crossover."""
    p = Params(REDSHIFT)
    relation = assignment_query(assignment).relation(0, scope, p)
    day = REDSHIFT.utc_day("x.first_at")
    sql = (
        f"SELECT x.group_name, {day} AS day, x.crossover, count(*) AS units\n"
        f"FROM {relation}\n"
        f"  AND x.first_at >= {p.bind(scope.start, 'timestamptz')}\n"
        f"  AND x.first_at <= {p.bind(scope.end, 'timestamptz')}\n"
        f"GROUP BY x.group_name, {day}, x.crossover"
    )
    return sql, p.values


def exposure_tally(
    assignment: AssignmentSource, scope: ExperimentScope
) -> list[tuple[str, dt.date, bool, bool, int]]:
    """The scope's first exposures in [start, end] (any group), counted by (group, UTC day,
    crossover, bot) as the results read them of ingested exposures; warehouses mark no
    bots."""
    sql, params = exposure_statement(assignment, scope)
    _columns, rows = fetch(Target.of(assignment.connection), sql, params)
    return [(g, day, bool(x), False, int(n)) for g, day, x, n in rows]
