"""What the results page, the breakdown's CSV and the API show of a stored payload: one row per
metric and test group, with its interval placed on the metric's shared scale, its colour
from the metric's direction and the significance, and words for what the numbers mean; and
the charts' data (units over time, cumulative lift)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from experiments.results.export import csv_cell

ROLE_TITLES = {
    "primary": "Primary metrics",
    "secondary": "Secondary metrics",
    "guardrail": "Core metrics (guardrails)",
}


@dataclass
class Row:
    metric: str
    metric_type: str
    role: str
    group: str
    control_mean: float | None
    treatment_mean: float | None
    control_units: int
    treatment_units: int
    relative: float | None  # 0.05 = +5%
    low: float | None
    high: float | None
    absolute: float | None
    p_value: float | None
    significant: bool
    # "good", "bad" or "neutral": significant and in the metric's good direction, or not.
    tone: str
    cuped: bool
    sequential: bool
    message: str | None
    # The Bayesian view (flat prior): the chance the test group beats control, in the
    # metric's good direction.
    chance_to_beat: float | None = None
    # The interval as percents of the bar's width (left edge, width) and where zero is.
    bar_left: float = 0.0
    bar_width: float = 0.0
    point: float = 50.0
    zero: float = 50.0
    # A breakdown's row: the segment's label ("Other", "Unknown" or the value).
    segment: str = ""


@dataclass
class Section:
    role: str
    title: str
    rows: list[Row] = field(default_factory=list)


def _tone(comparison: dict[str, Any], direction: str) -> str:
    relative = comparison.get("relative") or comparison.get("absolute") or {}
    estimate = relative.get("estimate")
    if not comparison.get("significant") or estimate is None:
        return "neutral"
    better = estimate > 0 if direction == "increase" else estimate < 0
    return "good" if better else "bad"


def _row(metric: dict[str, Any], comparison: dict[str, Any]) -> Row:
    relative = comparison.get("relative") or {}
    absolute = comparison.get("absolute") or {}
    interval = relative.get("interval") or [None, None]
    method = comparison.get("method") or {}
    return Row(
        metric=metric["name"],
        metric_type=metric["type"],
        role=metric["role"],
        group=comparison["group"],
        control_mean=comparison.get("control_mean"),
        treatment_mean=comparison.get("treatment_mean"),
        control_units=comparison.get("control_n") or 0,
        treatment_units=comparison.get("treatment_n") or 0,
        relative=relative.get("estimate"),
        low=interval[0],
        high=interval[1],
        absolute=absolute.get("estimate"),
        p_value=comparison.get("adjusted_p_value") or comparison.get("p_value"),
        significant=bool(comparison.get("significant")),
        tone=_tone(comparison, metric.get("direction", "increase")),
        cuped=bool((comparison.get("cuped") or {}).get("applied")),
        sequential=bool(method.get("sequential")),
        message=comparison.get("message"),
        chance_to_beat=(comparison.get("bayesian") or {}).get("chance_to_beat_control"),
    )


def _place(rows: list[Row]) -> None:
    """Each interval on one scale per section, symmetric around zero, so that bars compare."""
    reach = max(
        (abs(x) for r in rows for x in (r.low, r.high, r.relative) if x is not None),
        default=0.0,
    )
    reach = reach * 1.1 or 0.01

    def at(x: float) -> float:
        return round(50 + 50 * x / reach, 2)

    for r in rows:
        if r.low is None or r.high is None or r.relative is None:
            continue
        r.bar_left, r.point = at(r.low), at(r.relative)
        r.bar_width = round(at(r.high) - r.bar_left, 2)


def group_label(payload: dict[str, Any], name: str) -> str:
    """What the pages call a group: a holdout's "pass" is "Held out" (`groupLabels`)."""
    return (payload.get("groupLabels") or {}).get(name, name)


def sections(payload: dict[str, Any]) -> list[Section]:
    """The metrics by role, each with a row per test group (or one row saying why none)."""
    found: dict[str, Section] = {}
    for metric in payload.get("metrics", []):
        role = metric["role"]
        section = found.setdefault(role, Section(role, ROLE_TITLES.get(role, role)))
        comparisons = metric.get("comparisons") or []
        for comparison in comparisons:
            row = _row(metric, comparison)
            row.group = group_label(payload, row.group)
            section.rows.append(row)
        if not comparisons:
            section.rows.append(_empty_row(metric))
    ordered = [found[r] for r in ROLE_TITLES if r in found]
    for section in ordered:
        _place(section.rows)
    return ordered


def _empty_row(metric: dict[str, Any]) -> Row:
    message = metric.get("message") or "No data for this metric yet."
    return Row(
        metric=metric["name"],
        metric_type=metric["type"],
        role=metric["role"],
        group="",
        control_mean=None,
        treatment_mean=None,
        control_units=0,
        treatment_units=0,
        relative=None,
        low=None,
        high=None,
        absolute=None,
        p_value=None,
        significant=False,
        tone="neutral",
        cuped=False,
        sequential=False,
        message=message,
    )


@dataclass
class BreakdownTable:
    """One metric's breakdown: a row per segment and test group, its intervals on the
    metric's own scale; `message` instead of rows when it has none."""

    metric: str
    metric_type: str
    role: str
    message: str | None
    rows: list[Row] = field(default_factory=list)


