"""Presentation helpers for the gates templates (they never mark anything safe)."""

from __future__ import annotations

from django import template

from gates.models import GateStatus

register = template.Library()

STATUS_LABELS = {
    GateStatus.IN_PROGRESS: "In progress",
    GateStatus.LAUNCHED: "Launched",
    GateStatus.DISABLED: "Disabled",
    GateStatus.ARCHIVED: "Archived",
}


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


@register.filter
def stale_reason(gate) -> str:
    if gate.status == GateStatus.IN_PROGRESS:
        return "Temporary and unchanged for 90+ days: finish the rollout or mark it permanent."
    return f"{status_label(gate.status)} for 30+ days: the code path can be cleaned up."


@register.filter
def add_str(value, other) -> str:
    """String concatenation for building ids and names ("rule-" + i)."""
    return f"{value}{other}"


@register.filter
def pct(value) -> str:
    """A pass percentage as people write it: 5%, 12.5%."""
    return f"{value:g}%" if isinstance(value, int | float) else f"{value}%"


@register.filter
def duration(seconds) -> str:
    """A wait in the largest unit that divides it: 90 s → 90s, 7200 s → 2h."""
    if not isinstance(seconds, int):
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
