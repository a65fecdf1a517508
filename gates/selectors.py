"""Reads of gates, segments, dynamic configs and unit types, shared by pages, the API and
the spec contributor. List selectors join what a list shows (owner, tags) so their query
count does not grow with the number of rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import BooleanField, Case, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from console.models import Project, Tag
from gates import idlists
from gates.models import (
    BUILTIN_UNIT_TYPES,
    STALE_DECIDED_AFTER,
    STALE_TEMPORARY_AFTER,
    DynamicConfig,
    FeatureGate,
    GateRollout,
    GateStatus,
    Reference,
    ReferenceKind,
    Segment,
    SegmentID,
    UnitType,
)

_TAGS = Prefetch("tags", queryset=Tag.objects.order_by("name"))


# ---------------------------------------------------------------- gates


@dataclass(frozen=True)
class GateFilters:
    search: str = ""  # part of the name or description
    status: str = ""  # a GateStatus value; "" for any live status
    tag: str = ""  # a tag name
    owner: str = ""  # an owner's email
    stale: bool | None = None  # True: only stale gates; False: only fresh ones
    stale_usage: bool = False  # only gates no SDK has checked for STALE_USAGE_AFTER
    include_archived: bool = False


# A gate older than this that no SDK has checked for as long is stale by usage.
STALE_USAGE_AFTER = timedelta(days=30)


def stale_usage_q(checked: set[str], now: datetime | None = None) -> Q:
    """Stale by usage: created over 30 days ago, and not among the `checked` gates (the
    lowercased names some SDK checked in that time, gates.hooks.gates_checked_since)."""
    now = now or timezone.now()
    old = Q(archived_at__isnull=True, created_at__lte=now - STALE_USAGE_AFTER)
    return old & ~Q(name_lower__in=checked)


def stale_gate_q(now: datetime | None = None) -> Q:
    """Stale: launched or disabled for 30+ days (the code path can go), or temporary and
    unchanged for 90+ days (forgotten). FeatureGate.is_stale is the same rule in Python."""
    now = now or timezone.now()
    decided = Q(
        status__in=[GateStatus.LAUNCHED, GateStatus.DISABLED],
        status_changed_at__lte=now - STALE_DECIDED_AFTER,
    )
    forgotten = Q(
        status=GateStatus.IN_PROGRESS,
        is_permanent=False,
        updated_at__lte=now - STALE_TEMPORARY_AFTER,
    )
    return Q(archived_at__isnull=True) & (decided | forgotten)


def gate_list(
    *,
    project: Project,
    filters: GateFilters | None = None,
    checked: set[str] | None = None,
    now: datetime | None = None,
) -> QuerySet[FeatureGate]:
    """The project's gates by name, each annotated with `stale` and, when `checked` says
    which gates SDKs checked lately, `stale_usage`; with owner and tags."""
    filters = filters or GateFilters()
    stale = stale_gate_q(now)
    qs = (
        FeatureGate.objects.filter(project=project)
        .select_related("owner")
        .prefetch_related(_TAGS)
        .annotate(
            stale=Case(When(stale, then=Value(True)), default=False, output_field=BooleanField())
        )
    )
    if checked is not None:
        unused = stale_usage_q(checked, now)
        qs = qs.annotate(name_lower=Lower("name")).annotate(
            stale_usage=Case(When(unused, then=Value(True)), default=False)
        )
        if filters.stale_usage:
            qs = qs.filter(unused)
    if not filters.include_archived and filters.status != GateStatus.ARCHIVED:
        qs = qs.filter(archived_at__isnull=True)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.search:
        qs = qs.filter(Q(name__icontains=filters.search) | Q(description__icontains=filters.search))
    if filters.tag:
        qs = qs.filter(tags__name__iexact=filters.tag)
    if filters.owner:
        qs = qs.filter(owner__email__iexact=filters.owner)
    if filters.stale is True:
        qs = qs.filter(stale)
    elif filters.stale is False:
        qs = qs.exclude(stale)
    return qs.order_by(Lower("name"), "pk")


def gate_get(*, project: Project, name: str) -> FeatureGate | None:
    """The live gate of that name (any case), with owner and tags; None if there is none."""
    return (
        FeatureGate.objects.active()
        .filter(project=project, name__iexact=name)
        .select_related("project", "owner")
        .prefetch_related(_TAGS)
        .first()
    )


# ---------------------------------------------------------------- segments


def segment_list(
    *, project: Project, search: str = "", kind: str = "", include_archived: bool = False
) -> QuerySet[Segment]:
    qs = Segment.objects.filter(project=project).select_related("owner").prefetch_related(_TAGS)
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if kind:
        qs = qs.filter(kind=kind)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return qs.order_by(Lower("name"), "pk")


def segment_get(*, project: Project, name: str) -> Segment | None:
    return (
        Segment.objects.active()
        .filter(project=project, name__iexact=name)
        .select_related("project", "owner")
        .prefetch_related(_TAGS)
        .first()
    )


def segment_ids_page(
    *, segment: Segment, search: str = "", after: str = "", limit: int = 100
) -> list[str]:
    """Up to `limit` of the segment's IDs in order, after `after` (keyset paging), those
    containing `search` only."""
    qs = SegmentID.objects.filter(segment=segment)
    if search:
        qs = qs.filter(unit_id__contains=search)
    if after:
        qs = qs.filter(unit_id__gt=after)
    return list(qs.order_by("unit_id").values_list("unit_id", flat=True)[:limit])


def segment_ids(*, segment: Segment) -> Iterator[str]:
    """Every ID of the segment, by ID, read in batches."""
    rows = SegmentID.objects.filter(segment=segment).order_by("unit_id")
    return rows.values_list("unit_id", flat=True).iterator(chunk_size=10_000)


# "+" + 8 characters + "\n" per ID.
ID_LIST_LINE_BYTES = 10


def segment_id_list_size(segment: Segment) -> int:
    """Bytes of the segment's ID-list file (the manifest's `size`)."""
    return segment.id_count * ID_LIST_LINE_BYTES


def segment_id_list_text(segment: Segment) -> Iterator[str]:
    """The segment's ID-list file ("+<hash>\\n" per ID) in pieces of whole lines, oldest
    ID first, so IDs added later only append to it."""
    return idlists.id_list_file_pieces(segment.pk)


# ---------------------------------------------------------------- dynamic configs


def dynamic_config_list(
    *, project: Project, search: str = "", include_archived: bool = False
) -> QuerySet[DynamicConfig]:
    qs = (
        DynamicConfig.objects.filter(project=project)
        .select_related("owner")
        .prefetch_related(_TAGS)
    )
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return qs.order_by(Lower("name"), "pk")


def dynamic_config_get(*, project: Project, name: str) -> DynamicConfig | None:
    return (
        DynamicConfig.objects.active()
        .filter(project=project, name__iexact=name)
        .select_related("project", "owner")
        .prefetch_related(_TAGS)
        .first()
    )


# ---------------------------------------------------------------- unit types and usage


def unit_type_list(*, project: Project) -> QuerySet[UnitType]:
    return UnitType.objects.filter(project=project).order_by(Lower("name"))


def unit_type_names(*, project: Project) -> list[str]:
    """Every unit type an entity or condition may use: userID, stableID, then custom."""
    return list(BUILTIN_UNIT_TYPES) + list(
        unit_type_list(project=project).values_list("name", flat=True)
    )


def usages(*, kind: str, target_id: int) -> list[str]:
    """Labels ('gate x', 'segment y', 'dynamic config z') of the live entities whose
    conditions use the gate or segment `kind`/`target_id`."""
    by_kind: dict[str, list[int]] = {}
    for source_kind, source_id in Reference.objects.filter(
        target_kind=kind, target_id=target_id
    ).values_list("source_kind", "source_id"):
        by_kind.setdefault(source_kind, []).append(source_id)
    labels: list[str] = []
    for source_kind, model, label in (
        (ReferenceKind.GATE, FeatureGate, "gate"),
        (ReferenceKind.SEGMENT, Segment, "segment"),
        (ReferenceKind.DYNAMIC_CONFIG, DynamicConfig, "dynamic config"),
    ):
        ids = by_kind.get(source_kind)
        if ids:
            names = model.objects.filter(pk__in=ids).values_list("name", flat=True)
            labels.extend(f"{label} {name}" for name in names)
    return sorted(labels)


@dataclass(frozen=True)
class RolloutStepView:
    number: int
    percentage: float | int
    status: str  # "done", "next" or "later"
    at: datetime | None  # when applied (done), due (next, or later at a fixed time)
    wait_seconds: int | None  # a later step due after a wait


@dataclass(frozen=True)
class RolloutView:
    rollout: GateRollout
    rule_name: str
    current: float | int  # the rule's pass percentage now
    steps: list[RolloutStepView]


def gate_rollouts(gate: FeatureGate) -> list[RolloutView]:
    """The gate's rollout schedules in rule order, each step done, next or later: one query,
    none for a gate without schedules."""
    names = {r["id"]: (i, r["name"]) for i, r in enumerate(gate.rules) if r.get("rolloutSchedule")}
    if not names:
        return []
    views = []
    for rollout in GateRollout.objects.filter(gate=gate, rule_id__in=list(names)):
        steps = []
        for k, step in enumerate(rollout.steps):
            at: datetime | None
            if k < len(rollout.applied):
                status, at = "done", datetime.fromisoformat(rollout.applied[k])
            elif k == rollout.next_step:
                status, at = "next", rollout.next_at
            else:
                status = "later"
                at = (
                    datetime.fromisoformat(step["at"].replace("Z", "+00:00"))
                    if "at" in step
                    else None
                )
            steps.append(
                RolloutStepView(
                    number=k + 1,
                    percentage=step["passPercentage"],
                    status=status,
                    at=at,
                    wait_seconds=step.get("afterSeconds") if at is None else None,
                )
            )
        current = gate.rules[names[rollout.rule_id][0]]["passPercentage"]
        views.append(RolloutView(rollout, names[rollout.rule_id][1], current, steps))
    views.sort(key=lambda v: names[v.rollout.rule_id][0])
    return views
