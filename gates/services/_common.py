"""What every gates service shares: the project graph lock, archival checks, references,
tags and the duplicate-name guard."""

from __future__ import annotations

from django.db import connection

from console.exceptions import Conflict
from console.models import Project, Role
from console.permissions import ensure_role
from gates.documents import Cleaned
from gates.hooks import usages_elsewhere
from gates.models import Reference
from gates.selectors import usages

# First key of the advisory lock that serialises a project's gate, segment and config
# writes ("GATE" in ASCII); the second key is the project id.
_GRAPH_LOCK_CLASS = 0x47415445


def ensure_writer(actor, project: Project) -> None:
    """Members and admins write gates, segments and configs; viewers only read."""
    ensure_role(actor, project, Role.MEMBER)


def lock_project_graph(project: Project) -> None:
    """Serialise writes that read or change the project's dependency graph or names.

    Without it, two concurrent edits (a → b and b → a) could each pass cycle detection.
    A transaction-scoped advisory lock, so the project row itself stays unlocked."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_GRAPH_LOCK_CLASS, project.pk])


def write_references(project: Project, kind: str, source_id: int, cleaned: Cleaned) -> None:
    Reference.objects.filter(source_kind=kind, source_id=source_id).delete()
    Reference.objects.bulk_create(
        Reference(
            project=project,
            source_kind=kind,
            source_id=source_id,
            target_kind=target_kind,
            target_id=target_id,
        )
        for target_kind, target_id in sorted(cleaned.references)
    )


def drop_references(kind: str, source_id: int) -> None:
    Reference.objects.filter(source_kind=kind, source_id=source_id).delete()


def ensure_unused(kind: str, entity, what: str) -> None:
    """Refuse to archive a gate or segment that a live condition still uses (the spec
    would name something that is gone). References of archived sources are dropped."""
    users = usages(kind=kind, target_id=entity.pk) + usages_elsewhere(kind, entity)
    if users:
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        raise Conflict(
            f"The {what} '{entity.name}' is used by {shown}: remove those conditions first.",
            code="in_use",
        )
