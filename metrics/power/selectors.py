"""A metric's per-unit statistics over the last 1, 2, 3 and 4 weeks of a population, in
one PostgreSQL statement (never a loop over events in Python): per window, the units of the
population seen in it, the units in the statistic, Σy, Σy², and for ratio-like metrics
Σd, Σd², Σy·d, from which `metrics.stats.inputs` gives the mean and the per-unit variance
(the delta method's for ratios).

A window of k weeks is [now − 7k days, now]. A unit belongs to it when it was seen in it:

- population "all": it logged an active event then (`MetricSettings.active_events`, else
  any custom event; never a `statsig::*` exposure, never a bot); a unit is its userID,
  else its stableID, as on the metric's page;
- "gate:<name>": its exposure to the gate passed ("pass") and its last check is in the
  window;
- "experiment:<name>": it was exposed to the experiment (config exposures in a group) and
  its last exposure is in the window.

Exposure populations use the unit type most of their exposures have (`unit_type`).

A unit's value is the metric over its events of the whole window (not from its exposure:
the calculator estimates a future experiment, whose units would be measured from their
first exposure on): event counts, sums, distinct counts as such; one-time user counts 0/1;
daily participation is days with the event ÷ 7k; means, ratios and funnels are numerator
and denominator, counted when the denominator is not 0. The metric's percentile caps are
applied per window (pooled over its units, non-zero values, as results do) and its fixed
cap after them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import connection
from django.utils import timezone

from console.models import Environment
from metrics.definitions import MetricDefinition, MetricType
from metrics.plan.fields import Params, unit_expression
from metrics.plan.query import cap_sql, component_value, event_columns
from metrics.plan.shape import Shape, shape_of
from metrics.stats.inputs import Ratio, SampleMean

WEEKS = (1, 2, 3, 4)
# The population "all": the unit as the metric's page and the Events tab count it.
_ANY_UNIT = (
    "CASE WHEN e.user_id <> '' THEN 'u:' || e.user_id "
    "WHEN e.stable_id <> '' THEN 's:' || e.stable_id END"
)
ALL_UNITS = "userID, else stableID"
NAME_MAX = 200  # metrics_exposure.name


NOT_ON_CLICKHOUSE = (
    "The power calculator reads events from PostgreSQL: with ClickHouse as the events "
    "engine (GATEHOUSE_EVENTS_ENGINE) it is not available yet."
)


class EngineUnsupported(ValueError):
    """The calculator's statement has no ClickHouse dialect yet (docs/events.md)."""


class PopulationKind(StrEnum):
    ALL = "all"
    GATE = "gate"
    EXPERIMENT = "experiment"


@dataclass(frozen=True, slots=True)
class Population:
    """Whose units: everyone active, a gate's passing units or an experiment's units, by
    the name stored in metrics_exposure (metrics knows no gate or experiment model)."""

    kind: PopulationKind
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> Population:
        """ "all", "gate:<name>" or "experiment:<name>"; ValueError with a sentence else."""
        text = text.strip()
        if text.lower() == PopulationKind.ALL:
            return cls(PopulationKind.ALL)
        head, sep, name = text.partition(":")
        kinds = {k.value: k for k in (PopulationKind.GATE, PopulationKind.EXPERIMENT)}
        if not sep or head.lower() not in kinds:
            raise ValueError("A population is all, gate:<name> or experiment:<name>.")
        name = name.strip()
        if not name or len(name) > NAME_MAX or "\x00" in name:
            raise ValueError(f"Name the {head.lower()} (at most {NAME_MAX} characters).")
        return cls(kinds[head.lower()], name)

    def __str__(self) -> str:
        return self.kind.value if self.kind == PopulationKind.ALL else f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        if self.kind == PopulationKind.ALL:
            return "All active units"
        if self.kind == PopulationKind.GATE:
            return f"Units passing gate {self.name}"
        return f"Units of experiment {self.name}"


@dataclass(frozen=True, slots=True)
class WindowStatistics:
    weeks: int
    start: dt.datetime
    units: int  # units of the population seen in the window
    n: int  # units in the statistic (ratio-like: denominator not 0)
    mean: float | None  # None: no unit in the statistic
    variance: float | None


