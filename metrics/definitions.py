"""Metric definitions as the query plan reads them: plain data, no Django.

The catalog stores metrics as models and hands each one over as a `MetricDefinition`;
the query plan turns a definition into SQL; a result records the definition it used
(`as_dict`, read back with `from_dict`). The metric types and what each computes per unit
follow Statsig's metric model (docs/metrics.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class MetricType(StrEnum):
    # Events per unit after its first exposure.
    EVENT_COUNT = "event_count"
    # Participation: days with the event over days exposed; one-time: 1 when the unit had it.
    USER_COUNT = "event_user"
    # The sum of a number per unit.
    SUM = "sum"
    # Σ number / Σ events over the units that had the event.
    MEAN = "mean"
    # Σ numerator metric / Σ denominator metric over the units whose denominator is not 0.
    RATIO = "ratio"
    # Units that did every step in order (within the window) over units that did the first.
    FUNNEL = "funnel"
    # Distinct values of a field per unit.
    COUNT_DISTINCT = "count_distinct"


class UserCountMode(StrEnum):
    PARTICIPATION = "daily_participation"
    ONE_TIME = "one_time"


class Direction(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"


class Operator(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"
    IS_SET = "is_set"
    IS_NOT_SET = "is_not_set"


# The winsorized types (Statsig: sum, event count, mean, ratio, funnel; never the
# participation of user counts).
WINSORIZED = frozenset(
    {MetricType.EVENT_COUNT, MetricType.SUM, MetricType.MEAN, MetricType.RATIO, MetricType.FUNNEL}
)


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition on an event. `field` is "value", "metadata.<key>" or "user.<field>"
    (a top-level user field, or "user.custom.<key>")."""

    field: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventSelector:
    """The events of one name that pass every filter."""

    event_name: str
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    name: str
    type: MetricType
    # What counts (every type but ratio and funnel).
    events: EventSelector | None = None
    # Sum and mean: the number taken from each event; count distinct: the value counted.
    value_field: str = "value"
    user_count_mode: UserCountMode = UserCountMode.PARTICIPATION
    # Ratio: two metrics of the other types, summed per unit.
    numerator: MetricDefinition | None = None
    denominator: MetricDefinition | None = None
    # Funnel: at least two steps; a unit's steps count in order, within the window after
    # its first step when there is one.
    steps: tuple[EventSelector, ...] = ()
    funnel_window_hours: int | None = None
    direction: Direction = Direction.INCREASE
    # Per-unit values are capped at these percentiles, pooled across groups (None: not).
    winsorize_lower: float | None = None
    winsorize_upper: float | None = 0.999
    # A fixed cap on each unit's value (event count and sum).
    cap: float | None = None
    # Fields to break results down by ("value", "metadata.<key>").
    dimensions: tuple[str, ...] = ()
    # The catalog's revision of this definition.
    revision: int = 1
    tags: tuple[str, ...] = field(default=())
    # A warehouse metric source (metrics.warehouse, its name): the metric counts its rows
    # and reads its columns instead of events; `events` then names no event (its filters
    # and `value_field` are the source's columns). None: the ingested events.
    source: str | None = None

    @property
    def winsorized(self) -> bool:
        return self.type in WINSORIZED and (
            self.winsorize_lower is not None or self.winsorize_upper is not None
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data, as a result records its metric."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricDefinition:
        def selector(item: dict[str, Any] | None) -> EventSelector | None:
            if item is None:
                return None
            filters = tuple(
                Filter(f["field"], Operator(f["operator"]), tuple(f.get("values", ())))
                for f in item.get("filters", ())
            )
            return EventSelector(item["event_name"], filters)

        def metric(item: dict[str, Any] | None) -> MetricDefinition | None:
            return None if item is None else cls.from_dict(item)

        return cls(
            name=data["name"],
            type=MetricType(data["type"]),
            events=selector(data.get("events")),
            value_field=data.get("value_field", "value"),
            user_count_mode=UserCountMode(data.get("user_count_mode", UserCountMode.PARTICIPATION)),
            numerator=metric(data.get("numerator")),
            denominator=metric(data.get("denominator")),
            steps=tuple(s for s in map(selector, data.get("steps", ())) if s is not None),
            funnel_window_hours=data.get("funnel_window_hours"),
            direction=Direction(data.get("direction", Direction.INCREASE)),
            winsorize_lower=data.get("winsorize_lower"),
            winsorize_upper=data.get("winsorize_upper"),
            cap=data.get("cap"),
            dimensions=tuple(data.get("dimensions", ())),
            revision=data.get("revision", 1),
            tags=tuple(data.get("tags", ())),
            source=data.get("source"),
        )