def breakdown_tables(breakdown: dict[str, Any]) -> list[BreakdownTable]:
    tables = []
    for metric in breakdown.get("metrics", []):
        table = BreakdownTable(metric["name"], metric["type"], metric["role"], metric["message"])
        for segment in metric.get("segments") or []:
            for comparison in segment.get("comparisons") or []:
                row = _row(metric, comparison)
                row.segment = segment["label"]
                table.rows.append(row)
        _place(table.rows)
        tables.append(table)
    return tables


def srm_banner(payload: dict[str, Any]) -> dict[str, Any] | None:
    """A warning or an alert when the groups' units stray from the configured split: each
    group's share of the units against the share the split gives it."""
    srm = payload.get("srm") or {}
    verdict = srm.get("verdict")
    if verdict not in ("warning", "alert"):
        return None
    groups = (payload.get("exposures") or {}).get("groups") or []
    total = sum(g["units"] for g in groups) or 1
    return {
        "verdict": verdict,
        "p_value": srm.get("p_value"),
        "groups": [
            {
                "name": group_label(payload, g["name"]),
                "observed": g["units"] / total,
                "expected": g.get("expectedShare", 0.0),
            }
            for g in groups
        ],
    }


CSV_COLUMNS = (
    "metric",
    "type",
    "role",
    "group",
    "control_units",
    "treatment_units",
    "control_mean",
    "treatment_mean",
    "absolute_effect",
    "relative_effect",
    "relative_low",
    "relative_high",
    "p_value",
    "significant",
    "chance_to_beat",
    "cuped",
    "sequential",
    "note",
)


def _csv_cells(r: Row) -> list[Any]:
    return [
        r.metric,
        r.metric_type,
        r.role,
        r.group,
        r.control_units,
        r.treatment_units,
        r.control_mean,
        r.treatment_mean,
        r.absolute,
        r.relative,
        r.low,
        r.high,
        r.p_value,
        r.significant,
        r.chance_to_beat,
        r.cuped,
        r.sequential,
        r.message or "",
    ]


BREAKDOWN_CSV_COLUMNS = ("breakdown", "segment", *CSV_COLUMNS)


def breakdown_csv(breakdown: dict[str, Any]) -> str:
    """The breakdown as CSV: the results' columns, led by the breakdown and the segment."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BREAKDOWN_CSV_COLUMNS)
    name = (breakdown.get("breakdown") or {}).get("name", "")
    for table in breakdown_tables(breakdown):
        if not table.rows:
            blanks = [""] * (len(CSV_COLUMNS) - 4)
            note = table.message or ""
            cells = [name, "", table.metric, table.metric_type, table.role, *blanks, note]
            writer.writerow([csv_cell(c) for c in cells])
            continue
        for r in table.rows:
            # Segments are what SDKs sent (a country, a custom field): hostile cells too.
            writer.writerow([csv_cell(c) for c in (name, r.segment, *_csv_cells(r))])
    return out.getvalue()


def exposure_chart(payload: dict[str, Any]) -> str | None:
    """Units exposed per group, cumulated by day, as a chart's data attribute."""
    exposures = payload.get("exposures") or {}
    daily = exposures.get("daily") or []
    if not daily:
        return None
    names = [g["name"] for g in exposures.get("groups", [])]
    totals = dict.fromkeys(names, 0)
    series: dict[str, list[int]] = {n: [] for n in names}
    for day in daily:
        for name in names:
            totals[name] += day["groups"].get(name, 0)
            series[name].append(totals[name])
    return json.dumps(
        {
            "type": "line",
            "labels": [d["day"] for d in daily],
            "series": [{"label": n, "data": series[n]} for n in names],
        }
    )


def lift_charts(payload: dict[str, Any]) -> list[dict[str, str]]:
    """Per primary metric, each test group's relative lift by day with its interval."""
    charts = []
    for metric in payload.get("metrics", []):
        days = _from_first_data(metric.get("series") or [])
        if metric["role"] != "primary" or len(days) < 2:
            continue
        groups = [g["group"] for g in days[-1]["groups"]]
        series = []
        for at, name in enumerate(groups):
            points: list[dict[str, Any]] = [
                next((g for g in d["groups"] if g["group"] == name), {}) for d in days
            ]
            estimates = [_pct(p.get("estimate")) for p in points]
            series.append({"label": f"{name} vs control", "data": estimates, "color": at})
            for side, label in ((0, "low"), (1, "high")):
                bound = [_pct((p.get("interval") or [None, None])[side]) for p in points]
                series.append(
                    {"label": f"{name} {label}", "data": bound, "color": at, "dashed": True}
                )
        labels = [d["day"] for d in days]
        chart = {"type": "line", "labels": labels, "series": series, "percent": True}
        charts.append(
            {"metric": metric["name"], "type": metric["type"], "chart": json.dumps(chart)}
        )
    return charts


def _from_first_data(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The days from the first with a lift: an experiment started long before its first
    exposures (or its metric's first events) would draw months of nothing."""
    for i, day in enumerate(days):
        if any(g.get("estimate") is not None for g in day["groups"]):
            return days[i:]
    return []


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 3)
