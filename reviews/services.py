"""Every write of a change set: submit, edit, approve, reject, cancel, comment, rebase,
apply, roll back; and the review policy and review groups.

The one way configuration changes: a domain app's view, API or command builds
ChangeInputs and calls changeset_submit. A dry run (the changes applied in a savepoint
that is rolled back) validates them exactly as applying would, gives the documents the
diff shows, and tells which environments' specs they change; the policy then says apply
now or wait for approvals. changeset_apply runs each change through its kind's handler,
then records a new ruleset version (console.publishing), whose push to Redis is enqueued
after commit.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import JSONField, Max, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from console import progress
from console.audit import audit_record
from console.context import current_api_key
from console.exceptions import ApplicationError, Conflict, DomainError, NotAllowed, NotFound
from console.models import Environment, Project, Role, RulesetVersion
from console.permissions import ensure_role, project_role
from console.publishing.services import ruleset_version_create
from console.specs.builder import build_spec
from reviews import notifications, registry
from reviews.impact import environment_fingerprints, published_fingerprints
from reviews.models import (
    CLOSED_STATES,
    Approval,
    Change,
    ChangeSet,
    ChangeSetSource,
    ChangeSetState,
    Comment,
    EntityOwner,
    EnvironmentReviewRule,
    ReviewGroup,
    ReviewPolicy,
)
from reviews.policy import Requirements, project_policy, requirements_for
from reviews.selectors import apply_progress_key

logger = logging.getLogger(__name__)

MAX_CHANGES = 200
S = ChangeSetState


@dataclass(frozen=True)
class ChangeInput:
    """One change a caller proposes: `action` on the `kind` entity named `name`.

    `payload` is the whole document for create/update and the action's arguments
    otherwise. `base_revision` is the revision the author saw (a PATCH's); None means the
    entity's current one."""

    kind: str
    action: str
    name: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    base_revision: int | None = None


class _DryRun(Exception):
    """Raised to roll a dry run's savepoint back."""


# ---------------------------------------------------------------- helpers


def _lock(change_set: ChangeSet) -> ChangeSet:
    return (
        ChangeSet.objects.select_for_update(of=("self",))
        .select_related("project", "author")
        .get(pk=change_set.pk)
    )


def _changes(change_set: ChangeSet) -> list[Change]:
    return list(Change.objects.filter(change_set=change_set).order_by("position"))


class _StoredItems:
    """The bulk list `key` of a stored change, read from PostgreSQL in batches by a
    server-side cursor: iterating a million IDs holds one batch. Each pass is a new
    cursor; it needs the caller's transaction."""

    BATCH = 10_000

    def __init__(self, change: Change, key: str):
        self.change_id, self.key, self.weight = change.pk, key, change.weight

    def __length_hint__(self) -> int:
        return self.weight

    def __iter__(self) -> Iterator[str]:
        # As text: the dry run let only strings and integers into a stored bulk list.
        connection.ensure_connection()
        name = f"reviews_items_{self.change_id}_{next(_cursor_numbers)}"
        with connection.connection.cursor(name=name) as cursor:
            cursor.execute(
                "SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(payload -> %(k)s) "
                "= 'array' THEN payload -> %(k)s ELSE '[]'::jsonb END) "
                "FROM reviews_change WHERE id = %(id)s",
                {"k": self.key, "id": self.change_id},
            )
            while rows := cursor.fetchmany(self.BATCH):
                for (item,) in rows:
                    yield item


_cursor_numbers = itertools.count()


def _changes_streamed(change_set: ChangeSet) -> list[Change]:
    """The change set's changes with each bulk list (registry.Action.bulk_key) left in
    the database: the payload holds a _StoredItems in its place."""
    keys = registry.bulk_keys()
    if not keys:
        return _changes(change_set)
    rows = list(
        Change.objects.filter(change_set=change_set)
        .order_by("position")
        .defer("payload")
        .annotate(
            light_payload=RawSQL(
                '"reviews_change"."payload" - %s::text[]', (keys,), output_field=JSONField()
            )
        )
    )
    for change in rows:
        payload = dict(change.light_payload or {})
        key = registry.get(change.kind).action(change.action).bulk_key
        if key:
            payload[key] = _StoredItems(change, key)
        change.payload = payload
    return rows


def _content_hash(changes: Iterable[Change]) -> str:
    canonical = [
        [c.kind, c.action, c.entity_id, c.entity_name, c.base_revision, c.payload] for c in changes
    ]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _entity_keys(changes: Iterable[Change]) -> list[tuple[str, int]]:
    return [(c.kind, c.entity_id) for c in changes if c.entity_id is not None]


def change_set_requirements(change_set: ChangeSet) -> Requirements:
    return requirements_for(change_set.project, [change_set])[change_set.pk]


def _record(actor, action: str, change_set: ChangeSet, **after) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=change_set,
        project=change_set.project,
        after={"number": change_set.number, "title": change_set.title, **after},
    )


def _ensure_author_or_admin(actor, change_set: ChangeSet, doing: str) -> None:
    if actor.pk == change_set.author_id:
        ensure_role(actor, change_set.project, Role.MEMBER)
        return
    if project_role(actor, change_set.project) != Role.ADMIN:
        raise NotAllowed(f"Only the author or a project admin can {doing} this change set.")


def _ensure_open(change_set: ChangeSet, doing: str) -> None:
    if change_set.state == S.APPLYING:
        raise Conflict(
            f"Change set #{change_set.number} is being applied: it can no longer {doing}.",
            code="changeset_applying",
        )
    if change_set.state in CLOSED_STATES:
        raise Conflict(
            f"Change set #{change_set.number} is {change_set.get_state_display().lower()}: "
            f"it can no longer {doing}.",
            code=f"changeset_{change_set.state}",
        )


