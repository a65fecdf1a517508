"""What the pages and the console API read of the stored events and exposures.

Every reader runs a fixed number of queries, whatever the number of event names, groups or
days: counts come from the hourly tables (`EventCount`, `ExposureCount`, `IntakeTally`),
units from `Exposure` (one row per unit) and, for the unique units of an event name, one
aggregate over the last week of `metrics_event` (its (environment_id, received_at) index
and the day partitions bound the scan). With GATEHOUSE_EVENTS_ENGINE "clickhouse" the
events and the units are read from ClickHouse instead (`events`, and `exposures` folded
per unit: metrics.clickhouse.first_exposures), with the same answers.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q, Sum, Value
from django.db.models.functions import Greatest, TruncDay
from django.utils import timezone

from console.models import Environment, Project
from metrics import clickhouse as ch
from metrics.clickhouse import enabled as clickhouse_enabled
from metrics.intake import DUPLICATE, REASONS
from metrics.models import (
    Event,
    EventCount,
    Exposure,
    ExposureCount,
    ExposureKind,
    IntakeTally,
    SetAsideEvent,
)

DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)
SERIES_DAYS = 14
TAIL_SIZE = 15
SET_ASIDE_EXAMPLES = 10


def _days(now: dt.datetime, count: int = SERIES_DAYS) -> list[dt.date]:
    today = now.astimezone(dt.UTC).date()
    return [today - dt.timedelta(days=count - 1 - i) for i in range(count)]


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class EventName:
    name: str
    last_24h: int
    last_7d: int
    units_7d: int
    last_seen: dt.datetime


def event_names(*, environment: Environment, now: dt.datetime | None = None) -> list[EventName]:
    """Every event name the environment has received (kept in the hourly counts), busiest of
    the week first: counts of the last 24 hours and 7 days, unique units of the last 7 days
    (a unit is its userID, else its stableID), last seen. Two queries."""
    now = now or timezone.now()
    counts = (
        EventCount.objects.filter(environment=environment)
        .values("event_name")
        .annotate(
            day=Sum("count", filter=Q(hour__gte=now - DAY), default=0),
            week=Sum("count", filter=Q(hour__gte=now - WEEK), default=0),
            last_seen=Max("last_at"),
        )
    )
    units = _units_by_name(environment.pk, now - WEEK)
    rows = [
        EventName(
            c["event_name"], c["day"], c["week"], units.get(c["event_name"], 0), c["last_seen"]
        )
        for c in counts
    ]
    return sorted(rows, key=lambda r: (-r.last_7d, -r.last_seen.timestamp(), r.name))


def _units_by_name(environment_id: int, since: dt.datetime) -> dict[str, int]:
    if clickhouse_enabled():
        rows = ch.clickhouse().query(
            "SELECT event_name, uniqExact(multiIf(user_id != '', concat('u:', user_id), "
            "stable_id != '', concat('s:', stable_id), NULL)) "
            "FROM events WHERE environment_id = {e:UInt32} "
            "AND received_at >= {since:DateTime64(3, 'UTC')} GROUP BY event_name",
            {"e": environment_id, "since": since},
        )
        return dict(rows)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_name, count(DISTINCT CASE WHEN user_id <> '' THEN 'u:' || user_id "
            "WHEN stable_id <> '' THEN 's:' || stable_id END) "
            "FROM metrics_event WHERE environment_id = %s AND received_at >= %s "
            "GROUP BY event_name",
            [environment_id, since],
        )
        return dict(cursor.fetchall())


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per day (`days`), one list of numbers per label."""

    days: list[dt.date]
    lines: dict[str, list[int]]

    def as_chart(self, kind: str = "line") -> dict:
        return {
            "type": kind,
            "labels": [f"{d:%b} {d.day}" for d in self.days],
            "series": [{"label": k, "data": v} for k, v in self.lines.items()],
        }


