"""The statement that turns stored exposures and events into per-group sufficient
statistics for one experiment and one metric (docs/results-computation.md).

One statement of CTEs per metric, built once for every engine: what differs is the
dialect's (metrics.plan.dialects), where the units and events come from the sources'
(metrics.plan.sources). Only one row per group leaves the database (and, where the
dialect says so, a row per group and day of the series):

    scoped    the scope's exposure rows (group in scope, first exposure in [start, end])
    excluded  crossovers and bots counted
    units     the units kept, with their first exposure and days exposed
    ev        the metric's events in [first possible pre-period, end], each with its unit
              (the scope's unit type), a flag per selector (name and filters) and values
    joined    units LEFT JOIN ev on the unit, from `cuped_days` before the first exposure
              (post: at or after it)
    perunit   per unit: numerator and denominator over the post period, the same over the
              pre period (CUPED covariate), whether any pre-period event matched
    caps      percentile caps pooled across groups over non-zero values
    capped    per unit, capped values
    daily     per group and day, cumulative n and sums (from per-unit-day increments)
    final     per group: n, sums, squares and cross products
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from metrics.definitions import MetricDefinition, MetricType, UserCountMode
from metrics.plan.dialects import POSTGRES, Dialect
from metrics.plan.fields import Params
from metrics.plan.shape import Shape, shape_of
from metrics.plan.sources import EVENTS, EXPOSURES, EventSource, ExposureSource
from metrics.plan.types import Breakdown, ExperimentScope

POST = "j.post"
PRE = "NOT j.post"


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: dict
    shape: Shape
    end: dt.datetime
    cuped_days: int
    has_daily: bool
    # The daily series comes as rows after the groups' (Dialect.series_rows).
    series_rows: bool = False


def events_statement(
    environment_id: int,
    scope: ExperimentScope,
    metric: MetricDefinition,
    *,
    cuped_days: int,
    end: dt.datetime,
    series: bool = True,
    dialect: Dialect = POSTGRES,
    exposures: ExposureSource = EXPOSURES,
    events: EventSource = EVENTS,
) -> Statement:
    """The statement computing everything from the events (the daily series too when
    `series`), in `dialect`, reading `exposures` and `events` (default: the engine's own
    tables)."""
    shape = shape_of(metric)
    p = Params(dialect)
    head = _units_ctes(environment_id, scope, end, p, exposures)
    ctes = [*head, *_event_ctes(environment_id, shape, scope, cuped_days, end, p, events)]
    ctes += _perunit_ctes(shape, cuped_days, p)
    daily = _daily_increments(shape, dialect) if series else None
    ctes += _tail_ctes(shape, p, daily)
    return _statement(ctes, shape, scope, p, end, cuped_days, daily is not None)


def _statement(
    ctes: list[str],
    shape: Shape,
    scope: ExperimentScope,
    p: Params,
    end: dt.datetime,
    cuped_days: int,
    daily: bool,
    segmented: bool = False,
) -> Statement:
    final = _final_select(shape, scope, p, daily, segmented)
    sql = "WITH " + ",\n".join(ctes) + "\n" + final + p.dialect.suffix
    series_rows = daily and p.dialect.series_rows
    return Statement(sql, p.values, shape, end, cuped_days, daily, series_rows)


def breakdown_statement(
    environment_id: int,
    scope: ExperimentScope,
    metric: MetricDefinition,
    breakdown: Breakdown,
    *,
    cuped_days: int,
    end: dt.datetime,
    dialect: Dialect = POSTGRES,
    exposures: ExposureSource = EXPOSURES,
    events: EventSource = EVENTS,
) -> Statement:
    """The statement computing, from the events, the groups' statistics per segment of
    `breakdown`: one row per (segment, group), led by the segment's number and value
    (numbers 1..top the top values by units, top + 1 the other values, top + 2 none). The
    caps are the whole experiment's; there is no daily series."""
    shape = shape_of(metric)
    by_event = breakdown.source == "event"
    if by_event and len(shape.selectors) != 1:
        raise ValueError(
            f"{metric.name}: a {metric.type} metric has no event dimension to break down by"
        )
    if not (events if by_event else exposures).dimensions:
        raise ValueError(f"{metric.name}: the source has no {breakdown.field} to break down by")
    p = Params(dialect)
    unit_dim = None if by_event else _unit_dimension(breakdown.field, p)
    ctes = _units_ctes(environment_id, scope, end, p, exposures, unit_dim)
    other, unknown = p.bind(breakdown.top + 1, "integer"), p.bind(breakdown.top + 2, "integer")
    if not by_event:
        ctes += [
            """dimunits AS (SELECT dim, count(*) AS n FROM units GROUP BY dim)""",
            *_segment_ctes(breakdown, other, unknown, p),
            f"""unitseg AS (
  SELECT u.unit_id, coalesce(t.seg, CASE WHEN u.dim IS NULL THEN {unknown} ELSE {other} END)
         AS seg
  FROM units u LEFT JOIN tops t ON t.dim = u.dim)""",
        ]
    event_dim = events.text(breakdown.field, p) if by_event else None
    ctes += _event_ctes(
        environment_id, shape, scope, cuped_days, end, p, events, event_dim, other, unknown
    )
    if by_event:
        # The segments come before `joined`: _event_ctes left them to insert here.
        joined = ctes.pop()
        ctes += [
            """dimunits AS (
  SELECT ev.dim, count(DISTINCT u.unit_id) AS n
  FROM units u JOIN ev ON ev.unit_id = u.unit_id AND ev.time >= u.first_at AND ev.s0
  GROUP BY ev.dim)""",
            *_segment_ctes(breakdown, other, unknown, p),
            joined,
        ]
    ctes += _perunit_ctes(shape, cuped_days, p, segmented=by_event)
    ctes += _tail_ctes(shape, p, None, segmented=by_event)
    ctes.append(
        "segcapped AS (SELECT * FROM capped)"
        if by_event
        else """segcapped AS (
  SELECT cp.*, us.seg FROM capped cp JOIN unitseg us ON us.unit_id = cp.unit_id)"""
    )
    return _statement(ctes, shape, scope, p, end, cuped_days, False, True)