# ---------------------------------------------------------------- the dry run


def _resolve(project: Project, inputs: list[ChangeInput]) -> list[Change]:
    """Turn inputs into unsaved Change rows: entity, base revision, document before."""
    if not inputs:
        raise DomainError("A change set holds at least one change.", code="empty_change_set")
    if len(inputs) > MAX_CHANGES:
        raise DomainError(
            f"A change set holds at most {MAX_CHANGES} changes.", code="too_many_changes"
        )
    changes, seen = [], set()
    for position, item in enumerate(inputs):
        handler = registry.get(item.kind)
        action = handler.action(item.action)
        if not isinstance(item.payload, dict):
            raise DomainError("A change's payload is a JSON object.", code="invalid_payload")
        change = Change(
            position=position,
            kind=item.kind,
            action=item.action,
            payload=item.payload,
            weight=action.weight(item.payload),
        )
        if action.creates:
            name = item.name or str(item.payload.get("name") or item.payload.get("id") or "")
            change.entity_name = name.strip()[:200]
        else:
            entity = handler.find(project, item.name)
            if entity is None:
                raise NotFound(f"This project has no {handler.label} named '{item.name}'.")
            if item.base_revision is not None and item.base_revision != entity.revision:
                raise Conflict(
                    f"It changed since you opened it (revision {entity.revision}, you had "
                    f"{item.base_revision}); reload and apply your edit again.",
                    code="stale_revision",
                )
            change.entity_id = entity.pk
            change.entity_name = entity.name
            change.base_revision = entity.revision
            change.before = handler.to_document(entity)
        key = (change.kind, change.entity_name.lower())
        if key in seen:
            raise DomainError(
                f"The {handler.label} '{change.entity_name}' appears twice: one change per "
                "entity in a change set.",
                code="duplicate_change",
            )
        seen.add(key)
        changes.append(change)
    return changes


def _run(actor, project: Project, changes: list[Change], *, preview: bool = False) -> list[Any]:
    """Apply each change through its handler (in the caller's transaction); fill in each
    change's entity id (creates) and `after` document. Returns the services' results.
    With `preview` (dry runs, rolled back), actions that have one run their preview."""
    results = []
    for change in changes:
        handler = registry.get(change.kind)
        action = handler.action(change.action)
        progress.report(f"{action.label} {handler.label} {change.entity_name}")
        entity = None
        if not action.creates:
            entity = handler.load(project, change.entity_id, lock=True)
            if entity is None or entity.revision != change.base_revision:
                raise Conflict(
                    f"The {handler.label} '{change.entity_name}' changed since this change set "
                    "was made: rebase it.",
                    code="stale",
                )
        run = (action.preview or action.apply) if preview else action.apply
        result = run(actor, project, entity, change.payload)
        if action.creates:
            change.entity_id = result.pk
        entity = handler.load(project, change.entity_id)
        change.after = handler.to_document(entity)
        results.append(result)
    return results


def _dry_run(actor, project: Project, changes: list[Change]) -> list[str]:
    """Validate `changes` by applying them in a savepoint that is rolled back; fill in the
    `after` documents; return the names of the environments whose SDK answers they change
    (against what is published now)."""
    before = published_fingerprints(project)
    touched: list[str] = []
    try:
        with transaction.atomic():
            _run(actor, project, changes, preview=True)
            after = environment_fingerprints(project)
            touched = [name for name, content in after.items() if before.get(name) != content]
            raise _DryRun
    except _DryRun:
        pass
    for change in changes:
        if registry.get(change.kind).action(change.action).creates:
            change.entity_id = None  # the row was rolled back
    return touched


def changeset_specs_after(change_set: ChangeSet, environments: list[Environment]) -> dict:
    """The v1 spec of each environment as it would be with the change set applied (a dry
    run as its author; nothing is kept). Raises what applying would raise."""
    specs: dict[str, dict] = {}
    try:
        with transaction.atomic():
            _run(change_set.author, change_set.project, _changes_streamed(change_set), preview=True)
            for environment in environments:
                specs[environment.name] = build_spec(change_set.project, environment, time_ms=1)
            raise _DryRun
    except _DryRun:
        pass
    return specs


def _save_changes(change_set: ChangeSet, changes: list[Change]) -> None:
    Change.objects.filter(change_set=change_set).delete()
    for change in changes:
        change.pk = None
        change.change_set = change_set
    Change.objects.bulk_create(changes)


# ---------------------------------------------------------------- submit and edit


