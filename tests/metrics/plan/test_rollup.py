"""The rollup's incremental refresh equals a full recompute after new days of events,
late events, late exposures and first exposures that move earlier."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from metrics.definitions import EventSelector, MetricDefinition, MetricType, UserCountMode
from metrics.models import RollupState, UnitDay
from metrics.plan import ExperimentScope, group_statistics
from tests.metrics.plan.reference import reference
from tests.metrics.plan.test_group_statistics import assert_matches, assert_same
from tests.metrics.plan.world import EXPERIMENT, GROUPS, Ev, World

pytestmark = pytest.mark.django_db

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
PURCHASE = EventSelector("purchase")
METRICS = [
    MetricDefinition("purchases", MetricType.EVENT_COUNT, PURCHASE, winsorize_upper=0.9),
    MetricDefinition("active", MetricType.USER_COUNT, EventSelector("session")),
    MetricDefinition("basket", MetricType.MEAN, PURCHASE, winsorize_lower=0.1),
    MetricDefinition(
        "revenue_per_session",
        MetricType.RATIO,
        numerator=MetricDefinition("revenue", MetricType.SUM, PURCHASE),
        denominator=MetricDefinition(
            "sessions",
            MetricType.USER_COUNT,
            EventSelector("session"),
            user_count_mode=UserCountMode.ONE_TIME,
        ),
    ),
]


@pytest.fixture(autouse=True)
def _rollup_always(settings):
    # These worlds hold one or two events per unit and day, fewer than the rollup needs to
    # pay (test_rollup__too_few_events_per_row__read_from_events checks that rule).
    settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW = 0


def _events(w: World, unit_ids, low: dt.datetime, high: dt.datetime) -> list[Ev]:
    out = []
    for unit_id in unit_ids:
        for _ in range(w.rng.randrange(0, 4)):
            at = low + (high - low) * w.rng.random()
            at = at.replace(microsecond=0)
            value = w.rng.choice([w.rng.randrange(1, 50), None, 400])
            out.append(Ev("purchase", at, unit_id, value=value))
        for _ in range(w.rng.randrange(0, 3)):
            out.append(
                Ev("session", (low + (high - low) * w.rng.random()).replace(microsecond=0), unit_id)
            )
    return out


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_incremental_refresh__new_days_arrive__equals_full_recompute(
    production, project, site_admin, metric
):
    # Given an experiment started 12 days ago, 45 units exposed over its first 2 days and
    # their events, all received on day 3, rolled up on day 4
    w = World(production, project, site_admin, seed=11)
    s = ExperimentScope(
        "config", EXPERIMENT, "userID", GROUPS, w.start, w.start + dt.timedelta(days=60)
    )
    r1 = w.base + 3 * D + 12 * H
    first = w.expose_many(45, hours=48, received=r1)
    w.add(_events(w, first, w.start - 6 * D, r1), received=r1)
    env = production.pk
    one = group_statistics(env, s, metric, now=r1 + D)
    assert one.source == "rollup"
    assert_same(one, group_statistics(env, s, metric, now=r1 + D, full=True))
    days = set(RollupState.objects.filter(environment_id=env).values_list("through_day", flat=True))
    assert days == {(r1 + D).date()}
    # When, on day 5, more events arrive for them (some late, timed before day 3), new units
    # are exposed, a unit's exposure from day 2 arrives only now (its events came on day
    # 3), and another unit's first exposure turns out earlier than known
    r2 = w.base + 5 * D + 12 * H
    w.add(_events(w, first, r1 - 2 * D, r2), received=r2)
    late_events = [
        Ev("purchase", w.start + 2 * D, "late1", value=7),
        Ev("session", w.start + 2 * D + H, "late1"),
        Ev("purchase", w.start - D, "late1", value=3),
    ]
    w.add(late_events, received=r1 - D)
    w.expose("late1", "Cheaper", w.start + 36 * H, received=r2)
    moved = w.units[first[3]]
    w.expose(moved.unit_id, moved.group, moved.first_at - 20 * H, received=r2)
    second = w.expose_many(15, prefix="n", since=r1, hours=40, received=r2)
    w.add(_events(w, second, r1 - 5 * D, r2), received=r2)
    # Then the incremental refresh equals a full recompute, field by field, and both equal
    # the reference
    two = group_statistics(env, s, metric, now=r2 + H)
    full = group_statistics(env, s, metric, now=r2 + H, full=True)
    assert (two.source, full.source) == ("rollup", "events")
    assert_same(two, full)
    expected = reference(
        w.units, w.events, groups=GROUPS, start=s.start, end=r2 + H, metric=metric, cuped_days=7
    )
    assert_matches(two, expected)
    assert sum(g.units for g in two.groups) == 61
    days = set(RollupState.objects.filter(environment_id=env).values_list("through_day", flat=True))
    assert days == {(r2 + H).date()}


def test_rollup__cuped_days_change__rebuilt(production, project, site_admin):
    w = World(production, project, site_admin, seed=3)
    s = ExperimentScope("config", EXPERIMENT, "userID", GROUPS, w.start, w.end)
    ids = w.expose_many(20)
    w.add(_events(w, ids, w.start - 8 * D, w.end))
    metric = METRICS[0]
    for days in (7, 3, 0):
        rolled = group_statistics(production.pk, s, metric, cuped_days=days)
        assert_same(rolled, group_statistics(production.pk, s, metric, cuped_days=days, full=True))
    assert not UnitDay.objects.filter(period="pre").exists()


def test_rollup__asked_for_an_earlier_end__computed_from_events(production, project, site_admin):
    w = World(production, project, site_admin, seed=5)
    s = ExperimentScope("config", EXPERIMENT, "userID", GROUPS, w.start, w.end)
    ids = w.expose_many(20)
    w.add(_events(w, ids, w.start, w.end))
    metric = METRICS[0]
    assert group_statistics(production.pk, s, metric).source == "rollup"
    earlier = dataclasses.replace(s, end=w.end - 2 * D)
    result = group_statistics(production.pk, earlier, metric)
    assert result.source == "events"
    assert_same(result, group_statistics(production.pk, earlier, metric, full=True))


def test_rollup__too_few_events_per_row__read_from_events_until_rechecked(
    production, project, site_admin, settings
):
    # Given a sparse metric (about one purchase per unit-day row) and the default rule
    settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW = 4.0
    w = World(production, project, site_admin, seed=7)
    s = ExperimentScope("config", EXPERIMENT, "userID", GROUPS, w.start, w.start + 60 * D)
    ids = w.expose_many(30)
    w.add(_events(w, ids, w.start - 3 * D, w.start + 4 * D))
    metric = METRICS[0]
    now = w.start + 5 * D
    # When its results are computed, the build finds too few events per row
    result = group_statistics(production.pk, s, metric, now=now)
    # Then they come from events, and the rollup keeps no rows of it, only its verdict
    assert result.source == "events"
    assert_same(result, group_statistics(production.pk, s, metric, now=now, full=True))
    state = RollupState.objects.get(environment_id=production.pk)
    assert state.direct
    assert 0 < state.events_per_row < 4
    assert not UnitDay.objects.exists()
    # And within a week it does not build again; after a week it does, and a denser
    # metric by then (rule lowered here) is rolled up
    settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW = 1.0
    assert group_statistics(production.pk, s, metric, now=now + 6 * D).source == "events"
    assert not UnitDay.objects.exists()
    later = group_statistics(production.pk, s, metric, now=now + 8 * D)
    assert later.source == "rollup"
    assert_same(later, group_statistics(production.pk, s, metric, now=now + 8 * D, full=True))
    state.refresh_from_db()
    assert not state.direct
    assert UnitDay.objects.filter(period="post").exists()
