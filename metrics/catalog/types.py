"""Shapes of the JSON the metrics catalog reads and writes: a metric's document as the
Console API sends it (metrics.catalog.documents.metric_to_document) and reads it back
(document_to_input, which accepts the same keys; the read-only ones are ignored)."""

# No `from __future__ import annotations`: with it, Python 3.11 cannot tell NotRequired keys
# at runtime (__required_keys__ lists them), and the OpenAPI document is derived from these
# classes (console/api/schema.py).
from typing import Any, NotRequired, TypedDict


class CriterionDoc(TypedDict):
    type: str  # value, metadata, user, user_custom or column (a warehouse source's)
    column: NotRequired[str]  # the metadata or user key, or a metric source's column
    condition: str
    values: list[Any]


class MetricEventDoc(TypedDict):
    name: str  # the event's name
    type: str  # where the value comes from: count, value, metadata, user or column
    metadataKey: NotRequired[str]
    column: NotRequired[str]  # the warehouse metric source's value column
    criteria: list[CriterionDoc]


class MetricComponentDoc(TypedDict):
    name: str
    type: str


class FunnelStepDoc(TypedDict):
    name: str  # the step's event
    criteria: list[CriterionDoc]


class LineageDoc(TypedDict):
    events: list[str]
    metrics: list[str]


class MetricDocument(TypedDict):
    id: str  # name::type, read-only
    name: str
    type: str  # a metrics.definitions.MetricType
    description: str
    directionality: str  # increase or decrease
    tags: list[str]
    isVerified: bool
    isReadOnly: bool
    isPermanent: bool
    isHidden: bool
    isAuto: bool
    isArchived: bool
    unitTypes: list[str]
    revision: int  # PATCH may send it back to refuse a stale edit (409)
    createdTime: int | None  # epoch milliseconds
    lastModifiedTime: int | None
    creatorName: str | None
    creatorEmail: str | None
    winsorizationLowerPercentile: float | None
    winsorizationUpperPercentile: float | None
    cap: float | None
    dimensions: list[str]
    metricEvents: NotRequired[list[MetricEventDoc]]  # event based types
    userCountMode: NotRequired[str]  # user_count only
    metricComponentMetrics: NotRequired[list[MetricComponentDoc]]  # ratio only
    numerator: NotRequired[str]  # ratio only: the part's ID
    denominator: NotRequired[str]
    funnelEventList: NotRequired[list[FunnelStepDoc]]  # funnel only
    funnelWindowHours: NotRequired[int | None]
    lineage: LineageDoc
    # Ours, only for a metric over a warehouse metric source (docs/warehouse.md): its name;
    # then criteria and the value are {"type": "column", "column": ...}.
    metricSource: NotRequired[str]