def event_series(
    *, environment: Environment, names: list[str], now: dt.datetime | None = None
) -> Series:
    """Events per day of the last two weeks for each of `names`. One query."""
    days = _days(now or timezone.now())
    rows = (
        EventCount.objects.filter(
            environment=environment, event_name__in=names, hour__gte=_day_start(days[0])
        )
        .annotate(day=TruncDay("hour", tzinfo=dt.UTC))
        .values("event_name", "day")
        .annotate(n=Sum("count"))
    )
    return _series(days, names, ((r["event_name"], r["day"], r["n"]) for r in rows))


def _series(days: list[dt.date], labels: list[str], rows) -> Series:
    index = {d: i for i, d in enumerate(days)}
    lines = {label: [0] * len(days) for label in labels}
    for label, day, n in rows:
        at = index.get(day.astimezone(dt.UTC).date())
        if at is not None and label in lines:
            lines[label][at] += n
    return Series(days, lines)


@dataclass(frozen=True, slots=True)
class TailEvent:
    name: str
    value: str | None
    # Metadata as (key, value text) pairs: a dict's own keys ("items") would shadow its
    # methods in a template.
    metadata: list[tuple[str, str]]
    user_id: str
    stable_id: str
    time: dt.datetime
    received_at: dt.datetime


def event_tail(*, environment: Environment, limit: int = TAIL_SIZE) -> list[TailEvent]:
    """The latest events received, newest first (the live tail). One query."""
    if clickhouse_enabled():
        return _event_tail_clickhouse(environment.pk, limit)
    rows = (
        Event.objects.filter(environment=environment)
        .order_by("-received_at", "-id")
        .values_list(
            "event_name", "value_text", "metadata", "user_id", "stable_id", "time", "received_at"
        )[:limit]
    )
    return [
        TailEvent(name, value, _pairs(meta), user, stable, time, received)
        for name, value, meta, user, stable, time, received in rows
    ]


def _event_tail_clickhouse(environment_id: int, limit: int) -> list[TailEvent]:
    """The tail from ClickHouse: its metadata map holds `->>` texts already, listed in the
    order of jsonb's keys (as PostgreSQL's column gives them)."""
    rows = ch.clickhouse().query(
        "SELECT event_name, value_text, metadata, user_id, stable_id, time, received_at "
        "FROM events WHERE environment_id = {e:UInt32} "
        "ORDER BY received_at DESC, time DESC LIMIT {n:UInt32}",
        {"e": environment_id, "n": limit},
    )
    return [
        TailEvent(name, value, [(k, meta[k]) for k in ch.jsonb_order(meta)], user, stable, t, at)
        for name, value, meta, user, stable, t, at in rows
    ]


def _pairs(metadata) -> list[tuple[str, str]]:
    if not isinstance(metadata, dict):
        return []
    return [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in metadata.items()]


@dataclass(frozen=True, slots=True)
class Tally:
    outcome: str
    reason: str
    description: str
    last_24h: int
    last_7d: int


def intake_tallies(*, environment: Environment, now: dt.datetime | None = None) -> list[Tally]:
    """Events set aside (by reason) and resends dropped as duplicates, last 24 h and 7 days,
    with the words the page shows for each reason. One query."""
    now = now or timezone.now()
    rows = (
        IntakeTally.objects.filter(environment=environment, hour__gte=now - WEEK)
        .values("outcome", "reason")
        .annotate(
            day=Sum("count", filter=Q(hour__gte=now - DAY), default=0),
            week=Sum("count"),
        )
        .order_by("outcome", "-week", "reason")
    )
    return [
        Tally(r["outcome"], r["reason"], _reason_words(r["reason"]), r["day"], r["week"])
        for r in rows
    ]


def _reason_words(reason: str) -> str:
    if reason == DUPLICATE:
        return "A resend of an event already stored (same idempotency key)."
    return REASONS.get(reason, reason)


def set_aside_examples(
    *, environment: Environment, limit: int = SET_ASIDE_EXAMPLES
) -> list[SetAsideEvent]:
    """The latest events set aside, as received. One query."""
    return list(
        SetAsideEvent.objects.filter(environment=environment).order_by("-received_at", "-id")[
            :limit
        ]
    )


