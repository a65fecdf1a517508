"""Review reads: the queue, one change set's page, the requirements of many change sets at
once, the review settings and the publishing history with the change set of each version.

Every function here runs a fixed number of queries whatever the number of rows: pages and
their query-count tests depend on it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects

from console.exceptions import DomainError
from console.models import ConfigSpec, Environment, Project, Role, RulesetVersion, role_at_least
from reviews import registry
from reviews.models import (
    CLOSED_STATES,
    OPEN_STATES,
    Approval,
    Change,
    ChangeSet,
    ChangeSetState,
    Comment,
    EntityOwner,
    ReviewGroup,
)
from reviews.policy import EnvironmentRule, Requirements, environment_rules, requirements_for

S = ChangeSetState
QUEUE_LIMIT = 100
HISTORY_LIMIT = 20


# ---------------------------------------------------------------- applying in the worker


def apply_progress_key(change_set_id: int) -> str:
    return f"reviews:apply-progress:{change_set_id}"


def apply_progress(change_set: ChangeSet) -> dict[str, Any] | None:
    """How far the worker is in applying `change_set`: {"phase", "step", "done", "total"}
    ("Added IDs to segment vips", "IDs loaded", 300000, 1000000), a waiting phase before
    a worker picks it up; None unless it is applying."""
    if change_set.state != S.APPLYING:
        return None
    try:
        found = cache.get(apply_progress_key(change_set.pk))
    except Exception:  # a cache outage hides progress, not the page
        found = None
    return found or {"phase": "Waiting for a worker", "step": "", "done": 0, "total": 0}


# ---------------------------------------------------------------- the queue


@dataclass
class QueueRow:
    change_set: ChangeSet
    changes: list[Change]
    needs: Requirements | None = None
    approved_by_me: bool = False
    in_my_groups: list[str] = field(default_factory=list)  # missing groups I belong to

    @property
    def missing(self) -> str:
        """What it still needs, short: "1 of 2 approvals; needs Payments-owners"."""
        needs = self.needs
        if needs is None or not needs.needs_review:
            return ""
        parts = [
            f"{len(needs.approvals)} of {needs.approvals_required} approval"
            f"{'' if needs.approvals_required == 1 else 's'}"
        ]
        if needs.groups_missing:
            parts.append("needs " + ", ".join(g.name for g in needs.groups_missing))
        return "; ".join(parts)


@dataclass
class Queue:
    to_review: list[QueueRow] = field(default_factory=list)
    mine: list[QueueRow] = field(default_factory=list)
    applied: list[QueueRow] = field(default_factory=list)
    closed: list[QueueRow] = field(default_factory=list)
    filtered: list[QueueRow] | None = None  # a state filter or search: one flat list

    @property
    def waiting_for_me(self) -> int:
        return sum(1 for row in self.to_review if not row.approved_by_me)


def _base(project: Project) -> QuerySet[ChangeSet]:
    return ChangeSet.objects.filter(project=project).select_related(
        "author", "applied_by", "ruleset_version"
    )


def _rows(project: Project, change_sets: list[ChangeSet], user) -> list[QueueRow]:
    prefetch_related_objects(
        change_sets,
        Prefetch(
            "changes",
            queryset=Change.objects.only(
                "id", "change_set_id", "position", "kind", "action", "entity_id", "entity_name"
            ).order_by("position"),
        ),
    )
    in_review = [cs for cs in change_sets if cs.state in (S.IN_REVIEW, S.APPROVED)]
    needs = requirements_for(project, in_review)
    my_groups = set(user.review_groups.filter(project=project).values_list("pk", flat=True))
    rows = []
    for cs in change_sets:
        row = QueueRow(cs, list(cs.changes.all()), needs.get(cs.pk))
        if row.needs is not None:
            row.approved_by_me = any(a.user_id == user.pk for a in row.needs.approvals)
            row.in_my_groups = [g.name for g in row.needs.groups_missing if g.pk in my_groups]
        rows.append(row)
    return rows


def changeset_queue(
    *, project: Project, user, can_approve: bool, state: str = "", search: str = ""
) -> Queue:
    """The review queue of `user`: change sets in review they may approve (not theirs),
    their own open ones, the recently applied and the rejected or cancelled; or, with a
    state or a search, one list of the matching change sets (newest first)."""
    queue = Queue()
    if state or search:
        rows = _base(project)
        if state:
            rows = rows.filter(state=state)
        if search:
            term = search.lstrip("#")
            match = Q(title__icontains=search)
            if term.isdigit():
                match |= Q(number=int(term))
            rows = rows.filter(match)
        found = list(rows.order_by("-created_at", "-pk")[:QUEUE_LIMIT])
        queue.filtered = _rows(project, found, user)
        return queue
    open_sets = list(
        _base(project)
        .filter(state__in=(*OPEN_STATES, S.APPLYING))
        .order_by("-created_at", "-pk")[:QUEUE_LIMIT]
    )
    applied = list(
        _base(project).filter(state=S.APPLIED).order_by("-applied_at", "-pk")[:HISTORY_LIMIT]
    )
    closed = list(
        _base(project)
        .filter(state__in=[s for s in CLOSED_STATES if s != S.APPLIED])
        .order_by("-updated_at", "-pk")[:HISTORY_LIMIT]
    )
    rows = _rows(project, open_sets + applied + closed, user)
    for row in rows:
        cs = row.change_set
        if cs.state == S.APPLIED:
            queue.applied.append(row)
        elif cs.state in CLOSED_STATES:
            queue.closed.append(row)
        else:
            if cs.author_id == user.pk:
                queue.mine.append(row)
            elif can_approve and cs.state == S.IN_REVIEW:
                queue.to_review.append(row)
    # Oldest first: the queue is worked from the change set that has waited longest; the
    # ones I approved already (waiting for others) go last.
    queue.to_review.sort(
        key=lambda r: (r.approved_by_me, r.change_set.submitted_at or r.change_set.created_at)
    )
    return queue


def changesets_waiting_for(project: Project, user, role: str | None) -> int:
    """How many change sets in review wait for `user`: not theirs, and not approved by them
    in their current content (the Reviews badge; one query). Viewers approve nothing."""
    if not role_at_least(role, Role.MEMBER):
        return 0
    mine = Approval.objects.filter(
        change_set=OuterRef("pk"),
        user=user,
        content_hash=OuterRef("content_hash"),
        dismissed_at__isnull=True,
    )
    return (
        ChangeSet.objects.filter(project=project, state=S.IN_REVIEW)
        .exclude(author=user)
        .exclude(Exists(mine))
        .count()
    )


# Entities waiting in change sets: submitted, not yet applied (drafts are not pending).
PENDING_STATES = (S.IN_REVIEW, S.APPROVED, S.APPLYING)


@dataclass(frozen=True)
class Pending:
    """An entity's change waiting in a change set, for the lists' "pending review" badge."""

    number: int  # the change set's
    title: str
    state: str
    action: str  # "create", "update", "archive", ...
    name: str


def pending_changes(*, project: Project, kinds: tuple[str, ...]) -> dict[str, list[Pending]]:
    """Entity name → its changes waiting in submitted change sets (oldest first), for the
    entity kinds of one list: one query whatever the number of entities."""
    found: dict[str, list[Pending]] = defaultdict(list)
    rows = (
        Change.objects.filter(
            change_set__project=project,
            change_set__state__in=PENDING_STATES,
            kind__in=kinds,
        )
        .order_by("change_set__number", "position")
        .values_list(
            "entity_name", "action", "change_set__number", "change_set__title", "change_set__state"
        )
    )
    for name, action, number, title, state in rows:
        found[name].append(Pending(number, title, state, action, name))
    return dict(found)


def pending_for_list(*, project: Project, kind: str, entities: list[Any]) -> list[Pending]:
    """Set `pending` (a list of Pending) on each entity of a list page, and return the new
    entities proposed in submitted change sets, which no list row shows yet: one query."""
    found = pending_changes(project=project, kinds=(kind,))
    for entity in entities:
        entity.pending = found.pop(entity.name, [])
    return [p for changes in found.values() for p in changes if p.action == "create"]


# ---------------------------------------------------------------- one change set


def changeset_get(*, project: Project, number: int) -> ChangeSet | None:
    """The change set with its people, version and follow-up links joined."""
    return (
        ChangeSet.objects.filter(project=project, number=number)
        .select_related(
            "project",
            "author",
            "scheduled_by",
            "applied_by",
            "ruleset_version",
            "follow_up_of",
            "follow_up",
        )
        .first()
    )


def changeset_details(change_set: ChangeSet) -> tuple[list[Change], list[Approval], list[Comment]]:
    """Its changes, every approval (dismissed ones too) and the comments: three queries."""
    changes = list(Change.objects.filter(change_set=change_set).order_by("position"))
    approvals = list(
        Approval.objects.filter(change_set=change_set)
        .select_related("user")
        .order_by("created_at", "pk")
    )
    comments = list(
        Comment.objects.filter(change_set=change_set)
        .select_related("author")
        .order_by("created_at", "pk")
    )
    return changes, approvals, comments


# ---------------------------------------------------------------- settings


@dataclass
class OwnerRow:
    owner: EntityOwner
    kind_label: str
    name: str  # the entity's name, or "#id" when it is gone


def _has_archive(model) -> bool:
    return any(f.name == "archived_at" for f in model._meta.get_fields())


def entity_owner_list(*, project: Project) -> list[OwnerRow]:
    """The entity owners with their entities' names (one query per kind in use)."""
    owners = list(
        EntityOwner.objects.filter(project=project)
        .select_related("group")
        .order_by("kind", "entity_id")
    )
    names: dict[tuple[str, int], str] = {}
    by_kind: dict[str, list[int]] = defaultdict(list)
    for owner in owners:
        by_kind[owner.kind].append(owner.entity_id)
    labels = {}
    for kind, entity_ids in by_kind.items():
        try:
            handler = registry.get(kind)
        except DomainError:  # a kind no app registers any more
            continue
        labels[kind] = handler.label
        for pk, name in handler.model._default_manager.filter(pk__in=entity_ids).values_list(
            "pk", "name"
        ):
            names[(kind, pk)] = name
    rows = [
        OwnerRow(o, labels.get(o.kind, o.kind), names.get((o.kind, o.entity_id), f"#{o.entity_id}"))
        for o in owners
    ]
    rows.sort(key=lambda r: (r.kind_label, r.name.lower()))
    return rows