@dataclass(frozen=True, slots=True)
class PowerInputs:
    metric: MetricDefinition
    population: Population
    unit_type: str
    end: dt.datetime
    windows: tuple[WindowStatistics, ...]

    @property
    def empty(self) -> bool:
        return all(w.units == 0 for w in self.windows)


def population_names(*, environment: Environment) -> dict[str, list[str]]:
    """The gates with passing units and the experiments with exposed units in the
    environment, by name (one query over metrics_exposure's distinct names)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT kind, name FROM metrics_exposure WHERE environment_id = %s AND ("
            "(kind = 'gate' AND group_name = 'pass') OR (kind = 'config' AND group_name <> ''))"
            " ORDER BY kind, name",
            [environment.pk],
        )
        rows = cursor.fetchall()
    return {
        PopulationKind.GATE: [n for k, n in rows if k == "gate"],
        PopulationKind.EXPERIMENT: [n for k, n in rows if k == "config"],
    }


def _exposure_filter(population: Population, p: Params, env: int) -> str:
    kind = "gate" if population.kind == PopulationKind.GATE else "config"
    group = "x.group_name = 'pass'" if kind == "gate" else "x.group_name <> ''"
    return (
        f"x.environment_id = {p.bind(env, 'integer')} AND x.kind = {p.bind(kind, 'text')} "
        f"AND x.name = {p.bind(population.name, 'text')} AND {group} AND NOT x.is_bot"
    )


def _unit_type(environment: Environment, population: Population, since: dt.datetime) -> str:
    """The unit type most of the population's exposures since `since` have."""
    p = Params()
    where = _exposure_filter(population, p, environment.pk)
    sql = (
        f"SELECT x.unit_type FROM metrics_exposure x WHERE {where} "
        f"AND x.last_at >= {p.bind(since, 'timestamptz')} "
        "GROUP BY x.unit_type ORDER BY count(*) DESC, x.unit_type LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, p.values)
        row = cursor.fetchone()
    return row[0] if row else "userID"


def power_inputs(
    *,
    definition: MetricDefinition,
    environment: Environment,
    population: Population,
    active_events: list[str] | tuple[str, ...] = (),
    now: dt.datetime | None = None,
) -> PowerInputs:
    """Per window of 1 to 4 weeks ending `now`: the population's units, the units in the
    statistic, the per-unit mean and variance. One statement (two for an exposure
    population: its unit type first). ValueError when the definition cannot be computed;
    EngineUnsupported when the events are in ClickHouse."""
    if settings.GATEHOUSE_EVENTS_ENGINE == "clickhouse":
        raise EngineUnsupported(NOT_ON_CLICKHOUSE)
    shape = shape_of(definition)
    end = now or timezone.now()
    starts = [end - dt.timedelta(weeks=k) for k in WEEKS]
    earliest = starts[-1]
    unit_type = ALL_UNITS
    if population.kind != PopulationKind.ALL:
        unit_type = _unit_type(environment, population, earliest)
    p = Params()
    env = environment.pk
    unit = _ANY_UNIT if population.kind == PopulationKind.ALL else unit_expression(unit_type, p)
    window = (
        f"w AS (SELECT k, since FROM unnest({p.bind(list(WEEKS), 'integer[]')}, "
        f"{p.bind(starts, 'timestamptz[]')}) AS w(k, since))"
    )
    pop = _population_cte(population, unit_type, active_events, env, earliest, end, p)
    ctes = [window, pop, _events_cte(shape, unit, env, earliest, end, p)]
    ctes.append(
        "members AS (SELECT w.k, w.since, pop.unit_id FROM pop JOIN w ON pop.last_seen >= w.since)"
    )
    ctes.append(
        "j AS (SELECT m.k, ev.* FROM members m "
        "JOIN ev ON ev.unit_id = m.unit_id AND ev.time >= m.since)"
    )
    ctes += _per_unit_ctes(shape, p)
    ctes += _capped_ctes(shape, p)
    sql = "WITH " + ",\n".join(ctes) + "\n" + _FINAL
    with connection.cursor() as cursor:
        cursor.execute(sql, p.values)
        rows = cursor.fetchall()
    windows = tuple(
        _window(shape, k, start, row) for k, start, row in zip(WEEKS, starts, rows, strict=True)
    )
    return PowerInputs(definition, population, unit_type, end, windows)


def _population_cte(
    population: Population,
    unit_type: str,
    active_events: list[str] | tuple[str, ...],
    env: int,
    since: dt.datetime,
    end: dt.datetime,
    p: Params,
) -> str:
    """pop(unit_id, last_seen): each unit of the population and when it was last seen."""
    if population.kind == PopulationKind.ALL:
        names = [n for n in active_events if not n.startswith("statsig::")]
        active = (
            f"e.event_name = ANY({p.bind(names, 'text[]')})"
            if names
            else "e.event_name NOT LIKE 'statsig::%%'"
        )
        start = p.bind(since, "timestamptz")
        return f"""pop AS (
  SELECT unit_id, max(time) AS last_seen FROM (
    SELECT {_ANY_UNIT} AS unit_id, e.time FROM metrics_event e
    WHERE e.environment_id = {p.bind(env, "integer")}
      AND e.received_at >= {start} AND e.time >= {start}
      AND e.time <= {p.bind(end, "timestamptz")} AND NOT e.is_bot AND {active}) AS a
  WHERE unit_id IS NOT NULL GROUP BY unit_id)"""
    return f"""pop AS (
  SELECT x.unit_id, max(x.last_at) AS last_seen FROM metrics_exposure x
  WHERE {_exposure_filter(population, p, env)}
    AND x.unit_type = {p.bind(unit_type, "text")}
    AND x.first_at <= {p.bind(end, "timestamptz")}
  GROUP BY x.unit_id)"""


def _events_cte(
    shape: Shape, unit: str, env: int, since: dt.datetime, end: dt.datetime, p: Params
) -> str:
    columns = event_columns(shape, unit, p)
    start = p.bind(since, "timestamptz")
    return f"""ev AS (
  SELECT {", ".join(columns)} FROM metrics_event e
  WHERE e.environment_id = {p.bind(env, "integer")}
    AND e.event_name = ANY({p.bind(shape.event_names, "text[]")})
    -- received_at >= time: the bound on received_at prunes the day partitions
    AND e.received_at >= {start} AND e.time >= {start}
    AND e.time <= {p.bind(end, "timestamptz")} AND NOT e.is_bot)"""


def _per_unit_ctes(shape: Shape, p: Params) -> list[str]:
    """agg(k, unit_id, num, den) over the units with events, then perunit over every
    member of each window (members without events: 0, and den 0 for ratio-like)."""
    metric = shape.metric
    days = "(7 * j.k)::float8"
    if metric.type == MetricType.FUNNEL:
        ctes = _funnel_ctes(shape, p)
    else:
        if metric.type == MetricType.MEAN:
            num = "coalesce(sum(j.v0) FILTER (WHERE j.s0), 0)"
            den = "count(j.v0) FILTER (WHERE j.s0)::float8"
        elif metric.type == MetricType.RATIO:
            parts = [c for c in shape.components if c is not None]
            num, den = (
                _fixed(c, component_value(c, i, "true", days), p) for i, c in enumerate(parts)
            )
        else:
            num, den = component_value(metric, 0, "true", days), "1::float8"
        ctes = [
            f"agg AS (SELECT j.k, j.unit_id, {num} AS num, {den} AS den "
            "FROM j GROUP BY j.k, j.unit_id)"
        ]
    missing_den = "0::float8" if shape.ratio_like else "1::float8"
    ctes.append(
        f"""perunit AS (
  SELECT m.k, m.unit_id, coalesce(a.num, 0::float8) AS num,
         coalesce(a.den, {missing_den}) AS den
  FROM members m LEFT JOIN agg a ON a.k = m.k AND a.unit_id = m.unit_id)"""
    )
    return ctes


def _fixed(component: MetricDefinition, value: str, p: Params) -> str:
    # A ratio's parts keep their own fixed caps (as results do).
    return value if component.cap is None else f"least({value}, {p.bind(component.cap, 'float8')})"


def _funnel_ctes(shape: Shape, p: Params) -> list[str]:
    """Per window and unit: step 1 at its first time in the window, each next step at
    its first time at or after the previous one (and within the window after step 1)."""
    hours = shape.metric.funnel_window_hours
    ctes = [
        "f0 AS (SELECT j.k, j.unit_id, min(j.time) AS t, min(j.time) AS t0 "
        "FROM j WHERE j.s0 GROUP BY j.k, j.unit_id)"
    ]
    for i in range(1, len(shape.selectors)):
        within = (
            f" AND j.time <= s.t0 + make_interval(hours => {p.bind(int(hours), 'integer')})"
            if hours is not None
            else ""
        )
        ctes.append(
            f"f{i} AS (SELECT j.k, j.unit_id, min(j.time) AS t, min(s.t0) AS t0 FROM j "
            f"JOIN f{i - 1} s ON s.k = j.k AND s.unit_id = j.unit_id "
            f"WHERE j.s{i} AND j.time >= s.t{within} GROUP BY j.k, j.unit_id)"
        )
    last = len(shape.selectors) - 1
    ctes.append(
        f"agg AS (SELECT f0.k, f0.unit_id, (f{last}.t IS NOT NULL)::int::float8 AS num, "
        f"1::float8 AS den FROM f0 LEFT JOIN f{last} "
        f"ON f{last}.k = f0.k AND f{last}.unit_id = f0.unit_id)"
    )
    return ctes


def _capped_ctes(shape: Shape, p: Params) -> list[str]:
    metric = shape.metric
    counted = "den <> 0" if shape.ratio_like else "true"

    def pct(fraction: float | None, column: str) -> str:
        if fraction is None or not metric.winsorized:
            return "NULL::float8"
        return (
            f"percentile_cont({p.bind(fraction, 'float8')}) "
            f"WITHIN GROUP (ORDER BY {column}) FILTER (WHERE {column} <> 0)"
        )

    up, low = metric.winsorize_upper, metric.winsorize_lower
    den_up = pct(up, "den") if shape.ratio_like else "NULL::float8"
    den_low = pct(low, "den") if shape.ratio_like else "NULL::float8"
    fixed = p.bind(metric.cap, "float8") if metric.cap is not None else None
    y = cap_sql("v.num", "c.upper", "c.lower", fixed)
    d = cap_sql("v.den", "c.den_upper", "c.den_lower", None)
    return [
        f"""caps AS (
  SELECT k, {pct(up, "num")} AS upper, {pct(low, "num")} AS lower,
         {den_up} AS den_upper, {den_low} AS den_lower
  FROM perunit WHERE {counted} GROUP BY k)""",
        f"""capped AS (
  SELECT v.k, ({counted.replace("den", "v.den")}) AS counted, {y} AS y, {d} AS d
  FROM perunit v LEFT JOIN caps c ON c.k = v.k)""",
    ]


_FINAL = """SELECT w.k, count(cp.k), count(*) FILTER (WHERE cp.counted),
       coalesce(sum(cp.y) FILTER (WHERE cp.counted), 0),
       coalesce(sum(cp.y * cp.y) FILTER (WHERE cp.counted), 0),
       coalesce(sum(cp.d) FILTER (WHERE cp.counted), 0),
       coalesce(sum(cp.d * cp.d) FILTER (WHERE cp.counted), 0),
       coalesce(sum(cp.y * cp.d) FILTER (WHERE cp.counted), 0)
FROM w LEFT JOIN capped cp ON cp.k = w.k
GROUP BY w.k ORDER BY w.k"""


def _window(shape: Shape, k: int, start: dt.datetime, row: tuple) -> WindowStatistics:
    _, units, n, sy, syy, sd, sdd, syd = row
    mean: float | None = None
    variance: float | None = None
    if n > 0:
        if shape.ratio_like:
            ratio = Ratio(n, float(sy), float(syy), float(sd), float(sdd), float(syd))
            mean, variance = ratio.mean, ratio.variance
        else:
            sample = SampleMean(n, float(sy), float(syy))
            mean, variance = sample.mean, sample.variance
    return WindowStatistics(k, start, int(units), int(n), mean, variance)
