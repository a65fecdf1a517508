"""A project document imported as ONE change set (docs/project-as-code.md).

Each entity of the file is compared with the project's: missing ones are created (with the
identity the file gives, so their specs hash alike), different ones updated, equal ones left
out; an ID-list segment's IDs are replaced when they differ; an experiment whose status
differs follows its lifecycle (start, ship, abandon) in the same change set. Entities the
file leaves out stay as they are unless `prune` (then they are archived). Tags and custom
metrics (not change-set kinds, scorecards and documents name them) are written first in the
same transaction; the review policy is compared, never imported. The change set goes through
reviews like any other: applied at once when the policy allows, else waiting for review. A
dry run does all of it in a savepoint rolled back and keeps nothing. Any refusal names the
file's path at fault (`gates[2].rules[0].conditions[1].operator`) and keeps nothing."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from console.exceptions import ApplicationError, DomainError
from console.models import Project, Role, User
from console.permissions import ensure_role
from console.services.tags import tag_create, tag_update
from console.targeting.conditions import CONDITION_TYPES, ValueKind
from console.targeting.fields import project_tags
from experiments.models import STATSIG_STATUS, ExperimentStatus, status_from_document
from experiments.projectcode.exporting import (
    EXTRA_KEYS,
    FORMAT_VERSION,
    METRIC_VOLATILE,
    SECTIONS,
    VOLATILE,
    content,
    segment_ids,
    sorted_keys,
)
from experiments.projectcode.files import bad, dump_document
from metrics.catalog.documents import api_field, document_to_input, metric_to_document
from metrics.catalog.selectors import metric_get_by_id
from metrics.catalog.services import metric_create, metric_update
from metrics.models import MetricType
from reviews import registry
from reviews.models import ChangeSet, ChangeSetSource
from reviews.services import (
    ChangeInput,
    changeset_check,
    changeset_submit,
    review_policy_document,
)

KNOWN_KEYS = {"version", "prune", "reviewPolicy", "tags", "metrics"} | {s for s, _k in SECTIONS}
# The lifecycle steps from a status to another (ship takes the launched group).
LIFECYCLE: dict[tuple[str, str], tuple[str, ...]] = {
    (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING): ("start",),
    (ExperimentStatus.DRAFT, ExperimentStatus.SHIPPED): ("start", "ship"),
    (ExperimentStatus.DRAFT, ExperimentStatus.ABANDONED): ("start", "abandon"),
    (ExperimentStatus.RUNNING, ExperimentStatus.SHIPPED): ("ship",),
    (ExperimentStatus.RUNNING, ExperimentStatus.ABANDONED): ("abandon",),
}
# A follow-up change's payload field, as the file names it.
FOLLOW_UP_FIELDS = {"ids": "ids", "group": "launchedGroupID"}


@dataclass
class EntityPlan:
    """What the import does to one entity of the file (or of the project, for a prune)."""

    section: str
    name: str
    action: str  # create, update, unchanged, archive
    steps: list[str] = field(default_factory=list)  # the change set's actions
    diff: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "action": self.action,
            "steps": self.steps,
            "diff": self.diff,
        }


@dataclass
class ImportPlan:
    dry_run: bool
    prune: bool
    entities: list[EntityPlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Environments whose review the change set waits for (a dry run's forecast).
    needs_review: list[str] = field(default_factory=list)
    change_set: ChangeSet | None = None

    @property
    def changed(self) -> list[EntityPlan]:
        return [e for e in self.entities if e.action != "unchanged"]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for entity in self.entities:
            counts[entity.action] = counts.get(entity.action, 0) + 1
        parts = [f"{n} {action}" for action, n in sorted(counts.items())]
        return ", ".join(parts) or "nothing in the file"

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "prune": self.prune,
            "summary": self.summary(),
            "entities": [e.as_dict() for e in self.entities],
            "notes": self.notes,
            "needsReview": self.needs_review,
        }


class _Rollback(Exception):
    """Raised to roll a dry run back."""


def _diff(before: Any, after: Any, label: str) -> str:
    old = dump_document(before).splitlines(keepends=True) if before is not None else []
    new = dump_document(after).splitlines(keepends=True) if after is not None else []
    return "".join(difflib.unified_diff(old, new, f"{label} (project)", f"{label} (file)"))


def _at(exc: ApplicationError, prefix: str) -> ApplicationError:
    """The error with its field path under the file's `prefix` (gates[2])."""
    exc.field = f"{prefix}.{exc.field}" if exc.field else prefix
    return exc


