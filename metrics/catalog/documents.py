"""A metric in the Console API's shape (Statsig's `/console/v1/metrics`, as far as it fits;
docs/metrics.md lists where we differ), and a proposed document read back into the
services' `MetricInput`, with error paths in the document's own terms
(`metricEvents[0].criteria[1].condition`)."""

from __future__ import annotations

import re
from typing import Any

from console.api.documents import READ_ONLY_KEYS, epoch_ms
from console.exceptions import ApplicationError, DomainError
from metrics.catalog.validation import FilterInput, MetricInput, StepInput
from metrics.definitions import MetricType, Operator
from metrics.models import Metric

# Statsig's criteria conditions and ours (both accepted on input; Statsig's sent back).
CONDITIONS = {
    Operator.EQ: "=",
    Operator.NEQ: "!=",
    Operator.IN: "in",
    Operator.NOT_IN: "not_in",
    Operator.GT: ">",
    Operator.GTE: ">=",
    Operator.LT: "<",
    Operator.LTE: "<=",
    Operator.CONTAINS: "contains",
    Operator.IS_SET: "non_null",
    Operator.IS_NOT_SET: "is_null",
}
_OPERATORS = {v: k for k, v in CONDITIONS.items()} | {op.value: op for op in Operator}
SELECTOR_TYPES = {
    MetricType.EVENT_COUNT,
    MetricType.USER_COUNT,
    MetricType.SUM,
    MetricType.MEAN,
    MetricType.COUNT_DISTINCT,
}
# The keys a document may hold; anything else is refused (a typo would silently do nothing).
KNOWN_KEYS = {
    "id",
    "name",
    "type",
    "description",
    "directionality",
    "tags",
    "metricEvents",
    "metricComponentMetrics",
    "numerator",
    "denominator",
    "funnelEventList",
    "funnelWindowHours",
    "userCountMode",
    "winsorizationLowerPercentile",
    "winsorizationUpperPercentile",
    "cap",
    "dimensions",
    "revision",
    # Read-only: sent back by GET, ignored when a client sends the document again.
    "isVerified",
    "isReadOnly",
    "isPermanent",
    "isHidden",
    "isAuto",
    "isArchived",
    "unitTypes",
    "lineage",
    "metricSource",
} | READ_ONLY_KEYS


def criterion_document(f: dict[str, Any], *, columns: bool = False) -> dict[str, Any]:
    """A filter as a Statsig criterion; `columns`: its field is a warehouse source's column."""
    field = f["field"]
    if columns:
        out: dict[str, Any] = {"type": "column", "column": field}
    elif field == "value":
        out = {"type": "value"}
    elif field.startswith("metadata."):
        out = {"type": "metadata", "column": field.removeprefix("metadata.")}
    elif field.startswith("user.custom."):
        out = {"type": "user_custom", "column": field.removeprefix("user.custom.")}
    else:
        out = {"type": "user", "column": field.removeprefix("user.")}
    out["condition"] = CONDITIONS[Operator(f["operator"])]
    out["values"] = list(f.get("values", []))
    return out


def _value_source(metric: Metric) -> dict[str, Any]:
    if metric.metric_type not in (MetricType.SUM, MetricType.MEAN, MetricType.COUNT_DISTINCT):
        return {"type": "count"}
    field = metric.value_field
    if metric.source_id is not None:
        return {"type": "column", "column": field}
    if field == "value":
        return {"type": "value"}
    kind, _, key = field.partition(".")
    return {"type": kind, "metadataKey": key}