def _unit_dimension(field: str, p: Params) -> str:
    """A unit's dimension value at its first exposure, SQL over the exposures x."""
    if field.startswith("custom."):
        key = p.bind(field[len("custom.") :], "text")
        return f"nullif({p.dialect.json_text('x.custom', key)}, '')"
    column = {"country": "x.country", "browser": "x.browser", "os": "x.os"}[field]
    return f"nullif({column}, '')"


def _segment_ctes(breakdown: Breakdown, other: str, unknown: str, p: Params) -> list[str]:
    """`tops`: the top values by units (from `dimunits`: dim, n), numbered from 1;
    `segs`: those, then "other" and "unknown" when some unit or event falls there."""
    return [
        f"""tops AS (
  SELECT dim, {p.dialect.cast("row_number() OVER (ORDER BY n DESC, dim)", "bigint")} AS seg
  FROM dimunits
  WHERE dim IS NOT NULL ORDER BY n DESC, dim LIMIT {p.bind(breakdown.top, "integer")})""",
        f"""segs AS (
  SELECT seg, dim FROM tops
  UNION ALL SELECT {other}, NULL WHERE EXISTS (
    SELECT 1 FROM dimunits d WHERE d.dim IS NOT NULL AND d.dim NOT IN (SELECT dim FROM tops))
  UNION ALL SELECT {unknown}, NULL WHERE EXISTS (SELECT 1 FROM dimunits WHERE dim IS NULL))""",
    ]