def _items(document: dict[str, Any], section: str) -> list[Any]:
    items = document.get(section, [])
    if items is None:
        return []
    if not isinstance(items, list):
        raise bad(f"'{section}' is a list.", section)
    return items


def _entity(section: str, i: int, item: Any) -> tuple[str, dict[str, Any]]:
    where = f"{section}[{i}]"
    if not isinstance(item, dict):
        raise bad("Each entity is an object.", where)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad("Name the entity ('name').", f"{where}.name")
    identity = item.get("identity")
    if identity is not None and not isinstance(identity, dict):
        raise bad("'identity' is an object.", f"{where}.identity")
    return name.strip(), item


# ---------------------------------------------------------------- ordering


def _references(item: dict[str, Any]) -> set[tuple[str, str]]:
    """The (section, lowercased name) of the gates and segments an entity's conditions name."""
    found: set[tuple[str, str]] = set()
    rules = item.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        conditions = rule.get("conditions") if isinstance(rule, dict) else None
        for condition in conditions if isinstance(conditions, list) else []:
            if not isinstance(condition, dict):
                continue
            ctype = CONDITION_TYPES.get(str(condition.get("type")))
            if ctype is not None and ctype.target in (ValueKind.GATE, ValueKind.SEGMENT):
                section = "gates" if ctype.target == ValueKind.GATE else "segments"
                found.add((section, str(condition.get("targetValue")).lower()))
    return found


def _ensure_unique_names(document: dict[str, Any]) -> None:
    for section, _kind in SECTIONS:
        seen: set[str] = set()
        for i, item in enumerate(_items(document, section)):
            name, _item = _entity(section, i, item)
            if name.lower() in seen:
                raise bad(f"'{name}' appears twice in {section}.", f"{section}[{i}].name")
            seen.add(name.lower())


def _ordered(document: dict[str, Any]) -> list[tuple[str, int, Any]]:
    """(section, index, item) in the order the change set applies them: segments and gates
    so that what a condition names comes first (a depth-first order over their references;
    a cycle is left to the gates' cleaning, which refuses it with its path), then dynamic
    configs, layers, experiments, holdouts."""
    _ensure_unique_names(document)
    nodes = {
        (section, str(item.get("name", "")).lower() if isinstance(item, dict) else f"#{i}"): (
            section,
            i,
            item,
        )
        for section in ("segments", "gates")
        for i, item in enumerate(_items(document, section))
    }
    done: set[tuple[str, str]] = set()
    ordered: list[tuple[str, int, Any]] = []
    for root in nodes:
        # Iterative: a file may chain thousands of gates.
        stack: list[tuple[tuple[str, str], bool]] = [(root, False)]
        while stack:
            key, expanded = stack.pop()
            if key in done:
                continue
            if expanded:
                done.add(key)
                ordered.append(nodes[key])
                continue
            stack.append((key, True))
            item = nodes[key][2]
            refs = _references(item) if isinstance(item, dict) else set()
            on_path = {k for k, e in stack if e}
            stack += [(ref, False) for ref in sorted(refs) if ref in nodes and ref not in on_path]
    for section, _kind in SECTIONS[2:]:
        ordered += [(section, i, item) for i, item in enumerate(_items(document, section))]
    return ordered


# ---------------------------------------------------------------- tags and metrics


def _import_tags(actor: User, project: Project, document: dict, plan: ImportPlan) -> None:
    known = project_tags(project)
    for i, item in enumerate(_items(document, "tags")):
        where = f"tags[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise bad("Each tag is an object with a 'name'.", where)
        name, description = item["name"].strip(), item.get("description") or ""
        if not isinstance(description, str):
            raise bad("A tag's description is text.", f"{where}.description")
        tag = known.get(name.lower())
        try:
            if tag is None:
                known[name.lower()] = tag_create(
                    actor=actor, project=project, name=name, description=description
                )
                plan.entities.append(EntityPlan("tags", name, "create", ["create"]))
            elif tag.description != description.strip():
                tag_update(actor=actor, tag=tag, name=tag.name, description=description)
                plan.entities.append(EntityPlan("tags", name, "update", ["update"]))
            else:
                plan.entities.append(EntityPlan("tags", name, "unchanged"))
        except ApplicationError as exc:
            raise _at(exc, where) from exc


