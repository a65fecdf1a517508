"""What the document modules share: names, limits, rule ids."""

from __future__ import annotations

import re
import uuid
from datetime import UTC
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.dateparse import parse_datetime

User = get_user_model()

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,99}$")
NAME_RULE = (
    "Names use letters, digits, '_' and '-' (1-100 characters, starting with a letter or "
    "digit); they are unique per project regardless of case and cannot change later."
)
MAX_RULES = 100
MAX_CONDITIONS = 50
MAX_VALUE_BYTES = 100_000
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_rule_id() -> str:
    """A 22-character random id, the shape Statsig gives rule ids."""
    n = uuid.uuid4().int
    out: list[str] = []
    while len(out) < 22:
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(out)


# The units of a rollout step's wait as people type and read them (gates/forms/editor.py).
WAIT_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def rollout_text(steps: list[dict[str, Any]]) -> str:
    """A rule's rollout schedule as the editor shows it, one step a line."""
    lines = []
    for step in steps:
        pct = step["passPercentage"]
        if "at" in step:
            when = parse_datetime(step["at"])
            shown = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if when else step["at"]
            lines.append(f"{pct:g}% at {shown}")
        else:
            seconds = step.get("afterSeconds", 0)
            unit = next(u for u, size in WAIT_UNITS.items() if seconds % size == 0)
            lines.append(f"{pct:g}% after {seconds // WAIT_UNITS[unit]}{unit}")
    return "\n".join(lines)


# A gate's status as Statsig's Console API answers it (gates/api/views.py), by ours; input
# accepts either (clean_gate).
STATSIG_GATE_STATUS = {
    "in_progress": "In Progress",
    "launched": "Launched",
    "disabled": "Disabled",
    "archived": "Archived",
}
# Statsig's gate `type`, by our isPermanent; input accepts it as isPermanent's alias.
STATSIG_GATE_TYPE = {True: "PERMANENT", False: "TEMPORARY"}
