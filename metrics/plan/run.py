"""Running the plan: one statement per metric, a few rows back (docs/results-computation.md).

The engine is settings.GATEHOUSE_EVENTS_ENGINE: "postgres" runs the statement in
PostgreSQL's dialect over metrics_exposure and metrics_event (or the rollup); "clickhouse"
in ClickHouse's over its `exposures` and `events` (metrics.clickhouse), always from events.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from metrics import partitions
from metrics.clickhouse import enabled as clickhouse_enabled
from metrics.definitions import MetricDefinition
from metrics.models import Exposure, UnitDay
from metrics.plan.dialects import CLICKHOUSE
from metrics.plan.query import Statement, breakdown_statement, events_statement
from metrics.plan.types import (
    Breakdown,
    BreakdownResult,
    Caps,
    DayStatistics,
    ExperimentScope,
    GroupStatistics,
    PlanResult,
    Segment,
)


def effective_end(scope: ExperimentScope, now: dt.datetime | None) -> dt.datetime:
    now = now or timezone.now()
    return min(scope.end, now)


def group_statistics(
    environment_id: int,
    experiment: ExperimentScope,
    metric: MetricDefinition,
    *,
    cuped_days: int = 7,
    now: dt.datetime | None = None,
    full: bool = False,
    series: bool = True,
) -> PlanResult:
    """Per-group sufficient statistics of `metric` in `experiment`, computed by one
    statement in the events engine. In PostgreSQL the additive types read the
    per-unit-day rollup (metrics.plan.rollup), refreshed first for the days not yet rolled
    up; `full` computes from metrics_event instead (and leaves the rollup alone). Funnel
    and count distinct always compute from events, and so does ClickHouse. Without
    `series` the groups' `daily` is empty (the series is the costliest part of the
    statement). Raises ValueError for a definition that cannot be computed. Reads only;
    the rollup refresh writes metrics_unitday in its own transaction."""
    from metrics.plan import rollup  # the rollup builds on this module

    if cuped_days < 0:
        raise ValueError("cuped_days must be 0 or more")
    now = now or timezone.now()
    end = effective_end(experiment, now)
    if clickhouse_enabled():
        statement = events_statement(
            environment_id,
            experiment,
            metric,
            cuped_days=cuped_days,
            end=end,
            series=series,
            dialect=CLICKHOUSE,
        )
        return _result(_clickhouse_rows(statement), statement, experiment, metric, "events")
    analyze_stale(experiment.start - dt.timedelta(days=cuped_days), end)
    if (
        not full
        and rollup.rolls_up(metric)
        and rollup.rollup_refresh(
            environment_id, experiment, metric, cuped_days=cuped_days, end=end, now=now
        )
    ):
        analyze_stale(experiment.start, end)  # the rows the refresh just rolled up
        statement = rollup.rollup_statement(
            environment_id, experiment, metric, cuped_days=cuped_days, end=end, series=series
        )
        return execute(statement, experiment, metric, source="rollup")
    statement = events_statement(
        environment_id, experiment, metric, cuped_days=cuped_days, end=end, series=series
    )
    return execute(statement, experiment, metric, source="events")


def breakdown_statistics(
    environment_id: int,
    experiment: ExperimentScope,
    metric: MetricDefinition,
    breakdown: Breakdown,
    *,
    cuped_days: int = 7,
    now: dt.datetime | None = None,
) -> BreakdownResult:
    """Per segment of `breakdown`, the groups' sufficient statistics of `metric`, with the
    caps of the whole experiment; one statement over metrics_event (never the rollup),
    without daily series. Raises ValueError for a definition that cannot be computed or
    broken down so (an event dimension of a ratio or a funnel)."""
    if cuped_days < 0:
        raise ValueError("cuped_days must be 0 or more")
    now = now or timezone.now()
    end = effective_end(experiment, now)
    if clickhouse_enabled():
        statement = breakdown_statement(
            environment_id,
            experiment,
            metric,
            breakdown,
            cuped_days=cuped_days,
            end=end,
            dialect=CLICKHOUSE,
        )
        rows = _clickhouse_rows(statement)
    else:
        analyze_stale(experiment.start - dt.timedelta(days=cuped_days), end)
        statement = breakdown_statement(
            environment_id, experiment, metric, breakdown, cuped_days=cuped_days, end=end
        )
        with transaction.atomic(), connection.cursor() as cursor:
            tune(cursor)
            cursor.execute(statement.sql, statement.params)
            rows = cursor.fetchall()
    by_segment: dict[tuple[int, str | None], list[tuple[Any, ...]]] = {}
    for row in rows:
        by_segment.setdefault((int(row[0]), row[1]), []).append(row[2:])
    segments = []
    for (number, value), segment_rows in by_segment.items():
        kind = "value" if number <= breakdown.top else "other"
        if number == breakdown.top + 2:
            kind = "unknown"
        plan = _result(segment_rows, statement, experiment, metric, "events")
        segments.append(Segment(kind, value, plan))
    if segments:
        first = segments[0].plan
        caps, crossovers, bots = first.caps, first.crossovers, first.bots
    else:
        caps, crossovers, bots = Caps(fixed=metric.cap), 0, 0
    return BreakdownResult(breakdown, tuple(segments), caps, crossovers, bots)


def _clickhouse_rows(statement: Statement) -> list[tuple[Any, ...]]:
    from metrics.clickhouse import clickhouse

    return clickhouse().query(statement.sql, statement.params)


# A table counts as stale for the planner once this share of its rows changed since its
# last ANALYZE (autovacuum's own default is 10% plus 50 rows, on its own schedule).
STALE_SHARE = 0.1
STALE_MIN_ROWS = 500


def analyze_stale(start: dt.datetime, end: dt.datetime) -> list[str]:
    """ANALYZE the tables the plan reads whose statistics lag their rows: exposures, the
    rollup and the event partitions of [start, end]. A burst of events since autovacuum
    last looked (a partition filled in the last minute) otherwise leaves the planner
    thinking them empty, and its nested loops over tens of thousands of units took
    minutes where hash joins take a second. Sampling costs a fraction of a second per
    table. Returns the tables analysed."""
    days = partitions.existing()
    wanted = [UnitDay._meta.db_table, Exposure._meta.db_table]
    wanted += [name for day, name in days.items() if start.date() <= day <= end.date()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) "
            "AND n_mod_since_analyze > greatest(%s, %s * n_live_tup)",
            [wanted, STALE_MIN_ROWS, STALE_SHARE],
        )
        stale = sorted(row[0] for row in cursor.fetchall())
        for table in stale:
            cursor.execute(f'ANALYZE "{table}"')  # names from pg_stat_user_tables
    return stale


def execute(
    statement: Statement, scope: ExperimentScope, metric: MetricDefinition, *, source: str
) -> PlanResult:
    with transaction.atomic(), connection.cursor() as cursor:
        tune(cursor)
        cursor.execute(statement.sql, statement.params)
        rows = cursor.fetchall()
    return _result(rows, statement, scope, metric, source)


def tune(cursor) -> None:
    """Settings for the plan's statements, for the current transaction only: work_mem
    (settings.GATEHOUSE_RESULTS_WORK_MEM), as their sorts and hashes hold a row per unit
    and the default 4MB spills them to disk; and no JIT, whose compilation the planner's
    row estimates over CTEs trigger: it took 1.3 to 3.9 s of statements that ran 0.3 to
    4.6 s without it (bench/results_refresh.py, BENCH_EXPLAIN=1)."""
    cursor.execute(
        "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)",
        [settings.GATEHOUSE_RESULTS_WORK_MEM],
    )


def _result(
    rows: list[tuple[Any, ...]],
    statement: Statement,
    scope: ExperimentScope,
    metric: MetricDefinition,
    source: str,
) -> PlanResult:
    shape = statement.shape
    ratio = shape.ratio_like
    cuped = statement.cuped_days > 0
    days = _days(scope.start, statement.end)
    groups = []
    caps: tuple[Any, ...] = (None, None, None, None)
    crossovers = bots = 0
    points: dict[str, list[tuple[Any, ...]]] = {}
    if statement.series_rows:
        # Led by 0: a point of a group's series (Dialect.series_rows); else the group's number.
        for row in rows:
            if row[0] == 0:
                points.setdefault(row[1], []).append((row[25], *row[2:8]))
        rows = [row[1:] for row in rows if row[0] != 0]
    for row in rows:
        name, units, n = row[0], int(row[1]), int(row[2])
        s, ss, sd, sdd, syd, cx, cxx, cyx, with_pre = row[3:12]
        dpre, dpre2, y_dpre, x_d, x_dpre, d_dpre = row[12:18]
        caps = tuple(row[18:22])
        crossovers, bots = int(row[22]), int(row[23])
        series = points.get(name, []) if statement.series_rows else row[24]
        steps = tuple(int(v) for v in row[25:])
        groups.append(
            GroupStatistics(
                group=name,
                units=units,
                n=n,
                sum=float(s),
                sum_squares=float(ss),
                den_sum=float(sd) if ratio else None,
                den_sum_squares=float(sdd) if ratio else None,
                main_den_sum_product=float(syd) if ratio else None,
                covariate_sum=float(cx) if cuped else None,
                covariate_sum_squares=float(cxx) if cuped else None,
                main_covariate_sum_product=float(cyx) if cuped else None,
                units_with_pre_data=int(with_pre) if cuped else None,
                den_pre_sum=float(dpre) if cuped and ratio else None,
                den_pre_sum_squares=float(dpre2) if cuped and ratio else None,
                main_post_den_pre_sum_product=float(y_dpre) if cuped and ratio else None,
                main_pre_den_post_sum_product=float(x_d) if cuped and ratio else None,
                main_pre_den_pre_sum_product=float(x_dpre) if cuped and ratio else None,
                den_post_den_pre_sum_product=float(d_dpre) if cuped and ratio else None,
                steps=steps,
                daily=_series(series, days, ratio) if statement.has_daily else (),
            )
        )
    fixed = metric.cap
    return PlanResult(
        metric=metric.as_dict(),
        start=scope.start,
        end=statement.end,
        cuped_days=statement.cuped_days,
        groups=tuple(groups),
        caps=Caps(
            upper=_number(caps[0]),
            lower=_number(caps[1]),
            den_upper=_number(caps[2]),
            den_lower=_number(caps[3]),
            fixed=fixed,
        ),
        crossovers=crossovers,
        bots=bots,
        source=source,
    )


def _days(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    first, last = start.astimezone(dt.UTC).date(), end.astimezone(dt.UTC).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _series(raw: Any, days: list[dt.date], ratio: bool) -> tuple[DayStatistics, ...]:
    """Every day from the start's to the end's, carrying the last change forward. `raw`:
    the points (day, n, s, ss, sd, sdd, syd) as JSON (the day as text) or as rows."""
    points = json.loads(raw) if isinstance(raw, str) else (raw or [])
    by_day = {
        p[0] if isinstance(p[0], dt.date) else dt.date.fromisoformat(p[0]): p[1:] for p in points
    }
    out = []
    last: list[float] = [0, 0, 0, 0, 0, 0]
    for day in days:
        if day in by_day:
            last = [float(v) for v in by_day[day]]
        n, s, ss, sd, sdd, syd = last
        out.append(
            DayStatistics(
                day=day,
                n=round(n),
                sum=s,
                sum_squares=ss,
                den_sum=sd if ratio else None,
                den_sum_squares=sdd if ratio else None,
                main_den_sum_product=syd if ratio else None,
            )
        )
    return tuple(out)
