"""An experiment's results broken down by a dimension, computed on request
(docs/results.md, docs/results-computation.md).

A unit dimension (country, browser, OS, a custom field of the user at the unit's first
exposure) splits the units; a metric's own dimension (its event's value or a metadata
key) splits the metric's events. Per segment, the same statistics as the scorecard, with
the whole experiment's caps. Segments are exploratory: their p-values and intervals are not
corrected for the many comparisons they make (say so wherever they are shown).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from console.exceptions import DomainError
from console.models import Environment
from experiments.models import Experiment
from experiments.results.compute import (
    PRIMARY,
    ScorecardMetric,
    direction_of,
    metric_entry,
    scope_of,
    scorecard_metrics,
    settings_of,
    statistic,
)
from experiments.results.payload import plain
from metrics import stats
from metrics.plan import Breakdown, breakdown_statistics

UNIT_CHOICES = {"country": "Country", "browser": "Browser", "os": "OS"}
MAX_KEY = 100
# The top values shown per breakdown (the rest is "Other").
TOP_VALUES = 8
# A breakdown computes one statement per metric, on request: at most this many metrics.
MAX_METRICS = 20
EXPLORATORY = (
    "Segments are exploratory: their intervals and p-values are not corrected for "
    "multiple comparisons (the scorecard's correction does not apply to them)."
)
_KEY = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


@dataclass(frozen=True)
class BreakdownChoice:
    """A breakdown as the page, the CSV and the API name it: "country", "browser", "os",
    "custom.<key>" (a field of user.custom), "value" or "metadata.<key>" (a metric
    dimension)."""

    name: str
    title: str
    source: str  # "unit" or "event"

    def plan(self) -> Breakdown:
        return Breakdown(self.source, self.name, top=TOP_VALUES)


def parse_breakdown(text: str) -> BreakdownChoice | None:
    """The breakdown named `text` ("" or "none": None); DomainError `invalid_breakdown`
    for a name that is none."""
    name = text.strip()
    if name in ("", "none"):
        return None
    if name in UNIT_CHOICES:
        return BreakdownChoice(name, UNIT_CHOICES[name], "unit")
    for prefix, source, title in (
        ("custom.", "unit", "{}"),
        ("metadata.", "event", "{}"),
    ):
        if name.startswith(prefix):
            key = name[len(prefix) :]
            if not _KEY.match(key):
                raise DomainError(
                    f"A {prefix.rstrip('.')} key is 1 to {MAX_KEY} characters, "
                    "without control characters.",
                    code="invalid_breakdown",
                    field="breakdown",
                )
            return BreakdownChoice(name, title.format(key), source)
    if name == "value":
        return BreakdownChoice(name, "Event value", "event")
    raise DomainError(
        "Unknown breakdown: use none, country, browser, os, custom.<key>, value or metadata.<key>.",
        code="invalid_breakdown",
        field="breakdown",
    )


def metric_dimensions(experiment: Experiment) -> list[str]:
    """The dimensions the scorecard's metrics declare, in order, once each."""
    found: dict[str, None] = {}
    for item in scorecard_metrics(experiment):
        if item.definition is not None:
            found.update(dict.fromkeys(item.definition.dimensions))
    return list(found)


def segment_label(kind: str, value: str | None) -> str:
    if kind == "other":
        return "Other"
    if kind == "unknown":
        return "Unknown"
    return value or ""


def compute_breakdown(
    experiment: Experiment, environment: Environment, choice: BreakdownChoice, *, now: dt.datetime
) -> dict[str, Any]:
    """Per scorecard metric (the first MAX_METRICS), per segment: the groups and their
    comparisons with control, uncorrected. A metric that does not declare an event
    dimension gets a message instead of segments."""
    head: dict[str, Any] = {
        "breakdown": {"name": choice.name, "title": choice.title, "source": choice.source},
        "computedAt": now.isoformat(),
        "exploratory": EXPLORATORY,
    }
    scope = scope_of(experiment, now)
    if scope is None:
        return {**head, "metrics": [], "message": "The experiment has not started yet."}
    metrics = scorecard_metrics(experiment)
    primaries = sum(1 for m in metrics if m.role == PRIMARY)
    settings = dataclasses.replace(
        settings_of(experiment, scope, primaries), correction=stats.Correction.NONE
    )
    head["range"] = {"start": scope.start.isoformat(), "end": scope.end.isoformat()}
    head["settings"] = plain(settings)
    entries = []
    for item in metrics[:MAX_METRICS]:
        entries.append(_metric(item, choice, environment, scope, settings, now))
    head["metrics"] = entries
    head["omitted"] = max(0, len(metrics) - MAX_METRICS)
    return head


def _metric(
    item: ScorecardMetric,
    choice: BreakdownChoice,
    environment: Environment,
    scope,
    settings: stats.Settings,
    now: dt.datetime,
) -> dict[str, Any]:
    entry = metric_entry(item)
    entry["segments"] = []
    for key in ("groups", "comparisons", "series"):
        entry.pop(key)
    definition = item.definition
    if definition is None:
        return entry
    if choice.source == "event" and choice.name not in definition.dimensions:
        entry["message"] = f"This metric has no dimension {choice.name}."
        return entry
    try:
        result = breakdown_statistics(
            environment.pk, scope, definition, choice.plan(), cuped_days=7, now=now
        )
    except ValueError as exc:
        entry["message"] = str(exc)
        return entry
    entry["caps"] = plain(result.caps)
    for segment in result.segments:
        plan = segment.plan
        groups = [statistic(definition, g, cuped=settings.cuped) for g in plan.groups]
        comparisons = stats.analyze_metric(
            groups, settings, direction=direction_of(definition), primary=False
        )
        names = [g.group for g in plan.groups]
        entry["segments"].append(
            {
                "kind": segment.kind,
                "value": segment.value,
                "label": segment_label(segment.kind, segment.value),
                "groups": [
                    {"name": g.group, "units": g.units, "n": g.n, "mean": s.mean}
                    for g, s in zip(plan.groups, groups, strict=True)
                ],
                "comparisons": [{"group": names[c.treatment], **plain(c)} for c in comparisons],
            }
        )
    if not entry["segments"]:
        entry["message"] = "No units or events with this dimension yet."
    return entry
