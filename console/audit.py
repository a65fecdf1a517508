"""The audit log's only writer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models

from console.context import current_api_key, current_request_id
from console.models import AuditEvent, Project


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    """The JSON-able values of `fields` on `obj`, for before/after records."""
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, models.Model):
            value = str(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        values[name] = value
    return values


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model,
    project: Project | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the change it describes.

    Only the fields that differ are kept, so an update records exactly what changed.
    """
    before, after = dict(before or {}), dict(after or {})
    if before and after:
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        before = {k: v for k, v in before.items() if k in changed}
        after = {k: v for k, v in after.items() if k in changed}
    api_key = current_api_key()
    if actor is None:
        label = "system"
    elif api_key is not None:
        label = f"{actor.email} (via {api_key.hint}…)"
    else:
        label = actor.email or actor.get_username()
    return AuditEvent.objects.create(
        project=project,
        actor=actor,
        actor_label=label[:254],
        via_key=api_key,
        action=action,
        target_type=target._meta.model_name,
        target_id=str(target.pk),
        target_label=str(target)[:200],
        before=before,
        after=after,
        request_id=current_request_id(),
    )
