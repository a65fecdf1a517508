"""Holdout writes: create, update (the whole document), archive."""

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
from experiments.documents import clean_holdout, holdout_to_document
from experiments.models import Holdout
from experiments.services._common import (
    ensure_writer,
    lock_project,
)
from experiments.types import HoldoutDocument


@transaction.atomic
def holdout_create(*, actor, project: Project, document: HoldoutDocument) -> Holdout:
    """Create a holdout: `passPercentage` percent of units get the defaults of the chosen
    experiments (or of every experiment and layer when global)."""
    ensure_writer(actor, project)
    lock_project(project)
    cleaned = clean_holdout(project, document, None)
    doc = cleaned.document
    holdout = Holdout(
        project=project,
        name=doc["name"],
        description=doc["description"],
        id_type=doc["idType"],
        percentage=cleaned.percentage,
        is_global=doc["isGlobal"],
        created_by=actor,
    )
    identity = imported_identity(document)
    if salt := imported_salt(identity, "salt", Holdout, project, "salt"):
        holdout.salt = salt
    if salt := imported_salt(identity, "ruleSalt", Holdout, project, "rule_salt"):
        holdout.rule_salt = salt
    save_new(holdout, what="holdout")
    holdout.experiments.set(cleaned.experiments)
    audit_record(
        actor=actor,
        action="holdout.created",
        target=holdout,
        project=project,
        after=holdout_to_document(holdout),
    )
    return holdout


def _lock(holdout: Holdout) -> Holdout:
    return Holdout.objects.select_for_update().select_related("project").get(pk=holdout.pk)


@transaction.atomic
def holdout_update(
    *, actor, holdout: Holdout, document: HoldoutDocument, expected_revision: int | None = None
) -> Holdout:
    """Replace the holdout's definition. Its salts stay: raising the percentage keeps every
    unit already held out."""
    project = holdout.project
    ensure_writer(actor, project)
    lock_project(project)
    holdout = _lock(holdout)
    ensure_not_archived(holdout, "holdout")
    ensure_revision(holdout, expected_revision)
    before = holdout_to_document(holdout)
    cleaned = clean_holdout(project, document, holdout)
    doc = cleaned.document
    if doc == before:
        return holdout
    holdout.description = doc["description"]
    holdout.id_type = doc["idType"]
    holdout.percentage = cleaned.percentage
    holdout.is_global = doc["isGlobal"]
    holdout.revision += 1
    holdout.save(
        update_fields=[
            "description",
            "id_type",
            "percentage",
            "is_global",
            "revision",
            "updated_at",
        ]
    )
    holdout.experiments.set(cleaned.experiments)
    audit_record(
        actor=actor,
        action="holdout.updated",
        target=holdout,
        project=project,
        before=before,
        after=holdout_to_document(holdout),
    )
    return holdout


@transaction.atomic
def holdout_archive(*, actor, holdout: Holdout) -> Holdout:
    """Archive a holdout: it leaves the spec, and its units return to the experiments."""
    project = holdout.project
    ensure_writer(actor, project)
    lock_project(project)
    holdout = _lock(holdout)
    ensure_not_archived(holdout, "holdout")
    before = holdout_to_document(holdout)
    holdout.archived_at, holdout.archived_by = timezone.now(), actor
    holdout.revision += 1
    holdout.save(update_fields=["archived_at", "archived_by", "revision", "updated_at"])
    audit_record(
        actor=actor,
        action="holdout.archived",
        target=holdout,
        project=project,
        before={**before, "archived": False},
        after={**holdout_to_document(holdout), "archived": True},
    )
    return holdout
