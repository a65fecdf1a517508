"""A project's tags: create, update, delete."""

from __future__ import annotations

from django.db import transaction

from console.audit import audit_record, snapshot
from console.models import (
    Project,
    Role,
    Tag,
)
from console.permissions import ensure_role
from console.services.common import TAG_FIELDS, clean_name, save_unique, validate_model

# ---------------------------------------------------------------- tags


@transaction.atomic
def tag_create(*, actor, project: Project, name: str, description: str = "") -> Tag:
    ensure_role(actor, project, Role.MEMBER)
    tag = Tag(
        project=project,
        name=clean_name(name, what="Tag name", max_length=50),
        description=clean_name(description, what="Description", max_length=200, field="description")
        if description and description.strip()
        else "",
    )
    validate_model(tag)
    save_unique(tag, message=f"A tag named '{tag.name}' already exists.", field="name")
    audit_record(
        actor=actor,
        action="tag.created",
        target=tag,
        project=project,
        after=snapshot(tag, TAG_FIELDS),
    )
    return tag


@transaction.atomic
def tag_update(*, actor, tag: Tag, name: str, description: str = "") -> Tag:
    ensure_role(actor, tag.project, Role.MEMBER)
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    before = snapshot(tag, TAG_FIELDS)
    tag.name = clean_name(name, what="Tag name", max_length=50)
    tag.description = (
        clean_name(description, what="Description", max_length=200, field="description")
        if description and description.strip()
        else ""
    )
    validate_model(tag)
    save_unique(
        tag,
        update_fields=["name", "description", "updated_at"],
        message=f"A tag named '{tag.name}' already exists.",
        field="name",
    )
    audit_record(
        actor=actor,
        action="tag.updated",
        target=tag,
        project=tag.project,
        before=before,
        after=snapshot(tag, TAG_FIELDS),
    )
    return tag


@transaction.atomic
def tag_delete(*, actor, tag: Tag) -> None:
    ensure_role(actor, tag.project, Role.ADMIN)
    audit_record(
        actor=actor,
        action="tag.deleted",
        target=tag,
        project=tag.project,
        before=snapshot(tag, TAG_FIELDS),
    )
    tag.delete()