def _import_metrics(actor: User, project: Project, document: dict, plan: ImportPlan) -> None:
    items = list(enumerate(_items(document, "metrics")))
    # A ratio names its parts: they come first.
    items.sort(
        key=lambda pair: isinstance(pair[1], dict) and pair[1].get("type") == MetricType.RATIO
    )
    for i, item in items:
        where = f"metrics[{i}]"
        if not isinstance(item, dict):
            raise bad("Each metric is an object.", where)
        wanted = content(item, METRIC_VOLATILE)
        label = f"{wanted.get('name')}::{wanted.get('type')}"
        try:
            data = document_to_input(wanted)
            metric = metric_get_by_id(project=project, metric_id=label)
            if metric is None:
                metric_create(actor=actor, project=project, data=data)
                plan.entities.append(
                    EntityPlan("metrics", label, "create", ["create"], _diff(None, wanted, label))
                )
                continue
            current = content(metric_to_document(metric), METRIC_VOLATILE)
            if current == wanted:
                plan.entities.append(EntityPlan("metrics", label, "unchanged"))
                continue
            metric_update(actor=actor, metric=metric, data=data)
            plan.entities.append(
                EntityPlan("metrics", label, "update", ["update"], _diff(current, wanted, label))
            )
        except ApplicationError as exc:
            raise _at(api_field(exc), where) from exc


# ---------------------------------------------------------------- entities


def _status(value: Any, where: str) -> str | None:
    if value is None:
        return None
    status = status_from_document(value)
    if status is None:
        known = ", ".join([*STATSIG_STATUS.values(), *ExperimentStatus.values])
        raise bad(f"An experiment's status is one of: {known}.", f"{where}.status")
    return status


def _lifecycle(
    name: str, current: str, wanted: str | None, launched: Any, where: str
) -> list[ChangeInput]:
    if wanted is None or wanted == current:
        return []
    steps = LIFECYCLE.get((current, wanted))
    if steps is None:
        raise bad(
            f"The experiment '{name}' is {STATSIG_STATUS[current]}: an import cannot make it "
            f"{STATSIG_STATUS[wanted]} (only "
            "setup → active → decision_made or abandoned). Change it in the console.",
            f"{where}.status",
            "invalid_transition",
        )
    return [
        ChangeInput("experiment", step, name, {"group": launched} if step == "ship" else {})
        for step in steps
    ]


def _ids(item: dict[str, Any], where: str) -> list[str] | None:
    ids = item.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
        raise bad("'ids' is a list of IDs.", f"{where}.ids")
    return [str(i) for i in ids]


def _entity_changes(
    project: Project, section: str, kind: str, i: int, item: Any
) -> tuple[EntityPlan, list[ChangeInput]]:
    """The plan and the changes for one entity of the file."""
    where = f"{section}[{i}]"
    name, item = _entity(section, i, item)
    handler = registry.get(kind)
    wanted = {k: v for k, v in item.items() if k not in EXTRA_KEYS and k not in VOLATILE}
    ids = _ids(item, where) if kind == "segment" else None
    status = launched = None
    if kind == "experiment":
        status = _status(wanted.pop("status", None), where)
        launched = wanted.pop("launchedGroupID", None)
    existing = handler.find(project, name)
    changes: list[ChangeInput] = []
    if existing is None:
        payload = dict(wanted)
        if item.get("identity"):
            payload["identity"] = item["identity"]
        changes.append(ChangeInput(kind, "create", name, payload))
        if ids:
            changes.append(ChangeInput(kind, "ids_replace", name, {"ids": ids}))
        if kind == "experiment":
            changes += _lifecycle(name, ExperimentStatus.DRAFT, status, launched, where)
        plan = EntityPlan(section, name, "create", diff=_diff(None, content(wanted), name))
    else:
        current = content(handler.to_document(existing))
        proposed = sorted_keys({**current, **wanted})
        if kind == "experiment":
            # Status and shipped group change through the lifecycle, not the document.
            proposed["status"], proposed["launchedGroupID"] = (
                current.get("status"),
                current.get("launchedGroupID"),
            )
        if proposed != current:
            changes.append(ChangeInput(kind, "update", existing.name, proposed))
        if ids is not None:
            have = segment_ids(existing)
            if set(have) != set(ids):
                if ids:
                    changes.append(ChangeInput(kind, "ids_replace", existing.name, {"ids": ids}))
                else:
                    changes.append(ChangeInput(kind, "ids_remove", existing.name, {"ids": have}))
        if kind == "experiment":
            changes += _lifecycle(existing.name, existing.status, status, launched, where)
        action = "update" if changes else "unchanged"
        diff = _diff(current, proposed, name) if proposed != current else ""
        plan = EntityPlan(section, existing.name, action, diff=diff)
    plan.steps = [c.action for c in changes]
    return plan, changes


