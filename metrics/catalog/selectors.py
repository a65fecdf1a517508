"""What the catalog's pages and API read: the list (a fixed number of queries, whatever the
number of metrics), one metric by its ID, its definition as the query plan takes it, its
history, and the project's event names and active-unit setting. The daily series of a
metric's page is metrics.catalog.series."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from console.models import AuditEvent, Project, Tag
from metrics.catalog.services import custom_event_names, split_metric_id
from metrics.catalog.validation import INTERNAL_EVENT_PREFIX
from metrics.definitions import (
    Direction,
    EventSelector,
    Filter,
    MetricDefinition,
    MetricType,
    Operator,
    UserCountMode,
)
from metrics.models import EventCount, Metric, MetricSettings


@dataclass(frozen=True)
class MetricFilters:
    search: str = ""  # part of the name or the description
    tag: str = ""  # a tag's name, any case
    metric_type: str = ""
    archived: bool = False  # archived metrics instead of the others


def metric_list(*, project: Project, filters: MetricFilters = MetricFilters()) -> QuerySet[Metric]:
    """The catalog, by name: with the ratio's parts joined and the tags prefetched (two
    queries in all)."""
    qs = Metric.objects.filter(project=project).select_related("numerator", "denominator", "source")
    qs = qs.filter(archived_at__isnull=not filters.archived)
    if filters.search:
        qs = qs.filter(Q(name__icontains=filters.search) | Q(description__icontains=filters.search))
    if filters.tag:
        tagged = Metric.tags.through.objects.filter(
            metric_id=OuterRef("pk"), tag__name__iexact=filters.tag
        )
        qs = qs.filter(Exists(tagged))
    if filters.metric_type:
        qs = qs.filter(metric_type=filters.metric_type)
    return qs.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name"))).order_by(
        Lower("name"), "metric_type"
    )


def metric_get(*, project: Project, pk: int) -> Metric | None:
    return (
        Metric.objects.filter(project=project, pk=pk)
        .select_related(
            "numerator", "denominator", "source", "created_by", "updated_by", "archived_by"
        )
        .prefetch_related("tags")
        .first()
    )


def metric_get_by_id(*, project: Project, metric_id: str) -> Metric | None:
    """The metric whose ID is `metric_id` (`name::type`, the name in any case)."""
    name, metric_type = split_metric_id(metric_id)
    if not name or not metric_type:
        return None
    return (
        Metric.objects.filter(project=project, name__iexact=name, metric_type=metric_type)
        .select_related("numerator", "denominator", "source", "created_by", "updated_by")
        .prefetch_related("tags")
        .first()
    )


def _selector(event_name: str, filters: list[dict]) -> EventSelector:
    return EventSelector(
        event_name,
        tuple(
            Filter(f["field"], Operator(f["operator"]), tuple(f.get("values", ()))) for f in filters
        ),
    )


def metric_definition(metric: Metric) -> MetricDefinition:
    """The metric as the query plan takes it (metrics.definitions), its ratio's numerator
    and denominator resolved. Reads the tags and the ratio's parts through the row's
    relations (prefetched by this module's selectors)."""
    metric_type = MetricType(metric.metric_type)
    numerator = denominator = None
    if metric_type == MetricType.RATIO:
        assert metric.numerator is not None
        assert metric.denominator is not None
        numerator = metric_definition(metric.numerator)
        denominator = metric_definition(metric.denominator)
    events = (
        _selector(metric.event_name, metric.filters)
        if metric_type not in (MetricType.RATIO, MetricType.FUNNEL)
        else None
    )
    return MetricDefinition(
        name=metric.name,
        type=metric_type,
        events=events,
        value_field=metric.value_field,
        user_count_mode=UserCountMode(metric.user_count_mode),
        numerator=numerator,
        denominator=denominator,
        steps=tuple(_selector(s["event_name"], s.get("filters", [])) for s in metric.steps),
        funnel_window_hours=metric.funnel_window_hours,
        direction=Direction(metric.direction),
        winsorize_lower=metric.winsorize_lower,
        winsorize_upper=metric.winsorize_upper,
        cap=metric.cap,
        dimensions=tuple(metric.dimensions),
        revision=metric.revision,
        tags=tuple(sorted(t.name for t in metric.tags.all())),
        source=metric.source.name if metric.source is not None else None,
    )


def metric_definitions(*, project: Project, ids: list[str]) -> dict[str, MetricDefinition]:
    """The definitions of the metrics whose IDs (`name::type`) are given, keyed by ID as
    given; IDs of no metric are left out. A fixed number of queries."""
    wanted = {(n.lower(), t): i for i in ids for n, t in [split_metric_id(i)] if n and t}
    if not wanted:
        return {}
    condition = Q()
    for name, metric_type in wanted:
        condition |= Q(lname=name, metric_type=metric_type)
    metrics = (
        Metric.objects.filter(project=project)
        .annotate(lname=Lower("name"))
        .filter(condition)
        .select_related(
            "numerator", "denominator", "source", "numerator__source", "denominator__source"
        )
        .prefetch_related("tags", "numerator__tags", "denominator__tags")
    )
    return {wanted[(m.name.lower(), m.metric_type)]: metric_definition(m) for m in metrics}


def metric_history(*, metric: Metric, limit: int = 50) -> QuerySet[AuditEvent]:
    """The metric's audit events, newest first."""
    return AuditEvent.objects.filter(
        project_id=metric.project_id, target_type="metric", target_id=str(metric.pk)
    ).order_by("-created_at", "-id")[:limit]


def ratio_candidates(*, project: Project) -> QuerySet[Metric]:
    """The metrics a ratio may divide: not archived, neither ratios nor funnels."""
    return (
        Metric.objects.active()
        .filter(project=project)
        .exclude(metric_type__in=[MetricType.RATIO, MetricType.FUNNEL])
        .order_by(Lower("name"), "metric_type")
    )


def known_event_names(*, project: Project) -> list[str]:
    """The custom event names the project's environments received, sorted."""
    return sorted(custom_event_names(project))


def events_seen(*, project: Project, names: list[str]) -> set[str]:
    """Which of `names` any environment of the project received."""
    if not names:
        return set()
    return set(
        EventCount.objects.filter(environment__project=project, event_name__in=names)
        .values_list("event_name", flat=True)
        .distinct()
    )


def active_unit_events(*, project: Project) -> list[str]:
    """The events that make a unit active on a day; empty: any custom event."""
    settings = MetricSettings.objects.filter(project=project).first()
    return list(settings.active_events) if settings else []


def autocreate_pending(*, project: Project, now: dt.datetime | None = None) -> bool:
    """Whether a custom event name the project received in the last day still lacks its
    auto event count metric (one query over a day of hourly counts; older names are beat's,
    hourly). The catalog's page then makes them at once."""
    since = (now or timezone.now()) - dt.timedelta(days=1)
    covered = Metric.objects.filter(
        project=project,
        metric_type=MetricType.EVENT_COUNT,
        name__iexact=OuterRef("event_name"),
    )
    return (
        EventCount.objects.filter(environment__project=project, hour__gte=since)
        .exclude(event_name__startswith=INTERNAL_EVENT_PREFIX)
        .filter(~Exists(covered))
        .exists()
    )


def live_metric_ids(*, project: Project) -> list[str]:
    """The IDs (`name::type`) of the project's metrics not archived, by name: what an
    experiment's scorecard can pick. One query."""
    rows = (
        Metric.objects.filter(project=project, archived_at__isnull=True)
        .order_by(Lower("name"), "metric_type")
        .values_list("name", "metric_type")
    )
    return [f"{name}::{metric_type}" for name, metric_type in rows]


def tagged_metric_ids(*, project: Project, tags: list[str]) -> list[str]:
    """The IDs of the live metrics carrying any of `tags` (names in any case), by name."""
    if not tags:
        return []
    condition = Q()
    for tag in tags:
        condition |= Q(tags__name__iexact=tag)
    rows = (
        Metric.objects.filter(project=project, archived_at__isnull=True)
        .filter(condition)
        .distinct()
        .order_by(Lower("name"), "metric_type")
        .values_list("name", "metric_type")
    )
    return [f"{name}::{metric_type}" for name, metric_type in rows]
