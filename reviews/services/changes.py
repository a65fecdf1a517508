"""The change rows of a change set and what every step shares: locking, the dry run
(validation by applying in a savepoint that is rolled back), the documents it gives, and
staleness (an entity moved on since the change was made)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import JSONField, Q
from django.db.models.expressions import RawSQL

from console import progress
from console.audit import audit_record
from console.entities import ensure_revision
from console.exceptions import ApplicationError, Conflict, DomainError, NotFound
from console.models import Environment, Project, User
from console.permissions import project_role
from reviews import notifications, registry
from reviews.actions import Actor, refusal
from reviews.impact import environment_fingerprints, published_fingerprints, spec_name, specs_now
from reviews.models import (
    CLOSED_STATES,
    Change,
    ChangeSet,
    ChangeSetState,
)
from reviews.policy import Requirements, project_policy, requirements_for

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
    rows: list[Change] = list(
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
        payload = dict(getattr(change, "light_payload", None) or {})
        key = registry.get(change.kind).action(change.action).bulk_key
        if key:
            payload[key] = _StoredItems(change, key)
        change.payload = payload
    return rows


def existing_id(change: Change) -> int:
    """The id of the entity a change names (every change but an unapplied create has one)."""
    if change.entity_id is None:
        raise ValueError(f"Change {change.pk} ({change.action} {change.kind}) names no entity.")
    return change.entity_id


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


def _record(actor: User | None, action: str, change_set: ChangeSet, **after: Any) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=change_set,
        project=change_set.project,
        after={"number": change_set.number, "title": change_set.title, **after},
    )


def ensure_allowed(action: str, actor: User, change_set: ChangeSet) -> None:
    """Raise why `actor` may not take `action` (reviews.actions, which the page shares)."""
    who = Actor(project_role(actor, change_set.project), actor.pk == change_set.author_id)
    needs = change_set_requirements(change_set)
    refused = refusal(
        action, change_set, who, needs=needs, policy=project_policy(change_set.project)
    )
    if refused is not None:
        raise refused


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
        follows = False
        if action.creates:
            name = item.name or str(item.payload.get("name") or item.payload.get("id") or "")
            change.entity_name = name.strip()[:200]
        elif (item.kind, item.name.strip().lower()) in seen and not action.takes_document:
            # A step (start, ship, IDs) of an entity an earlier change of this change set
            # creates or updates: it follows that change, names no entity yet (entity_id
            # and base_revision stay None) and finds it by name when it runs (_run).
            follows = True
            change.entity_name = item.name.strip()[:200]
        else:
            entity = handler.find(project, item.name)
            if entity is None:
                raise NotFound(f"This project has no {handler.label} named '{item.name}'.")
            ensure_revision(entity, item.base_revision)
            change.entity_id = entity.pk
            change.entity_name = entity.name
            change.base_revision = entity.revision
            change.before = handler.to_document(entity)
        key = (change.kind, change.entity_name.lower())
        if key in seen and not follows:
            raise DomainError(
                f"The {handler.label} '{change.entity_name}' appears twice: one change per "
                "entity in a change set.",
                code="duplicate_change",
            )
        seen.add(key)
        changes.append(change)
    return changes


def _run(
    actor: User, project: Project, changes: list[Change], *, preview: bool = False
) -> list[Any]:
    """Apply each change through its handler (in the caller's transaction); fill in each
    change's entity id (creates) and `after` document. Returns the services' results.
    With `preview` (dry runs, rolled back), actions that have one run their preview."""
    results = []
    for change in changes:
        handler = registry.get(change.kind)
        action = handler.action(change.action)
        progress.report(f"{action.label} {handler.label} {change.entity_name}")
        entity = None
        if not action.creates and change.base_revision is None:
            # It follows an earlier change of its entity in this change set (_resolve).
            entity = handler.find(project, change.entity_name)
            if entity is None:
                raise Conflict(
                    f"The {handler.label} '{change.entity_name}' is gone: this change set "
                    "cannot be applied.",
                    code="stale",
                )
            change.entity_id = entity.pk
        elif not action.creates:
            entity = handler.load(project, existing_id(change), lock=True)
            if entity is None or entity.revision != change.base_revision:
                raise Conflict(
                    f"The {handler.label} '{change.entity_name}' changed since this change set "
                    "was made: rebase it.",
                    code="stale",
                )
        run = (action.preview or action.apply) if preview else action.apply
        try:
            result = run(actor, project, entity, change.payload)
        except ApplicationError as exc:
            exc.change_position = change.position
            raise
        if action.creates:
            change.entity_id = result.pk
        entity = handler.load(project, existing_id(change))
        change.after = handler.to_document(entity)
        results.append(result)
    return results


def _changed_later(changes: list[Change]) -> set[str]:
    """The environments whose SDK answers the changes will move later by themselves (a
    rollout schedule): reviewed now like a change today."""
    names: set[str] = set()
    for change in changes:
        later = registry.get(change.kind).changes_later
        if later is not None:
            names.update(later(change.before, change.after))
    return names


def _dry_run(actor: User, project: Project, changes: list[Change]) -> list[str]:
    """Validate `changes` by applying them in a savepoint that is rolled back; fill in the
    `after` documents; return the names of the environments whose SDK answers they change
    (against what is published now)."""
    before = published_fingerprints(project)
    touched: list[str] = []
    try:
        with transaction.atomic():
            _run(actor, project, changes, preview=True)
            after = environment_fingerprints(project)
            later = _changed_later(changes)
            touched = [
                name
                for name, content in after.items()
                if before.get(name) != content
                or name in later
                or registry.EVERY_ENVIRONMENT in later
            ]
            raise _DryRun
    except _DryRun:
        pass
    for change in changes:
        if change.base_revision is None:
            change.entity_id = None  # created (or following a create): rolled back
    _refuse_unchanged(changes)
    return touched


def _refuse_unchanged(changes: list[Change]) -> None:
    """A document change that leaves the document as it was is refused (nothing saved):
    saving an unchanged form makes no change set, no version and no audit event."""
    for change in changes:
        action = registry.get(change.kind).action(change.action)
        if action.takes_document and not action.creates and change.after == change.before:
            label = registry.get(change.kind).label
            if len(changes) == 1:
                message = f"Nothing to save: the {label} '{change.entity_name}' is unchanged."
            else:
                message = (
                    f"The {label} '{change.entity_name}' is unchanged: leave it out of the "
                    "change set."
                )
            refused = DomainError(message, code="unchanged")
            refused.change_position = change.position
            raise refused


def changeset_specs_after(
    change_set: ChangeSet, environments: list[Environment]
) -> dict[str, dict[str, Any]]:
    """The v1 spec of each environment as it would be with the change set applied (a dry
    run as its author; nothing is kept). Raises what applying would raise."""
    specs: dict[str, dict[str, Any]] = {}
    try:
        with transaction.atomic():
            _run(change_set.author, change_set.project, _changes_streamed(change_set), preview=True)
            specs = specs_now(change_set.project, environments)
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


# ---------------------------------------------------------------- conflicts between change sets

# The change sets a new one must not contradict: submitted and not yet applied or closed.
CONFLICT_STATES = (S.IN_REVIEW, S.APPROVED, S.APPLYING)


def ensure_no_conflicts(
    project: Project, changes: list[Change], *, exclude: ChangeSet | None = None
) -> None:
    """Refuse (Conflict code="conflicting_change_set") changes that another submitted
    change set contradicts: both create the same name (in the SDKs' namespace), or one
    archives an entity the other changes. The first one applied would leave the other
    unappliable."""
    creates = {
        spec_name(c.kind, c.entity_name): c
        for c in changes
        if c.entity_id is None and c.entity_name
    }
    touched = {(c.kind, c.entity_id): c for c in changes if c.entity_id is not None}
    others = Change.objects.filter(
        change_set__project=project, change_set__state__in=CONFLICT_STATES
    )
    if exclude is not None:
        others = others.exclude(change_set=exclude)
    rows = others.filter(
        Q(entity_id__isnull=True) | Q(entity_id__in=[entity_id for _k, entity_id in touched])
    ).values_list("change_set__number", "kind", "action", "entity_id", "entity_name")
    for number, kind, action, entity_id, entity_name in rows.order_by("change_set__number"):
        label = registry.get(kind).label
        if entity_id is None and spec_name(kind, entity_name) in creates:
            raise Conflict(
                f"Change set #{number} already creates the {label} '{entity_name}': choose "
                "another name, or wait until that change set is applied or cancelled.",
                code="conflicting_change_set",
            )
        mine = touched.get((kind, entity_id)) if entity_id is not None else None
        if mine is not None and "archive" in (action, mine.action):
            doing = "archives" if action == "archive" else "changes"
            raise Conflict(
                f"Change set #{number} {doing} the {label} '{entity_name}', which this change "
                "set "
                + ("changes" if doing == "archives" else "archives")
                + ": wait until that change set is applied or cancelled.",
                code="conflicting_change_set",
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
        ids = [existing_id(c) for c in existing if c.kind == kind]
        current[kind] = registry.get(kind).revisions(change_set.project, ids)
    return [c for c in existing if current[c.kind].get(existing_id(c)) != c.base_revision]


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
