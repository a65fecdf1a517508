"""Layer writes: create, update (the whole document), archive."""

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
from console.exceptions import Conflict
from console.models import Project
from experiments.documents import clean_layer, layer_to_document
from experiments.models import Experiment, Layer
from experiments.services._common import (
    ensure_writer,
    lock_project,
)
from experiments.types import LayerDocument


@transaction.atomic
def layer_create(*, actor, project: Project, document: LayerDocument) -> Layer:
    """Create a layer: parameters with defaults and 1,000 free buckets."""
    ensure_writer(actor, project)
    lock_project(project)
    cleaned = clean_layer(project, document, None)
    doc = cleaned.document
    layer = Layer(
        project=project,
        name=doc["name"],
        description=doc["description"],
        id_type=doc["idType"],
        parameters=cleaned.parameters,
        created_by=actor,
    )
    identity = imported_identity(document)
    if salt := imported_salt(identity, "salt", Layer, project, "salt"):
        layer.salt = salt
    save_new(layer, what="layer")
    audit_record(
        actor=actor,
        action="layer.created",
        target=layer,
        project=project,
        after=layer_to_document(layer),
    )
    return layer


def _lock(layer: Layer) -> Layer:
    return Layer.objects.select_for_update().select_related("project").get(pk=layer.pk)


def _live_experiments(layer: Layer):
    return Experiment.objects.active().filter(layer=layer).order_by("name")


@transaction.atomic
def layer_update(
    *, actor, layer: Layer, document: LayerDocument, expected_revision: int | None = None
) -> Layer:
    """Replace the layer's definition. Parameters can be added and defaults changed (the
    experiments' values follow); a parameter a live experiment sets keeps its name and
    type, and a layer with live experiments keeps its unit type (Conflict code="in_use")."""
    project = layer.project
    ensure_writer(actor, project)
    lock_project(project)
    layer = _lock(layer)
    ensure_not_archived(layer, "layer")
    ensure_revision(layer, expected_revision)
    before = layer_to_document(layer)
    cleaned = clean_layer(project, document, layer)
    doc = cleaned.document
    if doc == before:
        return layer
    experiments = list(_live_experiments(layer).only("name", "parameters"))
    if doc["idType"] != layer.id_type and experiments:
        raise Conflict(
            f"The experiments {', '.join(e.name for e in experiments[:5])} randomise by "
            f"{layer.id_type}: the layer keeps its unit type while it has experiments.",
            code="in_use",
            field="idType",
        )
    types = {p["name"]: p["type"] for p in cleaned.parameters}
    for experiment in experiments:
        for parameter in experiment.parameters:
            if types.get(parameter["name"]) != parameter["type"]:
                raise Conflict(
                    f"The experiment {experiment.name!r} sets the {parameter['type']} "
                    f"parameter {parameter['name']!r}: keep it (with its type) until that "
                    "experiment is archived.",
                    code="in_use",
                    field="parameters",
                )
    layer.description = doc["description"]
    layer.id_type = doc["idType"]
    layer.parameters = cleaned.parameters
    layer.revision += 1
    layer.save(update_fields=["description", "id_type", "parameters", "revision", "updated_at"])
    audit_record(
        actor=actor,
        action="layer.updated",
        target=layer,
        project=project,
        before=before,
        after=layer_to_document(layer),
    )
    return layer


@transaction.atomic
def layer_archive(*, actor, layer: Layer) -> Layer:
    """Archive a layer none of whose experiments is live (Conflict code="in_use")."""
    project = layer.project
    ensure_writer(actor, project)
    lock_project(project)
    layer = _lock(layer)
    ensure_not_archived(layer, "layer")
    names = list(_live_experiments(layer).values_list("name", flat=True)[:6])
    if names:
        shown = ", ".join(names[:5]) + (" and more" if len(names) > 5 else "")
        raise Conflict(
            f"The layer still has the experiments {shown}: archive them first.", code="in_use"
        )
    before = layer_to_document(layer)
    layer.archived_at, layer.archived_by = timezone.now(), actor
    layer.revision += 1
    layer.save(update_fields=["archived_at", "archived_by", "revision", "updated_at"])
    audit_record(
        actor=actor,
        action="layer.archived",
        target=layer,
        project=project,
        before={**before, "archived": False},
        after={**layer_to_document(layer), "archived": True},
    )
    return layer
