"""Feature gate writes: create, update (the whole document), archive."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from console.audit import audit_record
from console.entities import (
    ensure_not_archived,
    ensure_revision,
    imported_identity,
    imported_salt,
    save_new,
)
from console.models import Project
from gates.documents import clean_gate, gate_to_document
from gates.models import FeatureGate, GateStatus, ReferenceKind
from gates.services._common import (
    drop_references,
    ensure_unused,
    ensure_writer,
    lock_project_graph,
    write_references,
)
from gates.services.rollouts import rollouts_sync
from gates.types import GateDocument


@transaction.atomic
def gate_create(*, actor, project: Project, document: GateDocument) -> FeatureGate:
    """Create a gate from a whole GateDocument (owner defaults to the actor).

    Raises NotAllowed (viewers, outsiders), DomainError/Conflict from validation."""
    ensure_writer(actor, project)
    lock_project_graph(project)
    cleaned = clean_gate(project, document, None)
    doc = cleaned.document
    gate = FeatureGate(
        project=project,
        name=doc["name"],
        description=doc["description"],
        id_type=doc["idType"],
        is_enabled=doc["isEnabled"],
        status=doc["status"],
        is_permanent=doc["isPermanent"],
        owner=cleaned.owner or actor,
        rules=cleaned.rules,
        overrides=cleaned.overrides,
        created_by=actor,
    )
    if salt := imported_salt(imported_identity(document), "salt", FeatureGate, project, "salt"):
        gate.salt = salt
    save_new(gate, what="gate")
    rollouts_sync(gate=gate, actor=actor)
    gate.tags.set(cleaned.tags)
    write_references(project, ReferenceKind.GATE, gate.pk, cleaned)
    audit_record(
        actor=actor,
        action="gate.created",
        target=gate,
        project=project,
        after=gate_to_document(gate),
    )
    return gate


@transaction.atomic
def gate_update(
    *, actor, gate: FeatureGate, document: GateDocument, expected_revision: int | None = None
) -> FeatureGate:
    """Replace the gate's definition with a whole GateDocument; bumps `revision`.

    Locks the gate (and the project's graph), keeps salts of rules whose `id` it has, and
    records one audit event with the changed keys before and after. An identical document
    changes nothing and records nothing. Raises Conflict if archived or if
    `expected_revision` is given and stale."""
    project = gate.project
    ensure_writer(actor, project)
    lock_project_graph(project)
    gate = (
        FeatureGate.objects.select_for_update(of=("self",))
        .select_related("project", "owner")
        .get(pk=gate.pk)
    )
    ensure_not_archived(gate, "gate")
    ensure_revision(gate, expected_revision)
    before = gate_to_document(gate)
    cleaned = clean_gate(project, document, gate)
    doc = cleaned.document
    if doc == before:
        return gate
    now = timezone.now()
    if doc["status"] != gate.status:
        gate.status_changed_at = now
    gate.description = doc["description"]
    gate.id_type = doc["idType"]
    gate.is_enabled = doc["isEnabled"]
    gate.status = doc["status"]
    gate.is_permanent = doc["isPermanent"]
    gate.owner = cleaned.owner
    gate.rules = cleaned.rules
    gate.overrides = cleaned.overrides
    gate.revision += 1
    gate.save(
        update_fields=[
            "description",
            "id_type",
            "is_enabled",
            "status",
            "status_changed_at",
            "is_permanent",
            "owner",
            "rules",
            "overrides",
            "revision",
            "updated_at",
        ]
    )
    rollouts_sync(gate=gate, actor=actor)
    gate.tags.set(cleaned.tags)
    write_references(project, ReferenceKind.GATE, gate.pk, cleaned)
    audit_record(
        actor=actor,
        action="gate.updated",
        target=gate,
        project=project,
        before=before,
        after=gate_to_document(gate),
    )
    return gate


@transaction.atomic
def gate_archive(*, actor, gate: FeatureGate) -> FeatureGate:
    """Archive a gate no live condition uses (Conflict code="in_use" otherwise). Its name
    becomes free; it leaves the spec; its own references are dropped."""
    project = gate.project
    ensure_writer(actor, project)
    lock_project_graph(project)
    gate = (
        FeatureGate.objects.select_for_update(of=("self",))
        .select_related("project", "owner")
        .get(pk=gate.pk)
    )
    ensure_not_archived(gate, "gate")
    ensure_unused(ReferenceKind.GATE, gate, "gate")
    before = gate_to_document(gate)
    now = timezone.now()
    gate.status = GateStatus.ARCHIVED
    gate.status_changed_at = gate.archived_at = now
    gate.archived_by = actor
    gate.revision += 1
    gate.save(
        update_fields=[
            "status",
            "status_changed_at",
            "archived_at",
            "archived_by",
            "revision",
            "updated_at",
        ]
    )
    drop_references(ReferenceKind.GATE, gate.pk)
    audit_record(
        actor=actor,
        action="gate.archived",
        target=gate,
        project=project,
        before=before,
        after=gate_to_document(gate),
    )
    return gate
