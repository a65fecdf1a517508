"""Metric definitions survive the trip through JSON that results record them with."""

import json

from metrics.definitions import (
    Direction,
    EventSelector,
    Filter,
    MetricDefinition,
    MetricType,
    Operator,
    UserCountMode,
)


def test_a_ratio_of_filtered_metrics_round_trips_through_json():
    purchases = EventSelector("purchase", (Filter("metadata.currency", Operator.IN, ("USD",)),))
    revenue = MetricDefinition("revenue", MetricType.SUM, purchases, cap=500.0)
    sessions = MetricDefinition(
        "sessions",
        MetricType.USER_COUNT,
        EventSelector("session_start"),
        user_count_mode=UserCountMode.ONE_TIME,
    )
    ratio = MetricDefinition(
        "revenue_per_session",
        MetricType.RATIO,
        numerator=revenue,
        denominator=sessions,
        direction=Direction.DECREASE,
        winsorize_lower=0.001,
        dimensions=("value",),
        revision=3,
    )
    funnel = MetricDefinition(
        "checkout",
        MetricType.FUNNEL,
        steps=(EventSelector("cart"), EventSelector("pay")),
        funnel_window_hours=24,
    )
    for metric in (ratio, funnel):
        assert MetricDefinition.from_dict(json.loads(json.dumps(metric.as_dict()))) == metric


def test_participation_is_never_winsorized():
    count = MetricDefinition("n", MetricType.EVENT_COUNT, EventSelector("click"))
    users = MetricDefinition("u", MetricType.USER_COUNT, EventSelector("click"))
    assert count.winsorized
    assert not users.winsorized
    assert not MetricDefinition(
        "n", MetricType.EVENT_COUNT, EventSelector("click"), winsorize_upper=None
    ).winsorized
