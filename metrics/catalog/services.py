"""The catalog's writes: metrics created, edited and archived by members, the auto metrics
of every event name, the project's "Core" tag and its active-unit setting.

Each service checks the actor's role (members write, viewers read), locks what it
changes, validates (metrics.catalog.validation, then the rules that need other rows),
saves and records an audit event with the values before and after, in one transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from console.audit import audit_record
from console.exceptions import Conflict, DomainError
from console.models import Project, Role, Tag
from console.permissions import ensure_role
from console.services.common import save_unique
from metrics.catalog.validation import (
    INTERNAL_EVENT_PREFIX,
    SELECTOR_TYPES,
    VALUE_TYPES,
    CleanMetric,
    MetricInput,
    clean_event_name,
    clean_metric,
)
from metrics.definitions import MetricType
from metrics.models import EventCount, Metric, MetricSettings, MetricSource

CORE_TAG = "Core"
CORE_TAG_DESCRIPTION = "Key metrics: every experiment and gate should watch them"
AUTO_TYPES = (MetricType.EVENT_COUNT, MetricType.USER_COUNT)
MAX_ACTIVE_EVENTS = 50
# The fields the audit records (and an update compares), besides tags and the ratio's parts.
AUDITED = [
    "description",
    "event_name",
    "filters",
    "value_field",
    "user_count_mode",
    "steps",
    "funnel_window_hours",
    "direction",
    "winsorize_lower",
    "winsorize_upper",
    "cap",
    "dimensions",
]
# What an auto metric counts is its event, all of it: only the rest can be edited.
AUTO_FIXED = ["event_name", "filters", "value_field", "user_count_mode"]


# Fields that mean nothing for some types (a sum's user count mode): left out of the audit.
_ONLY_FOR = {
    "event_name": SELECTOR_TYPES,
    "filters": SELECTOR_TYPES,
    "value_field": VALUE_TYPES,
    "user_count_mode": {MetricType.USER_COUNT},
    "steps": {MetricType.FUNNEL},
    "funnel_window_hours": {MetricType.FUNNEL},
}


def metric_audit_values(metric: Metric, tags: list[str]) -> dict[str, Any]:
    values = {
        name: getattr(metric, name)
        for name in AUDITED
        if name not in _ONLY_FOR or metric.metric_type in _ONLY_FOR[name]
    }
    values["id"] = metric.statsig_id
    values["numerator"] = metric.numerator.statsig_id if metric.numerator else None
    values["denominator"] = metric.denominator.statsig_id if metric.denominator else None
    values["tags"] = sorted(tags)
    if metric.source is not None:
        values["source"] = metric.source.name
    return values


def split_metric_id(metric_id: str) -> tuple[str, str]:
    """`name::type` → (name, type); names may hold "::" themselves, types never do."""
    name, sep, metric_type = metric_id.rpartition("::")
    return (name, metric_type) if sep else (metric_id, "")


def _resolve_part(project: Project, metric_id: str, *, field: str, own_id: str, own_pk) -> Metric:
    name, metric_type = split_metric_id(metric_id)
    what = "numerator" if field == "numerator" else "denominator"
    if metric_id.lower() == own_id.lower():
        raise DomainError(
            f"A ratio cannot use itself as its {what}.", code="ratio_of_itself", field=field
        )
    part = (
        Metric.objects.filter(project=project, name__iexact=name, metric_type=metric_type)
        .exclude(pk=own_pk)
        .first()
    )
    if part is None:
        raise DomainError(
            f"This project has no metric '{metric_id}' (IDs are name::type, such as "
            "purchase::event_count).",
            code="unknown_metric",
            field=field,
        )
    if part.metric_type in (MetricType.RATIO, MetricType.FUNNEL):
        raise DomainError(
            f"The {what} cannot be a {part.get_metric_type_display().lower()}: a ratio divides "
            "two metrics that are counts, sums, means or distinct counts.",
            code="ratio_of_ratio",
            field=field,
        )
    if part.is_archived:
        raise DomainError(
            f"The {what} '{part.statsig_id}' is archived.", code="archived_metric", field=field
        )
    return part


def _ratio_parts(
    project: Project, clean: CleanMetric, *, own_pk=None
) -> tuple[Metric | None, Metric | None]:
    if clean.values["metric_type"] != MetricType.RATIO:
        return None, None
    own_id = f"{clean.values['name']}::{MetricType.RATIO.value}"
    numerator = _resolve_part(
        project, clean.numerator, field="numerator", own_id=own_id, own_pk=own_pk
    )
    denominator = _resolve_part(
        project, clean.denominator, field="denominator", own_id=own_id, own_pk=own_pk
    )
    if numerator.source_id != denominator.source_id:
        raise DomainError(
            "A ratio's numerator and denominator read the same data: both the ingested "
            "events, or both the same warehouse metric source.",
            code="ratio_sources",
            field="denominator",
        )
    return numerator, denominator


def _source(project: Project, clean: CleanMetric) -> MetricSource | None:
    """The warehouse metric source the metric reads, its columns checked: the value column
    one of its value columns, each filtered column one it declares."""
    if not clean.source:
        return None
    source = MetricSource.objects.filter(project=project, name__iexact=clean.source).first()
    if source is None:
        raise DomainError(
            f"This project has no warehouse metric source named '{clean.source}'.",
            code="unknown_source",
            field="source",
        )
    values = clean.values
    if values["metric_type"] in VALUE_TYPES and values["value_field"] not in source.value_columns:
        listed = ", ".join(source.value_columns) or "none"
        raise DomainError(
            f"'{values['value_field']}' is not a value column of {source.name} "
            f"(its value columns: {listed}).",
            code="unknown_column",
            field="value_field",
        )
    known = [*source.value_columns, *source.filter_columns]
    for i, item in enumerate(values["filters"]):
        if item["field"] not in known:
            raise DomainError(
                f"'{item['field']}' is not a column of {source.name} that metrics can filter "
                f"on ({', '.join(known) or 'none'}).",
                code="unknown_column",
                field=f"filters[{i}].field",
            )
    return source


def _tags(project: Project, names: list[str]) -> list[Tag]:
    if not names:
        return []
    found = {
        t.name.lower(): t
        for t in Tag.objects.filter(project=project)
        .annotate(lname=Lower("name"))
        .filter(lname__in=[n.lower() for n in names])
    }
    missing = [n for n in names if n.lower() not in found]
    if missing:
        raise DomainError(
            f"This project has no tag named '{missing[0]}': create it under Settings → Tags.",
            code="unknown_tag",
            field="tags",
        )
    return [found[n.lower()] for n in names]


def _name_taken_message(name: str, metric_type: str) -> str:
    return (
        f"A metric '{name}::{metric_type}' already exists in this project (archived "
        "metrics keep their names): pick another name."
    )


@transaction.atomic
def metric_create(*, actor, project: Project, data: MetricInput) -> Metric:
    """Create a metric. Raises NotAllowed (viewers), DomainError (a broken rule, with its
    field), Conflict (the name and type are taken, archived metrics included)."""
    ensure_role(actor, project, Role.MEMBER)
    clean = clean_metric(data)
    numerator, denominator = _ratio_parts(project, clean)
    source = _source(project, clean)
    tags = _tags(project, clean.tags)
    values = clean.values
    if Metric.objects.filter(
        project=project, name__iexact=values["name"], metric_type=values["metric_type"]
    ).exists():
        raise Conflict(
            _name_taken_message(values["name"], values["metric_type"]),
            code="duplicate",
            field="name",
        )
    metric = Metric(
        project=project,
        numerator=numerator,
        denominator=denominator,
        source=source,
        created_by=actor,
        updated_by=actor,
        **values,
    )
    # A concurrent create of the same ID loses on the unique index.
    save_unique(
        metric, message=_name_taken_message(values["name"], values["metric_type"]), field="name"
    )
    metric.tags.set(tags)
    audit_record(
        actor=actor,
        action="metric.created",
        target=metric,
        project=project,
        after=metric_audit_values(metric, [t.name for t in tags]),
    )
    return metric


def _ensure_revision(metric: Metric, expected_revision: int | None) -> None:
    if expected_revision is not None and expected_revision != metric.revision:
        raise Conflict(
            f"This metric changed since you opened it (revision {metric.revision}, you had "
            f"{expected_revision}); reload and apply your edit again.",
            code="stale_revision",
        )


def _locked(metric: Metric) -> Metric:
    locked = (
        Metric.objects.select_for_update(of=("self",))
        .select_related("project", "numerator", "denominator")
        .get(pk=metric.pk)
    )
    if locked.is_archived:
        raise Conflict("This metric is archived and cannot change.", code="archived")
    return locked


@transaction.atomic
def metric_update(
    *, actor, metric: Metric, data: MetricInput, expected_revision: int | None = None
) -> Metric:
    """Replace a metric's definition, description, direction, outlier handling and tags.
    Its name and type are its ID and never change; an auto metric's event and filters
    neither. Locks the row; bumps the revision when anything changed; Conflict when
    `expected_revision` is not the current one or the metric is archived."""
    ensure_role(actor, metric.project, Role.MEMBER)
    metric = _locked(metric)
    _ensure_revision(metric, expected_revision)
    if (data.name or "").strip().lower() != metric.name.lower():
        raise DomainError(
            "The name cannot change: with the type it is the metric's ID, which results and "
            "the API use. Create a new metric instead.",
            code="immutable",
            field="name",
        )
    if data.metric_type != metric.metric_type:
        raise DomainError(
            "The type cannot change: create a new metric instead.",
            code="immutable",
            field="metric_type",
        )
    data.name = metric.name
    clean = clean_metric(data)
    numerator, denominator = _ratio_parts(metric.project, clean, own_pk=metric.pk)
    source = _source(metric.project, clean)
    tags = _tags(metric.project, clean.tags)
    if metric.is_auto:
        for name in AUTO_FIXED:
            if clean.values[name] != getattr(metric, name):
                raise DomainError(
                    f"An auto metric counts every {metric.event_name} event; its "
                    f"{name.replace('_', ' ')} cannot change. Create a custom metric to "
                    "filter or aggregate it.",
                    code="auto_metric",
                    field=name,
                )
    before = metric_audit_values(metric, [t.name for t in metric.tags.all()])
    for name in AUDITED:
        setattr(metric, name, clean.values[name])
    metric.numerator, metric.denominator, metric.source = numerator, denominator, source
    after = metric_audit_values(metric, [t.name for t in tags])
    if before == after:
        return metric
    metric.revision += 1
    metric.updated_by = actor
    metric.save(
        update_fields=[
            *AUDITED,
            "numerator",
            "denominator",
            "source",
            "revision",
            "updated_by",
            "updated_at",
        ]
    )
    metric.tags.set(tags)
    audit_record(
        actor=actor,
        action="metric.updated",
        target=metric,
        project=metric.project,
        before=before,
        after=after,
    )
    return metric


@transaction.atomic
def metric_archive(*, actor, metric: Metric, expected_revision: int | None = None) -> Metric:
    """Archive a metric: it leaves the catalog's list and cannot change; its ID stays
    taken. Conflict when a ratio that is not archived uses it."""
    ensure_role(actor, metric.project, Role.MEMBER)
    metric = _locked(metric)
    _ensure_revision(metric, expected_revision)
    users = list(
        Metric.objects.active()
        .filter(project_id=metric.project_id, metric_type=MetricType.RATIO)
        .filter(Q(numerator=metric) | Q(denominator=metric))
        .order_by("name")[:3]
    )
    if users:
        names = ", ".join(m.statsig_id for m in users)
        raise Conflict(
            f"Ratio metrics use this metric ({names}): archive or change them first.",
            code="in_use",
        )
    metric.archived_at = timezone.now()
    metric.archived_by = actor
    metric.revision += 1
    metric.updated_by = actor
    metric.save(
        update_fields=["archived_at", "archived_by", "revision", "updated_by", "updated_at"]
    )
    audit_record(
        actor=actor,
        action="metric.archived",
        target=metric,
        project=metric.project,
        before={"archived": False},
        after={"archived": True},
    )
    return metric


@transaction.atomic
def core_tag_ensure(*, project: Project) -> Tag:
    """The project's "Core" tag (any case), created when missing (a system change)."""
    tag = Tag.objects.filter(project=project, name__iexact=CORE_TAG).first()
    if tag is not None:
        return tag
    tag, created = Tag.objects.get_or_create(
        project=project, name=CORE_TAG, defaults={"description": CORE_TAG_DESCRIPTION}
    )
    if created:
        audit_record(
            actor=None,
            action="tag.created",
            target=tag,
            project=project,
            after={"name": tag.name, "description": tag.description},
        )
    return tag