def metric_to_document(metric: Metric) -> dict[str, Any]:
    """The metric as the Console API sends it. Reads the ratio's parts, the tags and the
    creator through the row's relations (the selectors join them)."""
    doc: dict[str, Any] = {
        "id": metric.statsig_id,
        "name": metric.name,
        "type": metric.metric_type,
        "description": metric.description,
        "directionality": metric.direction,
        "tags": sorted(t.name for t in metric.tags.all()),
        "isVerified": False,
        "isReadOnly": False,
        "isPermanent": False,
        "isHidden": False,
        "isAuto": metric.is_auto,
        "isArchived": metric.is_archived,
        "unitTypes": ["userID", "stableID"],
        "revision": metric.revision,
        "createdTime": epoch_ms(metric.created_at),
        "lastModifiedTime": epoch_ms(metric.updated_at),
        "creatorName": metric.created_by.get_full_name() or metric.created_by.email
        if metric.created_by
        else ("Gatehouse" if metric.is_auto else None),
        "creatorEmail": metric.created_by.email if metric.created_by else None,
        "winsorizationLowerPercentile": metric.winsorize_lower,
        "winsorizationUpperPercentile": metric.winsorize_upper,
        "cap": metric.cap,
        "dimensions": list(metric.dimensions),
    }
    events: list[str] = []
    metrics: list[str] = []
    if metric.metric_type in SELECTOR_TYPES:
        doc["metricEvents"] = [
            {
                "name": metric.event_name,
                **_value_source(metric),
                "criteria": [
                    criterion_document(f, columns=metric.source_id is not None)
                    for f in metric.filters
                ],
            }
        ]
        if metric.source is not None:
            doc["metricSource"] = metric.source.name
        else:
            events.append(metric.event_name)
    if metric.metric_type == MetricType.USER_COUNT:
        doc["userCountMode"] = metric.user_count_mode
    if metric.metric_type == MetricType.RATIO and metric.numerator and metric.denominator:
        parts = [metric.numerator, metric.denominator]
        doc["metricComponentMetrics"] = [{"name": p.name, "type": p.metric_type} for p in parts]
        doc["numerator"] = metric.numerator.statsig_id
        doc["denominator"] = metric.denominator.statsig_id
        metrics += [p.statsig_id for p in parts]
    if metric.metric_type == MetricType.FUNNEL:
        doc["funnelEventList"] = [
            {
                "name": s["event_name"],
                "criteria": [criterion_document(f) for f in s.get("filters", [])],
            }
            for s in metric.steps
        ]
        doc["funnelWindowHours"] = metric.funnel_window_hours
        events += [s["event_name"] for s in metric.steps]
    doc["lineage"] = {"events": list(dict.fromkeys(events)), "metrics": metrics}
    return doc


# ---------------------------------------------------------------- reading a document


def _bad(message: str, field: str, code: str = "invalid_type") -> DomainError:
    return DomainError(message, code=code, field=field)


def _list(doc: dict, key: str) -> list:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{key} must be a list.", key)
    return value


