"""Custom unit types of a project (userID and stableID always exist)."""

from __future__ import annotations

import re

from django.db import transaction

from console.audit import audit_record, snapshot
from console.exceptions import Conflict, DomainError
from console.models import Project, Role
from console.permissions import ensure_role
from gates.models import BUILTIN_UNIT_TYPES, UnitType

_UNIT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")


@transaction.atomic
def unit_type_create(*, actor, project: Project, name: str, description: str = "") -> UnitType:
    """Add a custom unit type (e.g. companyID). Project settings: admins only. The name is
    the key SDK callers put in `customIDs`, so it is kept as typed and never changes."""
    ensure_role(actor, project, Role.ADMIN)
    name = (name or "").strip()
    if not _UNIT_TYPE.match(name):
        raise DomainError(
            "Unit type names use letters, digits and '_' (1-50, starting with a letter).",
            code="invalid_name",
            field="name",
        )
    description = (description or "").strip()
    if len(description) > 200:
        raise DomainError(
            "The description has at most 200 characters.", code="too_long", field="description"
        )
    taken = name.lower() in {b.lower() for b in BUILTIN_UNIT_TYPES} or (
        UnitType.objects.filter(project=project, name__iexact=name).exists()
    )
    if taken:
        raise Conflict(f"The unit type '{name}' already exists.", code="duplicate", field="name")
    unit_type = UnitType.objects.create(
        project=project, name=name, description=description, created_by=actor
    )
    audit_record(
        actor=actor,
        action="unit_type.created",
        target=unit_type,
        project=project,
        after=snapshot(unit_type, ["name", "description"]),
    )
    return unit_type
