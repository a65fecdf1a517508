"""The Redshift dialect (a customer's warehouse): every statement parses with sqlglot's
Redshift dialect, and on PostgreSQL (whose SQL it also is) gives the numbers PostgreSQL's
dialect gives over the same sources, and those of Gatehouse's own tables."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlglot

from metrics.definitions import MetricDefinition, MetricType
from metrics.plan import Breakdown, group_statistics
from metrics.plan.dialects import POSTGRES, REDSHIFT
from metrics.plan.query import Statement, breakdown_statement, events_statement
from metrics.plan.run import execute
from metrics.plan.sources import AssignmentQuery, MetricQuery
from tests.metrics.plan import test_group_statistics as base
from tests.metrics.plan.engines import assert_same

pytestmark = pytest.mark.django_db

world = base.world  # the seeded world: 120 units, crossovers, bots, every kind of event

# The metrics a warehouse's rows (unit, time, event name, value) can give.
WAREHOUSE_METRICS = {
    name: base.METRICS[name]
    for name in (
        "participation",
        "one_time",
        "sum_fixed_cap_only",
        "mean",
        "ratio_sparse_denominator",
        "ratio_of_user_counts",
        "funnel_window",
        "funnel_step_never_reached",
        "event_never_seen",
    )
} | {
    "count_distinct_values": MetricDefinition(
        "amounts", MetricType.COUNT_DISTINCT, base.PURCHASE, value_field="value"
    ),
    "sum_winsorized": MetricDefinition(
        "revenue", MetricType.SUM, base.PURCHASE, winsorize_upper=0.9, winsorize_lower=0.1
    ),
}


def warehouse(environment_id: int) -> tuple[AssignmentQuery, MetricQuery]:
    """The world's rows as a warehouse would give them: assignments (a crossover's second
    group as a row an hour later; no bots, which a warehouse does not mark) and metric
    rows."""
    assignments = f"""
        SELECT x.unit_id, x.name AS experiment, x.group_name, x.first_at AS assigned_at
        FROM metrics_exposure x
        WHERE x.environment_id = {int(environment_id)} AND x.kind = 'config'
          AND x.unit_type = 'userID' AND NOT x.is_bot
        UNION ALL
        SELECT x.unit_id, x.name, x.group_name || ' again', x.first_at + interval '1 hour'
        FROM metrics_exposure x
        WHERE x.environment_id = {int(environment_id)} AND x.crossover AND NOT x.is_bot"""
    rows = f"""
        SELECT e.user_id AS unit_id, e.time, e.event_name, e.value_num AS value
        FROM metrics_event e WHERE e.environment_id = {int(environment_id)}"""
    return AssignmentQuery(assignments), MetricQuery(rows)


def with_literals(statement: Statement) -> str:
    """The statement with its parameters written in as literals (sqlglot parses SQL, not
    psycopg's placeholders)."""

    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, dt.datetime | dt.date):
            return f"'{value.isoformat()}'"
        return "'" + str(value).replace("'", "''") + "'"

    return re.sub(r"%\((p\d+)\)s", lambda m: literal(statement.params[m.group(1)]), statement.sql)


@pytest.mark.parametrize("name", list(WAREHOUSE_METRICS))
def test_redshift_dialect__parses_and_equals_postgresql(world, name):
    # Given the world's rows as a warehouse's assignment and metric queries
    metric = WAREHOUSE_METRICS[name]
    s = base.scope(world)
    end = min(s.end, dt.datetime.now(dt.UTC))
    assignments, rows = warehouse(world.environment.pk)

    def statement(dialect) -> Statement:
        return events_statement(
            world.environment.pk,
            s,
            metric,
            cuped_days=7,
            end=end,
            dialect=dialect,
            exposures=assignments,
            events=rows,
        )

    # When the plan is built in Redshift's dialect and in PostgreSQL's
    redshift, postgres = statement(REDSHIFT), statement(POSTGRES)
    # Then Redshift's parses as Redshift SQL, without PostgreSQL's own constructs
    parsed = sqlglot.parse(with_literals(redshift), read="redshift")
    assert len(parsed) == 1
    for construct in ("FILTER (WHERE", "json_agg", "unnest", "make_interval", "ANY(", "WINDOW"):
        assert construct not in redshift.sql
    # And run on PostgreSQL both give the same numbers, series included
    on_redshift = execute(redshift, s, metric, source="events")
    on_postgres = execute(postgres, s, metric, source="events")
    assert_same(on_postgres, on_redshift)
    assert sum(g.units for g in on_redshift.groups) > 100
    if name == "count_distinct_values":
        return  # our own tables count distinct value texts ("n/a" too), a warehouse numbers
    # And the same as from Gatehouse's own tables, but for the bots a warehouse does not mark
    own = group_statistics(world.environment.pk, s, metric, cuped_days=7, now=end, full=True)
    assert_same(own.groups, on_redshift.groups)
    assert (on_redshift.crossovers, on_redshift.bots) == (own.crossovers, 0)


@pytest.mark.parametrize(
    "breakdown", [Breakdown("unit", "country"), Breakdown("event", "metadata.sku")]
)
def test_warehouse_sources__breakdown__a_clear_error(world, breakdown):
    # Given a warehouse's sources, whose rows have no dimensions
    assignments, rows = warehouse(world.environment.pk)
    # When a breakdown is asked of them, Then it is refused with a sentence (no SQL error)
    with pytest.raises(ValueError, match="no .* to break down by"):
        breakdown_statement(
            world.environment.pk,
            base.scope(world),
            base.METRICS["sum_fixed_cap_only"],
            breakdown,
            cuped_days=7,
            end=world.end,
            dialect=REDSHIFT,
            exposures=assignments,
            events=rows,
        )


def test_warehouse_metric_source__a_filter__a_clear_error(world):
    # Given a warehouse's metric rows (unit, time, event name, value)
    assignments, rows = warehouse(world.environment.pk)
    # When a metric filters on a field they do not have, Then it is refused with a sentence
    with pytest.raises(ValueError, match="no fields to filter on"):
        events_statement(
            world.environment.pk,
            base.scope(world),
            base.METRICS["sum_filtered_capped"],
            cuped_days=7,
            end=world.end,
            dialect=REDSHIFT,
            exposures=assignments,
            events=rows,
        )