def _object(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise _bad("Each item must be an object.", field)
    return value


def _criterion(item: Any, field: str) -> FilterInput:
    item = _object(item, field)
    kind = item.get("type")
    column = item.get("column", item.get("metadataKey"))
    if kind == "value":
        name = "value"
    elif kind in ("metadata", "user", "user_custom", "column"):
        if not isinstance(column, str) or not column:
            raise _bad(f"A {kind} criterion names its key in column.", f"{field}.column")
        prefix = {
            "metadata": "metadata.",
            "user": "user.",
            "user_custom": "user.custom.",
            "column": "",
        }[kind]
        name = prefix + column
    else:
        raise _bad(
            "A criterion's type is value, metadata, user, user_custom or column (a warehouse "
            "metric source's).",
            f"{field}.type",
            "unknown_criterion_type",
        )
    condition = item.get("condition")
    operator = _OPERATORS.get(condition) if isinstance(condition, str) else None
    if operator is None:
        raise _bad(
            f"Unknown condition: use one of {', '.join(CONDITIONS.values())}.",
            f"{field}.condition",
            "unknown_operator",
        )
    values = item.get("values", [])
    if values is None:
        values = []
    if not isinstance(values, list):
        values = [values]
    for v in values:
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise _bad("Criterion values are strings or numbers.", f"{field}.values")
    return FilterInput(name, operator.value, list(values))


def _criteria(item: dict, field: str) -> list[FilterInput]:
    criteria = item.get("criteria") or []
    if not isinstance(criteria, list):
        raise _bad("criteria must be a list.", f"{field}.criteria")
    return [_criterion(c, f"{field}.criteria[{i}]") for i, c in enumerate(criteria)]


def _value_field(item: dict, field: str) -> str:
    kind = item.get("type", "value")
    if kind in ("value", "count", None):
        return "value"
    key = item.get("metadataKey", item.get("column"))
    if kind in ("metadata", "user") and isinstance(key, str) and key:
        return f"{kind}.{key}"
    if kind == "column" and isinstance(key, str) and key:
        return key
    raise _bad(
        'A metric event takes its number from "value", or from "metadata"/"user" with a '
        "metadataKey.",
        f"{field}.type",
        "invalid_value_source",
    )


def _ratio_part(doc: dict, key: str, index: int) -> str:
    value = doc.get(key)
    if value is None:
        components = doc.get("metricComponentMetrics") or []
        if isinstance(components, list) and len(components) > index:
            part = _object(components[index], f"metricComponentMetrics[{index}]")
            name, kind = part.get("name"), part.get("type")
            if isinstance(name, str) and isinstance(kind, str):
                return f"{name}::{kind}"
        return ""
    if not isinstance(value, str):
        raise _bad(f"{key} is a metric ID (name::type).", key)
    return value


def _text(doc: dict, key: str, default: str = "") -> str:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string.", key)
    return value


def document_to_input(doc: Any) -> MetricInput:
    """A proposed document as the services' input. Shape errors are DomainErrors on the
    document's paths; the rules themselves are the services'."""
    if not isinstance(doc, dict):
        raise _bad("The body must be a JSON object.", "", "invalid_body")
    unknown = sorted(k for k in doc if k not in KNOWN_KEYS)
    if unknown:
        raise _bad(f"Unknown field '{unknown[0][:60]}'.", unknown[0][:60], "unknown_field")
    metric_type = _text(doc, "type")
    data = MetricInput(
        name=_text(doc, "name"),
        metric_type=metric_type,
        description=_text(doc, "description"),
        direction=_text(doc, "directionality", "increase"),
        user_count_mode=_text(doc, "userCountMode", "daily_participation"),
        numerator=_ratio_part(doc, "numerator", 0),
        denominator=_ratio_part(doc, "denominator", 1),
        funnel_window_hours=doc.get("funnelWindowHours"),
        winsorize_lower=doc.get("winsorizationLowerPercentile"),
        winsorize_upper=doc.get("winsorizationUpperPercentile", 0.999),
        cap=doc.get("cap"),
        dimensions=_list(doc, "dimensions"),
        tags=_list(doc, "tags"),
        source=_text(doc, "metricSource"),
    )
    events = _list(doc, "metricEvents")
    if metric_type in SELECTOR_TYPES:
        if len(events) != 1:
            raise _bad(
                "A metric of this type counts exactly one event: give metricEvents one item "
                "(make one metric per event).",
                "metricEvents",
                "one_event",
            )
        item = _object(events[0], "metricEvents[0]")
        data.event_name = item.get("name", "")
        data.filters = _criteria(item, "metricEvents[0]")
        data.value_field = _value_field(item, "metricEvents[0]")
    steps = _list(doc, "funnelEventList")
    data.steps = [
        StepInput(
            _object(s, f"funnelEventList[{i}]").get("name", ""),
            _criteria(s, f"funnelEventList[{i}]"),
        )
        for i, s in enumerate(steps)
    ]
    return data


_SERVICE_TO_API = [
    (r"^filters\[(\d+)\]\.field", r"metricEvents[0].criteria[\1].column"),
    (r"^filters\[(\d+)\]\.operator", r"metricEvents[0].criteria[\1].condition"),
    (r"^filters\[(\d+)\]\.values", r"metricEvents[0].criteria[\1].values"),
    (r"^filters", "metricEvents[0].criteria"),
    (r"^steps\[(\d+)\]\.event_name", r"funnelEventList[\1].name"),
    (r"^steps\[(\d+)\]\.filters\[(\d+)\]\.field", r"funnelEventList[\1].criteria[\2].column"),
    (r"^steps\[(\d+)\]\.filters\[(\d+)\]\.operator", r"funnelEventList[\1].criteria[\2].condition"),
    (r"^steps\[(\d+)\]\.filters\[(\d+)\]\.values", r"funnelEventList[\1].criteria[\2].values"),
    (r"^steps.*", "funnelEventList"),
    (r"^event_name$", "metricEvents[0].name"),
    (r"^value_field$", "metricEvents[0].metadataKey"),
    (r"^metric_type$", "type"),
    (r"^direction$", "directionality"),
    (r"^user_count_mode$", "userCountMode"),
    (r"^funnel_window_hours$", "funnelWindowHours"),
    (r"^winsorize_lower$", "winsorizationLowerPercentile"),
    (r"^winsorize_upper$", "winsorizationUpperPercentile"),
]


def api_field(error: ApplicationError) -> ApplicationError:
    """The same error with its `field` named as the document names it."""
    if error.field:
        for pattern, replacement in _SERVICE_TO_API:
            if re.match(pattern, error.field):
                error.field = re.sub(pattern, replacement, error.field)
                break
    return error
