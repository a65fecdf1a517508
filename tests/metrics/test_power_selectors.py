"""The power calculator's selector (metrics.power.selectors.power_inputs) and its MDE table,
against a plain-Python computation over the same seeded rows, for each population and the
metric types."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics.catalog.selectors import metric_definition
from metrics.catalog.services import metric_settings_update
from metrics.models import Metric
from metrics.power.analysis import PowerSettings, power_table
from metrics.power.selectors import Population, PopulationKind, population_names, power_inputs
from metrics.stats.frequentist import Sided
from metrics.stats.power import minimum_detectable_effect
from tests.metrics.catalog_factories import make_metric
from tests.metrics.power_seed import EXPERIMENT, GATE, Seeded, at, seed_power
from tests.metrics.seed import group_rules

pytestmark = pytest.mark.django_db

Values = Callable[[list[tuple[str, int, object]], int], tuple[float, float]]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


# Per unit (its events of the window as (name, time, value), the window's weeks):
# (numerator, denominator); the denominator is 1 for simple types.
def _count(events, weeks):
    return float(sum(1 for n, _, _ in events if n == "purchase")), 1.0


def _sum(events, weeks):
    return sum(_number(v) or 0 for n, _, v in events if n == "purchase"), 1.0


def _mean(events, weeks):
    numbers = [x for n, _, v in events if n == "purchase" and (x := _number(v)) is not None]
    return sum(numbers), float(len(numbers))


def _participation(events, weeks):
    days = {at(t).date() for n, t, _ in events if n == "visit"}
    return len(days) / (7 * weeks), 1.0


def _one_time(events, weeks):
    return float(any(n == "visit" for n, _, _ in events)), 1.0


def _ratio(events, weeks):
    return _count(events, weeks)[0], float(sum(1 for n, _, _ in events if n == "visit"))


def _funnel(events, weeks):
    visits = [t for n, t, _ in events if n == "visit"]
    if not visits:
        return 0.0, 0.0
    first = min(visits)
    return float(any(n == "purchase" and t >= first for n, t, _ in events)), 1.0


METRICS: dict[str, tuple[dict, Values, bool, bool]] = {
    # name: (make_metric fields, values, ratio-like, winsorized)
    "purchases": ({"metric_type": "event_count", "event_name": "purchase"}, _count, False, True),
    "revenue": ({"metric_type": "sum", "event_name": "purchase"}, _sum, False, True),
    "aov": ({"metric_type": "mean", "event_name": "purchase"}, _mean, True, True),
    "visit_days": (
        {"metric_type": "event_user", "event_name": "visit"},
        _participation,
        False,
        False,
    ),
    "visited": (
        {"metric_type": "event_user", "event_name": "visit", "user_count_mode": "one_time"},
        _one_time,
        False,
        False,
    ),
    "per_visit": (
        {
            "metric_type": "ratio",
            "numerator": "purchases::event_count",
            "denominator": "visits::event_count",
        },
        _ratio,
        True,
        True,
    ),
    "checkout": (
        {"metric_type": "funnel", "steps": [{"event_name": "visit"}, {"event_name": "purchase"}]},
        _funnel,
        True,
        True,
    ),
}


def _members(data: Seeded, population: Population, weeks: int, active=None) -> set[str]:
    since = data.since_ms(weeks)
    if population.kind == PopulationKind.ALL:
        return {u for u, n, t, _ in data.events if t >= since and (not active or n in active)}
    if population.kind == PopulationKind.GATE:
        return {
            f"u:{u}"
            for u, checks in data.gate_checks.items()
            if min(checks)[1] and max(t for t, _ in checks) >= since
        }
    return {f"u:{u}" for u, times in data.exposures.items() if max(times) >= since}


def _cap(values: np.ndarray, upper: float | None) -> np.ndarray:
    nonzero = values[values != 0]
    if upper is None or not len(nonzero):
        return values
    top = np.percentile(nonzero, upper * 100)  # linear, as percentile_cont
    return np.where(values == 0, values, np.minimum(values, top))


def _expected(data, population, weeks, values: Values, ratio_like, winsorized, active=None):
    """(units, n, mean, variance) computed by hand."""
    since = data.since_ms(weeks)
    members = sorted(_members(data, population, weeks, active))
    pairs = [
        values([(n, t, v) for u, n, t, v in data.events if u == unit and t >= since], weeks)
        for unit in members
    ]
    counted = [(y, d) for y, d in pairs if d != 0] if ratio_like else pairs
    if not counted:
        return len(members), 0, None, None
    y = np.array([p[0] for p in counted])
    d = np.array([p[1] for p in counted])
    if winsorized:
        y = _cap(y, 0.999)
        d = _cap(d, 0.999) if ratio_like else d
    n = len(counted)
    if not ratio_like:
        return len(members), n, y.mean(), y.var(ddof=1) if n > 1 else 0.0
    m, dd = y.mean(), d.mean()
    if n < 2:
        return len(members), n, m / dd, 0.0
    cov = np.cov(y, d, ddof=1)
    variance = cov[0, 0] / dd**2 - 2 * m * cov[0, 1] / dd**3 + m**2 * cov[1, 1] / dd**4
    return len(members), n, m / dd, variance


@pytest.fixture
def catalog(project, project_member):
    make_metric(project_member, project, "visits", "event_count", event_name="visit")
    for name, (fields, *_) in METRICS.items():
        fields = dict(fields)
        make_metric(project_member, project, name, fields.pop("metric_type"), **fields)


def _definition(project, name):
    return metric_definition(Metric.objects.get(project=project, name=name))


@pytest.fixture
def seeded(production, running_experiment, project, project_member, catalog):
    return seed_power(production, group_rules(production, EXPERIMENT))


POPULATIONS = [
    Population(PopulationKind.ALL),
    Population(PopulationKind.GATE, GATE),
    Population(PopulationKind.EXPERIMENT, EXPERIMENT),
]


def _close(actual, expected):
    if expected is None:
        return actual is None
    return actual is not None and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("population", POPULATIONS, ids=str)
@pytest.mark.parametrize("name", list(METRICS))
def test_power_inputs__each_population_and_type__matches_a_computation_by_hand(
    seeded, production, project, population, name
):
    # Given the seeded events and exposures, and a metric of the catalog
    _, values, ratio_like, winsorized = METRICS[name]

    # When the selector reads its four windows
    result = power_inputs(
        definition=_definition(project, name),
        environment=production,
        population=population,
        now=at(seeded.now_ms + 30_000),
    )

    # Then each window's units, n, mean and variance are the hand computation's
    assert [w.weeks for w in result.windows] == [1, 2, 3, 4]
    assert result.unit_type == ("userID, else stableID" if population.kind == "all" else "userID")
    for window in result.windows:
        units, n, mean, variance = _expected(
            seeded, population, window.weeks, values, ratio_like, winsorized
        )
        assert (window.units, window.n) == (units, n), window
        assert _close(window.mean, mean), (window, mean)
        assert _close(window.variance, variance), (window, variance)
    assert result.windows[-1].units > result.windows[0].units > 0


def test_power_inputs__active_events_set__only_they_make_units_active(
    seeded, production, project, project_member
):
    # Given a project whose active units are those that purchased
    metric_settings_update(actor=project_member, project=project, active_events=["purchase"])
    population = Population(PopulationKind.ALL)

    # When the selector reads visits per unit
    result = power_inputs(
        definition=_definition(project, "visits"),
        environment=production,
        population=population,
        active_events=["purchase"],
        now=at(seeded.now_ms + 30_000),
    )

    # Then the units are the purchasers only, with their visits
    for window in result.windows:
        units, n, mean, variance = _expected(
            seeded,
            population,
            window.weeks,
            lambda ev, w: (float(sum(1 for n, _, _ in ev if n == "visit")), 1.0),
            False,
            True,
            active={"purchase"},
        )
        assert (window.units, window.n) == (units, n)
        assert _close(window.mean, mean)
        assert _close(window.variance, variance)


def test_power_inputs__constant_queries_and_unknown_names__empty_windows(
    seeded, production, project
):
    definition = _definition(project, "purchases")
    # An exposure population: its unit type, then the statement; "all": the statement only
    with CaptureQueriesContext(connection) as queries:
        power_inputs(
            definition=definition,
            environment=production,
            population=Population(PopulationKind.GATE, GATE),
        )
    assert len(queries) == 2
    with CaptureQueriesContext(connection) as queries:
        power_inputs(
            definition=definition,
            environment=production,
            population=Population(PopulationKind.ALL),
        )
    assert len(queries) == 1

    # A gate nobody checked has no units, and says so
    result = power_inputs(
        definition=definition,
        environment=production,
        population=Population(PopulationKind.GATE, "nobody's gate'; DROP TABLE x; --"),
    )
    assert result.empty
    assert all(w.mean is None and w.n == 0 for w in result.windows)


def test_population_names__gates_with_passes_and_experiments(seeded, production):
    assert population_names(environment=production) == {
        "gate": [GATE],
        "experiment": [EXPERIMENT],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", Population(PopulationKind.ALL)),
        (" ALL ", Population(PopulationKind.ALL)),
        ("gate:new_checkout", Population(PopulationKind.GATE, "new_checkout")),
        ("experiment:a:b", Population(PopulationKind.EXPERIMENT, "a:b")),
    ],
)
def test_population_parse__valid(text, expected):
    assert Population.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "gate", "gate:", "segment:x", "gate:a\x00b", "gate:" + "x" * 201]
)
def test_population_parse__invalid__value_error(text):
    with pytest.raises(ValueError, match="all, gate|Name the"):
        Population.parse(text)


def test_power_table__mde_per_week__statsig_formula_by_hand(seeded, production, project):
    # Given the 4 windows of purchases over the gate's passing units
    inputs = power_inputs(
        definition=_definition(project, "purchases"),
        environment=production,
        population=Population(PopulationKind.GATE, GATE),
        now=at(seeded.now_ms + 30_000),
    )
    settings = PowerSettings(groups=3, allocation=50, confidence=90, power=80, target_mde=40)

    # When the table is computed
    table = power_table(inputs, settings)

    # Then each week's MDE is minimum_detectable_effect with n × 50% / 3 units per group
    for row, window in zip(table.rows, inputs.windows, strict=True):
        per_group = window.n * 0.5 / 3
        assert row.per_group == pytest.approx(per_group)
        assert row.traffic == pytest.approx(window.units * 0.5)
        expected = 100 * minimum_detectable_effect(
            mean=window.mean,
            variance=window.variance,
            n_treatment=per_group,
            n_control=per_group,
            alpha=0.10,
            power=0.8,
            sided=Sided.TWO,
        )
        # by hand too: (z_0.95 + z_0.8) · sqrt(2 var / N) / mean
        by_hand = (
            100 * (1.6448536 + 0.8416212) * math.sqrt(2 * window.variance / per_group) / window.mean
        )
        assert row.mde == pytest.approx(expected)
        assert row.mde == pytest.approx(by_hand, rel=1e-6)
    mdes = [r.mde for r in table.rows]
    assert mdes == sorted(mdes, reverse=True)  # more weeks, more units, smaller MDE
    first = next((r.weeks for r in table.rows if r.mde <= 40), None)
    assert table.weeks_needed == first
    chart = table.as_chart()
    assert chart["labels"] == ["1 week", "2 weeks", "3 weeks", "4 weeks"]
    assert chart["series"][0]["data"] == [round(m, 4) for m in mdes]


def test_power_table__one_sided_smaller_mde_and_unreachable_target(seeded, production, project):
    inputs = power_inputs(
        definition=_definition(project, "revenue"),
        environment=production,
        population=Population(PopulationKind.ALL),
        now=at(seeded.now_ms + 30_000),
    )
    two = power_table(inputs, PowerSettings(target_mde=0.01))
    one = power_table(inputs, PowerSettings(sided=Sided.ONE, target_mde=0.01))
    assert all(o.mde < t.mde for o, t in zip(one.rows, two.rows, strict=True))
    assert two.weeks_needed is None
    assert "More than 4 weeks" in two.target_note


def test_power_table__no_units__rows_say_why(production, project, catalog):
    inputs = power_inputs(
        definition=_definition(project, "purchases"),
        environment=production,
        population=Population(PopulationKind.ALL),
    )
    table = power_table(inputs, PowerSettings())
    assert inputs.empty
    assert [r.note for r in table.rows] == ["no units"] * 4
    assert table.as_chart()["series"][0]["data"] == [None] * 4
    assert dt.timedelta(weeks=4) == inputs.end - inputs.windows[-1].start
