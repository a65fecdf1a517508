"""Which per-unit quantities a metric needs, before any SQL: its components (the simple
metrics a ratio is made of, the steps of a funnel) and how they combine."""

from __future__ import annotations

from dataclasses import dataclass

from metrics.definitions import EventSelector, MetricDefinition, MetricType

SIMPLE = frozenset(
    {MetricType.EVENT_COUNT, MetricType.USER_COUNT, MetricType.SUM, MetricType.COUNT_DISTINCT}
)
# Reported over the units whose denominator is not 0.
RATIO_LIKE = frozenset({MetricType.MEAN, MetricType.RATIO, MetricType.FUNNEL})


@dataclass(frozen=True, slots=True)
class Shape:
    metric: MetricDefinition
    # One event selector per column s0, s1, ...: the metric's events (simple types and
    # mean), numerator and denominator (ratio), or the steps (funnel).
    selectors: tuple[EventSelector, ...]
    # The simple metric computed from each selector (None for funnel steps).
    components: tuple[MetricDefinition | None, ...]

    @property
    def ratio_like(self) -> bool:
        return self.metric.type in RATIO_LIKE

    @property
    def event_names(self) -> list[str]:
        return sorted({s.event_name for s in self.selectors})


def shape_of(metric: MetricDefinition) -> Shape:
    """The metric's shape; ValueError when the definition cannot be computed."""
    kind = metric.type
    if kind in SIMPLE or kind == MetricType.MEAN:
        if metric.events is None:
            raise ValueError(f"{metric.name}: a {kind} metric needs its events")
        return Shape(metric, (metric.events,), (metric,))
    if kind == MetricType.RATIO:
        parts = (metric.numerator, metric.denominator)
        for part in parts:
            if part is None or part.type not in SIMPLE or part.events is None:
                raise ValueError(
                    f"{metric.name}: a ratio's numerator and denominator are event count, "
                    "user count, sum or count distinct metrics"
                )
        assert metric.numerator is not None
        assert metric.denominator is not None
        assert metric.numerator.events is not None
        assert metric.denominator.events is not None
        return Shape(
            metric,
            (metric.numerator.events, metric.denominator.events),
            (metric.numerator, metric.denominator),
        )
    if kind == MetricType.FUNNEL:
        if len(metric.steps) < 2:
            raise ValueError(f"{metric.name}: a funnel has at least two steps")
        return Shape(metric, metric.steps, tuple(None for _ in metric.steps))
    raise ValueError(f"{metric.name}: unknown metric type {kind!r}")
