"""Presentation helpers of the review pages (they never mark anything safe)."""

from __future__ import annotations

import json
from typing import Any

from django import template

from console.exceptions import ApplicationError
from reviews import registry
from reviews.impact import DEFAULTS

register = template.Library()

# What a change proposes, in the present tense (the registry's labels are past tense, for
# what happened); an action missing here falls back to its label.
VERBS = {
    "create": "Create",
    "update": "Update",
    "archive": "Archive",
    "ids_add": "Add IDs to",
    "ids_remove": "Remove IDs from",
    "ids_replace": "Replace the IDs of",
    "start": "Start",
    "ship": "Ship",
    "abandon": "Abandon",
    "reset": "Reset",
}


@register.filter
def kind_label(kind: str) -> str:
    try:
        return registry.get(kind).label
    except ApplicationError:
        return kind.replace("_", " ")


def verb(change) -> str:
    if change.action in VERBS:
        return VERBS[change.action]
    try:
        handler = registry.get(change.kind)
        return handler.actions[change.action].label
    except (ApplicationError, KeyError):
        return change.action.replace("_", " ").capitalize()


@register.filter
def change_phrase(change) -> str:
    """ "Update feature gate new_checkout"."""
    return f"{verb(change)} {kind_label(change.kind)} {change.entity_name}"


@register.filter
def changes_summary(changes) -> str:
    """The first change and how many more: "Update feature gate new_checkout and 2 more"."""
    changes = list(changes)
    if not changes:
        return "No changes"
    text = change_phrase(changes[0])
    if len(changes) > 1:
        text += f" and {len(changes) - 1} more"
    return text


@register.filter
def show_value(value: Any) -> str:
    """An evaluation result as a reviewer reads it: pass / fail, or compact JSON."""
    if value is True:
        return "pass"
    if value is False:
        return "fail"
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.filter
def tone(value: Any) -> str:
    """How an impact example's value is coloured: by what it is (a gate's pass or fail,
    anything else neutral), so the same value looks the same in either column."""
    if value is True:
        return "pass"
    if value is False:
        return "fail"
    return "other"


_MISSING = object()


def _split(value: Any) -> tuple[Any, Any]:
    """An experiment's outcome is {"group", "value"}; anything else has no group."""
    if isinstance(value, dict) and set(value) == {"group", "value"}:
        return value["group"], value["value"]
    return None, value


@register.filter
def outcome(value: Any, other: Any) -> str:
    """One side of an impact example, reduced to what differs from the other side:
    "pass", "max_items: 40", "group Test · button_color: "green"", "no group"."""
    if value == DEFAULTS:
        return "defaults (in no group)"
    group, inner = _split(value)
    other_group, other_inner = _split(other)
    parts = []
    if group != other_group:
        parts.append(f"group {group}" if group is not None else "no group")
    if isinstance(inner, dict) and isinstance(other_inner, dict):
        parts += [
            f"{key}: {show_value(item) if isinstance(item, str) else _compact(item)}"
            for key, item in sorted(inner.items())
            if other_inner.get(key, _MISSING) != item
        ]
    elif inner != other_inner:
        parts.append(show_value(inner))
    return " · ".join(parts) or show_value(inner)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.filter
def user_label(user: Any) -> str:
    """An example user of the impact preview: their ID (or email), else compact JSON."""
    if isinstance(user, dict):
        for key in ("userID", "email", "stableID"):
            if user.get(key):
                return str(user[key])
        custom = user.get("customIDs")
        if isinstance(custom, dict) and custom:
            key, value = next(iter(custom.items()))
            return f"{key} {value}"
        return json.dumps(user, ensure_ascii=False, sort_keys=True)
    return str(user)


@register.filter
def share(part: Any, whole: Any) -> str:
    """ "12.5%" of part in whole ("0%" when whole is 0)."""
    try:
        part, whole = float(part), float(whole)
    except (TypeError, ValueError):
        return ""
    if whole <= 0:
        return "0%"
    value = 100 * part / whole
    if value and value < 0.1:
        return "<0.1%"
    return f"{value:.1f}".rstrip("0").rstrip(".") + "%"


@register.filter
def tier_of(name: str, tiers: dict) -> str:
    return tiers.get(name, "") if isinstance(tiers, dict) else ""
