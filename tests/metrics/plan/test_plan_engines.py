"""The proof that the plan does not depend on the engine (issue #16): the same stored rows
in PostgreSQL and in ClickHouse (chdb, for real) give the same sufficient statistics, field
by field to a relative 1e-9 (counts exactly), for every metric type with CUPED on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest

from console.publishing.services import ruleset_version_create
from experiments import services as experiment_services
from experiments.results.compute import compute
from gates.services.unit_types import unit_type_create
from metrics.catalog.selectors import metric_definitions
from metrics.catalog.services import metric_create
from metrics.catalog.validation import FilterInput, MetricInput, StepInput
from metrics.definitions import MetricDefinition
from metrics.plan import Breakdown, ExperimentScope, breakdown_statistics, group_statistics
from tests.experiments.factories import experiment_document
from tests.metrics.plan import test_group_statistics as base
from tests.metrics.plan.engines import Batches, assert_same, copy_to_clickhouse
from tests.metrics.plan.world import BOT_UA, ms
from tests.metrics.seed import group_rules

pytestmark = pytest.mark.django_db

METRICS, scope = base.METRICS, base.scope
world = base.world  # the seeded world: 120 units, crossovers, bots, every kind of event


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_type__same_rows__clickhouse_equals_postgresql(world, ch, settings, name):
    # Given the world's rows stored in PostgreSQL through the intake, copied into ClickHouse
    events, exposures = copy_to_clickhouse(ch, world.environment.pk)
    assert events > 500
    assert exposures > 100
    metric = METRICS[name]
    s = scope(world)
    # When each engine computes the metric with CUPED
    on_postgres = group_statistics(world.environment.pk, s, metric, cuped_days=7, full=True)
    settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
    on_clickhouse = group_statistics(world.environment.pk, s, metric, cuped_days=7)
    # Then every field agrees
    assert_same(on_postgres, on_clickhouse)
    assert sum(g.units for g in on_postgres.groups) > 100


# A planted-lift world keyed by a custom unit type -------------------------------------------

COMPANY_EXPERIMENT = "seats_offer"
COMPANY_GROUPS = ("Control", "Test")
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
CATALOG = [
    MetricInput(name="seats", metric_type="sum", event_name="purchase", winsorize_upper=0.95),
    MetricInput(
        name="seats_usd",
        metric_type="sum",
        event_name="purchase",
        filters=[FilterInput("metadata.currency", "in", ["USD"])],
        winsorize_upper=0.9,
        winsorize_lower=0.1,
        cap=300.0,
    ),
    MetricInput(name="logins", metric_type="event_count", event_name="session"),
    MetricInput(name="active", metric_type="event_user", event_name="session"),
    MetricInput(
        name="buyers", metric_type="event_user", event_name="purchase", user_count_mode="one_time"
    ),
    MetricInput(name="basket", metric_type="mean", event_name="purchase", winsorize_upper=0.9),
    MetricInput(
        name="seats_per_login",
        metric_type="ratio",
        numerator="seats::sum",
        denominator="logins::event_count",
        winsorize_upper=0.9,
    ),
    MetricInput(
        name="checkout",
        metric_type="funnel",
        steps=[StepInput("cart"), StepInput("pay")],
        funnel_window_hours=24,
    ),
    MetricInput(
        name="skus", metric_type="count_distinct", event_name="purchase", value_field="metadata.sku"
    ),
]


@pytest.fixture
def company(production, project, site_admin):
    """160 companies (unit type companyID) exposed over 4 days in Control or Test, from
    three countries, two browsers and two tiers; Test companies buy about 30% more seats.
    Events before the exposure (CUPED), custom IDs under differently cased keys, events of
    people without their company (not the unit's), three crossovers, two bots. Every batch
    stored through the intake; `batches.exposure_rows` are the rows ClickHouse would get."""
    unit_type_create(actor=site_admin, project=project, name="companyID")
    for data in CATALOG:
        metric_create(actor=site_admin, project=project, data=data)
    refs = [{"name": m.name, "type": m.metric_type} for m in CATALOG]
    experiment = experiment_services.experiment_create(
        actor=site_admin,
        project=project,
        document=experiment_document(
            COMPANY_EXPERIMENT,
            idType="companyID",
            primaryMetrics=refs[:2],
            secondaryMetrics=refs[2:],
            cuped=True,
            sequentialTesting=True,
        ),
    )
    experiment = experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    now = dt.datetime.now(dt.UTC)
    experiment.started_at = now - dt.timedelta(days=6)
    experiment.save(update_fields=["started_at"])
    ruleset_version_create(actor=site_admin, project=project, reason="started")
    rules = group_rules(production, COMPANY_EXPERIMENT)
    batches = Batches(production)
    rng = random.Random(16)
    exposures, events, firsts = [], [], {}

    def exposure(company: str, group_name: str, at: dt.datetime, user: dict) -> dict:
        return {
            "eventName": "statsig::config_exposure",
            "user": {**user, "customIDs": {"companyID": company}},
            "time": ms(at),
            "metadata": {"config": COMPANY_EXPERIMENT, "ruleID": rules[group_name]},
        }

    for i in range(160):
        company, group_name = f"c{i}", COMPANY_GROUPS[i % 2]
        at = experiment.started_at + dt.timedelta(minutes=rng.randrange(10, 4 * 24 * 60))
        firsts[company] = at
        user = {
            "userID": f"p{i}",
            "country": ["US", "FR", "JP"][i % 3],
            "userAgent": CHROME if i % 4 else IPHONE,
            "custom": {"tier": "gold" if i % 5 else "silver"},
        }
        exposures.append(exposure(company, group_name, at, user))
        lift = 1.3 if group_name == "Test" else 1.0
        key = ["companyID", "CompanyID", "COMPANYID"][i % 3]
        for _ in range(rng.randrange(0, 9)):
            when = at + dt.timedelta(hours=rng.uniform(-7 * 24, 5 * 24))
            when = min(when, now - dt.timedelta(minutes=5))
            name = rng.choice(["purchase", "purchase", "session", "session", "cart", "pay"])
            raw = {
                "eventName": name,
                "user": {"userID": f"p{i}", "customIDs": {key: company}},
                "time": ms(when),
            }
            if name == "purchase":
                raw["value"] = rng.choice([round(rng.gauss(40 * lift, 12), 2), "n/a", 900])
                raw["metadata"] = {"currency": rng.choice(["USD", "EUR"]), "sku": rng.choice("abc")}
            events.append(raw)
        # A person's event without their company: no company's.
        events.append({"eventName": "purchase", "user": {"userID": f"p{i}"}, "time": ms(at)})
    batches.store(exposures[:80])
    batches.store(exposures[80:])
    # Three crossovers (exposed again in the other group, in later batches), two bots.
    for i in (3, 4, 5):
        later = firsts[f"c{i}"] + dt.timedelta(hours=2)
        batches.store([exposure(f"c{i}", COMPANY_GROUPS[(i + 1) % 2], later, {"userID": "x"})])
    # c6 again, earlier than its first batch said: its first exposure moves (the fold).
    moved = firsts["c6"] - dt.timedelta(hours=1)
    batches.store([exposure("c6", "Control", moved, {"userID": "y", "country": "DE"})])
    firsts["c6"] -= dt.timedelta(hours=1)
    for i in (1, 2):
        at = experiment.started_at + dt.timedelta(hours=i)
        batches.store([exposure(f"b{i}", "Control", at, {"userAgent": BOT_UA})])
    batches.store(events)
    return experiment, batches


def company_scope(experiment, **changes) -> ExperimentScope:
    now = dt.datetime.now(dt.UTC)
    base = ExperimentScope(
        "config", COMPANY_EXPERIMENT, "companyID", COMPANY_GROUPS, experiment.started_at, now
    )
    return dataclasses.replace(base, **changes)


def _definitions(project) -> dict[str, MetricDefinition]:
    ids = [f"{m.name}::{m.metric_type}" for m in CATALOG]
    found = metric_definitions(project=project, ids=ids)
    return {key.split("::")[0]: found[key] for key in ids}


@pytest.mark.parametrize("exclude_bots", [True, False])
def test_custom_unit_type__every_metric_type__engines_agree(
    company, ch, settings, project, exclude_bots
):
    # Given the company world in PostgreSQL, and in ClickHouse its events and the exposure
    # rows of every batch (folded by the plan)
    experiment, batches = company
    environment_id = experiment.project.environments.get(name="production").pk
    copy_to_clickhouse(ch, environment_id, batches.exposure_rows)
    s = company_scope(experiment, exclude_bots=exclude_bots)
    for name, metric in _definitions(project).items():
        # When both engines compute the metric with CUPED
        settings.GATEHOUSE_EVENTS_ENGINE = "postgres"
        on_postgres = group_statistics(environment_id, s, metric, cuped_days=7, full=True)
        settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
        on_clickhouse = group_statistics(environment_id, s, metric, cuped_days=7)
        # Then they agree on every field
        assert_same(on_postgres, on_clickhouse, name)
        assert on_postgres.crossovers == 3
        assert on_postgres.bots == (2 if exclude_bots else 0)
        assert sum(g.units for g in on_postgres.groups) == (157 if exclude_bots else 159)
        assert on_postgres.groups[0].covariate_sum is not None


BREAKDOWNS = [
    Breakdown("unit", "country"),
    Breakdown("unit", "browser"),
    Breakdown("unit", "os", top=1),
    Breakdown("unit", "custom.tier"),
    Breakdown("event", "metadata.sku", top=2),
    Breakdown("event", "value", top=3),
]


def test_breakdowns__every_dimension__engines_agree(company, ch, settings, project):
    # Given the company world in both engines
    experiment, batches = company
    environment_id = experiment.project.environments.get(name="production").pk
    copy_to_clickhouse(ch, environment_id, batches.exposure_rows)
    s = company_scope(experiment)
    metrics = _definitions(project)
    segments = {}
    for metric in (metrics["seats"], metrics["logins"], metrics["skus"], metrics["basket"]):
        for breakdown in BREAKDOWNS:
            # When both engines break the metric down
            settings.GATEHOUSE_EVENTS_ENGINE = "postgres"
            on_postgres = breakdown_statistics(environment_id, s, metric, breakdown)
            settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
            on_clickhouse = breakdown_statistics(environment_id, s, metric, breakdown)
            # Then every segment agrees, in the same order
            assert_same(on_postgres, on_clickhouse, f"{metric.name} by {breakdown.field}")
            segments[(metric.name, breakdown.field)] = len(on_postgres.segments)
    assert segments[("seats", "country")] == 4  # US, FR, JP and c6's earlier DE
    assert segments[("seats", "metadata.sku")] == 3  # the top two, and "other"
    assert segments[("seats", "os")] == 3  # the top one, "other", and c6 without an agent


def test_results_payload__sequential_and_cuped__engines_agree(company, ch, settings):
    # Given the company world in both engines, its scorecard's metrics of every type with
    # CUPED and sequential testing on
    experiment, batches = company
    production = experiment.project.environments.get(name="production")
    copy_to_clickhouse(ch, production.pk, batches.exposure_rows)
    now = dt.datetime.now(dt.UTC)
    # When the results are computed on each engine
    settings.GATEHOUSE_EVENTS_ENGINE = "postgres"
    on_postgres = compute(experiment, production, now=now, full=True)
    settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
    on_clickhouse = compute(experiment, production, now=now)
    # Then the statistics module's outputs agree to 1e-9, exposures and SRM included
    assert on_postgres["settings"]["sequential"] is True
    assert on_postgres["settings"]["cuped"] is True
    assert len(on_postgres["metrics"]) == len(CATALOG)
    assert_same(on_postgres, on_clickhouse)
    seats = on_postgres["metrics"][0]
    (comparison,) = seats["comparisons"]
    assert comparison["relative"]["estimate"] > 0.1  # the planted lift shows
    assert on_postgres["exposures"]["crossovers"] == 3
