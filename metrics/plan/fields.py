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
from metrics.plan.dialects import POSTGRES, Dialect

# Up to 100 digits either side of the point and a two-digit exponent: at most about
# 1e199, always a finite double.
NUMBER_PATTERN = (
    r"^\s*[-+]?([0-9]{1,100}(\.[0-9]{0,100})?|\.[0-9]{1,100})([eE][-+]?[0-9]{1,2})?\s*$"
)


class Params:
    """Named parameters (`%(p0)s`, `{p0:String}`, ...) for one statement in `dialect`."""

    def __init__(self, dialect: Dialect = POSTGRES) -> None:
        self.dialect = dialect
        self.values: dict[str, Any] = {}

    def bind(self, value: Any, cast: str = "") -> str:
        key = f"p{len(self.values)}"
        self.values[key] = self.dialect.value(value, cast)
        return self.dialect.placeholder(key, cast)


def unit_expression(unit_type: str, params: Params, alias: str = "e") -> str:
    """The event's unit of `unit_type`, as metrics.intake.unit_id finds it: userID, the
    custom ID of that type (its name matched without regard to case), stableID falling
    back to the stored stable ID. NULL or "" when the event has none."""
    wanted = unit_type.lower()
    if wanted == "userid":
        return f"{alias}.user_id"
    custom = params.dialect.custom_id(alias, params.bind(wanted, "text"))
    if wanted == "stableid":
        return f"coalesce({custom}, {alias}.stable_id)"
    return custom


def text_field(path: str, params: Params, alias: str = "e") -> str:
    """A field of the event as text: "value", "metadata.<key>", "user.<field>" or
    "user.custom.<key>"."""
    if path == "value":
        return f"{alias}.value_text"
    head, _, rest = path.partition(".")
    dialect = params.dialect
    if head == "metadata" and rest:
        return dialect.json_text(f"{alias}.metadata", params.bind(rest, "text"))
    if head == "user" and rest.startswith("custom.") and len(rest) > len("custom."):
        return dialect.user_custom_field(alias, params.bind(rest[len("custom.") :], "text"))
    if head == "user" and rest:
        return dialect.user_field(alias, params.bind(rest, "text"))
    raise ValueError(f"unknown event field {path!r}")


def numeric(text_sql: str, params: Params) -> str:
    """`text_sql` as a double when it is a number, else NULL (never an error)."""
    pattern = params.bind(NUMBER_PATTERN, "text")
    dialect = params.dialect
    return (
        f"(CASE WHEN {dialect.matches(text_sql, pattern)} "
        f"THEN {dialect.text_to_number(text_sql)} END)"
    )


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
    dialect = params.dialect
    if op in (Operator.EQ, Operator.IN):
        return f"coalesce({dialect.in_list(field, values, params)}, false)"
    if op in (Operator.NEQ, Operator.NOT_IN):
        # An event without the field is not equal to any value.
        return f"coalesce({dialect.not_in_list(field, values, params)}, true)"
    if op == Operator.CONTAINS:
        patterns = ["%" + _like_escape(v) + "%" for v in values]
        return f"coalesce({dialect.like_any(field, patterns, params)}, false)"
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
