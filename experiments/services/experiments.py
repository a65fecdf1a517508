"""Experiment writes: create, update (the whole document), and the lifecycle: start, ship,
abandon, reset (re-randomise) and archive. Each locks the project's experiment writes and
the row, records one audit event (documents before and after) and bumps `revision`."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from console.audit import audit_record
from console.entities import (
    ensure_not_archived,
    ensure_revision,
    imported_identity,
    imported_salt,
    new_salt,
    save_new,
)
from console.exceptions import Conflict, DomainError
from console.models import Project
from experiments.documents import clean_experiment, experiment_to_document
from experiments.documents.scorecard import ASSIGNMENT_SOURCE, SCORECARD_KEYS
from experiments.models import Experiment, ExperimentStatus
from experiments.services._common import (
    allocate_buckets,
    ensure_capacity,
    ensure_transition,
    ensure_writer,
    lock_project,
    release_buckets,
)
from experiments.types import ExperimentDocument

# What each status lets an update change (other keys must stay as they are). The scorecard
# changes no SDK answer: what is measured and how can change at any time.
_ALWAYS_EDITABLE = {
    "description",
    "hypothesis",
    "tags",
    "owner",
    *SCORECARD_KEYS,
    ASSIGNMENT_SOURCE,
}
_EDITABLE_WHILE_RUNNING = _ALWAYS_EDITABLE | {
    "allocation",  # up only (checked below)
    "targetingGateID",
    "targetingConditions",
    "overrides",
    "parameters",  # descriptions only (checked below)
    "groups",  # descriptions only (checked below)
}


def _without_descriptions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "description"} for item in items]


def _ensure_editable(status: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Refuse, by status, a change that would move units or rewrite a decided experiment."""
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if status == ExperimentStatus.DRAFT:
        return
    if status == ExperimentStatus.RUNNING:
        frozen = sorted(changed - _EDITABLE_WHILE_RUNNING)
        for key in ("parameters", "groups"):
            if key in changed and _without_descriptions(before[key]) != _without_descriptions(
                after[key]
            ):
                frozen.append(key)
        if frozen:
            raise Conflict(
                f"A running experiment keeps its {', '.join(frozen)}: changing them would "
                "move units between groups. Reset it (re-randomise) to change them.",
                code="experiment_running",
                field=frozen[0],
            )
        if after["allocation"] < before["allocation"]:
            raise Conflict(
                "A running experiment's allocation only grows (lowering it would drop units "
                "already in). Reset it to lower the allocation.",
                code="allocation_decrease",
                field="allocation",
            )
        return
    frozen = sorted(changed - _ALWAYS_EDITABLE)
    if frozen:
        raise Conflict(
            "The decision is made: only the description, hypothesis, tags, owner and "
            "scorecard can change (reset it to run it again).",
            code="experiment_decided",
            field=frozen[0],
        )


def _lock(experiment: Experiment) -> Experiment:
    return (
        Experiment.objects.select_for_update(of=("self",))
        .select_related("project", "owner", "layer", "targeting_gate")
        .get(pk=experiment.pk)
    )


def _apply(experiment: Experiment, cleaned) -> None:
    doc = cleaned.document
    experiment.description = doc["description"]
    experiment.hypothesis = doc["hypothesis"]
    experiment.id_type = doc["idType"]
    experiment.layer = cleaned.layer
    experiment.allocation = cleaned.allocation
    experiment.targeting_gate = cleaned.targeting_gate
    experiment.targeting_conditions = cleaned.targeting_conditions
    experiment.parameters = cleaned.parameters
    experiment.groups = cleaned.groups
    experiment.overrides = cleaned.overrides
    experiment.scorecard = {k: doc[k] for k in (*SCORECARD_KEYS, ASSIGNMENT_SOURCE) if k in doc}


