"""The query plan's results computed again in plain Python, unit by unit, over the rows a
test stored (tests/metrics/plan/world.py): slow, simple and meant to be obviously right."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrics.definitions import (
    EventSelector,
    Filter,
    MetricDefinition,
    MetricType,
    Operator,
    UserCountMode,
)
from tests.metrics.plan.world import Ev, Unit

DAY = dt.timedelta(days=1)


def text_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return str(value)


def as_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or "_" in text:
        return None
    return number


def field_text(ev: Ev, path: str) -> str | None:
    if path == "value":
        return text_value(ev.value)
    head, _, rest = path.partition(".")
    if head == "metadata":
        return text_value((ev.metadata or {}).get(rest))
    if rest.startswith("custom."):
        return text_value((ev.user.get("custom") or {}).get(rest[len("custom.") :]))
    return text_value(ev.user.get(rest))


def passes(ev: Ev, item: Filter) -> bool:
    text = field_text(ev, item.field)
    op = item.operator
    if op in (Operator.EQ, Operator.IN):
        return text is not None and text in item.values
    if op in (Operator.NEQ, Operator.NOT_IN):
        return text is None or text not in item.values
    if op == Operator.CONTAINS:
        return text is not None and any(v in text for v in item.values)
    if op == Operator.IS_SET:
        return text is not None
    if op == Operator.IS_NOT_SET:
        return text is None
    number, bound = as_number(text), as_number(item.values[0]) if item.values else None
    if number is None or bound is None:
        return False
    return {
        Operator.GT: number > bound,
        Operator.GTE: number >= bound,
        Operator.LT: number < bound,
        Operator.LTE: number <= bound,
    }[op]


def matches(ev: Ev, selector: EventSelector) -> bool:
    return ev.name == selector.event_name and all(passes(ev, f) for f in selector.filters)


def simple_value(metric: MetricDefinition, events: list[Ev], days: int) -> float:
    assert metric.events is not None
    mine = [e for e in events if matches(e, metric.events)]
    kind = metric.type
    if kind == MetricType.EVENT_COUNT:
        value = float(len(mine))
    elif kind == MetricType.SUM:
        numbers = [as_number(field_text(e, metric.value_field)) for e in mine]
        value = float(sum(n for n in numbers if n is not None))
    elif kind == MetricType.USER_COUNT and metric.user_count_mode == UserCountMode.ONE_TIME:
        value = 1.0 if mine else 0.0
    elif kind == MetricType.USER_COUNT:
        value = len({e.time.astimezone(dt.UTC).date() for e in mine}) / days
    elif kind == MetricType.COUNT_DISTINCT:
        texts = {field_text(e, metric.value_field) for e in mine}
        value = float(len(texts - {None}))
    else:
        raise AssertionError(kind)
    return value


def funnel_times(metric: MetricDefinition, events: list[Ev]) -> list[dt.datetime | None]:
    """Each step's time in order: step 1 at its first time, each next step at its first
    time at or after the previous one (and within the window after step 1)."""
    times: list[dt.datetime | None] = []
    previous = first = None
    for k, step in enumerate(metric.steps):
        candidates = sorted(
            e.time
            for e in events
            if matches(e, step)
            and (previous is None or e.time >= previous)
            and (
                k == 0
                or metric.funnel_window_hours is None
                or e.time <= first + dt.timedelta(hours=metric.funnel_window_hours)
            )
        )
        if k > 0 and previous is None:
            candidates = []
        found = candidates[0] if candidates else None
        if k == 0:
            first = found
        times.append(found)
        previous = found
        if found is None:
            times += [None] * (len(metric.steps) - k - 1)
            break
    return times


def num_den(metric: MetricDefinition, events: list[Ev], days: int) -> tuple[float, float]:
    kind = metric.type
    if kind == MetricType.MEAN:
        assert metric.events is not None
        numbers = [
            as_number(field_text(e, metric.value_field))
            for e in events
            if matches(e, metric.events)
        ]
        numbers = [n for n in numbers if n is not None]
        return float(sum(numbers)), float(len(numbers))
    if kind == MetricType.RATIO:
        assert metric.numerator is not None
        assert metric.denominator is not None
        parts = []
        for part in (metric.numerator, metric.denominator):
            value = simple_value(part, events, days)
            parts.append(min(value, part.cap) if part.cap is not None else value)
        return parts[0], parts[1]
    if kind == MetricType.FUNNEL:
        times = funnel_times(metric, events)
        return float(times[-1] is not None), float(times[0] is not None)
    return simple_value(metric, events, days), 1.0


@dataclass
class Expected:
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    caps: dict[str, float | None] = field(default_factory=dict)
    crossovers: int = 0
    bots: int = 0


def percentile(values: list[float], q: float | None) -> float | None:
    nonzero = [v for v in values if v != 0]
    if q is None or not nonzero:
        return None
    return float(np.percentile(nonzero, q * 100, method="linear"))


def cap(value: float, upper: float | None, lower: float | None, fixed: float | None) -> float:
    if value != 0:
        if upper is not None:
            value = min(value, upper)
        if lower is not None:
            value = max(value, lower)
    if fixed is not None:
        value = min(value, fixed)
    return value


def reference(
    units: dict[str, Unit],
    events: list[Ev],
    *,
    groups: tuple[str, ...],
    start: dt.datetime,
    end: dt.datetime,
    metric: MetricDefinition,
    cuped_days: int,
    exclude_bots: bool = True,
) -> Expected:
    expected = Expected()
    scoped = [u for u in units.values() if u.group in groups and start <= u.first_at <= end]
    expected.crossovers = sum(u.crossover for u in scoped)
    expected.bots = sum(u.bot and not u.crossover and exclude_bots for u in scoped)
    kept = [u for u in scoped if not u.crossover and not (u.bot and exclude_bots)]
    by_unit: dict[str, list[Ev]] = {}
    for ev in events:
        by_unit.setdefault(ev.user_id, []).append(ev)
    ratio_like = metric.type in (MetricType.MEAN, MetricType.RATIO, MetricType.FUNNEL)
    rows = []
    for unit in kept:
        mine = by_unit.get(unit.unit_id, [])
        post = [e for e in mine if unit.first_at <= e.time <= end]
        pre_from = unit.first_at - dt.timedelta(days=cuped_days)
        pre = [e for e in mine if pre_from <= e.time < unit.first_at and e.time <= end]
        days = max(1, (end.date() - unit.first_at.astimezone(dt.UTC).date()).days + 1)
        y, d = num_den(metric, post, days)
        x, xd = num_den(metric, pre, max(cuped_days, 1)) if cuped_days else (0.0, 0.0)
        selectors = [s for s in (metric.events,) if s] + list(metric.steps)
        if metric.type == MetricType.RATIO:
            selectors = [metric.numerator.events, metric.denominator.events]  # type: ignore[union-attr]
        has_pre = cuped_days > 0 and any(matches(e, s) for e in pre for s in selectors)
        steps = funnel_times(metric, post) if metric.type == MetricType.FUNNEL else []
        counted = d != 0 if ratio_like else True
        rows.append((unit, counted, y, d, x, xd, has_pre, steps))
    counted_rows = [r for r in rows if r[1]]
    winsorized = metric.winsorized
    up = percentile([r[2] for r in counted_rows], metric.winsorize_upper) if winsorized else None
    low = percentile([r[2] for r in counted_rows], metric.winsorize_lower) if winsorized else None
    den_up = den_low = None
    if winsorized and ratio_like:
        den_up = percentile([r[3] for r in counted_rows], metric.winsorize_upper)
        den_low = percentile([r[3] for r in counted_rows], metric.winsorize_lower)
    expected.caps = {"upper": up, "lower": low, "den_upper": den_up, "den_lower": den_low}
    for name in dict.fromkeys(groups):
        mine = [r for r in rows if r[0].group == name]
        stat = [r for r in mine if r[1]]
        ys = [cap(r[2], up, low, metric.cap) for r in stat]
        ds = [cap(r[3], den_up, den_low, None) for r in stat]
        xs = [cap(r[4], up, low, metric.cap) for r in stat]
        xds = [cap(r[5], den_up, den_low, None) for r in stat]
        g: dict[str, Any] = {
            "units": len(mine),
            "n": len(stat),
            "sum": sum(ys),
            "sum_squares": sum(v * v for v in ys),
        }
        if ratio_like:
            g |= {
                "den_sum": sum(ds),
                "den_sum_squares": sum(v * v for v in ds),
                "main_den_sum_product": sum(a * b for a, b in zip(ys, ds, strict=True)),
            }
        if cuped_days:
            g |= {
                "covariate_sum": sum(xs),
                "covariate_sum_squares": sum(v * v for v in xs),
                "main_covariate_sum_product": sum(a * b for a, b in zip(ys, xs, strict=True)),
                "units_with_pre_data": sum(1 for r in stat if r[6]),
            }
            if ratio_like:
                g |= {
                    "den_pre_sum": sum(xds),
                    "den_pre_sum_squares": sum(v * v for v in xds),
                    "main_post_den_pre_sum_product": sum(
                        a * b for a, b in zip(ys, xds, strict=True)
                    ),
                    "main_pre_den_post_sum_product": sum(
                        a * b for a, b in zip(xs, ds, strict=True)
                    ),
                    "main_pre_den_pre_sum_product": sum(
                        a * b for a, b in zip(xs, xds, strict=True)
                    ),
                    "den_post_den_pre_sum_product": sum(
                        a * b for a, b in zip(ds, xds, strict=True)
                    ),
                }
        if metric.type == MetricType.FUNNEL:
            g["steps"] = tuple(
                sum(1 for r in mine if r[7] and r[7][k] is not None)
                for k in range(len(metric.steps))
            )
        expected.groups[name] = g
    return expected


def daily_reference(
    units: dict[str, Unit],
    events: list[Ev],
    *,
    group_name: str,
    start: dt.datetime,
    end: dt.datetime,
    metric: MetricDefinition,
    caps: dict[str, float | None],
    exclude_bots: bool = True,
) -> list[dict[str, Any]]:
    """Per day from the start's to the end's: the group's units exposed by the end of the
    day and their values over the events until then (the final caps applied)."""
    ratio_like = metric.type in (MetricType.MEAN, MetricType.RATIO, MetricType.FUNNEL)
    kept = [
        u
        for u in units.values()
        if u.group == group_name
        and start <= u.first_at <= end
        and not u.crossover
        and not (u.bot and exclude_bots)
    ]
    out = []
    day = start.astimezone(dt.UTC).date()
    while day <= end.astimezone(dt.UTC).date():
        cutoff = dt.datetime.combine(day + DAY, dt.time(), tzinfo=dt.UTC)
        ys, ds = [], []
        for unit in kept:
            if unit.first_at >= cutoff:
                continue
            post = [
                e
                for e in events
                if e.user_id == unit.unit_id and unit.first_at <= e.time <= end and e.time < cutoff
            ]
            y, d = num_den(metric, post, 1)
            if ratio_like and d == 0:
                continue
            ys.append(cap(y, caps["upper"], caps["lower"], metric.cap))
            ds.append(cap(d, caps["den_upper"], caps["den_lower"], None))
        point: dict[str, Any] = {
            "day": day,
            "n": len(ys),
            "sum": sum(ys),
            "sum_squares": sum(v * v for v in ys),
        }
        if ratio_like:
            point |= {
                "den_sum": sum(ds),
                "den_sum_squares": sum(v * v for v in ds),
                "main_den_sum_product": sum(a * b for a, b in zip(ys, ds, strict=True)),
            }
        out.append(point)
        day += DAY
    return out
