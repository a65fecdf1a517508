"""Dynamic config writes: create, update (the whole document), archive."""

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
from gates.documents import clean_dynamic_config, dynamic_config_to_document
from gates.models import DynamicConfig, ReferenceKind
from gates.services._common import (
    drop_references,
    ensure_writer,
    lock_project_graph,
    write_references,
)
from gates.types import DynamicConfigDocument


@transaction.atomic
def dynamic_config_create(
    *, actor, project: Project, document: DynamicConfigDocument
) -> DynamicConfig:
    """Create a dynamic config; its default and every rule's returnValue must satisfy its
    schema (DomainError code="schema_mismatch")."""
    ensure_writer(actor, project)
    lock_project_graph(project)
    cleaned = clean_dynamic_config(project, document, None)
    doc = cleaned.document
    config = DynamicConfig(
        project=project,
        name=doc["name"],
        description=doc["description"],
        id_type=doc["idType"],
        is_enabled=doc["isEnabled"],
        default_value=doc["defaultValue"],
        schema=doc["schema"],
        owner=cleaned.owner or actor,
        rules=cleaned.rules,
        created_by=actor,
    )
    if salt := imported_salt(imported_identity(document), "salt", DynamicConfig, project, "salt"):
        config.salt = salt
    save_new(config, what="dynamic config")
    config.tags.set(cleaned.tags)
    write_references(project, ReferenceKind.DYNAMIC_CONFIG, config.pk, cleaned)
    audit_record(
        actor=actor,
        action="dynamic_config.created",
        target=config,
        project=project,
        after=dynamic_config_to_document(config),
    )
    return config


def _lock(config: DynamicConfig) -> DynamicConfig:
    return (
        DynamicConfig.objects.select_for_update(of=("self",))
        .select_related("project", "owner")
        .get(pk=config.pk)
    )


@transaction.atomic
def dynamic_config_update(
    *,
    actor,
    config: DynamicConfig,
    document: DynamicConfigDocument,
    expected_revision: int | None = None,
) -> DynamicConfig:
    """Replace the config's definition. Same contract as gate_update."""
    project = config.project
    ensure_writer(actor, project)
    lock_project_graph(project)
    config = _lock(config)
    ensure_not_archived(config, "dynamic config")
    ensure_revision(config, expected_revision)
    before = dynamic_config_to_document(config)
    cleaned = clean_dynamic_config(project, document, config)
    doc = cleaned.document
    if doc == before:
        return config
    config.description = doc["description"]
    config.id_type = doc["idType"]
    config.is_enabled = doc["isEnabled"]
    config.default_value = doc["defaultValue"]
    config.schema = doc["schema"]
    config.owner = cleaned.owner
    config.rules = cleaned.rules
    config.revision += 1
    config.save(
        update_fields=[
            "description",
            "id_type",
            "is_enabled",
            "default_value",
            "schema",
            "owner",
            "rules",
            "revision",
            "updated_at",
        ]
    )
    config.tags.set(cleaned.tags)
    write_references(project, ReferenceKind.DYNAMIC_CONFIG, config.pk, cleaned)
    audit_record(
        actor=actor,
        action="dynamic_config.updated",
        target=config,
        project=project,
        before=before,
        after=dynamic_config_to_document(config),
    )
    return config


@transaction.atomic
def dynamic_config_archive(*, actor, config: DynamicConfig) -> DynamicConfig:
    """Archive a config: it leaves the spec (SDKs then get their fallback value)."""
    project = config.project
    ensure_writer(actor, project)
    lock_project_graph(project)
    config = _lock(config)
    ensure_not_archived(config, "dynamic config")
    before = dynamic_config_to_document(config)
    config.archived_at = timezone.now()
    config.archived_by = actor
    config.revision += 1
    config.save(update_fields=["archived_at", "archived_by", "revision", "updated_at"])
    drop_references(ReferenceKind.DYNAMIC_CONFIG, config.pk)
    audit_record(
        actor=actor,
        action="dynamic_config.archived",
        target=config,
        project=project,
        before={**before, "archived": False},
        after={**dynamic_config_to_document(config), "archived": True},
    )
    return config
