"""What the core services share: the default environments and tags of a new project, the
fields each audit records, and the validation of names, slugs and free text."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from console.exceptions import Conflict, DomainError
from console.models import (
    EnvironmentTier,
)

User = get_user_model()

DEFAULT_ENVIRONMENTS = [
    ("development", EnvironmentTier.DEVELOPMENT),
    ("staging", EnvironmentTier.STAGING),
    ("production", EnvironmentTier.PRODUCTION),
]
DEFAULT_TAGS = [
    ("core", "Core product behaviour"),
    ("growth", "Growth and onboarding work"),
    ("infra", "Infrastructure and operations"),
    ("mobile", "Mobile apps"),
    ("web", "Web app"),
]

PROJECT_FIELDS = ["name", "slug", "description", "access_mode", "default_role"]
ENVIRONMENT_FIELDS = ["name", "tier", "position"]
TAG_FIELDS = ["name", "description"]
KEY_FIELDS = ["kind", "name", "role", "hint", "environment", "expires_at", "revoked_at"]

MARKUP = re.compile(r"[<>]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]*$")


# ---------------------------------------------------------------- validation helpers


def clean_name(value: str, *, what: str, max_length: int, field: str = "name") -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(f"{what} cannot be empty.", code="required", field=field)
    if len(value) > max_length:
        raise DomainError(
            f"{what} can be at most {max_length} characters (this one has {len(value)}).",
            code="too_long",
            field=field,
        )
    if MARKUP.search(value) or CONTROL.search(value):
        raise DomainError(
            f"{what} cannot contain '<', '>' or control characters.",
            code="invalid_characters",
            field=field,
        )
    return value


def validate_model(obj) -> None:
    """Run the model's own checks; report the first problem as a DomainError/Conflict."""
    try:
        obj.full_clean(validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DomainError(
            messages[0], code="invalid", field=None if field == "__all__" else field
        ) from exc


def save_unique(obj, *, update_fields=None, message: str, field: str) -> None:
    """Save, turning a unique-constraint violation into a Conflict with a friendly message."""
    try:
        with transaction.atomic():
            obj.save(update_fields=update_fields)
    except IntegrityError as exc:
        if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
            raise Conflict(message, code="duplicate", field=field) from exc
        raise