@transaction.atomic
def changeset_submit(
    *,
    actor,
    project: Project,
    changes: list[ChangeInput],
    title: str = "",
    description: str = "",
    source: str = ChangeSetSource.BROWSER,
    draft: bool = False,
) -> ChangeSet:
    """Propose `changes`. Members and admins only. Validated by a dry run (errors are
    those of the domain services, with their field paths; nothing is saved).

    A draft waits for changeset_send. Otherwise, when no environment it touches requires
    review it is applied at once (state applied, `results` holds what each service
    returned); else it is in review and reviewers are notified."""
    ensure_role(actor, project, Role.MEMBER)
    project = Project.objects.select_for_update().get(pk=project.pk)
    rows = _resolve(project, changes)
    environments = _dry_run(actor, project, rows)
    title = (title or "").strip() or _default_title(rows)
    if len(title) > 200:
        raise DomainError("Titles are at most 200 characters.", code="too_long", field="title")
    number = (ChangeSet.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
    change_set = ChangeSet.objects.create(
        project=project,
        number=number,
        title=title,
        description=(description or "").strip()[:5000],
        author=actor,
        source=source,
        environments=environments,
        content_hash=_content_hash(rows),
    )
    _save_changes(change_set, rows)
    _record(
        actor,
        "changeset.created",
        change_set,
        changes=[f"{c.action} {c.kind} {c.entity_name}" for c in rows],
        environments=environments,
    )
    change_set.results = []
    if draft:
        return change_set
    return _send(actor, change_set)


def _default_title(changes: list[Change]) -> str:
    first = changes[0]
    label = registry.get(first.kind).label
    title = f"{first.action.replace('_', ' ').capitalize()} {label} {first.entity_name}"
    if len(changes) > 1:
        title += f" and {len(changes) - 1} more"
    return title[:200]


def _send(actor, change_set: ChangeSet) -> ChangeSet:
    """Draft (or edited) → in review, or applied at once when the policy needs no review."""
    needs = change_set_requirements(change_set)
    if not needs.needs_review:
        return _apply_or_queue(change_set, applier=actor)
    change_set.state = S.IN_REVIEW
    change_set.submitted_at = change_set.submitted_at or timezone.now()
    change_set.save(update_fields=["state", "submitted_at", "updated_at"])
    _record(actor, "changeset.submitted", change_set, needs=needs.summary())
    notifications.notify(change_set, "submitted")
    change_set.results = []
    return change_set


@transaction.atomic
def changeset_send(*, actor, change_set: ChangeSet) -> ChangeSet:
    """The author sends a draft for review (or applies it, when none is needed)."""
    change_set = _lock(change_set)
    if actor.pk != change_set.author_id:
        raise NotAllowed("Only the author can send this draft for review.")
    ensure_role(actor, change_set.project, Role.MEMBER)
    if change_set.state != S.DRAFT:
        raise Conflict("Only a draft can be sent for review.", code="not_draft")
    return _send(actor, change_set)


@transaction.atomic
def changeset_edit(
    *,
    actor,
    change_set: ChangeSet,
    changes: list[ChangeInput] | None = None,
    title: str | None = None,
    description: str | None = None,
) -> ChangeSet:
    """The author replaces the changes (and/or title, description). Changed content drops
    the approvals given so far and goes back to review; it is re-validated by a dry run."""
    change_set = _lock(change_set)
    if actor.pk != change_set.author_id:
        raise NotAllowed("Only the author can edit this change set.")
    ensure_role(actor, change_set.project, Role.MEMBER)
    _ensure_open(change_set, "change")
    if title is not None:
        title = title.strip()
        if not title or len(title) > 200:
            raise DomainError("A title is 1 to 200 characters.", code="invalid", field="title")
        change_set.title = title
    if description is not None:
        change_set.description = description.strip()[:5000]
    fields = ["title", "description", "updated_at"]
    if changes is not None:
        rows = _resolve(change_set.project, changes)
        change_set.environments = _dry_run(actor, change_set.project, rows)
        new_hash = _content_hash(rows)
        _save_changes(change_set, rows)
        if new_hash != change_set.content_hash:
            change_set.content_hash = new_hash
            dropped = _dismiss_approvals(change_set)
            if change_set.state != S.DRAFT:
                change_set.state = S.IN_REVIEW
            change_set.stale_reason = ""
            fields += ["content_hash", "environments", "state", "stale_reason"]
            _record(actor, "changeset.edited", change_set, approvals_dropped=dropped)
    change_set.save(update_fields=fields)
    change_set.results = []
    return change_set


def _dismiss_approvals(change_set: ChangeSet) -> int:
    return Approval.objects.filter(change_set=change_set, dismissed_at=None).update(
        dismissed_at=timezone.now()
    )


# ---------------------------------------------------------------- staleness and rebase


def stale_changes(change_set: ChangeSet, changes: list[Change] | None = None) -> list[Change]:
    """The changes whose entity moved on (another change, or archived) since their base."""
    if changes is None:
        changes = list(
            Change.objects.filter(change_set=change_set).order_by("position").defer("payload")
        )
    existing = [c for c in changes if c.entity_id is not None]
    current: dict[str, dict[int, int]] = {}
    for kind in {c.kind for c in existing}:  # one query per kind
        ids = [c.entity_id for c in existing if c.kind == kind]
        current[kind] = registry.get(kind).revisions(change_set.project, ids)
    return [c for c in existing if current[c.kind].get(c.entity_id) != c.base_revision]


def _mark_stale(change_set: ChangeSet, reason: str) -> None:
    change_set.state = S.STALE
    change_set.stale_reason = reason[:2000]
    change_set.save(update_fields=["state", "stale_reason", "updated_at"])
    _record(None, "changeset.stale", change_set, reason=change_set.stale_reason)
    notifications.notify(change_set, "stale")


def changeset_refresh(*, change_set: ChangeSet) -> ChangeSet:
    """Mark an open change set stale when an entity it changes moved on (its own
    transaction, so the state sticks even when the caller's action is then refused)."""
    if change_set.state in (*CLOSED_STATES, S.STALE, S.DRAFT, S.APPLYING):
        return change_set
    with transaction.atomic():
        change_set = _lock(change_set)
        if change_set.state in (*CLOSED_STATES, S.STALE, S.DRAFT, S.APPLYING):
            return change_set
        moved = stale_changes(change_set)
        if moved:
            names = ", ".join(f"{c.kind} {c.entity_name}" for c in moved)
            _mark_stale(change_set, f"Changed since this change set was made: {names}.")
    return change_set


@dataclass(frozen=True)
class RebaseConflict:
    change: Change
    key: str
    base: Any
    theirs: Any
    mine: Any


def _merge(change: Change, current: dict, resolutions: dict[str, str]):
    """Three-way merge of a document change by top-level key: keys only one side changed
    merge by themselves; keys both changed differently are conflicts unless resolved
    ("mine" or "theirs")."""
    base, mine = change.before or {}, change.payload
    merged, conflicts = {}, []
    for key in sorted(base.keys() | current.keys() | mine.keys()):
        b, t, m = base.get(key), current.get(key), mine.get(key)
        if m in (b, t):
            value = t
        elif t == b:
            value = m
        else:
            choice = resolutions.get(f"{change.position}.{key}")
            if choice == "mine":
                value = m
            elif choice == "theirs":
                value = t
            else:
                conflicts.append(RebaseConflict(change, key, b, t, m))
                continue
        if key in mine or key in current:
            merged[key] = value
    return merged, conflicts


def rebase_conflicts(change_set: ChangeSet) -> list[RebaseConflict]:
    """The keys a rebase cannot merge by itself (what the page shows side by side)."""
    conflicts = []
    for change in stale_changes(change_set):
        handler = registry.get(change.kind)
        entity = handler.load(change_set.project, change.entity_id)
        if entity is None or not handler.action(change.action).takes_document:
            continue
        conflicts += _merge(change, handler.to_document(entity), {})[1]
    return conflicts


@transaction.atomic
def changeset_rebase(
    *, actor, change_set: ChangeSet, resolutions: dict[str, str] | None = None
) -> ChangeSet:
    """Bring a stale change set up to date: each moved entity's change is re-based on its
    current revision, documents merged key by key (Conflict code="rebase_conflict" lists
    the keys both sides changed, unless `resolutions` says "mine" or "theirs" for
    "<position>.<key>"). Approvals are dropped; it goes back to review."""
    change_set = _lock(change_set)
    if actor.pk != change_set.author_id:
        raise NotAllowed("Only the author can rebase this change set.")
    ensure_role(actor, change_set.project, Role.MEMBER)
    _ensure_open(change_set, "be rebased")
    project = change_set.project
    rows = _changes(change_set)
    moved = {c.pk for c in stale_changes(change_set, rows)}
    if not moved:
        raise Conflict("Nothing to rebase: no entity changed since.", code="not_stale")
    conflicts = []
    for change in rows:
        if change.pk not in moved:
            continue
        handler = registry.get(change.kind)
        entity = handler.load(project, change.entity_id)
        if entity is None or getattr(entity, "archived_at", None) is not None:
            raise Conflict(
                f"The {handler.label} '{change.entity_name}' was archived since: cancel this "
                "change set.",
                code="archived",
            )
        current = handler.to_document(entity)
        if handler.action(change.action).takes_document:
            merged, found = _merge(change, current, resolutions or {})
            conflicts += found
            change.payload = merged
        change.before = current
        change.base_revision = entity.revision
    if conflicts:
        raise Conflict(
            "Both this change set and a later change edited: "
            + ", ".join(f"{c.change.entity_name}.{c.key}" for c in conflicts)
            + ". Choose which to keep.",
            code="rebase_conflict",
        )
    change_set.environments = _dry_run(change_set.author, project, rows)
    _save_changes(change_set, rows)
    change_set.content_hash = _content_hash(rows)
    dropped = _dismiss_approvals(change_set)
    change_set.state = S.DRAFT if change_set.submitted_at is None else S.IN_REVIEW
    change_set.stale_reason = ""
    change_set.save(
        update_fields=["environments", "content_hash", "state", "stale_reason", "updated_at"]
    )
    _record(actor, "changeset.rebased", change_set, approvals_dropped=dropped)
    change_set.results = []
    return change_set


# ---------------------------------------------------------------- review


def changeset_approve(*, actor, change_set: ChangeSet) -> ChangeSet:
    """A reviewer approves the current content. Members and admins, never the author.
    When the approvals meet the policy the change set is approved and, with the policy's
    apply_on_approval (default), applied at once. The approval stands even if that apply
    is then refused (say, a name taken since): `apply_error` holds why."""
    change_set = changeset_refresh(change_set=change_set)
    with transaction.atomic():
        change_set = _lock(change_set)
        ensure_role(actor, change_set.project, Role.MEMBER)
        if actor.pk == change_set.author_id:
            raise NotAllowed("Authors cannot approve their own change set.")
        if change_set.state == S.STALE:
            raise Conflict(
                f"Change set #{change_set.number} is stale: {change_set.stale_reason} "
                "The author rebases it first.",
                code="stale",
            )
        if change_set.state not in (S.IN_REVIEW, S.APPROVED):
            raise Conflict(
                f"Change set #{change_set.number} is "
                f"{change_set.get_state_display().lower()}: only a change set in review "
                "can be approved.",
                code=f"changeset_{change_set.state}",
            )
        _, created = Approval.objects.get_or_create(
            change_set=change_set,
            user=actor,
            content_hash=change_set.content_hash,
            defaults={"via_key_hint": getattr(current_api_key(), "hint", "") or ""},
        )
        if created:
            _record(actor, "changeset.approval_added", change_set)
            notifications.notify(change_set, "approval_added", actor_id=actor.pk)
        if change_set.state == S.IN_REVIEW and change_set_requirements(change_set).met:
            change_set.state = S.APPROVED
            change_set.decided_at = timezone.now()
            change_set.save(update_fields=["state", "decided_at", "updated_at"])
            _record(actor, "changeset.approved", change_set)
            notifications.notify(change_set, "approved")
    error = None
    if (
        change_set.state == S.APPROVED
        and change_set.source != ChangeSetSource.FOLLOW_UP
        and project_policy(change_set.project).apply_on_approval
    ):
        try:
            with transaction.atomic():
                locked = _lock(change_set)
                if locked.state == S.APPROVED:  # not applied by a concurrent approval
                    locked = _apply_or_queue(locked, applier=actor)
            change_set = locked
        except ApplicationError as exc:
            logger.info("changeset.apply_on_approval_refused id=%s: %s", change_set.pk, exc)
            error = exc
    change_set.results = getattr(change_set, "results", [])
    change_set.apply_error = error
    return change_set


@transaction.atomic
def changeset_reject(*, actor, change_set: ChangeSet, reason: str) -> ChangeSet:
    """A reviewer (member or admin, not the author: they cancel) rejects, with a reason."""
    change_set = _lock(change_set)
    ensure_role(actor, change_set.project, Role.MEMBER)
    if actor.pk == change_set.author_id:
        raise NotAllowed("Authors cancel their own change set rather than reject it.")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why you reject it.", code="required", field="reason")
    if len(reason) > 2000:
        raise DomainError("A reason is at most 2,000 characters.", code="too_long", field="reason")
    if change_set.state not in (S.IN_REVIEW, S.APPROVED, S.STALE):
        raise Conflict("Only a change set in review can be rejected.", code="not_in_review")
    change_set.state = S.REJECTED
    change_set.reject_reason = reason
    change_set.decided_at = timezone.now()
    change_set.save(update_fields=["state", "reject_reason", "decided_at", "updated_at"])
    _record(actor, "changeset.rejected", change_set, reason=reason)
    notifications.notify(change_set, "rejected", actor_id=actor.pk)
    return change_set


@transaction.atomic
def changeset_cancel(*, actor, change_set: ChangeSet) -> ChangeSet:
    change_set = _lock(change_set)
    _ensure_author_or_admin(actor, change_set, "cancel")
    _ensure_open(change_set, "be cancelled")
    change_set.state = S.CANCELLED
    change_set.save(update_fields=["state", "updated_at"])
    _record(actor, "changeset.cancelled", change_set)
    return change_set


@transaction.atomic
def changeset_comment(*, actor, change_set: ChangeSet, body: str) -> Comment:
    """Anyone in the project comments (viewers too)."""
    ensure_role(actor, change_set.project, Role.VIEWER)
    body = (body or "").strip()
    if not body:
        raise DomainError("A comment needs some text.", code="required", field="body")
    if len(body) > 5000:
        raise DomainError("Comments are at most 5,000 characters.", code="too_long", field="body")
    comment = Comment.objects.create(change_set=change_set, author=actor, body=body)
    _record(actor, "changeset.commented", change_set, comment=body[:200])
    notifications.notify(change_set, "commented", actor_id=actor.pk, comment_id=comment.pk)
    return comment


# ---------------------------------------------------------------- apply


def changeset_apply(*, actor, change_set: ChangeSet, break_glass: bool = False) -> ChangeSet:
    """Apply an approved change set (its author or an admin), or, with `break_glass`, an
    admin's own change set without approvals when the policy allows it: flagged in the
    audit log and followed up by a review after the fact. Exactly once: concurrent
    applies serialise on the change set's row and the second is refused."""
    change_set = changeset_refresh(change_set=change_set)
    with transaction.atomic():
        change_set = _lock(change_set)
        _ensure_author_or_admin(actor, change_set, "apply")
        if change_set.state == S.APPLIED:
            raise Conflict(
                f"Change set #{change_set.number} is already applied.", code="already_applied"
            )
        if change_set.state == S.STALE:
            raise Conflict(
                f"Change set #{change_set.number} is stale: {change_set.stale_reason} "
                "Rebase it first.",
                code="stale",
            )
        _ensure_open(change_set, "be applied")
        if change_set.source == ChangeSetSource.FOLLOW_UP:
            raise Conflict("A follow-up review has nothing to apply.", code="follow_up")
        if change_set.state != S.APPROVED:
            needs = change_set_requirements(change_set)
            if break_glass:
                _ensure_break_glass(actor, change_set)
            elif needs.needs_review and not needs.met:
                raise Conflict(
                    f"Change set #{change_set.number} is not approved yet ({needs.summary()}).",
                    code="not_approved",
                )
        return _apply_or_queue(change_set, applier=actor, break_glass=break_glass)


def _ensure_break_glass(actor, change_set: ChangeSet) -> None:
    if project_role(actor, change_set.project) != Role.ADMIN:
        raise NotAllowed("Only project admins can break the glass.")
    if actor.pk != change_set.author_id:
        raise NotAllowed("Break-glass applies the admin's own change set only.")
    if not project_policy(change_set.project).allow_break_glass:
        raise NotAllowed(
            "This project's review policy does not allow admins to apply their own change "
            "without review."
        )


def _apply_or_queue(change_set: ChangeSet, *, applier, break_glass: bool = False) -> ChangeSet:
    """Apply now, or, for a change set heavier than GATEHOUSE_APPLY_IN_WORKER_WEIGHT (a
    million IDs), mark it applying and hand it to the worker once this transaction
    commits: a web request never carries the heavy part."""
    weight = Change.objects.filter(change_set=change_set).aggregate(w=Sum("weight"))["w"] or 0
    if weight <= settings.GATEHOUSE_APPLY_IN_WORKER_WEIGHT:
        return _apply(change_set, applier=applier, break_glass=break_glass)
    # A refused apply goes back to where it could be applied from again.
    resume = change_set.state if break_glass else S.APPROVED
    change_set.state = S.APPLYING
    change_set.apply_queued_at = timezone.now()
    change_set.apply_queued_by = applier
    change_set.apply_resume_state = resume
    change_set.break_glass = break_glass
    change_set.apply_error_message = change_set.apply_error_code = ""
    change_set.save(
        update_fields=[
            "state",
            "apply_queued_at",
            "apply_queued_by",
            "apply_resume_state",
            "break_glass",
            "apply_error_message",
            "apply_error_code",
            "updated_at",
        ]
    )
    _record(applier, "changeset.apply_queued", change_set, weight=weight, break_glass=break_glass)
    transaction.on_commit(lambda: _enqueue_apply(change_set.pk))
    change_set.results = []
    return change_set


def _enqueue_apply(change_set_id: int) -> None:
    from reviews.tasks import changeset_apply_task

    try:
        changeset_apply_task.delay(change_set_id)
    except Exception:
        # Committed as applying: changeset_apply_requeue (beat) sends it again.
        logger.exception("changeset.apply_enqueue_failed id=%s", change_set_id)


def changeset_apply_queued(*, change_set_id: int) -> ChangeSet | None:
    """The worker's half of a heavy apply: apply the change set if it is still applying
    (a redelivered task finds it applied and does nothing). Progress goes to the change
    set's page as it runs. A refusal (a name taken since, an entity changed since) rolls
    every change back and returns the change set to approved, or stale, with the reason
    in `apply_error_message` and the author told."""
    listener = _ProgressWriter(change_set_id)
    try:
        with progress.listening(listener), transaction.atomic():
            change_set = (
                ChangeSet.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("project", "author", "apply_queued_by")
                .filter(pk=change_set_id, state=S.APPLYING)
                .first()
            )
            if change_set is None:  # applied (or being applied) by another delivery
                return None
            applier = change_set.apply_queued_by or change_set.author
            try:
                with transaction.atomic():
                    return _apply(change_set, applier=applier, break_glass=change_set.break_glass)
            except ApplicationError as exc:
                _apply_refused(change_set, applier, exc.message, exc.code)
                return change_set
    finally:
        listener.clear()


@transaction.atomic
def changeset_apply_abandon(*, change_set_id: int, reason: str) -> None:
    """The worker stopped applying for a reason of its own (a time limit, a lost
    database): nothing was applied; the change set goes back so it can be applied again."""
    change_set = (
        ChangeSet.objects.select_for_update(of=("self",))
        .select_related("project", "author", "apply_queued_by")
        .filter(pk=change_set_id, state=S.APPLYING)
        .first()
    )
    if change_set is not None:
        message = f"Applying stopped before it finished ({reason}); nothing was changed."
        _apply_refused(change_set, change_set.apply_queued_by, message, "apply_interrupted")


def _apply_refused(change_set: ChangeSet, applier, message: str, code: str) -> None:
    if code == "stale":
        change_set.state = S.STALE
        change_set.stale_reason = message
    else:
        change_set.state = change_set.apply_resume_state or S.APPROVED
    change_set.apply_error_message = message[:2000]
    change_set.apply_error_code = code[:60]
    change_set.break_glass = False
    change_set.save(
        update_fields=[
            "state",
            "stale_reason",
            "apply_error_message",
            "apply_error_code",
            "break_glass",
            "updated_at",
        ]
    )
    _record(applier, "changeset.apply_failed", change_set, reason=message, code=code)
    notifications.notify(change_set, "apply_failed")


def changeset_apply_requeue(*, older_than: timedelta) -> int:
    """Send again the change sets applying for longer than `older_than` (their task was
    lost with the broker or the worker); returns how many. A task that is in fact still
    running holds the row: the second delivery skips it."""
    cutoff = timezone.now() - older_than
    ids = list(
        ChangeSet.objects.filter(state=S.APPLYING, apply_queued_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    for change_set_id in ids:
        _enqueue_apply(change_set_id)
    return len(ids)


class _ProgressWriter:
    """Keeps the latest progress of one change set's apply in the cache (at most a few
    writes a second) for its page and the API to read (reviews.selectors.apply_progress).
    A report without a measure names the phase ("Added IDs to segment vips")."""

    INTERVAL = 0.5

    def __init__(self, change_set_id: int):
        self.key = apply_progress_key(change_set_id)
        self.state: dict[str, Any] = {"phase": "Starting", "step": "", "done": 0, "total": 0}
        self.written = 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
        if total:
            self.state.update(step=step, done=done, total=total)
        else:
            self.state.update(phase=step, step="", done=0, total=0)
        now = time.monotonic()
        if total and done < total and now - self.written < self.INTERVAL:
            return
        self.written = now
        try:
            cache.set(self.key, self.state, timeout=3600)
        except Exception:  # progress is a courtesy: never the reason an apply fails
            logger.warning("changeset.apply_progress_unwritten key=%s", self.key)

    def clear(self) -> None:
        try:
            cache.delete(self.key)
        except Exception:
            logger.warning("changeset.apply_progress_uncleared key=%s", self.key)


def _apply(change_set: ChangeSet, *, applier, break_glass: bool = False) -> ChangeSet:
    """Run the changes (as their author), record the ruleset version, mark other open change
    sets on the same entities stale. Runs in the caller's transaction. Bulk lists (IDs)
    are streamed from the stored change, never loaded whole."""
    project = change_set.project
    rows = _changes_streamed(change_set)
    try:
        with transaction.atomic():
            results = _run(change_set.author, project, rows)
    except Conflict as exc:
        if exc.code == "stale":
            raise Conflict(exc.message + " (nothing was applied)", code="stale") from exc
        raise
    for change in rows:
        change.save(update_fields=["entity_id", "after"])
    progress.report("Recording the new ruleset version")
    version = ruleset_version_create(
        actor=applier,
        project=project,
        reason=f"Change set #{change_set.number}: {change_set.title}",
        force=True,
    )
    change_set.state = S.APPLIED
    change_set.applied_at = timezone.now()
    change_set.applied_by = applier
    change_set.ruleset_version = version
    change_set.break_glass = break_glass
    change_set.apply_error_message = change_set.apply_error_code = ""
    change_set.save(
        update_fields=[
            "state",
            "applied_at",
            "applied_by",
            "ruleset_version",
            "break_glass",
            "apply_error_message",
            "apply_error_code",
            "updated_at",
        ]
    )
    _record(
        applier,
        "changeset.break_glass_applied" if break_glass else "changeset.applied",
        change_set,
        version=version.number,
        break_glass=break_glass,
    )
    _stale_others(change_set, rows)
    if break_glass:
        _open_follow_up(change_set)
    notifications.notify(change_set, "applied")
    change_set.results = results
    return change_set


def _stale_others(change_set: ChangeSet, rows: list[Change]) -> None:
    keys = set(_entity_keys(rows))
    if not keys:
        return
    touched: dict[int, set[tuple[str, int]]] = {}
    for other_id, kind, entity_id in (
        Change.objects.filter(
            change_set__project=change_set.project,
            change_set__state__in=(S.IN_REVIEW, S.APPROVED),
            entity_id__in=[entity_id for _kind, entity_id in keys],
        )
        .exclude(change_set=change_set)
        .values_list("change_set_id", "kind", "entity_id")
    ):
        if (kind, entity_id) in keys:
            touched.setdefault(other_id, set()).add((kind, entity_id))
    for other_id in sorted(touched):
        other = _lock(ChangeSet(pk=other_id))
        if other.state not in (S.IN_REVIEW, S.APPROVED):
            continue  # decided meanwhile
        names = ", ".join(
            f"{c.kind} {c.entity_name}" for c in rows if (c.kind, c.entity_id) in touched[other_id]
        )
        _mark_stale(other, f"Change set #{change_set.number} changed {names} first.")


def _open_follow_up(change_set: ChangeSet) -> ChangeSet:
    number = ChangeSet.objects.filter(project=change_set.project).aggregate(n=Max("number"))["n"]
    follow_up = ChangeSet.objects.create(
        project=change_set.project,
        number=number + 1,
        title=f"Follow-up review of break-glass change #{change_set.number}",
        description=f"Applied without review: {change_set.title}",
        author=change_set.author,
        source=ChangeSetSource.FOLLOW_UP,
        state=S.IN_REVIEW,
        submitted_at=timezone.now(),
        content_hash=change_set.content_hash,
        environments=change_set.environments,
        follow_up_of=change_set,
    )
    _record(None, "changeset.follow_up_opened", follow_up, of=change_set.number)
    notifications.notify(follow_up, "submitted")
    return follow_up


# ---------------------------------------------------------------- rollback


def changeset_rollback(*, actor, environment: Environment, version: RulesetVersion) -> ChangeSet:
    """Propose going back to ruleset version `version` as `environment` had it: every entity
    changed by a change set applied after it is restored to its document then (created
    ones archived). It is an ordinary change set: the policy decides if it needs review;
    applying it publishes a new version with the old content and a new `time`."""
    project = environment.project
    ensure_role(actor, project, Role.MEMBER)
    if version.project_id != project.pk:
        raise NotFound("That version belongs to another project.")
    later = (
        Change.objects.filter(
            change_set__project=project,
            change_set__state=S.APPLIED,
            change_set__ruleset_version__number__gt=version.number,
        )
        .select_related("change_set")
        .order_by("change_set__ruleset_version__number", "position")
    )
    first: dict[tuple[str, int], Change] = {}
    for change in later:
        first.setdefault((change.kind, change.entity_id), change)
    if not first:
        raise DomainError(
            f"Nothing changed through change sets since version {version.number}.",
            code="nothing_to_roll_back",
        )
    inputs = []
    for (kind, entity_id), change in first.items():
        handler = registry.get(kind)
        entity = handler.load(project, entity_id)
        if entity is None or getattr(entity, "archived_at", None) is not None:
            raise DomainError(
                f"The {handler.label} '{change.entity_name}' was archived since version "
                f"{version.number}; a rollback cannot bring it back.",
                code="cannot_roll_back",
            )
        if handler.action(change.action).creates:
            inputs.append(ChangeInput(kind, "archive", entity.name, {}, entity.revision))
        elif "update" in handler.actions and change.before is not None:
            inputs.append(ChangeInput(kind, "update", entity.name, change.before, entity.revision))
        else:
            raise DomainError(
                f"'{change.entity_name}' had a {change.action.replace('_', ' ')} since version "
                f"{version.number}; a rollback cannot undo that.",
                code="cannot_roll_back",
            )
    return changeset_submit(
        actor=actor,
        project=project,
        changes=inputs,
        title=f"Roll back {environment.name} to version {version.number}",
        description=f"Restores every entity changed since version {version.number}.",
        source=ChangeSetSource.ROLLBACK,
    )


# ---------------------------------------------------------------- policy and groups


def _ensure_admin(actor, project: Project) -> None:
    ensure_role(actor, project, Role.ADMIN)


def _groups_named(project: Project, names: Iterable[str]) -> list[ReviewGroup]:
    names = [n.strip() for n in names]
    found = {g.name.lower(): g for g in ReviewGroup.objects.filter(project=project)}
    missing = [n for n in names if n.lower() not in found]
    if missing:
        raise DomainError(
            f"No review group named {', '.join(repr(n) for n in missing)}.",
            code="unknown_group",
            field="groups",
        )
    return [found[n.lower()] for n in names]


@dataclass(frozen=True)
class EnvironmentRuleInput:
    environment: str
    requires_review: bool
    approvals_required: int = 1
    groups: tuple[str, ...] = ()


@transaction.atomic
def review_policy_update(
    *,
    actor,
    project: Project,
    environments: list[EnvironmentRuleInput] | None = None,
    allow_break_glass: bool | None = None,
    apply_on_approval: bool | None = None,
) -> ReviewPolicy:
    """Admins set which environments require review, how many approvals (1 to 5) and which
    groups, and the project-wide break-glass and apply-on-approval switches."""
    _ensure_admin(actor, project)
    policy, _ = ReviewPolicy.objects.select_for_update().get_or_create(project=project)
    before = review_policy_document(project)
    if allow_break_glass is not None:
        policy.allow_break_glass = bool(allow_break_glass)
    if apply_on_approval is not None:
        policy.apply_on_approval = bool(apply_on_approval)
    policy.save()
    by_name = {e.name.lower(): e for e in Environment.objects.filter(project=project)}
    for item in environments or []:
        environment = by_name.get(str(item.environment).lower())
        if environment is None:
            raise DomainError(
                f"This project has no environment named '{item.environment}'.",
                code="unknown_environment",
                field="environments",
            )
        count = item.approvals_required
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 5:
            raise DomainError(
                "Approvals required is a whole number from 1 to 5.",
                code="invalid",
                field="approvals_required",
            )
        groups = _groups_named(project, item.groups)
        rule, _ = EnvironmentReviewRule.objects.update_or_create(
            environment=environment,
            defaults={"requires_review": bool(item.requires_review), "approvals_required": count},
        )
        rule.groups.set(groups)
    audit_record(
        actor=actor,
        action="review_policy.updated",
        target=policy,
        project=project,
        before=before,
        after=review_policy_document(project),
    )
    return policy


def review_policy_document(project: Project) -> dict[str, Any]:
    """The policy as the API shows it."""
    from reviews.policy import environment_rules

    policy = project_policy(project)
    return {
        "allowBreakGlass": policy.allow_break_glass,
        "applyOnApproval": policy.apply_on_approval,
        "environments": [
            {
                "environment": rule.environment.name,
                "requiresReview": rule.requires_review,
                "approvalsRequired": rule.approvals_required,
                "groups": [g.name for g in rule.groups],
            }
            for rule in environment_rules(project)
        ],
    }


@transaction.atomic
def review_group_save(
    *, actor, project: Project, name: str, members: Iterable, group: ReviewGroup | None = None
) -> ReviewGroup:
    """Create or update a review group (admins); members must belong to the project."""
    _ensure_admin(actor, project)
    name = (name or "").strip()
    if not name or len(name) > 60 or "<" in name or ">" in name:
        raise DomainError(
            "A group name is 1 to 60 characters, without < or >.", code="invalid", field="name"
        )
    clash = ReviewGroup.objects.filter(project=project, name__iexact=name)
    if group is not None:
        clash = clash.exclude(pk=group.pk)
    if clash.exists():
        raise Conflict(f"A review group named '{name}' exists.", code="duplicate", field="name")
    members = list(members)
    member_ids = set(project.memberships.filter(user__in=members).values_list("user_id", flat=True))
    outsiders = [u for u in members if u.pk not in member_ids]
    if outsiders:
        raise DomainError(
            f"{outsiders[0].email} is not a member of this project.",
            code="not_a_member",
            field="members",
        )
    before = None
    if group is None:
        group = ReviewGroup.objects.create(project=project, name=name)
    else:
        before = {"name": group.name, "members": sorted(u.email for u in group.members.all())}
        group.name = name
        group.save(update_fields=["name", "updated_at"])
    group.members.set(members)
    audit_record(
        actor=actor,
        action="review_group.saved",
        target=group,
        project=project,
        before=before,
        after={"name": name, "members": sorted(u.email for u in members)},
    )
    return group


@transaction.atomic
def review_group_delete(*, actor, group: ReviewGroup) -> None:
    _ensure_admin(actor, group.project)
    audit_record(
        actor=actor,
        action="review_group.deleted",
        target=group,
        project=group.project,
        before={"name": group.name},
    )
    group.delete()


@transaction.atomic
def entity_owner_set(
    *, actor, project: Project, kind: str, name: str, group: ReviewGroup | None
) -> None:
    """Name (or clear, with None) the review group that owns an entity: its approval is
    then required for changes to it wherever review is required. Admins only."""
    _ensure_admin(actor, project)
    handler = registry.get(kind)
    entity = handler.find(project, name)
    if entity is None:
        raise NotFound(f"This project has no {handler.label} named '{name}'.")
    if group is not None and group.project_id != project.pk:
        raise NotFound("No such review group in this project.")
    EntityOwner.objects.filter(kind=kind, entity_id=entity.pk).delete()
    if group is not None:
        EntityOwner.objects.create(project=project, kind=kind, entity_id=entity.pk, group=group)
    audit_record(
        actor=actor,
        action="entity_owner.set",
        target=entity,
        project=project,
        after={"kind": kind, "name": entity.name, "group": group.name if group else None},
    )
