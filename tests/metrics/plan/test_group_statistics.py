"""metrics.plan.group_statistics against the same numbers computed in plain Python over the
rows stored through the intake (tests/metrics/plan/reference.py), metric type by type."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from metrics.definitions import (
    EventSelector,
    Filter,
    MetricDefinition,
    MetricType,
    Operator,
    UserCountMode,
)
from metrics.plan import ExperimentScope, PlanResult, group_statistics
from tests.metrics.plan.reference import Expected, daily_reference, reference
from tests.metrics.plan.world import EXPERIMENT, GROUPS, Ev, World

pytestmark = pytest.mark.django_db

CURRENCIES = ("USD", "EUR", 'it\'s "quoted"', "'; DROP TABLE metrics_event; --", "日本円")


@pytest.fixture
def world(production, project, site_admin):
    """120 units in three groups with purchases, sessions, funnel steps and page views
    before, during and after their exposure; crossovers, bots, units exposed outside the
    window and events under another unit type."""
    w = World(production, project, site_admin)
    ids = w.expose_many(120)
    # Two crossovers (later exposed in another group) and two bots.
    w.expose("u0", "Cheaper", w.units["u0"].first_at + dt.timedelta(hours=3))
    w.expose("u1", "Dearer", w.units["u1"].first_at + dt.timedelta(hours=3))
    w.expose("bot1", "Control", w.start + dt.timedelta(hours=2), bot=True)
    w.expose("bot2", "Dearer", w.start + dt.timedelta(hours=5), bot=True)
    # Exposed before the start and after the end: not in the experiment's window.
    w.expose("early", "Control", w.start - dt.timedelta(hours=1))
    w.expose("late", "Cheaper", w.end + dt.timedelta(hours=1))
    rng = w.rng
    events = []
    for unit_id in [*ids, "bot1", "bot2", "early", "late"]:
        unit = w.units[unit_id]
        if rng.random() < 0.15:
            continue  # no events at all
        for _ in range(rng.randrange(0, 7)):
            value = rng.choice([rng.randrange(1, 60), rng.randrange(1, 60), "n/a", None, 2500])
            metadata = {
                "currency": rng.choice(CURRENCIES),
                "items": rng.choice(["1", "2", "3", "12", "x", " 4 "]),
                "sku": rng.choice(["a", "b", "c", "d", "e"]),
            }
            user = {"country": rng.choice(["US", "FR", "JP"]), "custom": {"tier": "gold"}}
            if rng.random() < 0.5:
                user = {"country": "US"}
            events.append(
                Ev("purchase", w.around(unit), unit_id, value=value, metadata=metadata, user=user)
            )
        for _ in range(rng.randrange(0, 5)):
            events.append(Ev("session", w.around(unit), unit_id))
        if rng.random() < 0.6:
            cart = w.around(unit, before_days=2, after_days=6)
            events.append(Ev("cart", cart, unit_id))
            if rng.random() < 0.7:
                pay = cart + dt.timedelta(hours=rng.choice([-2, 1, 5, 30]))
                events.append(Ev("pay", min(pay, w.now()), unit_id))
    # Events under another unit type (a stableID that equals a unit's userID): not the unit's.
    for unit_id in ids[:10]:
        at = w.units[unit_id].first_at + dt.timedelta(hours=1)
        events.append(Ev("purchase", at, stable_id=unit_id, value=1000))
    w.add(events)
    return w


def scope(w: World, **changes) -> ExperimentScope:
    base = ExperimentScope("config", EXPERIMENT, "userID", GROUPS, w.start, w.end)
    return dataclasses.replace(base, **changes)


def assert_matches(result: PlanResult, expected: Expected) -> None:
    assert result.crossovers == expected.crossovers
    assert result.bots == expected.bots
    for name, fields in expected.caps.items():
        assert getattr(result.caps, name) == pytest.approx(fields), name
    assert [g.group for g in result.groups] == list(expected.groups)
    for name, fields in expected.groups.items():
        got = result.group(name)
        for key, value in fields.items():
            assert getattr(got, key) == pytest.approx(value, rel=1e-9, abs=1e-9), (name, key)


def check(w: World, metric: MetricDefinition, *, cuped_days: int = 7, daily: bool = True, **sc):
    s = scope(w, **sc)
    result = group_statistics(w.environment.pk, s, metric, cuped_days=cuped_days, full=True)
    expected = reference(
        w.units,
        w.events,
        groups=s.groups,
        start=s.start,
        end=s.end,
        metric=metric,
        cuped_days=cuped_days,
        exclude_bots=s.exclude_bots,
    )
    assert_matches(result, expected)
    if daily:
        for g in result.groups:
            points = daily_reference(
                w.units,
                w.events,
                group_name=g.group,
                start=s.start,
                end=s.end,
                metric=metric,
                caps=expected.caps,
                exclude_bots=s.exclude_bots,
            )
            assert len(g.daily) == len(points)
            for got, want in zip(g.daily, points, strict=True):
                assert got.day == want.pop("day")
                for key, value in want.items():
                    assert getattr(got, key) == pytest.approx(value, rel=1e-9, abs=1e-6), (
                        g.group,
                        got.day,
                        key,
                    )
    return result


PURCHASE = EventSelector("purchase")


def test_event_count__winsorized_with_cuped__matches_the_reference(world):
    metric = MetricDefinition("purchases", MetricType.EVENT_COUNT, PURCHASE, winsorize_upper=0.9)
    result = check(world, metric)
    assert result.caps.upper is not None
    assert result.crossovers == 2
    assert result.bots == 2


SESSION = EventSelector("session")
HOSTILE = CURRENCIES[3]
METRICS = {
    "participation": MetricDefinition("active", MetricType.USER_COUNT, SESSION),
    "one_time": MetricDefinition(
        "buyers", MetricType.USER_COUNT, PURCHASE, user_count_mode=UserCountMode.ONE_TIME
    ),
    "sum_filtered_capped": MetricDefinition(
        "revenue",
        MetricType.SUM,
        EventSelector(
            "purchase",
            (
                Filter("metadata.currency", Operator.IN, ("USD", HOSTILE, "日本円")),
                Filter("metadata.items", Operator.GT, ("1.5",)),
                Filter("user.country", Operator.NEQ, ("FR",)),
            ),
        ),
        winsorize_upper=0.95,
        winsorize_lower=0.05,
        cap=3000.0,
    ),
    "sum_of_metadata": MetricDefinition(
        "items", MetricType.SUM, PURCHASE, value_field="metadata.items", winsorize_upper=None
    ),
    "sum_fixed_cap_only": MetricDefinition(
        "revenue_capped", MetricType.SUM, PURCHASE, winsorize_upper=None, cap=100.0
    ),
    "mean": MetricDefinition("basket", MetricType.MEAN, PURCHASE, winsorize_upper=0.9),
    "ratio_sparse_denominator": MetricDefinition(
        "revenue_per_payment",
        MetricType.RATIO,
        numerator=MetricDefinition("revenue", MetricType.SUM, PURCHASE, cap=200.0),
        denominator=MetricDefinition("payments", MetricType.EVENT_COUNT, EventSelector("pay")),
        winsorize_upper=0.8,
    ),
    "ratio_of_user_counts": MetricDefinition(
        "buyers_per_visitor",
        MetricType.RATIO,
        numerator=MetricDefinition(
            "b", MetricType.USER_COUNT, PURCHASE, user_count_mode=UserCountMode.ONE_TIME
        ),
        denominator=MetricDefinition(
            "v", MetricType.USER_COUNT, SESSION, user_count_mode=UserCountMode.ONE_TIME
        ),
    ),
    "funnel_window": MetricDefinition(
        "checkout",
        MetricType.FUNNEL,
        steps=(EventSelector("cart"), EventSelector("pay")),
        funnel_window_hours=24,
    ),
    "funnel_step_never_reached": MetricDefinition(
        "checkout_done",
        MetricType.FUNNEL,
        steps=(EventSelector("cart"), EventSelector("pay"), EventSelector("done")),
    ),
    "count_distinct": MetricDefinition(
        "skus", MetricType.COUNT_DISTINCT, PURCHASE, value_field="metadata.sku"
    ),
    "event_never_seen": MetricDefinition("ghosts", MetricType.EVENT_COUNT, EventSelector("ghost")),
    "operators": MetricDefinition(
        "odd_purchases",
        MetricType.EVENT_COUNT,
        EventSelector(
            "purchase",
            (
                Filter("metadata.currency", Operator.CONTAINS, ("quot", "DROP", "%", "_")),
                Filter("metadata.sku", Operator.NOT_IN, ("a", "b")),
                Filter("value", Operator.LTE, ("2500",)),
                Filter("user.custom.tier", Operator.IS_SET),
                Filter("metadata.missing", Operator.IS_NOT_SET),
            ),
        ),
    ),
    "non_numeric_bound": MetricDefinition(
        "none",
        MetricType.EVENT_COUNT,
        EventSelector("purchase", (Filter("value", Operator.GTE, ("'; DROP TABLE x; --",)),)),
    ),
    "hostile_key": MetricDefinition(
        "hostile",
        MetricType.SUM,
        EventSelector("purchase", (Filter("metadata.'; DROP TABLE x; --", Operator.IS_NOT_SET),)),
        value_field='metadata."); DROP TABLE metrics_event; --',
    ),
}


@pytest.mark.parametrize("name", list(METRICS))
def test_metric_type__seeded_world__every_field_matches_the_reference(world, name):
    metric = METRICS[name]
    # Given the world; When the plan runs; Then every field equals the Python reference
    result = check(
        world,
        metric,
        daily=metric.user_count_mode != "daily_participation"
        or metric.type != MetricType.USER_COUNT,
    )
    assert result.metric == metric.as_dict()
    assert result.source == "events"
    # The world gives every metric something to count, but these.
    zero = {"event_never_seen", "non_numeric_bound", "funnel_step_never_reached", "hostile_key"}
    assert any(g.sum for g in result.groups) == (name not in zero)
    # 120 units, less the 2 crossovers (the 2 bots are units of their own)
    assert sum(g.units for g in result.groups) == 118


def test_event_never_seen__units_counted_and_sums_zero(world):
    metric = METRICS["event_never_seen"]
    result = group_statistics(world.environment.pk, scope(world), metric, full=True)
    assert all(g.n == g.units > 0 and g.sum == 0 and g.sum_squares == 0 for g in result.groups)
    assert result.caps.upper is None


def test_funnel__step_never_reached__last_step_count_zero(world):
    result = check(world, METRICS["funnel_step_never_reached"])
    for g in result.groups:
        assert g.steps[0] >= g.steps[1] > 0
        assert g.steps[2] == 0
        assert g.sum == 0


def test_ratio__denominator_zero_for_most_units__only_units_with_one_reported(world):
    result = check(world, METRICS["ratio_sparse_denominator"])
    for g in result.groups:
        assert 0 < g.n < g.units / 2


def test_bots_kept_when_asked__bots_counted_in_their_groups(world):
    check(world, METRICS["one_time"], exclude_bots=False)


def test_experiment_without_exposures__every_group_empty(world):
    metric = METRICS["sum_filtered_capped"]
    never = scope(world, name="never_started")
    result = group_statistics(world.environment.pk, never, metric, full=True)
    assert [g.group for g in result.groups] == list(GROUPS)
    assert all(g.units == g.n == 0 and g.sum == 0 for g in result.groups)
    assert (result.crossovers, result.bots, result.caps.upper) == (0, 0, None)


def test_a_group_nobody_is_in__reported_empty_in_order(world):
    result = check(world, METRICS["mean"], groups=("Dearer", "Nobody", "Control"))
    assert [g.group for g in result.groups] == ["Dearer", "Nobody", "Control"]
    assert result.group("Nobody").units == 0


def test_without_cuped__no_covariate_fields(world):
    result = check(world, METRICS["ratio_sparse_denominator"], cuped_days=0)
    assert result.groups[0].covariate_sum is None
    assert result.groups[0].den_pre_sum is None


def test_gate__pass_and_fail_groups(production):
    from tests.metrics.seed import gate_check, store

    now = dt.datetime.now(dt.UTC)
    at = int((now - dt.timedelta(hours=2)).timestamp() * 1000)
    store(production, [gate_check("new_nav", f"g{i}", i % 2 == 0, at=at + i) for i in range(10)])
    store(production, [Ev("click", now - dt.timedelta(hours=1), "g0").raw()])
    gate = ExperimentScope(
        "gate", "new_nav", "userID", ("pass", "fail"), now - dt.timedelta(days=1), now
    )
    metric = MetricDefinition("clicks", MetricType.EVENT_COUNT, EventSelector("click"))
    result = group_statistics(production.pk, gate, metric, cuped_days=0)
    assert [(g.group, g.units, g.sum) for g in result.groups] == [
        ("pass", 5, 1.0),
        ("fail", 5, 0.0),
    ]


def assert_same(a: PlanResult, b: PlanResult) -> None:
    """Every field of two results equal (floats to rounding), but where each came from."""
    assert (a.crossovers, a.bots, a.end, a.cuped_days) == (
        b.crossovers,
        b.bots,
        b.end,
        b.cuped_days,
    )
    for name in ("upper", "lower", "den_upper", "den_lower", "fixed"):
        assert getattr(a.caps, name) == pytest.approx(getattr(b.caps, name)), name
    assert len(a.groups) == len(b.groups)
    for x, y in zip(a.groups, b.groups, strict=True):
        for f in dataclasses.fields(x):
            got, want = getattr(x, f.name), getattr(y, f.name)
            if f.name == "daily":
                assert len(got) == len(want)
                for p, q in zip(got, want, strict=True):
                    assert dataclasses.astuple(p) == pytest.approx(dataclasses.astuple(q)), x.group
            elif isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (x.group, f.name)
            else:
                assert got == want, (x.group, f.name)


ROLLED = [
    n for n, m in METRICS.items() if m.type not in (MetricType.FUNNEL, MetricType.COUNT_DISTINCT)
]


@pytest.mark.parametrize("name", ROLLED)
def test_rollup__built_from_scratch__equals_the_direct_computation(world, name, settings):
    settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW = 0  # rolled up however sparse
    metric = METRICS[name]
    s = scope(world)
    direct = group_statistics(world.environment.pk, s, metric, full=True)
    rolled = group_statistics(world.environment.pk, s, metric)
    assert (direct.source, rolled.source) == ("events", "rollup")
    assert_same(rolled, direct)
