"""An experiment's scorecard: what it measures and how its results are analysed.

The fields are Statsig's Console API names (`primaryMetrics` as `{"name", "type"}` objects,
`primaryMetricTags`, `duration` in days, `defaultConfidenceInterval` as a string percent,
`bonferroniCorrection`); `benjaminiHochbergCorrection`, `sequentialTesting` and `cuped` are
ours (docs/statistics.md). None of them changes what an SDK receives, so they stay editable
whatever the experiment's status.
"""

from __future__ import annotations

from typing import Any

from console.models import Project, Tag
from console.targeting.fields import fail
from experiments.types import MetricRef, ScorecardDocument
from metrics.catalog.selectors import metric_definitions
from metrics.definitions import MetricType
from metrics.warehouse.selectors import assignment_source_named

CONFIDENCE_LEVELS = ("80", "90", "95", "98", "99")
MAX_PRIMARY = 10
MAX_SECONDARY = 40
MAX_DURATION_DAYS = 365
MAX_METRIC_NAME = 200

SCORECARD_DEFAULTS: ScorecardDocument = {
    "primaryMetrics": [],
    "secondaryMetrics": [],
    "primaryMetricTags": [],
    "secondaryMetricTags": [],
    "duration": 14,
    "defaultConfidenceInterval": "95",
    "bonferroniCorrection": False,
    "benjaminiHochbergCorrection": False,
    "sequentialTesting": False,
    "cuped": True,
}
SCORECARD_KEYS = tuple(SCORECARD_DEFAULTS)
# Only in a document that sets it: the warehouse assignment source (its name) the
# experiment takes its exposures from instead of the ingested ones (docs/warehouse.md).
ASSIGNMENT_SOURCE = "assignmentSource"


def metric_id(ref: MetricRef) -> str:
    """The catalog's ID of a metric: "name::type"."""
    return f"{ref['name']}::{ref['type']}"


def _metric_refs(doc: dict[str, Any], key: str, most: int) -> list[MetricRef]:
    raw = doc.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise fail(f'\'{key}\' is a list of metrics ({{"name", "type"}}).', "invalid", key)
    if len(raw) > most:
        raise fail(f"At most {most} {key}.", "too_many_metrics", key)
    refs: list[MetricRef] = []
    for i, item in enumerate(raw):
        path = f"{key}[{i}]"
        if isinstance(item, str) and "::" in item:  # the catalog's ID, "name::type"
            name, _, kind = item.rpartition("::")
            item = {"name": name, "type": kind}
        if not isinstance(item, dict):
            raise fail('Each metric is {"name": ..., "type": ...}.', "invalid", path)
        name, kind = item.get("name"), item.get("type")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_METRIC_NAME:
            raise fail(
                f"Name the metric (1-{MAX_METRIC_NAME} characters).", "invalid", f"{path}.name"
            )
        if kind not in set(MetricType):
            kinds = ", ".join(MetricType)
            raise fail(f"The metric type is one of {kinds}.", "invalid", f"{path}.type")
        ref: MetricRef = {"name": name.strip(), "type": kind}
        if ref in refs:
            raise fail(f"{ref['name']}::{kind} is listed twice.", "duplicate_metric", path)
        refs.append(ref)
    return refs


def _tag_names(known: dict[str, Tag], doc: dict[str, Any], key: str) -> list[str]:
    raw = doc.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise fail(f"'{key}' is a list of tag names.", "invalid", key)
    names: list[str] = []
    for i, name in enumerate(raw):
        tag = known.get(name.strip().lower()) if isinstance(name, str) else None
        if tag is None:
            raise fail(f"This project has no tag {name!r}.", "unknown_tag", f"{key}[{i}]")
        if tag.name not in names:
            names.append(tag.name)
    return names


def _flag(doc: dict[str, Any], key: str) -> bool:
    value = doc.get(key)
    if value is None:
        return bool(SCORECARD_DEFAULTS[key])  # type: ignore[literal-required]
    if not isinstance(value, bool):
        raise fail(f"'{key}' is true or false.", "invalid", key)
    return value


