"""Cleaners of the fields that every document shares (gates, segments, configs, experiments,
layers, holdouts): each returns the clean value or raises DomainError naming the field."""

from __future__ import annotations

import re
from typing import Any

from console.exceptions import DomainError
from console.models import Membership, Project, Tag

MAX_OVERRIDE_IDS = 1_000
MAX_UNIT_ID_LENGTH = 256
# JavaScript SDKs (statsig-node) parse numbers as doubles: a larger integer would be rounded.
MAX_SAFE_INTEGER = 2**53 - 1
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def fail(message: str, code: str, path: str | None) -> DomainError:
    return DomainError(message, code=code, field=path)


def require_object(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise fail("The document is a JSON object.", "invalid_document", None)
    return doc


def text(doc: dict, key: str, *, max_length: int, default: str = "", path: str | None = None):
    path = path or key
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise fail(f"'{key}' is text.", "invalid", path)
    value = value.strip()
    if len(value) > max_length:
        raise fail(f"'{key}' has at most {max_length} characters.", "too_long", path)
    return value


def boolean(doc: dict, key: str, *, default: bool) -> bool:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise fail(f"'{key}' is true or false.", "invalid", key)
    return value


def unsafe_integer(value: Any) -> bool:
    """Whether a JSON value holds an integer beyond ±MAX_SAFE_INTEGER."""
    if isinstance(value, dict):
        return any(unsafe_integer(v) for v in value.values())
    if isinstance(value, list):
        return any(unsafe_integer(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER


def tag_names(obj) -> list[str]:
    return sorted((t.name for t in obj.tags.all()), key=str.lower)


def project_tags(project: Project) -> dict[str, Tag]:
    return {t.name.lower(): t for t in Tag.objects.filter(project=project)}


def clean_tags(known: dict[str, Tag], doc: dict) -> list[Tag]:
    """The tags named in doc["tags"], from `known` (project_tags)."""
    value = doc.get("tags") or []
    if not isinstance(value, list):
        raise fail("'tags' is a list of tag names.", "invalid", "tags")
    tags: dict[int, Tag] = {}
    for i, name in enumerate(value):
        tag = known.get(name.strip().lower()) if isinstance(name, str) else None
        if tag is None:
            raise fail(f"This project has no tag {name!r}.", "unknown_tag", f"tags[{i}]")
        tags[tag.pk] = tag
    return sorted(tags.values(), key=lambda t: t.name.lower())


def clean_owner(project: Project, doc: dict):
    email = doc.get("owner")
    if email is None or email == "":
        return None
    if not isinstance(email, str):
        raise fail("'owner' is a member's email.", "invalid", "owner")
    membership = (
        Membership.objects.select_related("user")
        .filter(project=project, user__email__iexact=email.strip())
        .first()
    )
    if membership is None:
        raise fail(f"{email} is not a member of this project.", "unknown_owner", "owner")
    return membership.user


def clean_id_type(unit_types: dict[str, str], doc: dict) -> str:
    """doc["idType"] as the project spells it; `unit_types` maps lower-cased names."""
    value = doc.get("idType") or "userID"
    if not isinstance(value, str) or value.strip().lower() not in unit_types:
        raise fail(
            f"Unknown unit type {value!r}; choose one of {', '.join(sorted(unit_types.values()))}.",
            "unknown_unit_type",
            "idType",
        )
    return unit_types[value.strip().lower()]


def clean_unit_ids(value: Any, path: str, *, per: str) -> list[str]:
    """A list of unit IDs, trimmed and without repeats; `per` names what holds them."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("A list of unit IDs.", "invalid", path)
    if len(value) > MAX_OVERRIDE_IDS:
        raise fail(
            f"At most {MAX_OVERRIDE_IDS:,} IDs per {per}; use a segment for more.",
            "too_many_ids",
            path,
        )
    ids: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            raise fail("Unit IDs are non-empty text.", "invalid_id", f"{path}[{i}]")
        item = item.strip()
        if len(item) > MAX_UNIT_ID_LENGTH or CONTROL.search(item):
            raise fail(
                f"Unit IDs have at most {MAX_UNIT_ID_LENGTH} characters and no control characters.",
                "invalid_id",
                f"{path}[{i}]",
            )
        if item not in ids:
            ids.append(item)
    return ids
