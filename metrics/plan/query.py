"""The statement that turns stored exposures and events into per-group sufficient
statistics for one experiment and one metric (docs/results-computation.md).

One statement of CTEs per metric; only one row per group leaves the database:

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
from metrics.plan.fields import Params, numeric_field, selector_sql, text_field, unit_expression
from metrics.plan.shape import Shape, shape_of
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


def events_statement(
    environment_id: int,
    scope: ExperimentScope,
    metric: MetricDefinition,
    *,
    cuped_days: int,
    end: dt.datetime,
    series: bool = True,
) -> Statement:
    """The statement computing everything from metrics_event (the daily series too when
    `series`)."""
    shape = shape_of(metric)
    p = Params()
    head = _units_ctes(environment_id, scope, end, p)
    ctes = [*head, *_event_ctes(environment_id, shape, scope, cuped_days, end, p)]
    ctes += _perunit_ctes(shape, cuped_days, p)
    daily = _daily_increments(shape) if series else None
    ctes += _tail_ctes(shape, p, daily)
    sql = "WITH " + ",\n".join(ctes) + "\n" + _final_select(shape, scope, p, daily is not None)
    return Statement(sql, p.values, shape, end, cuped_days, daily is not None)


def breakdown_statement(
    environment_id: int,
    scope: ExperimentScope,
    metric: MetricDefinition,
    breakdown: Breakdown,
    *,
    cuped_days: int,
    end: dt.datetime,
) -> Statement:
    """The statement computing, from metrics_event, the groups' statistics per segment of
    `breakdown`: one row per (segment, group), led by the segment's number and value
    (numbers 1..top the top values by units, top + 1 the other values, top + 2 none). The
    caps are the whole experiment's; there is no daily series."""
    shape = shape_of(metric)
    by_event = breakdown.source == "event"
    if by_event and len(shape.selectors) != 1:
        raise ValueError(
            f"{metric.name}: a {metric.type} metric has no event dimension to break down by"
        )
    p = Params()
    unit_dim = None if by_event else _unit_dimension(breakdown.field, p)
    ctes = _units_ctes(environment_id, scope, end, p, unit_dim)
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
    event_dim = text_field(breakdown.field, p) if by_event else None
    ctes += _event_ctes(environment_id, shape, scope, cuped_days, end, p, event_dim, other, unknown)
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
    sql = "WITH " + ",\n".join(ctes) + "\n" + _final_select(shape, scope, p, False, True)
    return Statement(sql, p.values, shape, end, cuped_days, False)


def _unit_dimension(field: str, p: Params) -> str:
    """A unit's dimension value at its first exposure, SQL over metrics_exposure x."""
    if field.startswith("custom."):
        return f"nullif(x.custom ->> {p.bind(field[len('custom.') :], 'text')}, '')"
    column = {"country": "x.country", "browser": "x.browser", "os": "x.os"}[field]
    return f"nullif({column}, '')"


