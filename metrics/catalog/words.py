"""A metric's definition in plain words, for its page: what is measured per unit, what is
filtered, how outliers are handled, which way is good."""

from __future__ import annotations

from metrics.catalog.validation import NO_VALUE_OPERATORS, OPERATOR_WORDS
from metrics.definitions import (
    EventSelector,
    Filter,
    MetricDefinition,
    MetricType,
    UserCountMode,
)


def filter_words(f: Filter) -> str:
    words = f"{f.field} {OPERATOR_WORDS[f.operator]}"
    if f.operator in NO_VALUE_OPERATORS:
        return words
    return f"{words} {', '.join(f.values)}"


def selector_words(selector: EventSelector) -> str:
    if not selector.filters:
        return f"{selector.event_name} events"
    return f"{selector.event_name} events where " + " and ".join(
        filter_words(f) for f in selector.filters
    )


def _counted(metric: MetricDefinition) -> str:
    """What a simple metric counts: events of a name, or a warehouse metric source's rows
    (docs/warehouse.md), with their filters."""
    assert metric.events is not None
    if metric.source is None:
        return selector_words(metric.events)
    rows = f"rows of {metric.source}"
    if metric.events.filters:
        rows += " where " + " and ".join(filter_words(f) for f in metric.events.filters)
    return rows


def _part(metric: MetricDefinition) -> str:
    events = _counted(metric)
    return {
        MetricType.EVENT_COUNT: f"the number of {events}",
        MetricType.USER_COUNT: f"1 if the unit logged {events}",
        MetricType.SUM: f"the sum of {metric.value_field} over {events}",
        MetricType.MEAN: f"the mean of {metric.value_field} over {events}",
        MetricType.COUNT_DISTINCT: f"the distinct values of {metric.value_field} in {events}",
    }[metric.type]


def what_it_measures(metric: MetricDefinition) -> str:
    """One sentence: the metric's value for one unit in an experiment."""
    if metric.type == MetricType.RATIO:
        assert metric.numerator is not None
        assert metric.denominator is not None
        return (
            f"Σ ({_part(metric.numerator)}) ÷ Σ ({_part(metric.denominator)}), summed over "
            "the units whose denominator is not 0."
        )
    if metric.type == MetricType.FUNNEL:
        names = [s.event_name for s in metric.steps]
        window = (
            f", each within {metric.funnel_window_hours} hours of the first"
            if metric.funnel_window_hours
            else ""
        )
        steps = " → ".join(selector_words(s) for s in metric.steps)
        return (
            f"Of the units that logged {names[0]}, the share that went on through every step "
            f"in order ({steps}){window}."
        )
    events = _counted(metric)
    if metric.type == MetricType.USER_COUNT:
        if metric.user_count_mode == UserCountMode.ONE_TIME:
            return f"1 for a unit that logged {events} after its exposure, else 0."
        return (
            f"Daily participation: the share of a unit's days since its exposure on which it "
            f"logged {events}."
        )
    return {
        MetricType.EVENT_COUNT: f"The number of {events} per unit.",
        MetricType.SUM: f"The sum of {metric.value_field} over {events}, per unit.",
        MetricType.MEAN: (
            f"The mean of {metric.value_field} over {events}: Σ value ÷ number of events, over "
            "the units that logged one."
        ),
        MetricType.COUNT_DISTINCT: (
            f"The number of distinct values of {metric.value_field} in {events}, per unit."
        ),
    }[metric.type]


def outlier_words(metric: MetricDefinition) -> list[str]:
    lines = []
    if metric.winsorized:
        bounds = []
        if metric.winsorize_lower is not None:
            bounds.append(f"below the {metric.winsorize_lower * 100:g}th percentile")
        if metric.winsorize_upper is not None:
            bounds.append(f"above the {metric.winsorize_upper * 100:g}th percentile")
        lines.append(
            f"Per-unit values {' or '.join(bounds)} (all groups pooled) are brought back to it."
        )
    elif metric.type in (MetricType.USER_COUNT, MetricType.COUNT_DISTINCT):
        lines.append("Not winsorized (participation and distinct counts never are).")
    else:
        lines.append("Not winsorized.")
    if metric.cap is not None:
        lines.append(f"Each unit counts at most {metric.cap:g}.")
    return lines


def summary(metric) -> str:
    """A few words for the catalog's list, from the row itself (no query beyond the
    ratio's parts, which the list selector joins)."""
    if metric.metric_type == MetricType.RATIO:
        num = metric.numerator.statsig_id if metric.numerator else "?"
        den = metric.denominator.statsig_id if metric.denominator else "?"
        return f"{num} ÷ {den}"
    if metric.metric_type == MetricType.FUNNEL:
        return " → ".join(s["event_name"] for s in metric.steps)
    filters = f" ({len(metric.filters)} filter{'s' if len(metric.filters) != 1 else ''})"
    value = (
        f"{metric.value_field} of "
        if metric.metric_type in (MetricType.SUM, MetricType.MEAN, MetricType.COUNT_DISTINCT)
        else ""
    )
    return f"{value}{metric.event_name}{filters if metric.filters else ''}"