def _units_ctes(
    environment_id: int,
    scope: ExperimentScope,
    end: dt.datetime,
    p: Params,
    exposures: ExposureSource = EXPOSURES,
    dim: str | None = None,
) -> list[str]:
    d = p.dialect
    groups = list(dict.fromkeys(scope.groups))
    relation = exposures.relation(environment_id, scope, p)
    bots = p.bind(scope.exclude_bots, "boolean")
    end_day = p.bind(end.astimezone(dt.UTC).date(), "date")
    dim_column, dim_keep = (f", {dim} AS dim", ", dim") if dim else ("", "")
    return [
        f"""scoped AS (
  SELECT x.unit_id, x.group_name, x.first_at, x.crossover, x.is_bot{dim_column}
  FROM {relation}
    AND {d.in_list("x.group_name", groups, p)}
    AND x.first_at >= {p.bind(scope.start, "timestamptz")}
    AND x.first_at <= {p.bind(end, "timestamptz")})""",
        f"""excluded AS (
  SELECT {d.count_if("crossover")} AS crossovers,
         {d.count_if(f"NOT crossover AND is_bot AND {bots}")} AS bots
  FROM scoped)""",
        f"""units AS (
  SELECT unit_id, group_name, first_at,
         {d.utc_day("first_at")} AS first_day,
         greatest(1, {end_day} - {d.utc_day("first_at")} + 1) AS days{dim_keep}
  FROM scoped WHERE NOT crossover AND NOT (is_bot AND {bots}))""",
    ]


def event_columns(shape: Shape, unit: str, p: Params, events: EventSource = EVENTS) -> list[str]:
    """What the plan reads of each event: its unit (`unit`, SQL), time and UTC day, whether
    it is each selector's (s0, s1, ...), and each component's number (v_i) or text (t_i)."""
    columns = [f"{unit} AS unit_id", "e.time", f"{p.dialect.utc_day('e.time')} AS day"]
    for i, selector in enumerate(shape.selectors):
        columns.append(f"{events.selector(selector, p)} AS s{i}")
        component = shape.components[i]
        if component is None:
            continue
        if component.type in (MetricType.SUM, MetricType.MEAN):
            columns.append(f"{events.number(component.value_field, p)} AS v{i}")
        if component.type == MetricType.COUNT_DISTINCT:
            columns.append(f"{events.text(component.value_field, p)} AS t{i}")
    return columns


def _event_ctes(
    environment_id: int,
    shape: Shape,
    scope: ExperimentScope,
    cuped_days: int,
    end: dt.datetime,
    p: Params,
    events: EventSource = EVENTS,
    dim: str | None = None,
    other: str = "",
    unknown: str = "",
) -> list[str]:
    """`ev` and `joined`; with `dim` (an event breakdown) `ev` carries the event's value of
    the dimension and `joined` is units × segments, each event in its segment's row
    (the caller inserts the `tops` and `segs` CTEs before `joined`)."""
    scan_from = scope.start - dt.timedelta(days=cuped_days)
    columns = event_columns(shape, events.unit(scope.unit_type, p), p, events)
    if dim is not None:
        columns.append(f"nullif({dim}, '') AS dim")
    relation = events.relation(environment_id, shape.event_names, p)
    scan = p.bind(scan_from, "timestamptz")
    prune = (
        "-- received_at >= time: the bound on received_at prunes the day partitions\n"
        f"    AND e.received_at >= {scan} "
        if events.by_received_day and p.dialect.events_by_received_day
        else ""
    )
    earliest = p.dialect.minus_days("u.first_at", cuped_days, p) if cuped_days else "u.first_at"
    # Every column named (a join's columns keep their table's name in ClickHouse).
    flags = ", ".join(f"ev.s{i} AS s{i}" for i in range(len(shape.selectors)))
    values = "".join(
        f", ev.v{i} AS v{i}"
        if c is not None and c.type in (MetricType.SUM, MetricType.MEAN)
        else ""
        for i, c in enumerate(shape.components)
    ) + "".join(
        f", ev.t{i} AS t{i}" if c is not None and c.type == MetricType.COUNT_DISTINCT else ""
        for i, c in enumerate(shape.components)
    )
    unit = "u.unit_id AS unit_id, u.group_name AS group_name, u.days AS days"
    unit += ", u.first_day AS first_day"
    return [
        f"""ev AS (
  SELECT {", ".join(columns)}
  FROM {relation}
    {prune}AND e.time >= {scan}
    AND e.time <= {p.bind(end, "timestamptz")})""",
        f"""joined {p.dialect.shared} (
  SELECT {unit}, ev.time AS time, ev.day AS day,
         ev.time >= u.first_at AS post, {flags}{values}
  FROM units u LEFT JOIN ev ON ev.unit_id = u.unit_id AND ev.time >= {earliest})"""
        if dim is None
        else f"""joined {p.dialect.shared} (
  SELECT {unit}, s.seg AS seg, ev.time AS time, ev.day AS day,
         ev.time >= u.first_at AS post, {flags}{values}
  FROM units u CROSS JOIN segs s
  LEFT JOIN (SELECT ev.*, coalesce(t.seg,
                      CASE WHEN ev.dim IS NULL THEN {unknown} ELSE {other} END) AS seg
             FROM ev LEFT JOIN tops t ON t.dim = ev.dim) AS ev
    ON ev.unit_id = u.unit_id AND ev.seg = s.seg AND ev.time >= {earliest})""",
    ]


