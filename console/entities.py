"""The versioned-entity kernel that every configuration entity stands on (gates, segments,
dynamic configs, experiments, layers, holdouts): a project, an immutable name SDKs look up,
a salt, a revision bumped by every write, and archival; and the checks each of their
services makes (not archived, the revision the author saw, a name not taken)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction

from console.exceptions import Conflict, DomainError
from console.models import Project, TimeStampedModel


def new_salt() -> str:
    """A salt is a spec's or rule's bucketing identity: made once, never changed."""
    return str(uuid.uuid4())


class EntityQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)

    def for_project(self, project: Project):
        return self.filter(project=project)


class VersionedEntity(TimeStampedModel):
    # PROTECT: configuration is archived, never deleted with its project.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    # Immutable after creation: SDK calls and other entities' conditions use it.
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=5000)
    id_type = models.CharField(max_length=50, default="userID")
    salt = models.CharField(max_length=64, default=new_salt, editable=False)
    revision = models.PositiveIntegerField(default=1)
    # SET_NULL: the entity stays when an account is deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = EntityQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


def ensure_not_archived(entity: VersionedEntity, what: str) -> None:
    if entity.archived_at is not None:
        raise Conflict(f"This {what} is archived and cannot change.", code="archived")


def ensure_revision(entity: VersionedEntity, expected_revision: int | None) -> None:
    """Optimistic concurrency: refuse a document made from an older revision."""
    if expected_revision is not None and expected_revision != entity.revision:
        raise Conflict(
            f"It changed since you opened it (revision {entity.revision}, you had "
            f"{expected_revision}); reload and apply your edit again.",
            code="stale_revision",
        )


def save_new(obj: VersionedEntity, *, what: str) -> None:
    """Insert; a concurrent create of the same name becomes a Conflict."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
            raise Conflict(
                f"A {what} named '{obj.name}' already exists.", code="duplicate", field="name"
            ) from exc
        raise


# ---------------------------------------------------------------- imported identity

SALT_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RULE_ID_SHAPE = re.compile(r"^[0-9A-Za-z]{22}$")


def imported_identity(document: Any) -> dict[str, Any]:
    """The `identity` a project import passes with a create (docs/project-as-code.md): the
    salts and ids the entity's spec hashes with in the project it was exported from, so the
    same document gives the same spec. Empty for every other create; ignored by updates
    (an entity keeps its identity)."""
    identity = document.get("identity") if isinstance(document, Mapping) else None
    return identity if isinstance(identity, dict) else {}


def imported_salt(
    identity: Mapping[str, Any], key: str, model: type[models.Model], project: Project, column: str
) -> str | None:
    """identity[key] when it is a salt no `model` row of the project uses in `column`;
    None when the identity has none. DomainError (field identity.<key>) when it is not a
    salt, Conflict when it is taken (two entities hashing alike would bucket alike)."""
    value = identity.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not SALT_SHAPE.match(value):
        raise DomainError(
            "An imported salt is a lowercase UUID.",
            code="invalid_identity",
            field=f"identity.{key}",
        )
    if model._default_manager.filter(project=project, **{column: value}).exists():
        raise Conflict(
            "This project already has an entity with this salt: import it into a project "
            "that does not hold it yet, or leave the identity out.",
            code="identity_taken",
            field=f"identity.{key}",
        )
    return value


def imported_rule_id(value: Any, path: str) -> str:
    """A well-formed imported rule or group id (22 letters and digits), else DomainError."""
    if not isinstance(value, str) or not RULE_ID_SHAPE.match(value):
        raise DomainError(
            "An imported rule or group id is 22 letters and digits.",
            code="invalid_identity",
            field=path,
        )
    return value
