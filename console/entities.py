"""The versioned-entity kernel that every configuration entity stands on (gates, segments,
dynamic configs, experiments, layers, holdouts): a project, an immutable name SDKs look up,
a salt, a revision bumped by every write, and archival; and the checks each of their
services makes (not archived, the revision the author saw, a name not taken)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import IntegrityError, models, transaction

from console.exceptions import Conflict
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