def _imported_identity(experiment: Experiment, document) -> None:
    """A new experiment an import creates keeps the salts and group ids it had
    (docs/project-as-code.md); a group id another experiment of the project uses is refused."""
    identity = imported_identity(document)
    project = experiment.project
    if salt := imported_salt(identity, "salt", Experiment, project, "salt"):
        experiment.salt = salt
    if salt := imported_salt(identity, "layerSalt", Experiment, project, "layer_salt"):
        experiment.layer_salt = salt
    if identity.get("groups") is not True:
        return
    for i, group in enumerate(experiment.groups):
        others = Experiment.objects.filter(project=project, groups__contains=[{"id": group["id"]}])
        if others.exists():
            raise Conflict(
                f"Another experiment of this project has the group id {group['id']}.",
                code="identity_taken",
                field=f"groups[{i}].id",
            )


@transaction.atomic
def experiment_create(*, actor, project: Project, document: ExperimentDocument) -> Experiment:
    """Create a draft experiment from a whole ExperimentDocument (owner defaults to the
    actor). Raises NotAllowed, DomainError/Conflict from validation, Conflict
    code="layer_full" when its layer has fewer free buckets than it asks for."""
    ensure_writer(actor, project)
    lock_project(project)
    cleaned = clean_experiment(project, document, None)
    experiment = Experiment(project=project, name=cleaned.document["name"], created_by=actor)
    _apply(experiment, cleaned)
    experiment.owner = cleaned.owner or actor
    if cleaned.layer is not None:
        ensure_capacity(cleaned.layer, experiment.bucket_count)
    _imported_identity(experiment, document)
    save_new(experiment, what="experiment")
    experiment.tags.set(cleaned.tags)
    audit_record(
        actor=actor,
        action="experiment.created",
        target=experiment,
        project=project,
        after=experiment_to_document(experiment),
    )
    return experiment


@transaction.atomic
def experiment_update(
    *,
    actor,
    experiment: Experiment,
    document: ExperimentDocument,
    expected_revision: int | None = None,
) -> Experiment:
    """Replace the experiment's definition with a whole document; bumps `revision`.

    A draft changes freely. A running one keeps its unit type, layer, parameters and groups
    (descriptions aside) and its allocation only grows, adding buckets without moving any
    unit (Conflict code="experiment_running"/"allocation_decrease" otherwise). A decided
    one changes only its description, hypothesis, tags, owner and scorecard. An identical document
    records nothing."""
    project = experiment.project
    ensure_writer(actor, project)
    lock_project(project)
    experiment = _lock(experiment)
    ensure_not_archived(experiment, "experiment")
    ensure_revision(experiment, expected_revision)
    before = experiment_to_document(experiment)
    cleaned = clean_experiment(project, document, experiment)
    doc = cleaned.document
    if doc == before:
        return experiment
    _ensure_editable(experiment.status, before, doc)  # type: ignore[arg-type]
    _apply(experiment, cleaned)
    if experiment.status == ExperimentStatus.RUNNING:
        allocate_buckets(experiment)
    elif experiment.layer is not None and (
        doc["layerID"] != before["layerID"] or doc["allocation"] != before["allocation"]
    ):
        ensure_capacity(experiment.layer, experiment.bucket_count)
    experiment.owner = cleaned.owner
    experiment.revision += 1
    experiment.save(
        update_fields=[
            "description",
            "hypothesis",
            "id_type",
            "layer",
            "allocation",
            "targeting_gate",
            "targeting_conditions",
            "parameters",
            "groups",
            "overrides",
            "scorecard",
            "owner",
            "revision",
            "updated_at",
        ]
    )
    experiment.tags.set(cleaned.tags)
    audit_record(
        actor=actor,
        action="experiment.updated",
        target=experiment,
        project=project,
        before=before,
        after=experiment_to_document(experiment),
    )
    return experiment


def _transition(
    *, actor, experiment: Experiment, target: str, verb: str, action: str, change
) -> Experiment:
    """The shape of every lifecycle service: lock, check the transition, apply `change`,
    save, audit `action` with the documents before and after."""
    project = experiment.project
    ensure_writer(actor, project)
    lock_project(project)
    experiment = _lock(experiment)
    ensure_transition(experiment, target, verb)
    before: dict[str, Any] = dict(experiment_to_document(experiment))
    extra_before, extra_after, fields = change(experiment)
    experiment.status = target
    experiment.revision += 1
    experiment.save(update_fields=["status", "revision", "updated_at", *fields])
    audit_record(
        actor=actor,
        action=action,
        target=experiment,
        project=project,
        before={**before, **extra_before},
        after={**experiment_to_document(experiment), **extra_after},
    )
    return experiment


