"""What a metric may be: the input the catalog's services take (`MetricInput`, from the
forms and the console API alike) and its validation, rule by rule, with a message and a
`field` path per problem (`filters[1].operator`, `steps`, `winsorize_upper`).

Plain Python: the rules that need other rows (names taken, the ratio's metrics) are in
metrics.catalog.services.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from console.exceptions import DomainError
from metrics.definitions import WINSORIZED, Direction, MetricType, Operator, UserCountMode

NAME_MAX = 128  # event names are at most 128 characters (docs/events.md)
DESCRIPTION_MAX = 5000
FIELD_MAX = 200
VALUE_MAX = 500
MAX_FILTERS = 20
MAX_VALUES = 100
MAX_STEPS = 10
MAX_DIMENSIONS = 4  # Statsig: value and three metadata keys
MAX_TAGS = 20
MAX_WINDOW_HOURS = 24 * 90  # events are kept 90 days

# The SDKs' own exposure events (statsig::gate_exposure, ...): they get no metrics.
INTERNAL_EVENT_PREFIX = "statsig::"

NO_VALUE_OPERATORS = frozenset({Operator.IS_SET, Operator.IS_NOT_SET})
ONE_VALUE_OPERATORS = frozenset(
    {Operator.EQ, Operator.NEQ, Operator.GT, Operator.GTE, Operator.LT, Operator.LTE}
)
NUMERIC_OPERATORS = frozenset({Operator.GT, Operator.GTE, Operator.LT, Operator.LTE})
OPERATOR_WORDS = {
    Operator.EQ: "is",
    Operator.NEQ: "is not",
    Operator.IN: "is any of",
    Operator.NOT_IN: "is none of",
    Operator.GT: ">",
    Operator.GTE: "≥",
    Operator.LT: "<",
    Operator.LTE: "≤",
    Operator.CONTAINS: "contains",
    Operator.IS_SET: "is set",
    Operator.IS_NOT_SET: "is not set",
}
# Types that count events of one name (every type but ratio and funnel).
SELECTOR_TYPES = frozenset(
    {
        MetricType.EVENT_COUNT,
        MetricType.USER_COUNT,
        MetricType.SUM,
        MetricType.MEAN,
        MetricType.COUNT_DISTINCT,
    }
)
VALUE_TYPES = frozenset({MetricType.SUM, MetricType.MEAN, MetricType.COUNT_DISTINCT})
CAPPED_TYPES = frozenset({MetricType.EVENT_COUNT, MetricType.SUM})

# A warehouse metric source's column.
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Types a metric over a warehouse metric source can be (a ratio's parts are over one).
SOURCE_TYPES = frozenset(
    {MetricType.EVENT_COUNT, MetricType.USER_COUNT, MetricType.SUM, MetricType.MEAN}
)
# "value", "metadata.<key>", "user.<field>", "user.custom.<key>".
_FIELD = re.compile(r"^(value|metadata\.[^\s].*|user\.custom\.[^\s].*|user\.[A-Za-z][\w]*)$")
_DIMENSION = re.compile(r"^(value|metadata\.[^\s].*)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class FilterInput:
    field: str
    operator: str
    values: list[str] = dataclasses.field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {"field": self.field, "operator": self.operator, "values": list(self.values)}


@dataclass
class StepInput:
    event_name: str
    filters: list[FilterInput] = dataclasses.field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {"event_name": self.event_name, "filters": [f.as_data() for f in self.filters]}


@dataclass
class MetricInput:
    """A metric as an author proposes it. `numerator` and `denominator` are metric IDs
    (`name::type`) of the same project; `tags` are tag names."""

    name: str
    metric_type: str
    description: str = ""
    event_name: str = ""
    filters: list[FilterInput] = dataclasses.field(default_factory=list)
    value_field: str = "value"
    user_count_mode: str = UserCountMode.PARTICIPATION.value
    numerator: str = ""
    denominator: str = ""
    steps: list[StepInput] = dataclasses.field(default_factory=list)
    funnel_window_hours: int | None = None
    direction: str = Direction.INCREASE.value
    winsorize_lower: float | None = None
    winsorize_upper: float | None = 0.999
    cap: float | None = None
    dimensions: list[str] = dataclasses.field(default_factory=list)
    tags: list[str] = dataclasses.field(default_factory=list)
    # A warehouse metric source's name (docs/warehouse.md); "" reads the ingested events.
    source: str = ""


def clean_text(
    value: Any, *, what: str, field: str, max_length: int, required: bool = True, lines=False
) -> str:
    """A string without NUL, control characters (newlines allowed with `lines`) or lone
    surrogates (PostgreSQL stores neither), stripped and at most `max_length` long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(f"{what} must be text.", code="invalid_type", field=field)
    value = value.strip()
    if required and not value:
        raise DomainError(f"{what} cannot be empty.", code="required", field=field)
    if len(value) > max_length:
        raise DomainError(
            f"{what} can be at most {max_length} characters (this one has {len(value)}).",
            code="too_long",
            field=field,
        )
    if (_CONTROL if lines else _CONTROL_OR_NEWLINE).search(value):
        raise DomainError(
            f"{what} cannot contain NUL or control characters.",
            code="invalid_characters",
            field=field,
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DomainError(
            f"{what} holds an invalid character (a lone surrogate).",
            code="invalid_characters",
            field=field,
        ) from exc
    return value


def _choice(value: Any, choices: type, *, what: str, field: str) -> str:
    allowed = [c.value for c in choices]  # type: ignore[attr-defined]
    if not isinstance(value, str) or value not in allowed:
        shown = value if isinstance(value, str) and len(value) < 40 else "this value"
        raise DomainError(
            f"Unknown {what} '{clean_shown(shown)}': use one of {', '.join(allowed)}.",
            code=f"unknown_{what.replace(' ', '_')}",
            field=field,
        )
    return value


def clean_shown(value: str) -> str:
    """A value safe to repeat in a message (no control characters or surrogates)."""
    return value.encode("utf-8", "replace").decode("utf-8").translate({c: None for c in range(32)})


def _number(value: Any, *, what: str, field: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(f"{what} must be a number.", code="invalid_type", field=field)
    number = float(value)
    if not math.isfinite(number):
        raise DomainError(f"{what} must be a finite number.", code="invalid_number", field=field)
    return number


def clean_field(value: Any, *, what: str, field: str, pattern: re.Pattern = _FIELD) -> str:
    text = clean_text(value, what=what, field=field, max_length=FIELD_MAX)
    if not pattern.match(text):
        if pattern is _COLUMN:
            raise DomainError(
                f"{what} '{text}' is not a column name (letters, digits and _).",
                code="invalid_field",
                field=field,
            )
        allowed = (
            '"value" or "metadata.<key>"'
            if pattern is _DIMENSION
            else '"value", "metadata.<key>", "user.<field>" or "user.custom.<key>"'
        )
        raise DomainError(
            f"{what} '{text}' is not a field of an event: use {allowed}.",
            code="invalid_field",
            field=field,
        )
    return text


def clean_filters(filters: Any, *, field: str, columns: bool = False) -> list[dict[str, Any]]:
    """`columns`: the filtered fields are a warehouse source's columns."""
    if not isinstance(filters, list):
        raise DomainError("Filters must be a list.", code="invalid_type", field=field)
    if len(filters) > MAX_FILTERS:
        raise DomainError(f"At most {MAX_FILTERS} filters per event.", code="too_many", field=field)
    cleaned = []
    for i, item in enumerate(filters):
        where = f"{field}[{i}]"
        if not isinstance(item, FilterInput):
            raise DomainError("A filter must be an object.", code="invalid_type", field=where)
        name = clean_field(
            item.field,
            what="The filtered field",
            field=f"{where}.field",
            pattern=_COLUMN if columns else _FIELD,
        )
        operator = Operator(
            _choice(item.operator, Operator, what="operator", field=f"{where}.operator")
        )
        if not isinstance(item.values, list):
            raise DomainError("Values must be a list.", code="invalid_type", field=where)
        if len(item.values) > MAX_VALUES:
            raise DomainError(
                f"At most {MAX_VALUES} values per filter.", code="too_many", field=where
            )
        values = [
            clean_text(
                str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v,
                what="A filter value",
                field=f"{where}.values",
                max_length=VALUE_MAX,
            )
            for v in item.values
        ]
        words = OPERATOR_WORDS[operator]
        if operator in NO_VALUE_OPERATORS and values:
            raise DomainError(
                f"'{words}' takes no value.", code="unexpected_values", field=f"{where}.values"
            )
        if operator not in NO_VALUE_OPERATORS and not values:
            raise DomainError(
                f"'{words}' needs a value to compare with.",
                code="missing_values",
                field=f"{where}.values",
            )
        if operator in ONE_VALUE_OPERATORS and len(values) != 1:
            raise DomainError(
                f"'{words}' compares with one value (use 'is any of' for several).",
                code="one_value",
                field=f"{where}.values",
            )
        if operator in NUMERIC_OPERATORS:
            try:
                ok = math.isfinite(float(values[0]))
            except ValueError:
                ok = False
            if not ok:
                raise DomainError(
                    f"'{words}' compares numbers: '{values[0]}' is not one.",
                    code="not_a_number",
                    field=f"{where}.values",
                )
        cleaned.append({"field": name, "operator": operator.value, "values": values})
    return cleaned


def clean_event_name(value: Any, *, field: str, what: str = "The event name") -> str:
    name = clean_text(value, what=what, field=field, max_length=NAME_MAX)
    if name.startswith(INTERNAL_EVENT_PREFIX):
        raise DomainError(
            f"{name} is an exposure the SDKs log, not an event of yours: exposures are "
            "counted in experiment results.",
            code="internal_event",
            field=field,
        )
    return name


@dataclass
class CleanMetric:
    """A valid metric's own fields, ready to save (the ratio's IDs still to resolve)."""

    values: dict[str, Any]
    numerator: str
    denominator: str
    tags: list[str]
    # The warehouse metric source's name, still to resolve ("" none).
    source: str = ""


def clean_metric(data: MetricInput) -> CleanMetric:
    """Every rule a metric obeys on its own; the first broken one is a DomainError."""
    name = clean_text(data.name, what="The name", field="name", max_length=NAME_MAX)
    metric_type = MetricType(
        _choice(data.metric_type, MetricType, what="type", field="metric_type")
    )
    description = clean_text(
        data.description,
        what="The description",
        field="description",
        max_length=DESCRIPTION_MAX,
        required=False,
        lines=True,
    )
    direction = _choice(data.direction, Direction, what="direction", field="direction")
    values: dict[str, Any] = {
        "name": name,
        "metric_type": metric_type.value,
        "description": description,
        "direction": direction,
        "event_name": "",
        "filters": [],
        "value_field": "value",
        "user_count_mode": UserCountMode.PARTICIPATION.value,
        "steps": [],
        "funnel_window_hours": None,
    }
    numerator = denominator = ""
    source = clean_text(
        data.source, what="The source", field="source", max_length=100, required=False
    )
    if source and metric_type not in SOURCE_TYPES:
        raise DomainError(
            "A metric over a warehouse source is an event count, a user count, a sum or a "
            "mean (a ratio divides two such metrics; it has no source of its own).",
            code="source_type",
            field="source",
        )
    if metric_type in SELECTOR_TYPES and not source:
        values["event_name"] = clean_event_name(data.event_name, field="event_name")
    if metric_type in SELECTOR_TYPES:
        values["filters"] = clean_filters(data.filters, field="filters", columns=bool(source))
    if metric_type in VALUE_TYPES:
        values["value_field"] = clean_field(
            data.value_field or "value",
            what="The value field" if not source else "The value column",
            field="value_field",
            pattern=_COLUMN if source else _FIELD,
        )
    if metric_type == MetricType.USER_COUNT:
        values["user_count_mode"] = _choice(
            data.user_count_mode, UserCountMode, what="user count mode", field="user_count_mode"
        )
    if metric_type == MetricType.RATIO:
        numerator = clean_text(
            data.numerator,
            what="The numerator",
            field="numerator",
            max_length=NAME_MAX + 30,
            required=False,
        )
        denominator = clean_text(
            data.denominator,
            what="The denominator",
            field="denominator",
            max_length=NAME_MAX + 30,
            required=False,
        )
        if not numerator:
            raise DomainError(
                "A ratio needs a numerator: the metric summed above the line.",
                code="missing_numerator",
                field="numerator",
            )
        if not denominator:
            raise DomainError(
                "A ratio needs a denominator: the metric summed below the line.",
                code="missing_denominator",
                field="denominator",
            )
    if metric_type == MetricType.FUNNEL:
        values["steps"], values["funnel_window_hours"] = _clean_funnel(data)
    values.update(_clean_outliers(data, metric_type))
    values["dimensions"] = _clean_dimensions(data.dimensions)
    if source and values["dimensions"]:
        raise DomainError(
            "A metric over a warehouse source has no dimensions to break results down by.",
            code="source_dimensions",
            field="dimensions",
        )
    if not isinstance(data.tags, list) or len(data.tags) > MAX_TAGS:
        raise DomainError(f"At most {MAX_TAGS} tags.", code="too_many", field="tags")
    tags = [clean_text(t, what="A tag", field="tags", max_length=50) for t in data.tags]
    return CleanMetric(values, numerator, denominator, list(dict.fromkeys(tags)), source)


def _clean_funnel(data: MetricInput) -> tuple[list[dict[str, Any]], int | None]:
    if not isinstance(data.steps, list) or len(data.steps) < 2:
        raise DomainError(
            "A funnel needs at least two steps: the event that starts it and one after.",
            code="too_few_steps",
            field="steps",
        )
    if len(data.steps) > MAX_STEPS:
        raise DomainError(
            f"A funnel has at most {MAX_STEPS} steps.", code="too_many", field="steps"
        )
    steps = []
    for i, step in enumerate(data.steps):
        if not isinstance(step, StepInput):
            raise DomainError("A step must be an object.", code="invalid_type", field="steps")
        steps.append(
            {
                "event_name": clean_event_name(
                    step.event_name, field=f"steps[{i}].event_name", what=f"Step {i + 1}'s event"
                ),
                "filters": clean_filters(step.filters, field=f"steps[{i}].filters"),
            }
        )
    window: Any = data.funnel_window_hours
    if window is None or window == "":
        return steps, None
    if (
        isinstance(window, bool)
        or not isinstance(window, int)
        or not 1 <= window <= MAX_WINDOW_HOURS
    ):
        raise DomainError(
            f"The funnel window is a whole number of hours from 1 to {MAX_WINDOW_HOURS}.",
            code="invalid_window",
            field="funnel_window_hours",
        )
    return steps, window


def _clean_outliers(data: MetricInput, metric_type: MetricType) -> dict[str, Any]:
    lower = _number(data.winsorize_lower, what="The lower percentile", field="winsorize_lower")
    upper = _number(data.winsorize_upper, what="The upper percentile", field="winsorize_upper")
    cap = _number(data.cap, what="The cap", field="cap")
    for value, where, what in (
        (lower, "winsorize_lower", "lower"),
        (upper, "winsorize_upper", "upper"),
    ):
        if value is not None and not 0 < value < 1:
            raise DomainError(
                f"The {what} percentile is a fraction between 0 and 1, both excluded "
                f"(0.999 is the 99.9th percentile); {value:g} is not.",
                code="invalid_percentile",
                field=where,
            )
    if lower is not None and upper is not None and lower >= upper:
        raise DomainError(
            f"The lower percentile ({lower:g}) must be below the upper one ({upper:g}).",
            code="invalid_percentile",
            field="winsorize_lower",
        )
    if cap is not None and cap < 0:
        raise DomainError(
            f"The cap is the most a unit can count; it cannot be negative ({cap:g}).",
            code="negative_cap",
            field="cap",
        )
    if cap is not None and metric_type not in CAPPED_TYPES:
        raise DomainError(
            "A fixed cap applies to event count and sum metrics only.",
            code="cap_not_applicable",
            field="cap",
        )
    if metric_type not in WINSORIZED:
        # Participation and distinct counts are never winsorized (docs/metrics.md).
        lower = upper = None
    return {"winsorize_lower": lower, "winsorize_upper": upper, "cap": cap}


def _clean_dimensions(dimensions: Any) -> list[str]:
    if not isinstance(dimensions, list):
        raise DomainError("Dimensions must be a list.", code="invalid_type", field="dimensions")
    if len(dimensions) > MAX_DIMENSIONS:
        raise DomainError(
            f"At most {MAX_DIMENSIONS} dimensions (the value and three metadata keys).",
            code="too_many",
            field="dimensions",
        )
    cleaned = [
        clean_field(d, what="A dimension", field="dimensions", pattern=_DIMENSION)
        for d in dimensions
    ]
    return list(dict.fromkeys(cleaned))
