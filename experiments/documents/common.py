"""What the experiment document modules share: parameter types, limits, numbers."""

from __future__ import annotations

import re
from decimal import Decimal

PARAMETER_TYPES = ("string", "number", "boolean", "object")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
MAX_PARAMETERS = 100
MAX_GROUPS = 20
MAX_CONDITIONS = 50
MAX_STRING_VALUE = 10_000
HUNDRED = Decimal(100)


def _number(value: Decimal) -> int | float:
    """A Decimal as the JSON number documents carry (an int when whole)."""
    return int(value) if value == value.to_integral_value() else float(value)