def component_value(
    component: MetricDefinition, i: int, period: str, days: str, d: Dialect = POSTGRES
) -> str:
    """One unit's value of a simple metric over the rows of `joined` (alias j) in
    `period`; `days` is the number of days of the period (participation)."""
    cond = f"{period} AND j.s{i}"
    kind = component.type
    if kind == MetricType.EVENT_COUNT:
        value = d.cast(d.count_if(cond), "float8")
    elif kind == MetricType.SUM:
        value = f"coalesce({d.sum_if(f'j.v{i}', cond)}, 0)"
    elif kind == MetricType.USER_COUNT and component.user_count_mode == UserCountMode.ONE_TIME:
        value = d.bool_number(f"{d.count_if(cond)} > 0")
    elif kind == MetricType.USER_COUNT:
        value = f"{d.cast(d.count_distinct_if('j.day', cond), 'float8')} / {days}"
    elif kind == MetricType.COUNT_DISTINCT:
        value = d.cast(d.count_distinct_if(f"j.t{i}", cond), "float8")
    else:  # pragma: no cover (shape_of allows no other)
        raise ValueError(kind)
    return value


def _capped_component(component: MetricDefinition, value: str, p: Params, top: bool) -> str:
    # A ratio's parts keep their own fixed caps; the metric's own cap is applied with the
    # percentile caps (capped CTE).
    if top or component.cap is None:
        return value
    return f"least({value}, {p.bind(component.cap, 'float8')})"


def _perunit_ctes(
    shape: Shape, cuped_days: int, p: Params, *, segmented: bool = False
) -> list[str]:
    """`perunit`; `segmented` (an event breakdown): per unit and segment, and `perunit_all`
    per unit over every segment, for the caps of the whole experiment."""
    metric = shape.metric
    kind = metric.type
    d = p.dialect
    pre_days = p.bind(float(max(cuped_days, 1)), "float8")
    any_selector = " OR ".join(f"j.s{i}" for i in range(len(shape.selectors)))
    has_pre = d.any_if(f"{PRE} AND ({any_selector})") if cuped_days else "false"
    if kind == MetricType.FUNNEL:
        return _funnel_ctes(shape, cuped_days, has_pre, p)
    if kind == MetricType.MEAN:
        num = [f"coalesce({d.sum_if('j.v0', f'{per} AND j.s0')}, 0)" for per in (POST, PRE)]
        den = [d.cast(d.count_value_if("j.v0", f"{per} AND j.s0"), "float8") for per in (POST, PRE)]
    elif kind == MetricType.RATIO:
        parts = shape.components
        assert parts[0] is not None
        assert parts[1] is not None
        num = [
            _capped_component(parts[0], component_value(parts[0], 0, per, n, d), p, False)
            for per, n in ((POST, "j.days"), (PRE, pre_days))
        ]
        den = [
            _capped_component(parts[1], component_value(parts[1], 1, per, n, d), p, False)
            for per, n in ((POST, "j.days"), (PRE, pre_days))
        ]
    else:
        periods = ((POST, "j.days"), (PRE, pre_days))
        num = [component_value(metric, 0, per, n, d) for per, n in periods]
        den = [d.number(1), d.number(1)]
    if not cuped_days:
        num[1] = den[1] = d.number(0)

    def perunit(name: str, seg: str) -> str:
        return f"""{name} {d.shared} (
  SELECT j.unit_id, j.group_name{seg}, {num[0]} AS num, {den[0]} AS den,
         {num[1]} AS pre_num, {den[1]} AS pre_den, {has_pre} AS has_pre
  FROM joined j GROUP BY j.unit_id, j.group_name, j.days{seg})"""

    if segmented:
        return [perunit("perunit_all", ""), perunit("perunit", ", j.seg")]
    return [perunit("perunit", "")]


