"""The per-unit-per-day rollup (metrics_unitday) that lets a daily refresh read only the
new days of metrics_event (docs/results-computation.md, "Rollups").

Rows belong to one experiment scope (kind, name, unit type) and one component (an event
selector and a value field, hashed): the additive metric types (event count, sum, mean,
user count, and ratios of the first three kinds) are computed from them. The rows are per
unit, event day, received day and period ("pre": the CUPED window before the unit's first
exposure, "post": from it to the end), so they keep the exact timestamp join of the direct
computation; funnel and count distinct are not additive over days and always read events.

A refresh, in one transaction with the component's state row locked:

1. units whose first exposure moved (a late exposure came in earlier) lose their rows;
2. rows of events received on or after `through_day` (the last day rolled up, re-read
   because it was still filling) are deleted;
3. one INSERT … SELECT adds the rows of events received since `through_day` for every
   unit, and of every event (from its CUPED window on) for the units not rolled up
   before (new exposures, moved ones), marking them with a "unit" row;
4. the state records the end used and the new `through_day`.

Events are scanned only from `through_day` (the partitions of metrics_event are per
received day), or from the earliest new unit's pre-period when a unit is new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.conf import settings
from django.db import connection, transaction

from metrics.definitions import EventSelector, MetricDefinition, MetricType, UserCountMode
from metrics.models import RollupState
from metrics.plan import query, run
from metrics.plan.fields import Params, numeric_field, selector_sql, unit_expression
from metrics.plan.shape import Shape, shape_of
from metrics.plan.types import ExperimentScope

ADDITIVE = frozenset({MetricType.EVENT_COUNT, MetricType.SUM, MetricType.USER_COUNT})
# Rows received this long before a refresh are final: the intake's transactions commit
# within seconds of the time they stamp.
SETTLE = dt.timedelta(minutes=10)
# A component built with fewer events per row than settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW
# is read from events; a week later (RECHECK) it is built again to look.
RECHECK = dt.timedelta(days=7)


def rolls_up(metric: MetricDefinition) -> bool:
    if metric.type in ADDITIVE or metric.type == MetricType.MEAN:
        return True
    if metric.type == MetricType.RATIO:
        parts = (metric.numerator, metric.denominator)
        return all(p is not None and p.type in ADDITIVE for p in parts)
    return False


def component_key(selector: EventSelector, value_field: str) -> str:
    data = {
        "event_name": selector.event_name,
        "filters": [[f.field, str(f.operator), list(f.values)] for f in selector.filters],
        "value_field": value_field,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:40]


def _components(shape: Shape) -> list[tuple[str, EventSelector, str]]:
    out = []
    for selector, component in zip(shape.selectors, shape.components, strict=True):
        value_field = component.value_field if component is not None else "value"
        out.append((component_key(selector, value_field), selector, value_field))
    return out


def rollup_refresh(
    environment_id: int,
    scope: ExperimentScope,
    metric: MetricDefinition,
    *,
    cuped_days: int,
    end: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Bring the metric's rollups up to `end`. False when they cannot serve `end` (an end
    before the one they were rolled to): the caller computes from events instead."""
    for key, selector, value_field in _components(shape_of(metric)):
        if not _refresh_component(
            environment_id, scope, key, selector, value_field, cuped_days, end, now
        ):
            return False
    return True


