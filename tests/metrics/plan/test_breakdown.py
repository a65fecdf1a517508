"""metrics.plan.breakdown_statistics: an experiment's statistics per segment of a unit
dimension (at the unit's first exposure) or of a metric's event dimension."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from metrics.definitions import EventSelector, MetricDefinition, MetricType
from metrics.plan import Breakdown, ExperimentScope, breakdown_statistics, group_statistics
from tests.metrics.plan.world import EXPERIMENT, GROUPS, Ev, Unit, World, ms, store

pytestmark = pytest.mark.django_db

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"  # noqa: E501
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"  # noqa: E501
PURCHASES = MetricDefinition(
    "purchases", MetricType.EVENT_COUNT, EventSelector("purchase"), winsorize_upper=0.9
)


def _country(i: int) -> str | None:
    return [None, "US", "FR", "US", "FR", "DE"][(i // 3) % 6]


@pytest.fixture
def world(production, project, site_admin):
    """180 units in three groups, from US, FR, DE or nowhere, on Chrome/Windows or an
    iPhone, tier gold or silver. Cheaper units from the US buy 4 times, every other unit
    once or twice (alike in every country); purchases carry an sku (a or b)."""
    w = World(production, project, site_admin)
    raws, events = [], []
    for i in range(180):
        unit_id, group_name = f"u{i}", GROUPS[i % 3]
        at = w.start + dt.timedelta(hours=1 + i % 48)
        user: dict = {"userID": unit_id, "custom": {"tier": "gold" if i % 2 else "silver"}}
        if _country(i):
            user["country"] = _country(i)
        user["userAgent"] = CHROME if i % 4 else IPHONE
        raws.append(
            {
                "eventName": "statsig::config_exposure",
                "user": user,
                "time": ms(at),
                "metadata": {"config": EXPERIMENT, "ruleID": w.rules[group_name]},
            }
        )
        w.units[unit_id] = Unit(unit_id, group_name, at)
        buys = 4 if group_name == "Cheaper" and _country(i) == "US" else 1 + (i // 18) % 2
        for k in range(buys):
            sku = "a" if k % 2 == 0 else "b"
            events.append(
                Ev("purchase", at + dt.timedelta(hours=1 + k), unit_id, metadata={"sku": sku})
            )
    store(w.environment, raws)
    # A later exposure of u1 from another country changes nothing: the first one counts.
    later = dict(raws[1], time=ms(w.units["u1"].first_at + dt.timedelta(hours=2)))
    later["user"] = dict(raws[1]["user"], country="JP")
    store(w.environment, [later])
    w.add(events)
    return w


def _scope(w: World) -> ExperimentScope:
    return ExperimentScope("config", EXPERIMENT, "userID", GROUPS, w.start, w.end)


def _by_value(result) -> dict:
    return {(s.kind, s.value): s.plan for s in result.segments}


def test_breakdown__country__shows_the_lift_only_where_it_was_planted(world):
    # When
    result = breakdown_statistics(
        world.environment.pk, _scope(world), PURCHASES, Breakdown("unit", "country")
    )
    # Then
    segments = _by_value(result)
    assert list(segments) == [
        ("value", "FR"),
        ("value", "US"),
        ("value", "DE"),
        ("unknown", None),
    ]
    us, fr = segments[("value", "US")], segments[("value", "FR")]

    def mean(plan, group):
        g = plan.group(group)
        return g.sum / g.n

    assert mean(us, "Cheaper") == 4
    assert mean(us, "Control") == mean(us, "Dearer") == 1.5
    assert mean(fr, "Cheaper") == mean(fr, "Control") == 1.5
    assert us.group("Control").units == 20


def test_breakdown__units_and_sums_add_up_to_the_whole_with_pooled_caps(world):
    # Given: the 80th percentile of all the units is 2; of the US's alone it would be 4
    metric = dataclasses.replace(PURCHASES, winsorize_upper=0.8)
    scope = _scope(world)
    whole = group_statistics(world.environment.pk, scope, metric, full=True)
    # When
    result = breakdown_statistics(world.environment.pk, scope, metric, Breakdown("unit", "country"))
    # Then: every unit is in one segment, capped with the experiment's caps
    assert result.caps == whole.caps
    assert whole.caps.upper == 2
    assert _by_value(result)[("value", "US")].group("Cheaper").sum == 20 * 2
    for g in whole.groups:
        parts = [s.plan.group(g.group) for s in result.segments]
        assert sum(p.units for p in parts) == g.units
        assert sum(p.n for p in parts) == g.n
        assert sum(p.sum for p in parts) == pytest.approx(g.sum)
        assert sum(p.covariate_sum or 0 for p in parts) == pytest.approx(g.covariate_sum)


def test_breakdown__top_values__the_rest_is_other(world):
    result = breakdown_statistics(
        world.environment.pk, _scope(world), PURCHASES, Breakdown("unit", "country", top=1)
    )
    assert [(s.kind, s.value) for s in result.segments] == [
        ("value", "FR"),
        ("other", None),
        ("unknown", None),
    ]


def test_breakdown__first_exposure_browser_os_and_custom_field(world):
    pk, scope = world.environment.pk, _scope(world)
    browsers = breakdown_statistics(pk, scope, PURCHASES, Breakdown("unit", "browser"))
    assert [s.value for s in browsers.segments] == ["Chrome", "Mobile Safari"]
    assert sum(s.plan.group("Control").units for s in browsers.segments) == 60
    systems = breakdown_statistics(pk, scope, PURCHASES, Breakdown("unit", "os"))
    assert [s.value for s in systems.segments] == ["Windows", "iOS"]
    tiers = breakdown_statistics(pk, scope, PURCHASES, Breakdown("unit", "custom.tier"))
    assert sorted(s.value for s in tiers.segments) == ["gold", "silver"]
    # u1 was first exposed without a country, later from JP: it stays unknown.
    countries = breakdown_statistics(pk, scope, PURCHASES, Breakdown("unit", "country"))
    assert "JP" not in [s.value for s in countries.segments]
    nothing = breakdown_statistics(pk, scope, PURCHASES, Breakdown("unit", "custom.nope"))
    assert [s.kind for s in nothing.segments] == ["unknown"]


def test_breakdown__event_dimension__each_segment_counts_its_events_over_all_units(world):
    # Given: no percentile caps, so the segments' sums add up exactly
    metric = MetricDefinition(
        "purchases", MetricType.EVENT_COUNT, EventSelector("purchase"), winsorize_upper=None
    )
    scope = _scope(world)
    whole = group_statistics(world.environment.pk, scope, metric, full=True)
    # When
    result = breakdown_statistics(
        world.environment.pk, scope, metric, Breakdown("event", "metadata.sku")
    )
    # Then
    segments = _by_value(result)
    assert list(segments) == [("value", "a"), ("value", "b")]
    a, b = segments[("value", "a")], segments[("value", "b")]
    for g in whole.groups:
        assert a.group(g.group).units == b.group(g.group).units == g.units
        assert a.group(g.group).sum + b.group(g.group).sum == pytest.approx(g.sum)
    assert a.group("Control").sum == 60  # every unit bought once at least: sku a
    assert b.group("Control").sum == 30  # every other one twice


def test_breakdown__event_dimension_of_a_funnel__is_refused(world):
    funnel = MetricDefinition(
        "checkout", MetricType.FUNNEL, steps=(EventSelector("cart"), EventSelector("pay"))
    )
    with pytest.raises(ValueError, match="no event dimension"):
        breakdown_statistics(
            world.environment.pk, _scope(world), funnel, Breakdown("event", "value")
        )


def test_breakdown__unknown_dimension__is_refused():
    with pytest.raises(ValueError, match="no breakdown"):
        Breakdown("unit", "city")
    with pytest.raises(ValueError, match="no breakdown"):
        Breakdown("event", "user.country")