def custom_event_names(project: Project):
    """The names of the custom events any environment of the project received (the
    hourly counts keep them for the retention period), exposures left out."""
    return (
        EventCount.objects.filter(environment__project=project)
        .exclude(event_name__startswith=INTERNAL_EVENT_PREFIX)
        .values_list("event_name", flat=True)
        .distinct()
    )


@transaction.atomic
def metric_autocreate(*, project: Project) -> list[Metric]:
    """Give every custom event name of the project its `<event>::event_count` and
    `<event>::event_user` metrics, once: a name that has them (archived included, any
    case) is skipped, and the inserts do nothing on conflict. Serialized per project by a
    lock on its row; the created metrics are audited as system changes. Also makes sure
    the Core tag exists."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    core_tag_ensure(project=project)
    names = set(custom_event_names(project))
    if not names:
        return []
    existing = set(
        Metric.objects.filter(project=project, metric_type__in=AUTO_TYPES)
        .annotate(lname=Lower("name"))
        .filter(lname__in=[n.lower() for n in names])
        .values_list("lname", "metric_type")
    )
    wanted = [
        (name, metric_type)
        for name in sorted(names)
        for metric_type in AUTO_TYPES
        if (name.lower(), metric_type.value) not in existing
    ]
    # Two names that differ only in case share their metrics: the first one wins.
    seen: set[tuple[str, str]] = set()
    rows = []
    for name, metric_type in wanted:
        if (name.lower(), metric_type) in seen:
            continue
        seen.add((name.lower(), metric_type))
        rows.append(
            Metric(
                project=project,
                name=name,
                metric_type=metric_type.value,
                event_name=name,
                is_auto=True,
                description=f"Every {name} event, created when the first one arrived.",
                winsorize_upper=0.999 if metric_type == MetricType.EVENT_COUNT else None,
            )
        )
    Metric.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    # Under the project's lock no other auto-creation runs: an auto row of a pair that was
    # missing is one this call made (a member's concurrent create is not auto).
    created = [
        m
        for m in Metric.objects.filter(
            project=project,
            is_auto=True,
            metric_type__in=AUTO_TYPES,
            name__in=[r.name for r in rows],
        )
        if (m.name.lower(), m.metric_type) in seen
    ]
    for metric in created:
        audit_record(
            actor=None,
            action="metric.created",
            target=metric,
            project=project,
            after={"id": metric.statsig_id, "event_name": metric.event_name, "auto": True},
        )
    return created


def metrics_autocreate_all() -> int:
    """Auto metrics for every active project that has received events; how many made."""
    project_ids = (
        EventCount.objects.filter(environment__project__archived_at__isnull=True)
        .values_list("environment__project_id", flat=True)
        .distinct()
    )
    made = 0
    for project in Project.objects.filter(pk__in=list(project_ids)).order_by("pk"):
        made += len(metric_autocreate(project=project))
    return made


@transaction.atomic
def metric_settings_update(*, actor, project: Project, active_events: list[str]) -> MetricSettings:
    """Which events make a unit active on a day; an empty list means any custom event."""
    ensure_role(actor, project, Role.MEMBER)
    if not isinstance(active_events, list) or len(active_events) > MAX_ACTIVE_EVENTS:
        raise DomainError(
            f"Name at most {MAX_ACTIVE_EVENTS} events.", code="too_many", field="active_events"
        )
    names = list(
        dict.fromkeys(
            clean_event_name(n, field="active_events", what="An event name") for n in active_events
        )
    )
    settings, _ = MetricSettings.objects.select_for_update().get_or_create(project=project)
    before = list(settings.active_events)
    if before == names:
        return settings
    settings.active_events = names
    settings.updated_by = actor
    settings.save(update_fields=["active_events", "updated_by", "updated_at"])
    audit_record(
        actor=actor,
        action="metric_settings.updated",
        target=settings,
        project=project,
        before={"active_events": before},
        after={"active_events": names},
    )
    return settings