def _segment_ctes(breakdown: Breakdown, other: str, unknown: str, p: Params) -> list[str]:
    """`tops`: the top values by units (from `dimunits`: dim, n), numbered from 1;
    `segs`: those, then "other" and "unknown" when some unit or event falls there."""
    return [
        f"""tops AS (
  SELECT dim, row_number() OVER (ORDER BY n DESC, dim) AS seg FROM dimunits
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
    dim: str | None = None,
) -> list[str]:
    groups = list(dict.fromkeys(scope.groups))
    bots = p.bind(scope.exclude_bots, "boolean")
    end_day = p.bind(end.astimezone(dt.UTC).date(), "date")
    dim_column, dim_keep = (f", {dim} AS dim", ", dim") if dim else ("", "")
    return [
        f"""scoped AS (
  SELECT x.unit_id, x.group_name, x.first_at, x.crossover, x.is_bot{dim_column}
  FROM metrics_exposure x
  WHERE x.environment_id = {p.bind(environment_id, "integer")}
    AND x.kind = {p.bind(scope.kind, "text")} AND x.name = {p.bind(scope.name, "text")}
    AND x.unit_type = {p.bind(scope.unit_type, "text")}
    AND x.group_name = ANY({p.bind(groups, "text[]")})
    AND x.first_at >= {p.bind(scope.start, "timestamptz")}
    AND x.first_at <= {p.bind(end, "timestamptz")})""",
        f"""excluded AS (
  SELECT count(*) FILTER (WHERE crossover) AS crossovers,
         count(*) FILTER (WHERE NOT crossover AND is_bot AND {bots}) AS bots
  FROM scoped)""",
        f"""units AS (
  SELECT unit_id, group_name, first_at,
         (first_at AT TIME ZONE 'UTC')::date AS first_day,
         greatest(1, {end_day} - (first_at AT TIME ZONE 'UTC')::date + 1) AS days{dim_keep}
  FROM scoped WHERE NOT crossover AND NOT (is_bot AND {bots}))""",
    ]


def event_columns(shape: Shape, unit: str, p: Params) -> list[str]:
    """What the plan reads of each event: its unit (`unit`, SQL), time and UTC day, whether
    it is each selector's (s0, s1, ...), and each component's number (v_i) or text (t_i)."""
    columns = [f"{unit} AS unit_id", "e.time", "(e.time AT TIME ZONE 'UTC')::date AS day"]
    for i, selector in enumerate(shape.selectors):
        columns.append(f"{selector_sql(selector, p)} AS s{i}")
        component = shape.components[i]
        if component is None:
            continue
        if component.type in (MetricType.SUM, MetricType.MEAN):
            columns.append(f"{numeric_field(component.value_field, p)} AS v{i}")
        if component.type == MetricType.COUNT_DISTINCT:
            columns.append(f"{text_field(component.value_field, p)} AS t{i}")
    return columns


def _event_ctes(
    environment_id: int,
    shape: Shape,
    scope: ExperimentScope,
    cuped_days: int,
    end: dt.datetime,
    p: Params,
    dim: str | None = None,
    other: str = "",
    unknown: str = "",
) -> list[str]:
    """`ev` and `joined`; with `dim` (an event breakdown) `ev` carries the event's value of
    the dimension and `joined` is units × segments, each event in its segment's row
    (the caller inserts the `tops` and `segs` CTEs before `joined`)."""
    scan_from = scope.start - dt.timedelta(days=cuped_days)
    columns = event_columns(shape, unit_expression(scope.unit_type, p), p)
    if dim is not None:
        columns.append(f"nullif({dim}, '') AS dim")
    scan = p.bind(scan_from, "timestamptz")
    pre_join = f" - {p.bind(dt.timedelta(days=cuped_days), 'interval')}" if cuped_days else ""
    flags = ", ".join(f"ev.s{i}" for i in range(len(shape.selectors)))
    values = "".join(
        f", ev.v{i}" if c is not None and c.type in (MetricType.SUM, MetricType.MEAN) else ""
        for i, c in enumerate(shape.components)
    ) + "".join(
        f", ev.t{i}" if c is not None and c.type == MetricType.COUNT_DISTINCT else ""
        for i, c in enumerate(shape.components)
    )
    return [
        f"""ev AS (
  SELECT {", ".join(columns)}
  FROM metrics_event e
  WHERE e.environment_id = {p.bind(environment_id, "integer")}
    AND e.event_name = ANY({p.bind(shape.event_names, "text[]")})
    -- received_at >= time: the bound on received_at prunes the day partitions
    AND e.received_at >= {scan} AND e.time >= {scan}
    AND e.time <= {p.bind(end, "timestamptz")})""",
        f"""joined AS (
  SELECT u.unit_id, u.group_name, u.days, u.first_day, ev.time, ev.day,
         ev.time >= u.first_at AS post, {flags}{values}
  FROM units u LEFT JOIN ev ON ev.unit_id = u.unit_id AND ev.time >= u.first_at{pre_join})"""
        if dim is None
        else f"""joined AS (
  SELECT u.unit_id, u.group_name, u.days, u.first_day, s.seg, ev.time, ev.day,
         ev.time >= u.first_at AS post, {flags}{values}
  FROM units u CROSS JOIN segs s
  LEFT JOIN (SELECT ev.*, coalesce(t.seg,
                      CASE WHEN ev.dim IS NULL THEN {unknown} ELSE {other} END) AS seg
             FROM ev LEFT JOIN tops t ON t.dim = ev.dim) AS ev
    ON ev.unit_id = u.unit_id AND ev.seg = s.seg AND ev.time >= u.first_at{pre_join})""",
    ]


def component_value(component: MetricDefinition, i: int, period: str, days: str) -> str:
    """One unit's value of a simple metric over the rows of `joined` (alias j) in
    `period`; `days` is the number of days of the period (participation)."""
    cond = f"{period} AND j.s{i}"
    kind = component.type
    if kind == MetricType.EVENT_COUNT:
        value = f"count(*) FILTER (WHERE {cond})::float8"
    elif kind == MetricType.SUM:
        value = f"coalesce(sum(j.v{i}) FILTER (WHERE {cond}), 0)"
    elif kind == MetricType.USER_COUNT and component.user_count_mode == UserCountMode.ONE_TIME:
        value = f"(count(*) FILTER (WHERE {cond}) > 0)::int::float8"
    elif kind == MetricType.USER_COUNT:
        value = f"count(DISTINCT j.day) FILTER (WHERE {cond})::float8 / {days}"
    elif kind == MetricType.COUNT_DISTINCT:
        value = f"count(DISTINCT j.t{i}) FILTER (WHERE {cond})::float8"
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
    pre_days = p.bind(float(max(cuped_days, 1)), "float8")
    any_selector = " OR ".join(f"j.s{i}" for i in range(len(shape.selectors)))
    has_pre = f"coalesce(bool_or({PRE} AND ({any_selector})), false)" if cuped_days else "false"
    if kind == MetricType.FUNNEL:
        return _funnel_ctes(shape, cuped_days, has_pre, p)
    if kind == MetricType.MEAN:
        num = [f"coalesce(sum(j.v0) FILTER (WHERE {per} AND j.s0), 0)" for per in (POST, PRE)]
        den = [f"count(j.v0) FILTER (WHERE {per} AND j.s0)::float8" for per in (POST, PRE)]
    elif kind == MetricType.RATIO:
        parts = shape.components
        assert parts[0] is not None
        assert parts[1] is not None
        num = [
            _capped_component(parts[0], component_value(parts[0], 0, per, d), p, False)
            for per, d in ((POST, "j.days"), (PRE, pre_days))
        ]
        den = [
            _capped_component(parts[1], component_value(parts[1], 1, per, d), p, False)
            for per, d in ((POST, "j.days"), (PRE, pre_days))
        ]
    else:
        num = [component_value(metric, 0, per, d) for per, d in ((POST, "j.days"), (PRE, pre_days))]
        den = ["1::float8", "1::float8"]
    if not cuped_days:
        num[1] = den[1] = "0::float8"

    def perunit(name: str, seg: str) -> str:
        return f"""{name} AS (
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
                f" AND j.time <= s.t0 + make_interval(hours => {p.bind(int(window), 'integer')})"
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
    steps = "".join(f", ({'f'}{k}.t IS NOT NULL)::int AS st{k}" for k in range(last + 1))
    pre = (
        f"(g{last}.t IS NOT NULL)::int::float8 AS pre_num, "
        "(g0.t IS NOT NULL)::int::float8 AS pre_den"
        if cuped_days
        else "0::float8 AS pre_num, 0::float8 AS pre_den"
    )
    ctes.append(
        f"""anypre AS (
  SELECT j.unit_id, {has_pre} AS has_pre FROM joined j GROUP BY j.unit_id)"""
    )
    ctes.append(
        f"""perunit AS (
  SELECT u.unit_id, u.group_name,
         (f{last}.t IS NOT NULL)::int::float8 AS num, (f0.t IS NOT NULL)::int::float8 AS den,
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
    # Caps pooled over the whole experiment: per unit, every segment together.
    caps_from = "perunit_all" if segmented else "perunit"
    seg = ", v.seg" if segmented else ""
    counted = "den <> 0" if shape.ratio_like else "true"
    if metric.winsorized:
        up, low = metric.winsorize_upper, metric.winsorize_lower

        def pct(fraction: float | None, column: str) -> str:
            if fraction is None:
                return "NULL::float8"
            return (
                f"percentile_cont({p.bind(fraction, 'float8')}) "
                f"WITHIN GROUP (ORDER BY {column}) FILTER (WHERE {column} <> 0)"
            )

        den_caps = (
            f"{pct(up, 'den')} AS den_upper, {pct(low, 'den')} AS den_lower"
            if shape.ratio_like
            else "NULL::float8 AS den_upper, NULL::float8 AS den_lower"
        )
        caps = f"""caps AS (
  SELECT {pct(up, "num")} AS upper, {pct(low, "num")} AS lower, {den_caps}
  FROM {caps_from} WHERE {counted})"""
    else:
        caps = """caps AS (
  SELECT NULL::float8 AS upper, NULL::float8 AS lower,
         NULL::float8 AS den_upper, NULL::float8 AS den_lower)"""
    fixed = p.bind(metric.cap, "float8") if metric.cap is not None else None
    y = cap_sql("v.num", "c.upper", "c.lower", fixed)
    d = cap_sql("v.den", "c.den_upper", "c.den_lower", None)
    x = cap_sql("v.pre_num", "c.upper", "c.lower", fixed)
    xd = cap_sql("v.pre_den", "c.den_upper", "c.den_lower", None)
    steps = "".join(f", v.st{k}" for k in range(len(shape.selectors))) if _is_funnel(shape) else ""
    ctes = [
        caps,
        f"""capped AS (
  SELECT v.unit_id, v.group_name{seg}, ({counted.replace("den", "v.den")}) AS counted,
         v.has_pre,
         {y} AS y, {d} AS d, {x} AS x, {xd} AS xd{steps}
  FROM perunit v CROSS JOIN caps c)""",
    ]
    if daily is not None:
        ctes += _daily_ctes(shape, daily, fixed, p)
    return ctes


def _is_funnel(shape: Shape) -> bool:
    return shape.metric.type == MetricType.FUNNEL


def _daily_increments(shape: Shape) -> str | None:
    """Per unit and day (post period), how much the unit's numerator (a) and denominator
    (b) grew that day, as SQL over `joined` and the funnel CTEs; None when the metric's
    value can change on days without events (participation), which has no daily series."""
    metric = shape.metric
    kind = metric.type
    base = (
        "SELECT u.unit_id, u.group_name, u.first_day AS day, 0::float8 AS a, 0::float8 AS b "
        "FROM units u"
    )
    if kind == MetricType.FUNNEL:
        last = len(shape.selectors) - 1
        return f"""{base}
  UNION ALL SELECT u.unit_id, u.group_name, (f0.t AT TIME ZONE 'UTC')::date, 0, 1
    FROM units u JOIN f0 ON f0.unit_id = u.unit_id
  UNION ALL SELECT u.unit_id, u.group_name, (f{last}.t AT TIME ZONE 'UTC')::date, 1, 0
    FROM units u JOIN f{last} ON f{last}.unit_id = u.unit_id"""

    def increment(component: MetricDefinition, i: int) -> str | None:
        where = f"FROM joined j WHERE {POST} AND j.s{i}"
        kind = component.type
        if kind == MetricType.COUNT_DISTINCT:
            # The day each distinct value was first seen.
            return f"""SELECT unit_id, group_name, day, count(*)::float8 AS x FROM (
      SELECT j.unit_id, j.group_name, min(j.day) AS day {where} AND j.t{i} IS NOT NULL
      GROUP BY j.unit_id, j.group_name, j.t{i}) AS firsts
    GROUP BY 1, 2, 3"""
        if kind == MetricType.SUM:
            value = f"coalesce(sum(j.v{i}), 0)"
        elif kind == MetricType.EVENT_COUNT or (
            # One-time: the cumulative count is clamped to 1 (_daily_ctes).
            kind == MetricType.USER_COUNT and component.user_count_mode == UserCountMode.ONE_TIME
        ):
            value = "count(*)::float8"
        else:
            return None
        return f"SELECT j.unit_id, j.group_name, j.day, {value} AS x {where} GROUP BY 1, 2, 3"

    if kind == MetricType.MEAN:
        return f"""{base}
  UNION ALL SELECT j.unit_id, j.group_name, j.day, coalesce(sum(j.v0), 0), count(j.v0)::float8
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
        ca, cb = clamp(parts[0], "ca"), "1::float8"
    counted = "(cb <> 0)" if shape.ratio_like else "true"
    y = cap_sql("cv.ya", "c.upper", "c.lower", fixed)
    d = cap_sql("cv.yb", "c.den_upper", "c.den_lower", None)
    return [
        f"""inc AS ({increments})""",
        """cum AS (
  SELECT unit_id, group_name, day,
         sum(sum(a)) OVER w AS ca, sum(sum(b)) OVER w AS cb
  FROM inc GROUP BY unit_id, group_name, day
  WINDOW w AS (PARTITION BY unit_id ORDER BY day))""",
        f"""cumvals AS (
  SELECT cv.unit_id, cv.group_name, cv.day, cv.k::int AS k, {y} AS y, {d} AS d
  FROM (SELECT unit_id, group_name, day, {counted} AS k, {ca} AS ya, {cb} AS yb FROM cum) AS cv
  CROSS JOIN caps c)""",
        """deltas AS (
  SELECT group_name, day,
         k - coalesce(lag(k) OVER w, 0) AS dn,
         k * y - coalesce(lag(k * y) OVER w, 0) AS ds,
         k * y * y - coalesce(lag(k * y * y) OVER w, 0) AS dss,
         k * d - coalesce(lag(k * d) OVER w, 0) AS dd,
         k * d * d - coalesce(lag(k * d * d) OVER w, 0) AS ddd,
         k * y * d - coalesce(lag(k * y * d) OVER w, 0) AS dyd
  FROM cumvals WINDOW w AS (PARTITION BY unit_id ORDER BY day))""",
        """daily AS MATERIALIZED (
  SELECT group_name, day,
         sum(sum(dn)) OVER w AS n, sum(sum(ds)) OVER w AS s, sum(sum(dss)) OVER w AS ss,
         sum(sum(dd)) OVER w AS sd, sum(sum(ddd)) OVER w AS sdd, sum(sum(dyd)) OVER w AS syd
  FROM deltas GROUP BY group_name, day
  WINDOW w AS (PARTITION BY group_name ORDER BY day))""",
    ]


def _final_select(
    shape: Shape, scope: ExperimentScope, p: Params, daily: bool, segmented: bool = False
) -> str:
    groups = list(dict.fromkeys(scope.groups))
    steps = (
        "".join(f", coalesce(sum(cp.st{k}), 0)::bigint" for k in range(len(shape.selectors)))
        if _is_funnel(shape)
        else ""
    )
    series = (
        """,
       (SELECT json_agg(json_build_array(dy.day, dy.n, dy.s, dy.ss, dy.sd, dy.sdd, dy.syd)
                        ORDER BY dy.day)
        FROM daily dy WHERE dy.group_name = g.name)"""
        if daily
        else ", NULL"
    )
    k = "cp.counted"

    def total(*columns: str) -> str:
        return f"coalesce(sum({' * '.join('cp.' + c for c in columns)}) FILTER (WHERE {k}), 0)"

    sums = ",\n       ".join(
        [total(*c) for c in (("y",), ("y", "y"), ("d",), ("d", "d"), ("y", "d"))]
        + [total(*c) for c in (("x",), ("x", "x"), ("y", "x"))]
        + [f"count(*) FILTER (WHERE {k} AND cp.has_pre)"]
        + [total(*c) for c in (("xd",), ("xd", "xd"), ("y", "xd"), ("x", "d"), ("x", "xd"))]
        + [total("d", "xd")]
    )
    if segmented:
        return f"""SELECT s.seg, s.dim, g.name, count(cp.unit_id), count(*) FILTER (WHERE {k}),
       {sums},
       (SELECT row_to_json(caps) FROM caps),
       (SELECT crossovers FROM excluded), (SELECT bots FROM excluded), NULL{steps}
FROM segs s CROSS JOIN unnest({p.bind(groups, "text[]")}) WITH ORDINALITY AS g(name, ord)
LEFT JOIN segcapped cp ON cp.group_name = g.name AND cp.seg = s.seg
GROUP BY s.seg, s.dim, g.name, g.ord
ORDER BY s.seg, g.ord"""
    return f"""SELECT g.name, count(cp.unit_id), count(*) FILTER (WHERE {k}),
       {sums},
       (SELECT row_to_json(caps) FROM caps),
       (SELECT crossovers FROM excluded), (SELECT bots FROM excluded){series}{steps}
FROM unnest({p.bind(groups, "text[]")}) WITH ORDINALITY AS g(name, ord)
LEFT JOIN capped cp ON cp.group_name = g.name
GROUP BY g.name, g.ord
ORDER BY g.ord"""