@transaction.atomic
def experiment_start(*, actor, experiment: Experiment) -> Experiment:
    """Start assigning: a draft takes its buckets of the layer (Conflict code="layer_full"
    if too few are free) and its groups split the allocated units."""

    def change(exp: Experiment):
        gate = exp.targeting_gate
        if gate is not None and gate.archived_at is not None:
            raise DomainError(
                f"The targeting gate {gate.name!r} is archived: choose another one.",
                code="unknown_gate",
                field="targetingGateID",
            )
        allocate_buckets(exp)
        exp.started_at = timezone.now()
        return {}, {}, ["started_at"]

    return _transition(
        actor=actor,
        experiment=experiment,
        target=ExperimentStatus.RUNNING,
        verb="started",
        action="experiment.started",
        change=change,
    )


@transaction.atomic
def experiment_ship(*, actor, experiment: Experiment, group: str) -> Experiment:
    """Decide for `group` (its name or id): everyone gets its values (spec rule
    `launchedGroup`), held-out units excepted; the layer buckets are freed."""

    def change(exp: Experiment):
        wanted = (group or "").strip()
        match = next(
            (g for g in exp.groups if g["id"] == wanted or g["name"].lower() == wanted.lower()),
            None,
        )
        if match is None:
            raise DomainError(
                f"The experiment has no group {group!r}.", code="unknown_group", field="group"
            )
        release_buckets(exp)
        exp.launched_group_id = match["id"]
        exp.decided_at, exp.decided_by = timezone.now(), actor
        return {}, {}, ["launched_group_id", "decided_at", "decided_by"]

    return _transition(
        actor=actor,
        experiment=experiment,
        target=ExperimentStatus.SHIPPED,
        verb="shipped",
        action="experiment.shipped",
        change=change,
    )


@transaction.atomic
def experiment_abandon(*, actor, experiment: Experiment) -> Experiment:
    """Decide for nothing: everyone gets the defaults; the layer buckets are freed."""

    def change(exp: Experiment):
        release_buckets(exp)
        exp.decided_at, exp.decided_by = timezone.now(), actor
        return {}, {}, ["decided_at", "decided_by"]

    return _transition(
        actor=actor,
        experiment=experiment,
        target=ExperimentStatus.ABANDONED,
        verb="abandoned",
        action="experiment.abandoned",
        change=change,
    )


@transaction.atomic
def experiment_reset(*, actor, experiment: Experiment) -> Experiment:
    """Back to draft with new salts (groups and implicit layer): started again, every unit
    is re-randomised. The one write that changes salts; the audit event records both."""

    def change(exp: Experiment):
        old = {"salt": exp.salt, "layerSalt": exp.layer_salt}
        release_buckets(exp)
        exp.salt, exp.layer_salt = new_salt(), new_salt()
        exp.launched_group_id = ""
        exp.started_at = exp.decided_at = exp.decided_by = None
        new = {"salt": exp.salt, "layerSalt": exp.layer_salt}
        fields = ["salt", "layer_salt", "launched_group_id", "started_at", "decided_at"]
        return old, new, [*fields, "decided_by"]

    return _transition(
        actor=actor,
        experiment=experiment,
        target=ExperimentStatus.DRAFT,
        verb="reset",
        action="experiment.reset",
        change=change,
    )


@transaction.atomic
def experiment_archive(*, actor, experiment: Experiment) -> Experiment:
    """Archive a draft or decided experiment (a running one is shipped or abandoned
    first): it leaves the spec and its name becomes free."""

    def change(exp: Experiment):
        release_buckets(exp)
        exp.archived_at, exp.archived_by = timezone.now(), actor
        return {}, {}, ["archived_at", "archived_by"]

    return _transition(
        actor=actor,
        experiment=experiment,
        target=ExperimentStatus.ARCHIVED,
        verb="archived",
        action="experiment.archived",
        change=change,
    )
