"""What the document modules share: names, limits, rule ids."""

from __future__ import annotations

import re
import uuid

from django.contrib.auth import get_user_model

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