# ---------------------------------------------------------------- exposures


@dataclass(slots=True)
class GroupUnits:
    group: str
    units: int = 0  # clean units: first exposed here, never in another group, no bot
    crossovers: int = 0  # exposed here first, later in another group too
    bots: int = 0


@dataclass(slots=True)
class Exposures:
    """A gate's or an experiment's exposures in one environment."""

    groups: list[GroupUnits]
    series: Series  # cumulative clean units per group, per day
    last_exposure: dt.datetime | None
    crossovers: int = 0
    bots: int = 0
    units: int = 0
    checks: Series | None = None  # gates: checks per day, "pass" and "fail"
    pass_rate: list[float | None] = field(default_factory=list)  # gates: per day, percent

    @property
    def is_empty(self) -> bool:
        return not (self.units or self.crossovers or self.bots or self.total_checks)

    @property
    def total_checks(self) -> int:
        return sum(sum(line) for line in self.checks.lines.values()) if self.checks else 0


def exposures(
    *,
    environment: Environment,
    kind: str,
    name: str,
    groups: list[str] | None = None,
    now: dt.datetime | None = None,
) -> Exposures:
    """Units per group (bots and crossovers counted apart, never in a group's units), units
    exposed per group per day over two weeks (cumulative), and the last exposure; for a
    gate also its checks and pass rate per day. `groups` orders the groups (an experiment's
    own) and shows those no unit reached yet. Two queries (three for a gate)."""
    now = now or timezone.now()
    days = _days(now)
    if clickhouse_enabled():
        totals, first_days = _exposures_clickhouse(environment.pk, kind, name, days[0])
    else:
        totals, first_days = _exposures_postgres(environment, kind, name, days[0])
    order = list(groups or []) + sorted(g for g in totals if g not in (groups or []))
    none = {"units": 0, "crossovers": 0, "bots": 0}
    rows = [
        GroupUnits(g, t["units"], t["crossovers"], t["bots"])
        for g, t in ((g, totals.get(g, none)) for g in order)
    ]
    daily = _series(days, order, first_days)
    result = Exposures(
        groups=rows,
        series=Series(days, {g: list(accumulate(counts)) for g, counts in daily.lines.items()}),
        last_exposure=max((t["last"] for t in totals.values()), default=None),
        crossovers=sum(r.crossovers for r in rows),
        bots=sum(r.bots for r in rows),
        units=sum(r.units for r in rows),
    )
    if kind == ExposureKind.GATE:
        result.checks, result.pass_rate = _gate_checks(environment, name, now)
    return result


def _exposures_postgres(environment: Environment, kind: str, name: str, first_day: dt.date):
    """Per group: clean units, crossovers, bots and the last exposure; and the clean units
    first exposed per (group, day), those before `first_day` counted on it (the lines are
    totals)."""
    units = Exposure.objects.filter(environment=environment, kind=kind, name=name)
    totals: dict[str, dict[str, Any]] = {
        r["group_name"]: dict(r)
        for r in units.values("group_name").annotate(
            units=Count("id", filter=Q(is_bot=False, crossover=False)),
            crossovers=Count("id", filter=Q(is_bot=False, crossover=True)),
            bots=Count("id", filter=Q(is_bot=True)),
            last=Max("last_at"),
        )
    }
    rows = (
        units.filter(is_bot=False, crossover=False)
        .annotate(day=Greatest(TruncDay("first_at", tzinfo=dt.UTC), Value(_day_start(first_day))))
        .values("group_name", "day")
        .annotate(n=Count("id"))
    )
    return totals, [(r["group_name"], r["day"], r["n"]) for r in rows]