def _funnel_ctes(shape: Shape, cuped_days: int, has_pre: str, p: Params) -> list[str]:
    """Per unit and period, the time of each step done in order: step 1 at its first
    time, each next step at its first time at or after the previous one and, with a
    window, at most that many hours after step 1."""
    d = p.dialect
    window = shape.metric.funnel_window_hours
    ctes = []
    periods = [("f", POST)] + ([("g", PRE)] if cuped_days else [])
    for prefix, period in periods:
        ctes.append(
            f"""{prefix}0 AS (
  SELECT j.unit_id, min(j.time) AS t, min(j.time) AS t0
  FROM joined j WHERE {period} AND j.s0 GROUP BY j.unit_id)"""
        )
        for k in range(1, len(shape.selectors)):
            within = (
                f" AND j.time <= {d.plus_hours('s.t0', int(window), p)}"
                if window is not None
                else ""
            )
            ctes.append(
                f"""{prefix}{k} AS (
  SELECT j.unit_id, min(j.time) AS t, min(s.t0) AS t0
  FROM joined j JOIN {prefix}{k - 1} s ON s.unit_id = j.unit_id
  WHERE {period} AND j.s{k} AND j.time >= s.t{within}
  GROUP BY j.unit_id)"""
            )
    last = len(shape.selectors) - 1
    joins = "".join(
        f"\n  LEFT JOIN {prefix}{k} ON {prefix}{k}.unit_id = u.unit_id"
        for prefix, _ in periods
        for k in range(len(shape.selectors))
    )
    steps = "".join(f", {d.cast(f'f{k}.t IS NOT NULL', 'int')} AS st{k}" for k in range(last + 1))
    pre = (
        f"{d.bool_number(f'g{last}.t IS NOT NULL')} AS pre_num, "
        f"{d.bool_number('g0.t IS NOT NULL')} AS pre_den"
        if cuped_days
        else f"{d.number(0)} AS pre_num, {d.number(0)} AS pre_den"
    )
    ctes.append(
        f"""anypre AS (
  SELECT j.unit_id, {has_pre} AS has_pre FROM joined j GROUP BY j.unit_id)"""
    )
    ctes.append(
        f"""perunit {d.shared} (
  SELECT u.unit_id AS unit_id, u.group_name AS group_name,
         {d.bool_number(f"f{last}.t IS NOT NULL")} AS num,
         {d.bool_number("f0.t IS NOT NULL")} AS den,
         {pre}, anypre.has_pre{steps}
  FROM units u LEFT JOIN anypre ON anypre.unit_id = u.unit_id{joins})"""
    )
    return ctes


def cap_sql(column: str, upper: str, lower: str, fixed: str | None) -> str:
    """`column` capped: between the percentile caps `upper` and `lower` (SQL), then at
    `fixed` when there is one."""
    # least/greatest ignore NULL: a cap that is NULL caps nothing. Zero stays zero (the
    # percentiles are over non-zero values, and a unit without events has no value to cap).
    capped = (
        f"(CASE WHEN {column} = 0 THEN {column} "
        f"ELSE greatest(least({column}, {upper}), {lower}) END)"
    )
    return f"least({capped}, {fixed})" if fixed else capped