def _prune_changes(
    project: Project, document: dict[str, Any]
) -> list[tuple[EntityPlan, ChangeInput]]:
    """Archive what the file leaves out: holdouts first, segments last (what is named by
    others goes after what names it)."""
    out = []
    for section, kind in reversed(SECTIONS):
        named = {
            str(item.get("name", "")).strip().lower()
            for item in _items(document, section)
            if isinstance(item, dict)
        }
        handler = registry.get(kind)
        rows = handler.model._default_manager.filter(project=project, archived_at__isnull=True)
        for entity in sorted(rows, key=lambda e: e.name.lower()):
            if entity.name.lower() not in named:
                plan = EntityPlan(section, entity.name, "archive", ["archive"])
                out.append((plan, ChangeInput(kind, "archive", entity.name)))
    return out


def _check_policy(project: Project, document: dict[str, Any], plan: ImportPlan) -> None:
    wanted = document.get("reviewPolicy")
    if wanted is None:
        return
    if sorted_keys(wanted) != sorted_keys(review_policy_document(project)):
        plan.notes.append(
            "The review policy differs from the file's; an import never changes it (it "
            "decides who reviews the import itself): an admin changes it in Settings → Reviews."
        )


# ---------------------------------------------------------------- the import


def project_import(
    *,
    actor: User,
    project: Project,
    document: dict[str, Any],
    dry_run: bool = False,
    prune: bool = False,
    source: str = ChangeSetSource.API,
    title: str = "",
) -> ImportPlan:
    """Import `document` (parse_document's) into `project` as one change set (members and
    admins). Returns the plan: per entity create / update / unchanged / archive with the
    document diff, and the change set (None when nothing changes, or on a dry run, which
    keeps nothing). Raises the first refusal with the file's path in `field`; nothing is
    kept then."""
    ensure_role(actor, project, Role.MEMBER)
    unknown = sorted(set(document) - KNOWN_KEYS)
    if unknown:
        raise bad(f"Unknown section '{unknown[0][:60]}'.", unknown[0][:60], "unknown_field")
    if document.get("version") != FORMAT_VERSION:
        raise bad(f"This file format is version {FORMAT_VERSION}: set 'version: 1'.", "version")
    prune = prune or document.get("prune") is True
    plan = ImportPlan(dry_run=dry_run, prune=prune)
    try:
        with transaction.atomic():
            _import(actor, project, document, plan, source, title)
            if dry_run:
                raise _Rollback
    except _Rollback:
        plan.change_set = None
    return plan


def _import(
    actor: User,
    project: Project,
    document: dict[str, Any],
    plan: ImportPlan,
    source: str,
    title: str,
) -> None:
    _check_policy(project, document, plan)
    _import_tags(actor, project, document, plan)
    _import_metrics(actor, project, document, plan)
    # Each change with the file's path of its entity and that entity's plan.
    changes: list[tuple[ChangeInput, str, EntityPlan]] = []
    for section, i, item in _ordered(document):
        kind = dict(SECTIONS)[section]
        entity_plan, found = _entity_changes(project, section, kind, i, item)
        plan.entities.append(entity_plan)
        changes += [(change, f"{section}[{i}]", entity_plan) for change in found]
    if plan.prune:
        for entity_plan, change in _prune_changes(project, document):
            plan.entities.append(entity_plan)
            changes.append((change, entity_plan.section, entity_plan))
    while changes:
        try:
            _propose(actor, project, [c for c, _p, _e in changes], plan, source, title)
            return
        except ApplicationError as exc:
            position = exc.change_position
            if position is None or position >= len(changes):
                raise
            change, place, entity_plan = changes[position]
            if isinstance(exc, DomainError) and exc.code == "unchanged":
                # Different in the file, equal once cleaned (50.0 for 50): left out.
                del changes[position]
                entity_plan.steps.remove(change.action)
                if not entity_plan.steps:
                    entity_plan.action, entity_plan.diff = "unchanged", ""
                continue
            if exc.field in FOLLOW_UP_FIELDS and change.action not in ("create", "update"):
                exc.field = FOLLOW_UP_FIELDS[exc.field]
            raise _at(exc, place) from exc


def _propose(
    actor: User,
    project: Project,
    changes: list[ChangeInput],
    plan: ImportPlan,
    source: str,
    title: str,
) -> None:
    if plan.dry_run:
        plan.needs_review = changeset_check(actor=actor, project=project, changes=changes)
        return
    title = title or f"Import: {plan.summary()}"
    plan.change_set = changeset_submit(
        actor=actor, project=project, changes=changes, title=title[:200], source=source
    )