def _exposures_clickhouse(environment_id: int, kind: str, name: str, first_day: dt.date):
    """`_exposures_postgres` over ClickHouse's exposures, folded per unit. One query."""
    units = ch.first_exposures(
        "environment_id = {e:UInt32} AND kind = {kind:String} AND name = {name:String}"
    )
    rows = ch.clickhouse().query(
        "SELECT group_name, greatest(toStartOfDay(first_at), {start:DateTime64(3, 'UTC')}) AS day,"
        " countIf(NOT is_bot AND NOT crossover), countIf(NOT is_bot AND crossover),"
        f" countIf(is_bot), max(last_at) FROM ({units}) GROUP BY group_name, day",
        {"e": environment_id, "kind": kind, "name": name, "start": _day_start(first_day)},
    )
    totals: dict[str, dict[str, Any]] = {}
    first_days = []
    for group, day, clean, crossovers, bots, last in rows:
        total = totals.setdefault(group, {"units": 0, "crossovers": 0, "bots": 0, "last": last})
        total["units"] += clean
        total["crossovers"] += crossovers
        total["bots"] += bots
        total["last"] = max(total["last"], last)
        if clean:
            first_days.append((group, day, clean))
    return totals, first_days


def _gate_checks(
    environment: Environment, name: str, now: dt.datetime
) -> tuple[Series, list[float | None]]:
    """Checks per day (bots left out) of a gate, pass and fail, and the daily pass rate."""
    days = _days(now)
    rows = (
        ExposureCount.objects.filter(
            environment=environment,
            kind=ExposureKind.GATE,
            name=name,
            hour__gte=_day_start(days[0]),
        )
        .annotate(day=TruncDay("hour", tzinfo=dt.UTC))
        .values("group_name", "day")
        .annotate(n=Sum("count"))
    )
    checks = _series(days, ["pass", "fail"], ((r["group_name"], r["day"], r["n"]) for r in rows))
    rate = [
        round(100 * p / (p + f), 1) if p + f else None
        for p, f in zip(checks.lines["pass"], checks.lines["fail"], strict=True)
    ]
    return checks, rate


def gates_checked_since(*, project: Project, since: dt.datetime) -> set[str]:
    """The (lowercased) names of the gates some SDK checked in an environment of the
    project since `since`. One query."""
    names = (
        ExposureCount.objects.filter(
            environment__project=project, kind=ExposureKind.GATE, hour__gte=since
        )
        .values_list("name", flat=True)
        .distinct()
    )
    return {n.lower() for n in names}


def exposure_tally(
    *,
    environment_id: int,
    kind: str,
    name: str,
    unit_type: str,
    start: dt.datetime,
    end: dt.datetime,
) -> list[tuple[str, dt.date, bool, bool, int]]:
    """The units first exposed between `start` and `end`, counted by (group, UTC day of the
    first exposure, crossover, bot): from ClickHouse's exposures folded per unit when it is
    the engine, else from metrics_exposure. One query."""
    if clickhouse_enabled():
        units = ch.first_exposures(
            "environment_id = {e:UInt32} AND kind = {kind:String} AND name = {name:String} "
            "AND unit_type = {unit_type:String}"
        )
        rows = ch.clickhouse().query(
            "SELECT group_name, toDate(first_at) AS day, crossover, is_bot, count() "
            f"FROM ({units}) WHERE first_at >= {{start:DateTime64(3, 'UTC')}} "
            "AND first_at <= {end:DateTime64(3, 'UTC')} "
            "GROUP BY group_name, day, crossover, is_bot",
            {
                "e": environment_id,
                "kind": kind,
                "name": name,
                "unit_type": unit_type,
                "start": start,
                "end": end,
            },
        )
        return [(g, day, bool(x), bool(b), int(n)) for g, day, x, b, n in rows]
    counted = (
        Exposure.objects.filter(
            environment_id=environment_id,
            kind=kind,
            name=name,
            unit_type=unit_type,
            first_at__gte=start,
            first_at__lte=end,
        )
        .annotate(day=TruncDay("first_at", tzinfo=dt.UTC))
        .values_list("group_name", "day", "crossover", "is_bot")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [(g, day.date(), x, b, n) for g, day, x, b, n in counted]