def _tail_ctes(shape: Shape, p: Params, daily: str | None, *, segmented: bool = False) -> list[str]:
    metric = shape.metric
    d = p.dialect
    # Caps pooled over the whole experiment: per unit, every segment together.
    caps_from = "perunit_all" if segmented else "perunit"
    seg = ", v.seg" if segmented else ""
    counted = "den <> 0" if shape.ratio_like else "true"
    none = d.null("float8")
    if metric.winsorized:
        up, low = metric.winsorize_upper, metric.winsorize_lower

        def pct(fraction: float | None, column: str) -> str:
            if fraction is None:
                return none
            value = d.nonzero_percentile(d.fraction(fraction, p), column)
            if d.percentiles_apart:
                return f"(SELECT {value} FROM {caps_from} WHERE {counted})"
            return value

        den_caps = (
            f"{pct(up, 'den')} AS den_upper, {pct(low, 'den')} AS den_lower"
            if shape.ratio_like
            else f"{none} AS den_upper, {none} AS den_lower"
        )
        source = "" if d.percentiles_apart else f"\n  FROM {caps_from} WHERE {counted}"
        caps = f"""caps {d.shared} (
  SELECT {pct(up, "num")} AS upper, {pct(low, "num")} AS lower, {den_caps}{source})"""
    else:
        caps = f"""caps {d.shared} (
  SELECT {none} AS upper, {none} AS lower,
         {none} AS den_upper, {none} AS den_lower)"""
    fixed = p.bind(metric.cap, "float8") if metric.cap is not None else None
    y = cap_sql("v.num", "c.upper", "c.lower", fixed)
    dd = cap_sql("v.den", "c.den_upper", "c.den_lower", None)
    x = cap_sql("v.pre_num", "c.upper", "c.lower", fixed)
    xd = cap_sql("v.pre_den", "c.den_upper", "c.den_lower", None)
    steps = "".join(f", v.st{k}" for k in range(len(shape.selectors))) if _is_funnel(shape) else ""
    ctes = [
        caps,
        f"""capped AS (
  SELECT v.unit_id, v.group_name{seg}, ({counted.replace("den", "v.den")}) AS counted,
         v.has_pre,
         {y} AS y, {dd} AS d, {x} AS x, {xd} AS xd{steps}
  FROM perunit v CROSS JOIN caps c)""",
    ]
    if daily is not None:
        ctes += _daily_ctes(shape, daily, fixed, p)
    return ctes


def _is_funnel(shape: Shape) -> bool:
    return shape.metric.type == MetricType.FUNNEL


