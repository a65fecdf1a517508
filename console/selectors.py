"""Reads shared by the console's pages and its API (they list the same rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from console.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    AuditEvent,
    Environment,
    Membership,
    Project,
    Role,
    Tag,
)


def project_list_for_user(*, user) -> QuerySet[Project]:
    """The user's projects with `my_role` and `member_count` (subqueries, so the membership
    filter does not narrow the count)."""
    mine = Membership.objects.filter(project=OuterRef("pk"), user=user)
    members = (
        Membership.objects.filter(project=OuterRef("pk"))
        .order_by()
        .values("project")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Project.objects.active()
        .filter(Exists(mine))
        .annotate(
            my_role=Subquery(mine.values("role")[:1]),
            member_count=Coalesce(Subquery(members), 0),
        )
        .order_by("name")
    )


def project_directory(*, user) -> QuerySet[Project]:
    """Projects the user is not in: open ones to join, closed ones to ask for (names only)."""
    pending = AccessRequest.objects.filter(
        project=OuterRef("pk"), user=user, status=AccessRequestStatus.PENDING
    )
    return (
        Project.objects.active()
        .exclude(memberships__user=user)
        .annotate(has_pending_request=Exists(pending))
        .order_by("access_mode", "name")
    )


def environment_list(*, project: Project) -> QuerySet[Environment]:
    return Environment.objects.filter(project=project).order_by("position", "id")


def tag_list(*, project: Project) -> QuerySet[Tag]:
    return Tag.objects.filter(project=project).order_by("name")


def member_list(*, project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("user__email")


def access_request_list(*, project: Project, status: str | None = AccessRequestStatus.PENDING):
    qs = AccessRequest.objects.filter(project=project).select_related("user", "decided_by")
    return qs.filter(status=status) if status else qs


def access_requests_waiting(project: Project, user, role: str | None) -> int:
    """How many access requests wait for a decision: admins decide them, so only they
    get a count (the Settings badge)."""
    if role != Role.ADMIN:
        return 0
    return AccessRequest.objects.filter(project=project, status=AccessRequestStatus.PENDING).count()


def key_list(*, project: Project) -> QuerySet[ApiKey]:
    """Keys, newest first within each kind, with their environment, creator and successor."""
    return (
        ApiKey.objects.filter(project=project)
        .select_related("environment", "created_by", "rotated_to")
        .order_by("environment__position", "kind", "-created_at")
    )


def environment_list_with_keys(*, project: Project) -> list[Environment]:
    keys = ApiKey.objects.select_related("created_by", "rotated_to").order_by("kind", "-created_at")
    return list(
        environment_list(project=project).prefetch_related(
            Prefetch("keys", queryset=keys, to_attr="key_rows")
        )
    )


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""  # part of the actor's label (email)
    action: str = ""  # exact action, or a prefix ending in "." ("gate.")
    target_type: str = ""
    since: date | None = None
    until: date | None = None


def audit_event_list(*, project: Project, filters: AuditFilters) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.filter(project=project).select_related("actor")
    if filters.actor:
        qs = qs.filter(actor_label__icontains=filters.actor)
    if filters.action:
        qs = (
            qs.filter(action__startswith=filters.action)
            if filters.action.endswith(".")
            else qs.filter(action=filters.action)
        )
    if filters.target_type:
        qs = qs.filter(target_type=filters.target_type)
    tz = timezone.get_current_timezone()
    if filters.since:
        qs = qs.filter(created_at__gte=datetime.combine(filters.since, time.min, tzinfo=tz))
    if filters.until:
        qs = qs.filter(created_at__lte=datetime.combine(filters.until, time.max, tzinfo=tz))
    return qs.order_by("-created_at", "-id")


def audit_facets(*, project: Project) -> dict[str, list[str]]:
    """The distinct actions and target types seen in a project, for filter menus."""
    events = AuditEvent.objects.filter(project=project)
    return {
        "actions": sorted(set(events.values_list("action", flat=True).distinct())),
        "target_types": sorted(set(events.values_list("target_type", flat=True).distinct())),
    }


def environment_list_with_key_counts(*, project: Project) -> QuerySet[Environment]:
    """Environments in order, with `key_count`: their keys that are not revoked or expired."""
    now = timezone.now()
    usable = Q(keys__revoked_at__isnull=True) & (
        Q(keys__expires_at__isnull=True) | Q(keys__expires_at__gt=now)
    )
    return environment_list(project=project).annotate(key_count=Count("keys", filter=usable))
