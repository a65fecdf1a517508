"""Results as stored JSON: the statistics module's dataclasses as plain data, with numbers
that JSON cannot hold (NaN, infinities) as null."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from enum import Enum
from typing import Any


def plain(value: Any) -> Any:
    """`value` as JSON data: dataclasses as objects, tuples as lists, enums as their value,
    times as ISO text, non-finite floats as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return plain(value.item())
    return value