def _daily_increments(shape: Shape, d: Dialect = POSTGRES) -> str | None:
    """Per unit and day (post period), how much the unit's numerator (a) and denominator
    (b) grew that day, as SQL over `joined` and the funnel CTEs; None when the metric's
    value can change on days without events (participation), which has no daily series."""
    metric = shape.metric
    kind = metric.type
    zero = d.number(0)
    base = (
        f"SELECT u.unit_id, u.group_name, u.first_day AS day, {zero} AS a, {zero} AS b FROM units u"
    )
    if kind == MetricType.FUNNEL:
        last = len(shape.selectors) - 1
        return f"""{base}
  UNION ALL SELECT u.unit_id, u.group_name, {d.utc_day("f0.t")}, 0, 1
    FROM units u JOIN f0 ON f0.unit_id = u.unit_id
  UNION ALL SELECT u.unit_id, u.group_name, {d.utc_day(f"f{last}.t")}, 1, 0
    FROM units u JOIN f{last} ON f{last}.unit_id = u.unit_id"""

    def increment(component: MetricDefinition, i: int) -> str | None:
        where = f"FROM joined j WHERE {POST} AND j.s{i}"
        kind = component.type
        if kind == MetricType.COUNT_DISTINCT:
            # The day each distinct value was first seen.
            return f"""SELECT unit_id, group_name, day, {d.cast("count(*)", "float8")} AS x FROM (
      SELECT j.unit_id, j.group_name, min(j.day) AS day {where} AND j.t{i} IS NOT NULL
      GROUP BY j.unit_id, j.group_name, j.t{i}) AS firsts
    GROUP BY 1, 2, 3"""
        if kind == MetricType.SUM:
            value = f"coalesce(sum(j.v{i}), 0)"
        elif kind == MetricType.EVENT_COUNT or (
            # One-time: the cumulative count is clamped to 1 (_daily_ctes).
            kind == MetricType.USER_COUNT and component.user_count_mode == UserCountMode.ONE_TIME
        ):
            value = d.cast("count(*)", "float8")
        else:
            return None
        return f"SELECT j.unit_id, j.group_name, j.day, {value} AS x {where} GROUP BY 1, 2, 3"

    if kind == MetricType.MEAN:
        return f"""{base}
  UNION ALL SELECT j.unit_id, j.group_name, j.day, coalesce(sum(j.v0), 0),
                   {d.cast("count(j.v0)", "float8")}
    FROM joined j WHERE {POST} AND j.s0 GROUP BY 1, 2, 3"""
    parts = [c for c in shape.components if c is not None]
    pieces = [increment(c, i) for i, c in enumerate(parts)]
    if any(piece is None for piece in pieces):
        return None
    a = f"\n  UNION ALL SELECT unit_id, group_name, day, x, 0 FROM ({pieces[0]}) AS ia"
    b = (
        f"\n  UNION ALL SELECT unit_id, group_name, day, 0, x FROM ({pieces[1]}) AS ib"
        if len(pieces) > 1
        else ""
    )
    return base + a + b


def _daily_ctes(shape: Shape, increments: str, fixed: str | None, p: Params) -> list[str]:
    metric = shape.metric
    parts = shape.components
    dl = p.dialect

    def clamp(component: MetricDefinition | None, column: str) -> str:
        if component is not None and component.type == MetricType.USER_COUNT:
            return f"least({column}, 1)"  # one-time: 1 once the unit had the event
        return column

    if metric.type == MetricType.RATIO:
        assert parts[0] is not None
        assert parts[1] is not None
        ca, cb = clamp(parts[0], "ca"), clamp(parts[1], "cb")
        if parts[0].cap is not None:
            ca = f"least({ca}, {p.bind(parts[0].cap, 'float8')})"
        if parts[1].cap is not None:
            cb = f"least({cb}, {p.bind(parts[1].cap, 'float8')})"
    elif metric.type in (MetricType.MEAN, MetricType.FUNNEL):
        ca, cb = "ca", "cb"
    else:
        ca, cb = clamp(parts[0], "ca"), dl.number(1)
    counted = "(cb <> 0)" if shape.ratio_like else "true"
    y = cap_sql("cv.ya", "c.upper", "c.lower", fixed)
    d = cap_sql("cv.yb", "c.den_upper", "c.den_lower", None)

    def change(value: str) -> str:
        return f"{value} - coalesce({dl.lag(value, by_unit)}, 0)"

    # Windows written out (Redshift has no WINDOW clause), running sums with their frame
    # (Redshift requires it; over one row per day it is the default frame's sum).
    by_unit = "(PARTITION BY unit_id ORDER BY day)"
    frame = " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    unit_run = f"(PARTITION BY unit_id ORDER BY day{frame})"
    group_run = f"(PARTITION BY group_name ORDER BY day{frame})"

    return [
        f"""inc AS ({increments})""",
        f"""cum AS (
  SELECT unit_id, group_name, day,
         sum(sum(a)) OVER {unit_run} AS ca, sum(sum(b)) OVER {unit_run} AS cb
  FROM inc GROUP BY unit_id, group_name, day)""",
        f"""cumvals AS (
  SELECT cv.unit_id, cv.group_name, cv.day, {dl.cast("cv.k", "int")} AS k, {y} AS y, {d} AS d
  FROM (SELECT unit_id, group_name, day, {counted} AS k, {ca} AS ya, {cb} AS yb FROM cum) AS cv
  CROSS JOIN caps c)""",
        f"""deltas AS (
  SELECT group_name, day,
         {change("k")} AS dn,
         {change("k * y")} AS ds,
         {change("k * y * y")} AS dss,
         {change("k * d")} AS dd,
         {change("k * d * d")} AS ddd,
         {change("k * y * d")} AS dyd
  FROM cumvals)""",
        f"""daily {dl.materialized} (
  SELECT group_name, day,
         sum(sum(dn)) OVER {group_run} AS n, sum(sum(ds)) OVER {group_run} AS s,
         sum(sum(dss)) OVER {group_run} AS ss, sum(sum(dd)) OVER {group_run} AS sd,
         sum(sum(ddd)) OVER {group_run} AS sdd, sum(sum(dyd)) OVER {group_run} AS syd
  FROM deltas GROUP BY group_name, day)""",
    ]