@transaction.atomic
def _refresh_component(
    environment_id: int,
    scope: ExperimentScope,
    key: str,
    selector: EventSelector,
    value_field: str,
    cuped_days: int,
    end: dt.datetime,
    now: dt.datetime,
) -> bool:
    scope_key = scope.key()
    RollupState.objects.bulk_create(
        [
            RollupState(
                environment_id=environment_id,
                scope=scope_key,
                component=key,
                cuped_days=cuped_days,
                rolled_end=end,
                through_day=dt.date.min,
                refreshed_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    state = RollupState.objects.select_for_update().get(
        environment_id=environment_id, scope=scope_key, component=key
    )
    if state.direct and now - state.refreshed_at < RECHECK:
        return False
    rebuild = state.direct or state.through_day == dt.date.min or state.cuped_days != cuped_days
    if not rebuild and end < state.rolled_end:
        return False
    p = Params()
    env = p.bind(environment_id, "integer")
    names = (env, p.bind(scope_key, "text"), p.bind(key, "text"))

    def this(alias: str) -> str:
        return (
            f"{alias}.environment_id = {names[0]} AND {alias}.scope = {names[1]} "
            f"AND {alias}.component = {names[2]}"
        )

    exposures = (
        f"x.environment_id = {env} AND x.kind = {p.bind(scope.kind, 'text')} "
        f"AND x.name = {p.bind(scope.name, 'text')} "
        f"AND x.unit_type = {p.bind(scope.unit_type, 'text')}"
    )
    since = None if rebuild else dt.datetime.combine(state.through_day, dt.time(), tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        run.tune(cursor)
        if rebuild:
            cursor.execute(f"DELETE FROM metrics_unitday r WHERE {this('r')}", p.values)
        else:
            # Rows of the days re-read, and every row of the units whose first exposure
            # moved (they are rolled up again from scratch below).
            cursor.execute(
                f"""DELETE FROM metrics_unitday r WHERE {this("r")} AND (
                  r.received_day >= {p.bind(state.through_day, "date")}
                  OR r.unit_id IN (
                    SELECT m.unit_id FROM metrics_unitday m JOIN metrics_exposure x
                      ON x.unit_id = m.unit_id AND {exposures}
                    WHERE {this("m")} AND m.period = 'unit'
                      AND x.first_at <> m.first_at))""",
                p.values,
            )
        sql = _insert_sql(
            p, names, this("r"), exposures, scope, selector, value_field, cuped_days, end, since
        )
        cursor.execute(sql, p.values)
        rows, events = cursor.fetchone()
        # A build decides whether the rollup pays: with few events per unit-day row, reading
        # the rows costs about what reading the events does, and the refresh comes on top.
        least = settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW
        direct = rebuild and rows > 0 and events / rows < least
        if direct:
            cursor.execute(f"DELETE FROM metrics_unitday r WHERE {this('r')}", p.values)
    through = min((now - SETTLE).astimezone(dt.UTC).date(), end.astimezone(dt.UTC).date())
    state.cuped_days = cuped_days
    state.rolled_end = end
    state.through_day = dt.date.min if direct else max(through, dt.date.min + dt.timedelta(days=1))
    state.refreshed_at = now
    state.direct = direct
    if rebuild and rows:
        state.events_per_row = events / rows
    state.save(
        update_fields=[
            "cuped_days",
            "rolled_end",
            "through_day",
            "refreshed_at",
            "direct",
            "events_per_row",
        ]
    )
    return not direct


def _insert_sql(
    p: Params,
    names: tuple[str, str, str],
    this: str,
    exposures: str,
    scope: ExperimentScope,
    selector: EventSelector,
    value_field: str,
    cuped_days: int,
    end: dt.datetime,
    since: dt.datetime | None,
) -> str:
    """One statement: mark the units not rolled up before ("fresh"), then add the rows of
    the events received since `since` for every unit, and of all events of fresh units.
    The scan of metrics_event starts at the earlier of the two (run-time partition
    pruning on received_at)."""
    columns = (
        "environment_id, scope, component, unit_id, period, day, received_day, first_at, "
        "events, value_sum, value_n"
    )
    env_p, scope_p, key_p = names
    window = p.bind(dt.timedelta(days=cuped_days), "interval")
    since_p = p.bind(since, "timestamptz")
    end_p = p.bind(end, "timestamptz")
    return f"""
WITH x AS (
  SELECT x.unit_id, x.first_at FROM metrics_exposure x
  WHERE {exposures} AND x.first_at <= {end_p}),
fresh AS (
  SELECT x.unit_id, x.first_at FROM x
  WHERE NOT EXISTS (SELECT 1 FROM metrics_unitday r
                    WHERE {this} AND r.period = 'unit' AND r.unit_id = x.unit_id)),
marked AS (
  INSERT INTO metrics_unitday ({columns})
  SELECT {env_p}, {scope_p}, {key_p}, unit_id, 'unit', (first_at AT TIME ZONE 'UTC')::date,
         NULL, first_at, 0, 0, 0
  FROM fresh RETURNING 1),
ev AS (
  SELECT {unit_expression(scope.unit_type, p)} AS unit_id, e.time, e.received_at,
         {numeric_field(value_field, p)} AS v
  FROM metrics_event e
  WHERE {selector_sql(selector, p)}
    AND e.environment_id = {env_p}
    AND e.received_at >= least({since_p}, (SELECT min(first_at) FROM fresh) - {window})
    AND e.time <= {end_p}),
added AS (
  INSERT INTO metrics_unitday ({columns})
  SELECT {env_p}, {scope_p}, {key_p}, x.unit_id,
         CASE WHEN ev.time >= x.first_at THEN 'post' ELSE 'pre' END,
         (ev.time AT TIME ZONE 'UTC')::date, (ev.received_at AT TIME ZONE 'UTC')::date,
         x.first_at, count(*), coalesce(sum(ev.v), 0), count(ev.v)
  FROM x JOIN ev ON ev.unit_id = x.unit_id LEFT JOIN fresh f ON f.unit_id = x.unit_id
  WHERE ev.time >= x.first_at - {window}
    AND (ev.received_at >= {since_p} OR f.unit_id IS NOT NULL)
  GROUP BY x.unit_id, x.first_at, 5, 6, 7
  RETURNING events)
SELECT count(*), coalesce(sum(events), 0) FROM added"""


# Reading ----------------------------------------------------------------------------------


def rollup_statement(
    environment_id: int,
    scope: ExperimentScope,
    metric: MetricDefinition,
    *,
    cuped_days: int,
    end: dt.datetime,
    series: bool = True,
) -> query.Statement:
    """The statement computing the metric from metrics_unitday (refreshed first), the
    daily series too when `series`."""
    shape = shape_of(metric)
    p = Params()
    ctes = query._units_ctes(environment_id, scope, end, p)
    reads = []
    for i, (key, _, _) in enumerate(_components(shape)):
        reads.append(
            f"""SELECT {i} AS c, r.unit_id, r.day, r.period = 'post' AS post,
         sum(r.events)::float8 AS ev, sum(r.value_sum) AS vs, sum(r.value_n)::float8 AS vn
  FROM metrics_unitday r
  WHERE r.environment_id = {p.bind(environment_id, "integer")}
    AND r.scope = {p.bind(scope.key(), "text")} AND r.component = {p.bind(key, "text")}
    AND r.period <> 'unit'
  GROUP BY r.unit_id, r.day, r.period"""
        )
    ctes.append("rk AS (\n  " + "\n  UNION ALL\n  ".join(reads) + ")")
    ctes.append(
        """joined AS (
  SELECT u.unit_id, u.group_name, u.days, u.first_day, rk.c, rk.day, rk.post,
         rk.ev, rk.vs, rk.vn
  FROM units u LEFT JOIN rk ON rk.unit_id = u.unit_id)"""
    )
    ctes.append(_perunit(shape, cuped_days, p))
    daily = _increments(shape) if series else None
    ctes += query._tail_ctes(shape, p, daily)
    final = query._final_select(shape, scope, p, daily is not None)
    sql = "WITH " + ",\n".join(ctes) + "\n" + final
    return query.Statement(sql, p.values, shape, end, cuped_days, daily is not None)


def _value(component: MetricDefinition, i: int, period: str, days: str) -> str:
    cond = f"{period} AND j.c = {i}"
    if component.type == MetricType.EVENT_COUNT:
        return f"coalesce(sum(j.ev) FILTER (WHERE {cond}), 0)"
    if component.type == MetricType.SUM:
        return f"coalesce(sum(j.vs) FILTER (WHERE {cond}), 0)"
    if component.user_count_mode == UserCountMode.ONE_TIME:
        return f"(coalesce(sum(j.ev) FILTER (WHERE {cond}), 0) > 0)::int::float8"
    return f"count(DISTINCT j.day) FILTER (WHERE {cond} AND j.ev > 0)::float8 / {days}"


def _perunit(shape: Shape, cuped_days: int, p: Params) -> str:
    metric = shape.metric
    pre_days = p.bind(float(max(cuped_days, 1)), "float8")
    periods = ((query.POST, "j.days"), (query.PRE, pre_days))
    if metric.type == MetricType.MEAN:
        num = [f"coalesce(sum(j.vs) FILTER (WHERE {per}), 0)" for per, _ in periods]
        den = [f"coalesce(sum(j.vn) FILTER (WHERE {per}), 0)" for per, _ in periods]
    elif metric.type == MetricType.RATIO:
        parts = shape.components
        assert parts[0] is not None
        assert parts[1] is not None
        num = [
            query._capped_component(parts[0], _value(parts[0], 0, per, d), p, False)
            for per, d in periods
        ]
        den = [
            query._capped_component(parts[1], _value(parts[1], 1, per, d), p, False)
            for per, d in periods
        ]
    else:
        num = [_value(metric, 0, per, d) for per, d in periods]
        den = ["1::float8", "1::float8"]
    has_pre = f"coalesce(bool_or({query.PRE} AND j.ev > 0), false)" if cuped_days else "false"
    if not cuped_days:
        num[1] = den[1] = "0::float8"
    return f"""perunit AS (
  SELECT j.unit_id, j.group_name, {num[0]} AS num, {den[0]} AS den,
         {num[1]} AS pre_num, {den[1]} AS pre_den, {has_pre} AS has_pre
  FROM joined j GROUP BY j.unit_id, j.group_name, j.days)"""


def _increments(shape: Shape) -> str | None:
    base = (
        "SELECT u.unit_id, u.group_name, u.first_day AS day, 0::float8 AS a, 0::float8 AS b "
        "FROM units u"
    )
    where = f"FROM joined j WHERE {query.POST}"
    metric = shape.metric
    if metric.type == MetricType.MEAN:
        return f"""{base}
  UNION ALL SELECT j.unit_id, j.group_name, j.day, sum(j.vs), sum(j.vn) {where}
    GROUP BY 1, 2, 3"""
    parts = [c for c in shape.components if c is not None]
    out = base
    for i, part in enumerate(parts):
        if part.type == MetricType.USER_COUNT and part.user_count_mode != UserCountMode.ONE_TIME:
            return None
        column = "j.vs" if part.type == MetricType.SUM else "j.ev"
        a, b = (f"sum({column})", "0") if i == 0 else ("0", f"sum({column})")
        out += f"""
  UNION ALL SELECT j.unit_id, j.group_name, j.day, {a}, {b} {where} AND j.c = {i}
    GROUP BY 1, 2, 3"""
    return out
