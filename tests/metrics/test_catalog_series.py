"""The daily series of a metric's page, against values computed by hand from events stored
by the intake's own service (tests/metrics/seed.py), on each events engine: PostgreSQL and
ClickHouse (embedded chdb)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from metrics.catalog.selectors import metric_definition
from metrics.catalog.series import metric_series
from tests.metrics.catalog_factories import make_metric
from tests.metrics.seed import event, store

pytestmark = pytest.mark.django_db

BOT_UA = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def _at(days_ago: int, hour: int) -> int:
    day = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=days_ago)
    moment = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


@pytest.fixture(params=["postgres", "clickhouse"], autouse=True)
def engine(request, settings) -> str:
    if request.param == "clickhouse":
        request.getfixturevalue("clickhouse_engine")
    assert request.param == settings.GATEHOUSE_EVENTS_ENGINE
    return request.param


@pytest.fixture
def seeded(production):
    """Three days ago (d3), two days ago (d2), yesterday (d1):

    d3: u1 visit 10h, purchase 11h (10 EUR), purchase 12h (5 USD); u2 visit 10h
    d2: u2 visit 9h, purchase 10h (20 EUR)
    d1: u3 visit 8h, purchase 9h ("abc", no number); a bot's purchase (left out)
    """
    store(
        production,
        [
            event("visit", "u1", at=_at(3, 10)),
            event("purchase", "u1", at=_at(3, 11), value=10, metadata={"currency": "EUR"}),
            event("purchase", "u1", at=_at(3, 12), value="5", metadata={"currency": "USD"}),
            event("visit", "u2", at=_at(3, 10)),
            event("visit", "u2", at=_at(2, 9)),
            event("purchase", "u2", at=_at(2, 10), value=20, metadata={"currency": "EUR"}),
            event("visit", "u3", at=_at(1, 8)),
            event("purchase", "u3", at=_at(1, 9), value="abc"),
        ],
    )
    store(production, [event("purchase", "bot", at=_at(1, 9), value=1000)], user_agent=BOT_UA)
    return production


def _last4(project_member, project, environment, name, metric_type="event_count", **fields):
    metric = make_metric(project_member, project, name, metric_type, **fields)
    series = metric_series(definition=metric_definition(metric), environment=environment)
    assert len(series.days) == 30
    assert series.days[-1] == timezone.now().astimezone(dt.UTC).date()
    return series.values[-4:]  # d3, d2, d1, today


def test_series__event_count__events_per_day_bots_left_out(seeded, project, project_member):
    values = _last4(project_member, project, seeded, "p", event_name="purchase")
    assert values == [2, 1, 1, 0]


def test_series__user_count__units_per_day(seeded, project, project_member):
    assert _last4(project_member, project, seeded, "v", "event_user", event_name="visit") == [
        2,
        1,
        1,
        0,
    ]


def test_series__sum_and_mean__numbers_only(seeded, project, project_member):
    assert _last4(project_member, project, seeded, "s", "sum", event_name="purchase") == [
        15,
        20,
        0,
        0,
    ]
    assert _last4(project_member, project, seeded, "m", "mean", event_name="purchase") == [
        7.5,
        20,
        None,
        None,
    ]


def test_series__filtered_sum__matching_events_only(seeded, project, project_member):
    values = _last4(
        project_member,
        project,
        seeded,
        "eur",
        "sum",
        event_name="purchase",
        filters=[{"field": "metadata.currency", "operator": "eq", "values": ["EUR"]}],
    )
    assert values == [10, 20, 0, 0]
    values = _last4(
        project_member,
        project,
        seeded,
        "big",
        "event_count",
        event_name="purchase",
        filters=[{"field": "value", "operator": "gte", "values": ["10"]}],
    )
    assert values == [1, 1, 0, 0]
    values = _last4(
        project_member,
        project,
        seeded,
        "not_usd",
        "event_count",
        event_name="purchase",
        filters=[{"field": "metadata.currency", "operator": "not_in", "values": ["USD"]}],
    )
    assert values == [1, 1, 1, 0]


def test_series__count_distinct__values_per_day(seeded, project, project_member):
    values = _last4(
        project_member,
        project,
        seeded,
        "currencies",
        "count_distinct",
        event_name="purchase",
        value_field="metadata.currency",
    )
    assert values == [2, 1, 0, 0]


def test_series__ratio__sum_of_numerators_over_units_with_a_denominator(
    seeded, project, project_member
):
    # Revenue per visiting unit: d3 u1 15/1 and u2 0/1; d2 u2 20/1; d1 u3 0/1
    make_metric(project_member, project, "revenue", "sum", event_name="purchase")
    make_metric(project_member, project, "visits", "event_count", event_name="visit")
    values = _last4(
        project_member,
        project,
        seeded,
        "revenue_per_visit",
        "ratio",
        numerator="revenue::sum",
        denominator="visits::event_count",
    )
    assert values == [7.5, 20, 0, None]


def test_series__funnel__share_of_starters_who_finish(seeded, project, project_member):
    steps = [{"event_name": "visit"}, {"event_name": "purchase"}]
    # Without a window u2 (visit d3, purchase d2) finishes; within 12 hours it does not
    assert _last4(project_member, project, seeded, "f", "funnel", steps=steps) == [
        100,
        100,
        100,
        None,
    ]
    assert _last4(
        project_member, project, seeded, "f12", "funnel", steps=steps, funnel_window_hours=12
    ) == [50, 100, 100, None]