# The columns of a group's row after its name: units, n, the sums (row[3:18]), the four caps,
# crossovers, bots, the daily series (JSON, or NULL) and the funnel's step counts.
CAPS = ("upper", "lower", "den_upper", "den_lower")


def _final_select(
    shape: Shape, scope: ExperimentScope, p: Params, daily: bool, segmented: bool = False
) -> str:
    d = p.dialect
    groups = list(dict.fromkeys(scope.groups))
    steps = (
        "".join(
            f", {d.cast(f'coalesce(sum(cp.st{k}), 0)', 'bigint')}"
            for k in range(len(shape.selectors))
        )
        if _is_funnel(shape)
        else ""
    )
    series = f",\n       {d.series_column()}" if daily and not d.series_rows else ", NULL"
    k = "cp.counted"

    def total(*columns: str) -> str:
        return f"coalesce({d.sum_if(' * '.join('cp.' + c for c in columns), k)}, 0)"

    sums = ",\n       ".join(
        [total(*c) for c in (("y",), ("y", "y"), ("d",), ("d", "d"), ("y", "d"))]
        + [total(*c) for c in (("x",), ("x", "x"), ("y", "x"))]
        + [d.count_if(f"{k} AND cp.has_pre")]
        + [total(*c) for c in (("xd",), ("xd", "xd"), ("y", "xd"), ("x", "d"), ("x", "xd"))]
        + [total("d", "xd")]
    )
    caps = ", ".join(f"(SELECT {c} FROM caps)" for c in CAPS)
    excluded = "(SELECT crossovers FROM excluded), (SELECT bots FROM excluded)"
    groups_from = d.groups(groups, p)
    if segmented:
        return f"""SELECT s.seg, s.dim, g.name, count(cp.unit_id), {d.count_if(k)},
       {sums},
       {caps},
       {excluded}, NULL{steps}
FROM segs s CROSS JOIN {groups_from}
LEFT JOIN segcapped cp ON cp.group_name = g.name AND cp.seg = s.seg
GROUP BY s.seg, s.dim, g.name, g.ord
ORDER BY s.seg, g.ord"""
    rows = f"""SELECT g.name, count(cp.unit_id), {d.count_if(k)},
       {sums},
       {caps},
       {excluded}{series}{steps}
FROM {groups_from}
LEFT JOIN capped cp ON cp.group_name = g.name
GROUP BY g.name, g.ord"""
    if not (daily and d.series_rows):
        return rows + "\nORDER BY g.ord"
    # The series as rows (led by 0) after the groups' (led by their number): the group's
    # name, the day's n, s, ss, sd, sdd, syd, then the day in the series column.
    rows = rows.replace("SELECT g.name,", "SELECT g.ord AS part, g.name,", 1)
    point = ", ".join(d.cast(f"dy.{c}", "float8") for c in ("n", "s", "ss", "sd", "sdd", "syd"))
    padding = ", NULL" * (len(CAPS) + 15 + 2 - 4) + ", dy.day"
    padding += ", NULL" * len(shape.selectors) if _is_funnel(shape) else ""
    return f"""SELECT * FROM (
{rows}
UNION ALL
SELECT 0, dy.group_name, {point}{padding} FROM daily dy) AS r
ORDER BY 1"""
