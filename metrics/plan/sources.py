"""Where the query plan reads its units and events (docs/results-computation.md,
"Sources").

The `scoped` step reads each unit's first exposure from an exposure source, the `ev` step
the metric's events from an event source. The defaults are the engine's own tables
(`Exposures`, `Events`: metrics_exposure and metrics_event in PostgreSQL, exposures and
events in ClickHouse); a warehouse passes queries of its own (`AssignmentQuery`,
`MetricQuery`). A query's text is the caller's and is put in the statement as is: with
psycopg parameters, a literal `%` is written `%%`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from metrics.definitions import EventSelector
from metrics.plan.fields import (
    Params,
    numeric_field,
    selector_sql,
    text_field,
    unit_expression,
)
from metrics.plan.types import ExperimentScope


class ExposureSource(Protocol):
    # Whether its units have the dimensions unit breakdowns read.
    dimensions: bool

    def relation(self, environment_id: int, scope: ExperimentScope, p: Params) -> str:
        """A FROM item `x` followed by a WHERE clause: one row per unit of the scope with
        unit_id, group_name, first_at, crossover and is_bot (and country, browser, os,
        custom for unit breakdowns). The plan appends `AND ...` conditions."""
        ...


class EventSource(Protocol):
    # Whether its events have fields event breakdowns read.
    dimensions: bool

    def relation(self, environment_id: int, names: list[str], p: Params) -> str:
        """A FROM item `e` followed by a WHERE clause: the events named `names`. The plan
        appends `AND ...` conditions on `e.time` (and `e.received_at` when
        `by_received_day`)."""
        ...

    @property
    def by_received_day(self) -> bool: ...

    def unit(self, unit_type: str, p: Params) -> str: ...

    def selector(self, selector: EventSelector, p: Params) -> str: ...

    def number(self, path: str, p: Params) -> str: ...

    def text(self, path: str, p: Params) -> str: ...


@dataclass(frozen=True, slots=True)
class Exposures:
    """The engine's own exposures (metrics_exposure; ClickHouse folds its rows)."""

    dimensions = True

    def relation(self, environment_id: int, scope: ExperimentScope, p: Params) -> str:
        prefix = "x." if p.dialect.name != "clickhouse" else ""
        where = (
            f"{prefix}environment_id = {p.bind(environment_id, 'integer')}\n"
            f"    AND {prefix}kind = {p.bind(scope.kind, 'text')} "
            f"AND {prefix}name = {p.bind(scope.name, 'text')}\n"
            f"    AND {prefix}unit_type = {p.bind(scope.unit_type, 'text')}"
        )
        return p.dialect.exposures(where)


@dataclass(frozen=True, slots=True)
class Events:
    """The engine's own events (metrics_event, ClickHouse's events)."""

    dimensions = True

    def relation(self, environment_id: int, names: list[str], p: Params) -> str:
        table = p.dialect.events_table
        return (
            f"{table} e\n"
            f"  WHERE e.environment_id = {p.bind(environment_id, 'integer')}\n"
            f"    AND {p.dialect.in_list('e.event_name', names, p)}"
        )

    @property
    def by_received_day(self) -> bool:
        return True

    def unit(self, unit_type: str, p: Params) -> str:
        return unit_expression(unit_type, p)

    def selector(self, selector: EventSelector, p: Params) -> str:
        return selector_sql(selector, p)

    def number(self, path: str, p: Params) -> str:
        return numeric_field(path, p)

    def text(self, path: str, p: Params) -> str:
        return text_field(path, p)


@dataclass(frozen=True, slots=True)
class AssignmentQuery:
    """A warehouse's assignments: `sql` gives rows (unit_id text, experiment text,
    group_name text, assigned_at timestamp), several per unit allowed. A unit's first
    exposure is its earliest row (ties: the first group name); it is a crossover when
    its rows name more than one group. Warehouses mark no bots, nor dimensions."""

    sql: str
    dimensions = False

    def relation(self, environment_id: int, scope: ExperimentScope, p: Params) -> str:
        experiment = p.bind(scope.name, "text")
        return f"""(
    SELECT f.unit_id, f.group_name, f.first_at, c.groups > 1 AS crossover, false AS is_bot
    FROM (SELECT a.unit_id, a.group_name, a.assigned_at AS first_at,
                 row_number() OVER (PARTITION BY a.unit_id
                                    ORDER BY a.assigned_at, a.group_name) AS rn
          FROM ({self.sql}) a WHERE a.experiment = {experiment}) f
    JOIN (SELECT a.unit_id, count(DISTINCT a.group_name) AS groups
          FROM ({self.sql}) a WHERE a.experiment = {experiment} GROUP BY a.unit_id) c
      ON c.unit_id = f.unit_id
    WHERE f.rn = 1) AS x WHERE true"""


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """A warehouse's metric rows: `sql` gives rows (unit_id text, time timestamp,
    event_name text, value double or NULL). Selectors match on event_name only (a
    warehouse row has no other fields); "value" is the value."""

    sql: str
    dimensions = False

    def relation(self, environment_id: int, names: list[str], p: Params) -> str:
        return f"({self.sql}) e\n  WHERE {p.dialect.in_list('e.event_name', names, p)}"

    @property
    def by_received_day(self) -> bool:
        return False

    def unit(self, unit_type: str, p: Params) -> str:
        return "e.unit_id"

    def selector(self, selector: EventSelector, p: Params) -> str:
        if selector.filters:
            raise ValueError("a warehouse metric's rows have no fields to filter on")
        return f"(e.event_name = {p.bind(selector.event_name, 'text')})"

    def number(self, path: str, p: Params) -> str:
        return self.text(path, p)

    def text(self, path: str, p: Params) -> str:
        if path != "value":
            raise ValueError(f"a warehouse metric's rows have no field {path!r}")
        return "e.value"


EXPOSURES = Exposures()
EVENTS = Events()
