"""Metrics of the catalog for tests, made through its services (never by saving rows)."""

from __future__ import annotations

from typing import Any

from metrics.catalog.services import metric_create
from metrics.catalog.validation import FilterInput, MetricInput, StepInput


def metric_input(name: str, metric_type: str = "event_count", **fields: Any) -> MetricInput:
    """A MetricInput; event types count `name` unless `event_name` says otherwise;
    filters and steps may be given as plain dicts."""
    fields.setdefault("event_name", name if metric_type not in ("ratio", "funnel") else "")
    fields["filters"] = [FilterInput(**f) for f in fields.get("filters", [])]
    fields["steps"] = [
        StepInput(s["event_name"], [FilterInput(**f) for f in s.get("filters", [])])
        for s in fields.get("steps", [])
    ]
    return MetricInput(name=name, metric_type=metric_type, **fields)


def make_metric(actor, project, name: str, metric_type: str = "event_count", **fields: Any):
    return metric_create(
        actor=actor, project=project, data=metric_input(name, metric_type, **fields)
    )