def entity_names(*, project: Project) -> list[tuple[str, list[str]]]:
    """(kind label, live entity names) per registered kind: the owner form's suggestions."""
    out = []
    for handler in registry.kinds():
        rows = handler.model._default_manager.filter(project=project)
        if _has_archive(handler.model):
            rows = rows.filter(archived_at__isnull=True)
        out.append((handler.kind, sorted(rows.values_list("name", flat=True), key=str.lower)))
    return out


def review_group_list(*, project: Project) -> list[ReviewGroup]:
    return list(
        ReviewGroup.objects.filter(project=project).prefetch_related("members").order_by("name")
    )


def review_rules(*, project: Project) -> list[EnvironmentRule]:
    return environment_rules(project)


# ---------------------------------------------------------------- publishing history


@dataclass
class VersionRow:
    version: RulesetVersion
    state: str  # of this environment's spec
    time_ms: int
    is_current: bool  # the newest version this environment has

    @property
    def change_set(self) -> ChangeSet | None:
        return getattr(self.version, "change_set", None)


@dataclass
class EnvironmentHistory:
    environment: Environment
    versions: list[VersionRow]


def version_history(*, project: Project, limit: int = HISTORY_LIMIT) -> list[EnvironmentHistory]:
    """Per environment, its newest `limit` ruleset versions (newest first) with the change
    set that produced each: three queries."""
    environments = list(Environment.objects.filter(project=project).order_by("position", "pk"))
    versions = list(
        RulesetVersion.objects.filter(project=project)
        .select_related("created_by", "change_set", "change_set__author")
        .order_by("-number")[:limit]
    )
    by_id = {v.pk: v for v in versions}
    specs: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for env_id, version_id, state, time_ms in (
        ConfigSpec.objects.filter(ruleset_version_id__in=list(by_id))
        .order_by("-time_ms")
        .values_list("environment_id", "ruleset_version_id", "state", "time_ms")
    ):
        specs[env_id].append((version_id, state, time_ms))
    history = []
    for env in environments:
        rows = sorted(specs[env.pk], key=lambda s: -by_id[s[0]].number)
        history.append(
            EnvironmentHistory(
                env,
                [
                    VersionRow(by_id[vid], state, time_ms, i == 0)
                    for i, (vid, state, time_ms) in enumerate(rows)
                ],
            )
        )
    return history


def version_for_rollback(*, project: Project, number: int) -> RulesetVersion | None:
    """The project's ruleset version `number`, to roll back to, or None."""
    return RulesetVersion.objects.filter(project=project, number=number).first()


def document_lines(kind: str, document: Any) -> list[tuple[str, str]]:
    """A document (or part of one) through its kind's `describe`."""
    if not isinstance(document, dict):
        return []
    try:
        handler = registry.get(kind)
    except DomainError:
        return registry.describe_plainly(document)
    try:
        return handler.describe(document)
    except Exception:  # a describe bug must not hide the change: fall back to the keys
        return registry.describe_plainly(document)


def environment_tiers(*, project: Project) -> dict[str, str]:
    """Environment name → tier, to colour the environments a change set touches."""
    return dict(Environment.objects.filter(project=project).values_list("name", "tier"))