def _duration(doc: dict[str, Any]) -> int:
    value = doc.get("duration")
    if value is None:
        return SCORECARD_DEFAULTS["duration"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise fail("'duration' is a whole number of days.", "invalid", "duration")
    if not 1 <= value <= MAX_DURATION_DAYS:
        raise fail(f"'duration' is 1 to {MAX_DURATION_DAYS} days.", "invalid_duration", "duration")
    return int(value)


def _confidence(doc: dict[str, Any]) -> str:
    value = doc.get("defaultConfidenceInterval")
    if value is None:
        return SCORECARD_DEFAULTS["defaultConfidenceInterval"]
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if text not in CONFIDENCE_LEVELS:
        raise fail(
            f"'defaultConfidenceInterval' is one of {', '.join(CONFIDENCE_LEVELS)} (percent).",
            "invalid_confidence",
            "defaultConfidenceInterval",
        )
    return text  # type: ignore[no-any-return]


def clean_scorecard(known_tags: dict[str, Tag], doc: dict[str, Any]) -> ScorecardDocument:
    """The scorecard fields of an experiment document, defaults filled in. Metrics are
    checked for shape here; that the project has them is the caller's check."""
    primary = _metric_refs(doc, "primaryMetrics", MAX_PRIMARY)
    secondary = _metric_refs(doc, "secondaryMetrics", MAX_SECONDARY)
    for i, ref in enumerate(secondary):
        if ref in primary:
            raise fail(
                f"{ref['name']}::{ref['type']} is already a primary metric.",
                "duplicate_metric",
                f"secondaryMetrics[{i}]",
            )
    scorecard: ScorecardDocument = {
        "primaryMetrics": primary,
        "secondaryMetrics": secondary,
        "primaryMetricTags": _tag_names(known_tags, doc, "primaryMetricTags"),
        "secondaryMetricTags": _tag_names(known_tags, doc, "secondaryMetricTags"),
        "duration": _duration(doc),
        "defaultConfidenceInterval": _confidence(doc),
        "bonferroniCorrection": _flag(doc, "bonferroniCorrection"),
        "benjaminiHochbergCorrection": _flag(doc, "benjaminiHochbergCorrection"),
        "sequentialTesting": _flag(doc, "sequentialTesting"),
        "cuped": _flag(doc, "cuped"),
    }
    source = doc.get(ASSIGNMENT_SOURCE)
    if source is not None and source != "":
        if not isinstance(source, str) or len(source.strip()) > MAX_METRIC_NAME:
            raise fail(
                f"'{ASSIGNMENT_SOURCE}' names a warehouse assignment source.",
                "invalid",
                ASSIGNMENT_SOURCE,
            )
        scorecard[ASSIGNMENT_SOURCE] = source.strip()
    if scorecard["bonferroniCorrection"] and scorecard["benjaminiHochbergCorrection"]:
        raise fail(
            "Correct for multiple comparisons with Bonferroni or Benjamini-Hochberg, not both.",
            "correction_exclusive",
            "benjaminiHochbergCorrection",
        )
    return scorecard


def check_metrics(project: Project, scorecard: ScorecardDocument, id_type: str = "") -> None:
    """Each metric the scorecard names is in the project's catalog (archived ones too: an
    experiment keeps what it measured), and its assignment source is the project's, of the
    experiment's unit type; names take the catalog's spelling."""
    if ASSIGNMENT_SOURCE in scorecard:
        source = assignment_source_named(project=project, name=scorecard[ASSIGNMENT_SOURCE])
        if source is None:
            raise fail(
                f"This project has no warehouse assignment source named "
                f"{scorecard[ASSIGNMENT_SOURCE]!r} (see Settings → Warehouse).",
                "unknown_assignment_source",
                ASSIGNMENT_SOURCE,
            )
        if id_type and source.unit_type.lower() != id_type.lower():
            raise fail(
                f"The assignment source {source.name!r} assigns {source.unit_type} units; "
                f"the experiment randomises by {id_type}.",
                "assignment_unit_type",
                ASSIGNMENT_SOURCE,
            )
        scorecard[ASSIGNMENT_SOURCE] = source.name
    for key in ("primaryMetrics", "secondaryMetrics"):
        refs = scorecard[key]  # type: ignore[literal-required]
        found = metric_definitions(project=project, ids=[metric_id(r) for r in refs])
        for i, ref in enumerate(refs):
            definition = found.get(metric_id(ref))
            if definition is None:
                raise fail(
                    f"This project has no metric {metric_id(ref)!r} (see Metrics → Catalog).",
                    "unknown_metric",
                    f"{key}[{i}]",
                )
            ref["name"] = definition.name


def stored_scorecard(stored: dict[str, Any]) -> ScorecardDocument:
    """The scorecard an experiment row holds, with the defaults of fields it predates."""
    card = {**SCORECARD_DEFAULTS, **{k: stored[k] for k in SCORECARD_KEYS if k in stored}}
    if stored.get(ASSIGNMENT_SOURCE):
        card[ASSIGNMENT_SOURCE] = stored[ASSIGNMENT_SOURCE]
    return card  # type: ignore[return-value]
