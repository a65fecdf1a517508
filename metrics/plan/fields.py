"""SQL for the parts of an event a metric reads: its unit, filters and values.

Everything that comes from a user (metadata keys, filter values, unit types) is bound as
a parameter through `Params`; the SQL text is built from fixed pieces only. A text that is
not a number never makes a query fail: `numeric` casts only what the pattern accepts
(bounded digits and exponent, so the cast cannot overflow a double), anything else is NULL
and matches no numeric comparison.
"""

from __future__ import annotations

import math
from typing import Any

from metrics.definitions import EventSelector, Filter, Operator

# Up to 100 digits either side of the point and a two-digit exponent: at most about
# 1e199, always a finite double.
NUMBER_PATTERN = (
    r"^\s*[-+]?([0-9]{1,100}(\.[0-9]{0,100})?|\.[0-9]{1,100})([eE][-+]?[0-9]{1,2})?\s*$"
)


class Params:
    """Named parameters (`%(p0)s`, ...) for one statement."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any, cast: str = "") -> str:
        key = f"p{len(self.values)}"
        self.values[key] = value
        return f"%({key})s::{cast}" if cast else f"%({key})s"


def unit_expression(unit_type: str, params: Params, alias: str = "e") -> str:
    """The event's unit of `unit_type`, as metrics.intake.unit_id finds it: userID, the
    custom ID of that type (its name matched without regard to case), stableID falling
    back to the stored stable ID. NULL or "" when the event has none."""
    wanted = unit_type.lower()
    if wanted == "userid":
        return f"{alias}.user_id"
    custom = (
        f"(SELECT c.value FROM jsonb_each_text({alias}.custom_ids) AS c "
        f"WHERE lower(c.key) = {params.bind(wanted, 'text')} LIMIT 1)"
    )
    if wanted == "stableid":
        return f"coalesce({custom}, {alias}.stable_id)"
    return custom


def text_field(path: str, params: Params, alias: str = "e") -> str:
    """A field of the event as text: "value", "metadata.<key>", "user.<field>" or
    "user.custom.<key>"."""
    if path == "value":
        return f"{alias}.value_text"
    head, _, rest = path.partition(".")
    if head == "metadata" and rest:
        return f"({alias}.metadata ->> {params.bind(rest, 'text')})"
    if head == "user" and rest.startswith("custom.") and len(rest) > len("custom."):
        key = rest[len("custom.") :]
        return f"({alias}.\"user\" -> 'custom' ->> {params.bind(key, 'text')})"
    if head == "user" and rest:
        return f'({alias}."user" ->> {params.bind(rest, "text")})'
    raise ValueError(f"unknown event field {path!r}")


def numeric(text_sql: str, params: Params) -> str:
    """`text_sql` as a double when it is a number, else NULL (never an error)."""
    pattern = params.bind(NUMBER_PATTERN, "text")
    return f"(CASE WHEN {text_sql} ~ {pattern} THEN ({text_sql})::float8 END)"


def numeric_field(path: str, params: Params, alias: str = "e") -> str:
    """A field of the event as a number (NULL when it is none)."""
    if path == "value":
        return f"coalesce({alias}.value_num, {numeric(f'{alias}.value_text', params)})"
    return numeric(text_field(path, params, alias), params)


def parse_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def filter_sql(item: Filter, params: Params, alias: str = "e") -> str:
    field = text_field(item.field, params, alias)
    op = item.operator
    values = list(item.values)
    if op in (Operator.EQ, Operator.IN):
        return f"coalesce({field} = ANY({params.bind(values, 'text[]')}), false)"
    if op in (Operator.NEQ, Operator.NOT_IN):
        # An event without the field is not equal to any value.
        return f"coalesce({field} <> ALL({params.bind(values, 'text[]')}), true)"
    if op == Operator.CONTAINS:
        patterns = ["%" + _like_escape(v) + "%" for v in values]
        return f"coalesce({field} LIKE ANY({params.bind(patterns, 'text[]')}), false)"
    if op == Operator.IS_SET:
        return f"({field} IS NOT NULL)"
    if op == Operator.IS_NOT_SET:
        return f"({field} IS NULL)"
    comparison = {Operator.GT: ">", Operator.GTE: ">=", Operator.LT: "<", Operator.LTE: "<="}[op]
    number = parse_number(values[0]) if values else None
    if number is None:
        return "false"  # a bound that is no number admits nothing
    value = numeric_field(item.field, params, alias)
    return f"coalesce({value} {comparison} {params.bind(number, 'float8')}, false)"


def selector_sql(selector: EventSelector, params: Params, alias: str = "e") -> str:
    parts = [f"{alias}.event_name = {params.bind(selector.event_name, 'text')}"]
    parts += [filter_sql(f, params, alias) for f in selector.filters]
    return "(" + " AND ".join(parts) + ")"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
