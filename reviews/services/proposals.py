"""Proposing: submit, send a draft, edit, rebase a stale change set, propose a rollback.
A change set that needs no review is applied at once (reviews.services.applying)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from console.exceptions import Conflict, DomainError, NotAllowed, NotFound
from console.models import Environment, Project, Role, RulesetVersion, User
from console.permissions import ensure_role
from console.specs.incremental import BuiltSpec, Fragment, build_all
from reviews import notifications, registry
from reviews.actions import not_open
from reviews.models import (
    Approval,
    Change,
    ChangeSet,
    ChangeSetSource,
)
from reviews.policy import environment_rules
from reviews.services.applying import _apply_or_queue
from reviews.services.changes import (
    ChangeInput,
    S,
    _changes,
    _content_hash,
    _dry_run,
    _DryRun,
    _lock,
    _record,
    _resolve,
    _run,
    _save_changes,
    change_set_requirements,
    ensure_allowed,
    ensure_no_conflicts,
    existing_id,
    stale_changes,
)
from reviews.services.scheduling import waits_for_schedule

# ---------------------------------------------------------------- submit and edit


@transaction.atomic
def changeset_submit(
    *,
    actor: User,
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


def changeset_check(*, actor: User, project: Project, changes: list[ChangeInput]) -> list[str]:
    """What changeset_submit would do with `changes`, saving nothing: the names of the
    environments whose review it would wait for (empty: it would apply at once). Raises
    what submitting would (a dry run; "unchanged" when it changes nothing)."""
    ensure_role(actor, project, Role.MEMBER)
    with transaction.atomic():
        rows = _resolve(project, changes)
        touched = set(_dry_run(actor, project, rows))
    return [
        rule.environment.name
        for rule in environment_rules(project)
        if rule.requires_review and rule.environment.name in touched
    ]


def _default_title(changes: list[Change]) -> str:
    first = changes[0]
    label = registry.get(first.kind).label
    title = f"{first.action.replace('_', ' ').capitalize()} {label} {first.entity_name}"
    if len(changes) > 1:
        title += f" and {len(changes) - 1} more"
    return title[:200]


def _send(actor: User, change_set: ChangeSet) -> ChangeSet:
    """Draft (or edited) → in review, or applied at once when the policy needs no review
    (approved and left to the worker when it is scheduled for a time to come). Refused when
    another submitted change set contradicts it (ensure_no_conflicts)."""
    ensure_no_conflicts(change_set.project, _changes(change_set), exclude=change_set)
    needs = change_set_requirements(change_set)
    if not needs.needs_review and waits_for_schedule(change_set):
        change_set.state = S.APPROVED
        change_set.submitted_at = change_set.decided_at = timezone.now()
        change_set.save(update_fields=["state", "submitted_at", "decided_at", "updated_at"])
        _record(actor, "changeset.submitted", change_set, needs=needs.summary())
        change_set.results = []
        return change_set
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
def changeset_send(*, actor: User, change_set: ChangeSet) -> ChangeSet:
    """The author sends a draft for review (or applies it, when none is needed)."""
    change_set = _lock(change_set)
    ensure_allowed("send", actor, change_set)
    return _send(actor, change_set)


@transaction.atomic
def changeset_edit(
    *,
    actor: User,
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
    if refused := not_open(change_set, "change"):
        raise refused
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
        if change_set.state != S.DRAFT:
            ensure_no_conflicts(change_set.project, rows, exclude=change_set)
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


@dataclass(frozen=True)
class RebaseConflict:
    change: Change
    key: str
    base: Any
    theirs: Any
    mine: Any


def _merge(
    change: Change, current: Mapping[str, Any], resolutions: dict[str, str]
) -> tuple[dict[str, Any], list[RebaseConflict]]:
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
        entity = handler.load(change_set.project, existing_id(change))
        if entity is None or not handler.action(change.action).takes_document:
            continue
        conflicts += _merge(change, handler.to_document(entity), {})[1]
    return conflicts


@transaction.atomic
def changeset_rebase(
    *, actor: User, change_set: ChangeSet, resolutions: dict[str, str] | None = None
) -> ChangeSet:
    """Bring a stale change set up to date: each moved entity's change is re-based on its
    current revision, documents merged key by key (Conflict code="rebase_conflict" lists
    the keys both sides changed, unless `resolutions` says "mine" or "theirs" for
    "<position>.<key>"). A change set stale for another reason (a name taken since it was
    made) is checked again as it is, its approvals kept. Otherwise approvals are dropped; it
    goes back to review."""
    change_set = _lock(change_set)
    ensure_allowed("rebase", actor, change_set)
    project = change_set.project
    rows = _changes(change_set)
    moved = {c.pk for c in stale_changes(change_set, rows)}
    if not moved and change_set.state != S.STALE:
        raise Conflict("Nothing to rebase: no entity changed since.", code="not_stale")
    conflicts = []
    for change in rows:
        if change.pk not in moved:
            continue
        handler = registry.get(change.kind)
        entity = handler.load(project, existing_id(change))
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
    if change_set.submitted_at is not None:
        ensure_no_conflicts(project, rows, exclude=change_set)
    _save_changes(change_set, rows)
    change_set.content_hash = _content_hash(rows)
    # Checked again as it was (stale for a name taken since): the approvals were of this
    # very content and stand; an approver confirms by approving again.
    dropped = _dismiss_approvals(change_set) if moved else 0
    change_set.state = S.DRAFT if change_set.submitted_at is None else S.IN_REVIEW
    change_set.stale_reason = ""
    change_set.save(
        update_fields=["environments", "content_hash", "state", "stale_reason", "updated_at"]
    )
    _record(actor, "changeset.rebased", change_set, approvals_dropped=dropped)
    change_set.results = []
    return change_set


# ---------------------------------------------------------------- rollback
#
# A ruleset version is the whole project's: each entity's document holds the rules of every
# environment (a rule may be limited to some), and every environment's spec is built from
# the same documents. So a rollback restores documents, and every environment receiving
# an entity it restores changes; it cannot roll one environment back alone.
# rollback_plan says, before anyone submits, what each environment's SDKs will get.


@dataclass(frozen=True)
class SpecShift:
    """One entity whose spec changes in one environment."""

    entity: str  # the spec's entity type: feature_gate, segment, dynamic_config, ...
    name: str
    how: str  # "changes", "goes away", "comes back"

    @property
    def label(self) -> str:
        return _ENTITY_LABELS.get(self.entity, self.entity.replace("_", " "))


_ENTITY_LABELS = {"feature_gate": "gate", "dynamic_config": "dynamic config"}


@dataclass(frozen=True)
class RollbackPlan:
    version: RulesetVersion
    changes: list[Change]  # resolved, unsaved: what the change set will hold
    environments: list[tuple[Environment, list[SpecShift]]]  # empty list: unchanged

    @property
    def touched(self) -> list[str]:
        return [environment.name for environment, shifts in self.environments if shifts]


def _rollback_inputs(project: Project, version: RulesetVersion) -> list[ChangeInput]:
    """Every entity changed by a change set applied after `version`, back to its document
    then (created ones archived). Raises DomainError when that cannot be done."""
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
        first.setdefault((change.kind, existing_id(change)), change)
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
            if change.before == handler.to_document(entity):
                continue  # changed and changed back since: nothing to restore
            inputs.append(ChangeInput(kind, "update", entity.name, change.before, entity.revision))
        else:
            raise DomainError(
                f"'{change.entity_name}' had a {change.action.replace('_', ' ')} since version "
                f"{version.number}; a rollback cannot undo that.",
                code="cannot_roll_back",
            )
    if not inputs:
        raise DomainError(
            f"Every entity changed since version {version.number} is as it was then.",
            code="nothing_to_roll_back",
        )
    return inputs


def _spec_entries(built: BuiltSpec) -> dict[tuple[str, str], Fragment]:
    """(entity type, name) → its fragment of the built spec."""
    return {
        (str(f.spec.get("entity") or f.section), f.name.removeprefix("segment:")): f
        for f in built.fragments
    }


def _evaluated(fragment: Fragment) -> dict[str, Any]:
    """What the SDKs evaluate of an entity (the bookkeeping `version` left out)."""
    return {k: v for k, v in fragment.spec.items() if k != "version"}


def _shifts(before: BuiltSpec, after: BuiltSpec) -> list[SpecShift]:
    old, new = _spec_entries(before), _spec_entries(after)
    shifts = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            shifts.append(SpecShift(key[0], key[1], "goes away"))
        elif key not in old:
            shifts.append(SpecShift(key[0], key[1], "comes back"))
        elif old[key].key != new[key].key and _evaluated(old[key]) != _evaluated(new[key]):
            # Equal keys are byte-equal specs: only the fragments a change rebuilt compare.
            shifts.append(SpecShift(key[0], key[1], "changes"))
    return shifts


def _built(project: Project, environments: list[Environment]) -> list[BuiltSpec]:
    return build_all(
        project, [(environment, 1) for environment in environments], v2=False, v1=False
    )


def rollback_plan(*, actor: User, version: RulesetVersion) -> RollbackPlan:
    """What rolling the project back to `version` would propose, and, per environment, the
    entities whose spec would change (a dry run rolled back; nothing is kept). Members
    only; raises what changeset_rollback would."""
    project = version.project
    ensure_role(actor, project, Role.MEMBER)
    changes = _resolve(project, _rollback_inputs(project, version))
    environments = list(Environment.objects.filter(project=project).order_by("position", "pk"))
    before = dict(zip(environments, _built(project, environments), strict=True))
    after: dict[Environment, BuiltSpec] = {}
    try:
        with transaction.atomic():
            _run(actor, project, changes, preview=True)
            after = dict(zip(environments, _built(project, environments), strict=True))
            raise _DryRun
    except _DryRun:
        pass
    return RollbackPlan(
        version,
        changes,
        [(e, _shifts(before[e], after[e])) for e in environments],
    )


def changeset_rollback(*, actor: User, version: RulesetVersion) -> ChangeSet:
    """Propose going back to ruleset version `version`: every entity changed by a change
    set applied after it is restored to its document then (created ones archived), in
    every environment that receives it (see rollback_plan). It is an ordinary change set:
    the policy decides if it needs review; applying it publishes a new version with the
    old content and a new `time`."""
    project = version.project
    ensure_role(actor, project, Role.MEMBER)
    return changeset_submit(
        actor=actor,
        project=project,
        changes=_rollback_inputs(project, version),
        title=f"Roll the project back to version {version.number}",
        description=(
            f"Restores every entity changed since version {version.number}, in every "
            "environment that receives it (a version is the whole project's)."
        ),
        source=ChangeSetSource.ROLLBACK,
    )
