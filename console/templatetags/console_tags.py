"""Small presentation helpers for the console templates (they never mark anything safe)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import template

register = template.Library()

_MAX_VALUE = 60
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str
    kind: str  # "added", "removed" or "changed"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        text = ", ".join(_show(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True)
    elif isinstance(value, str) and _ISO_DATETIME.match(value):
        text = datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M %Z").strip()
    else:
        text = str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


@register.filter
def audit_changes(event) -> list[Change]:
    """The fields an audit event touched, as before → after pairs, in a stable order.

    Creations and deletions list only the fields that have a value."""
    before, after = event.before or {}, event.after or {}
    changes = []
    for field in sorted(before.keys() | after.keys()):
        if field not in before:
            if after[field] not in (None, "", [], {}):
                changes.append(Change(field, "", _show(after[field]), "added"))
        elif field not in after:
            if before[field] not in (None, "", [], {}):
                changes.append(Change(field, _show(before[field]), "", "removed"))
        else:
            changes.append(Change(field, _show(before[field]), _show(after[field]), "changed"))
    return changes


@register.filter
def field_is_checkbox(bound_field) -> bool:
    return getattr(bound_field.field.widget, "input_type", "") == "checkbox"
