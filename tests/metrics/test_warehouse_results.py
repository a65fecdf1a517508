"""The warehouse-native proof (docs/warehouse.md): the same planted-lift data stored through
our intake and loaded as the customer's tables in a separate PostgreSQL database gives the
same results through a warehouse connection (the plan in the Redshift dialect, run on
PostgreSQL) as through ingestion; every statement sent to the warehouse parses as
Redshift; and a warehouse that fails leaves the last good results and a sentence."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import psycopg
import pytest
import sqlglot
from django.urls import reverse
from django.utils import timezone

from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.documents.rendering import experiment_to_document
from experiments.models import ResultsState
from experiments.results.compute import compute
from experiments.results.selectors import latest_results
from experiments.results.services import results_compute, results_request, results_schedule
from metrics.catalog.selectors import metric_definitions
from metrics.catalog.services import metric_create
from metrics.catalog.validation import FilterInput, MetricInput
from metrics.models import ExposureCount
from metrics.plan import ExperimentScope
from metrics.plan import group_statistics as ingested_statistics
from metrics.warehouse import plan as warehouse_plan
from metrics.warehouse.client import Target
from metrics.warehouse.selectors import metric_sources_by_name
from metrics.warehouse.services import (
    AssignmentSourceInput,
    MetricSourceInput,
    assignment_source_create,
    metric_source_create,
    warehouse_connection_update,
)
from tests.experiments.factories import experiment_document
from tests.metrics.seed import event, exposure, group_rules, store
from tests.metrics.test_warehouse_services import connection_input_from

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

EXPERIMENT = "checkout_button"
UNITS = 400
CROSSOVERS = 6
PAGES = ("home", "checkout", "search")


def ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclasses.dataclass
class Planted:
    """The rows both paths get: assignments (unit, group, time), purchases (unit, time,
    amount) and page views (unit, time, page); Test buys about 10% more."""

    assignments: list[tuple[str, str, dt.datetime]]
    purchases: list[tuple[str, dt.datetime, float]]
    views: list[tuple[str, dt.datetime, str]]


def planted(now: dt.datetime, seed: int = 11) -> Planted:
    rng = random.Random(seed)
    # Everything in the past: the intake would move a future time to its arrival.
    base = (now - dt.timedelta(days=5)).replace(microsecond=0)
    out = Planted([], [], [])
    for i in range(UNITS):
        unit = f"u{i}"
        group = "Control" if i % 2 else "Test"
        first = base + dt.timedelta(minutes=i * 9, milliseconds=rng.randrange(1000))
        out.assignments.append((unit, group, first))
        if i < CROSSOVERS:  # exposed again in the other group: a crossover
            other = "Test" if group == "Control" else "Control"
            out.assignments.append((unit, other, first + dt.timedelta(hours=1)))
        # The week before exposure (CUPED's covariate), then after it.
        for _ in range(rng.randint(0, 2)):
            at = first - dt.timedelta(hours=rng.randint(1, 120))
            out.purchases.append((unit, at, round(rng.gauss(20, 6), 2)))
        lift = 1.1 if group == "Test" else 1.0
        for _ in range(rng.randint(0, 3)):
            at = first + dt.timedelta(minutes=rng.randint(1, 2000))
            out.purchases.append((unit, at, round(rng.gauss(20 * lift, 6), 2)))
        for _ in range(rng.randint(0, 4)):
            at = first + dt.timedelta(minutes=rng.randint(-3000, 3000))
            out.views.append((unit, at, rng.choice(PAGES)))
    return out


def ingest(environment, data: Planted) -> None:
    rules = group_rules(environment, EXPERIMENT)
    batch = [exposure(EXPERIMENT, rules[g], u, at=ms(at)) for u, g, at in data.assignments]
    batch += [event("purchase", u, at=ms(at), value=v) for u, at, v in data.purchases]
    batch += [event("page_view", u, at=ms(at), metadata={"page": p}) for u, at, p in data.views]
    store(environment, batch)


def load_warehouse(warehouse, data: Planted) -> None:
    warehouse.load(
        "assignments",
        {"user_id": "text", "experiment": "text", "variant": "text", "assigned_at": "timestamptz"},
        [(u, EXPERIMENT, g, at) for u, g, at in data.assignments]
        + [(f"x{i}", "another_experiment", "Test", data.assignments[0][2]) for i in range(5)],
    )
    warehouse.load(
        "purchases",
        {"user_id": "text", "ts": "timestamptz", "amount": "double precision"},
        data.purchases,
    )
    warehouse.load(
        "page_views",
        # Without a time zone: the warehouse session reads it as UTC.
        {"user_id": "text", "viewed_at": "timestamp", "page": "text"},
        [(u, at.astimezone(dt.UTC).replace(tzinfo=None), p) for u, at, p in data.views],
    )


# Each pair: the metric over ingested events, the same over the warehouse's sources.
PAIRS = [
    (
        MetricInput(name="purchase", metric_type="sum", event_name="purchase"),
        MetricInput(
            name="wh_purchase", metric_type="sum", source="Purchases", value_field="amount"
        ),
    ),
    (
        MetricInput(name="purchase", metric_type="event_count", event_name="purchase"),
        MetricInput(name="wh_purchase", metric_type="event_count", source="Purchases"),
    ),
    (
        MetricInput(name="purchase", metric_type="mean", event_name="purchase"),
        MetricInput(
            name="wh_purchase", metric_type="mean", source="Purchases", value_field="amount"
        ),
    ),
    (
        MetricInput(name="page_view", metric_type="event_user", event_name="page_view"),
        MetricInput(name="wh_page_view", metric_type="event_user", source="Page views"),
    ),
    (
        MetricInput(
            name="checkout_view",
            metric_type="event_user",
            event_name="page_view",
            user_count_mode="one_time",
            filters=[FilterInput("metadata.page", "eq", ["checkout"])],
        ),
        MetricInput(
            name="wh_checkout_view",
            metric_type="event_user",
            source="Page views",
            user_count_mode="one_time",
            filters=[FilterInput("page", "eq", ["checkout"])],
        ),
    ),
    (
        MetricInput(
            name="not_home",
            metric_type="event_count",
            event_name="page_view",
            filters=[FilterInput("metadata.page", "not_in", ["home"])],
            cap=2,
        ),
        MetricInput(
            name="wh_not_home",
            metric_type="event_count",
            source="Page views",
            filters=[FilterInput("page", "not_in", ["home"])],
            cap=2,
        ),
    ),
    (
        MetricInput(
            name="revenue_per_purchase",
            metric_type="ratio",
            numerator="purchase::sum",
            denominator="purchase::event_count",
        ),
        MetricInput(
            name="wh_revenue_per_purchase",
            metric_type="ratio",
            numerator="wh_purchase::sum",
            denominator="wh_purchase::event_count",
        ),
    ),
]


@pytest.fixture
def world(project, site_admin, warehouse, warehouse_connection):
    """checkout_button running for a year (in time), its data stored through the intake
    and loaded as the customer's tables, the sources and both sets of metrics made."""
    experiment = experiment_services.experiment_create(
        actor=site_admin, project=project, document=experiment_document(EXPERIMENT, cuped=True)
    )
    experiment = experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    experiment.started_at -= dt.timedelta(days=365)
    experiment.save(update_fields=["started_at"])
    spec_publish(actor=None, project=project)
    production = project.environments.get(name="production")
    data = planted(timezone.now())
    ingest(production, data)
    load_warehouse(warehouse, data)
    assignment = assignment_source_create(
        actor=site_admin,
        project=project,
        data=AssignmentSourceInput(
            name="Assignments",
            connection_id=warehouse_connection.pk,
            sql="SELECT * FROM assignments WHERE variant LIKE '%' -- every row (a literal %)",
            unit_id_column="user_id",
            experiment_column="experiment",
            group_column="variant",
            timestamp_column="assigned_at",
        ),
    )
    metric_source_create(
        actor=site_admin,
        project=project,
        data=MetricSourceInput(
            name="Purchases",
            connection_id=warehouse_connection.pk,
            table="purchases",
            unit_id_column="user_id",
            timestamp_column="ts",
            value_columns=("amount",),
        ),
    )
    metric_source_create(
        actor=site_admin,
        project=project,
        data=MetricSourceInput(
            name="Page views",
            connection_id=warehouse_connection.pk,
            sql="SELECT user_id, viewed_at, page FROM page_views",
            unit_id_column="user_id",
            timestamp_column="viewed_at",
            filter_columns=("page",),
        ),
    )
    for ours, theirs in PAIRS:
        for data_ in (ours, theirs):
            metric_create(actor=site_admin, project=project, data=dataclasses.replace(data_))
    return experiment, production, assignment


def scope_of(experiment, now) -> ExperimentScope:
    return ExperimentScope(
        kind="config",
        name=experiment.name,
        unit_type="userID",
        groups=("Control", "Test"),
        start=experiment.started_at,
        end=now,
    )


def assert_close(ours, theirs, path="") -> None:
    """Numbers to a relative 1e-9 (counts exactly), everything else equal."""
    if isinstance(ours, dict):
        assert set(ours) == set(theirs), path
        for key in ours:
            assert_close(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list | tuple):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, b, f"{path}[{i}]")
    elif isinstance(ours, float) and not isinstance(ours, bool):
        assert theirs == pytest.approx(ours, rel=1e-9, abs=1e-12), path
    else:
        assert ours == theirs, path


def test_group_statistics__every_pair__same_through_the_warehouse_as_through_ingestion(
    world, project
):
    # Given
    experiment, production, assignment = world
    now = timezone.now()
    scope = scope_of(experiment, now)
    ids = [f"{m.name}::{m.metric_type}" for pair in PAIRS for m in pair]
    definitions = metric_definitions(project=project, ids=ids)
    sources = metric_sources_by_name(project=project)

    for ours, theirs in PAIRS:
        # When
        mine = definitions[f"{ours.name}::{ours.metric_type}"]
        plan = ingested_statistics(production.pk, scope, mine, now=now, full=True)
        other = definitions[f"{theirs.name}::{theirs.metric_type}"]
        warehouse = warehouse_plan.group_statistics(assignment, sources, scope, other, now=now)

        # Then: every statistic, the daily series, the caps, the exclusions
        assert warehouse.source == "warehouse"
        assert plan.groups[0].units > 150
        assert_close(
            [dataclasses.asdict(g) for g in plan.groups],
            [dataclasses.asdict(g) for g in warehouse.groups],
            ours.name,
        )
        assert_close(dataclasses.asdict(plan.caps), dataclasses.asdict(warehouse.caps))
        assert (plan.crossovers, plan.bots) == (warehouse.crossovers, warehouse.bots)
        assert warehouse.crossovers == CROSSOVERS


def test_results_payload__same_through_the_warehouse_as_through_ingestion(
    world, project, site_admin
):
    # Given: the scorecard over ingested metrics
    experiment, production, _assignment = world
    ours = [{"name": m.name, "type": m.metric_type} for m, _ in PAIRS]
    theirs = [{"name": m.name, "type": m.metric_type} for _, m in PAIRS]
    card = {"primaryMetrics": ours[:1], "secondaryMetrics": ours[1:], "sequentialTesting": True}
    experiment = _rescore(site_admin, experiment, card)
    now = timezone.now()
    ingested = compute(experiment, production, now=now)

    # When: the same scorecard over the warehouse's sources and assignments
    card = {
        "primaryMetrics": theirs[:1],
        "secondaryMetrics": theirs[1:],
        "sequentialTesting": True,
        "assignmentSource": "assignments",  # any case: the source's name is kept
    }
    experiment = _rescore(site_admin, experiment, card)
    assert experiment.scorecard["assignmentSource"] == "Assignments"
    warehouse = compute(experiment, production, now=now)

    # Then
    source = warehouse["exposures"].pop("source")
    assert source == {"assignmentSource": "Assignments", "connection": "Customer warehouse"}
    assert_close(ingested["exposures"], warehouse["exposures"], "exposures")
    assert_close(ingested["srm"], warehouse["srm"], "srm")
    assert len(ingested["metrics"]) == len(PAIRS)
    for mine, other in zip(ingested["metrics"], warehouse["metrics"], strict=True):
        assert other["message"] is None
        for key in ("groups", "comparisons", "series", "caps"):
            assert_close(mine[key], other[key], f"{mine['id']}.{key}")
    assert ingested["metrics"][0]["comparisons"][0]["relative"]["estimate"] > 0.03


def _rescore(actor, experiment, card):
    document = {**experiment_to_document(experiment), **card}
    return experiment_services.experiment_update(
        actor=actor, experiment=experiment, document=document
    )


def test_warehouse_statements__every_one__parses_as_redshift(world, project):
    # Given
    experiment, _production, assignment = world
    now = timezone.now()
    scope = scope_of(experiment, now)
    ids = [f"{m.name}::{m.metric_type}" for _, m in PAIRS]
    definitions = metric_definitions(project=project, ids=ids)
    sources = metric_sources_by_name(project=project)
    target = Target.of(assignment.connection)
    statements = [warehouse_plan.exposure_statement(assignment, scope)]
    for definition in definitions.values():
        (name,) = warehouse_plan.metric_sources(definition)
        for series in (True, False):
            for cuped_days in (0, 7):
                built = warehouse_plan.statement(
                    assignment,
                    sources[name],
                    scope,
                    definition,
                    cuped_days=cuped_days,
                    end=now,
                    series=series,
                )
                statements.append((built.sql, built.params))

    # When: each statement with its parameters inlined, as the warehouse receives it
    with psycopg.connect(
        host=target.host,
        port=target.port,
        dbname=target.database,
        user=target.user,
        password=target.password,
    ) as conn:
        texts = [psycopg.ClientCursor(conn).mogrify(sql, params) for sql, params in statements]

    # Then
    assert len(texts) == 1 + len(PAIRS) * 4
    for text in texts:
        parsed = sqlglot.parse(text, read="redshift")
        assert len(parsed) == 1, text
        assert "FILTER (WHERE" not in text
        assert "json_agg" not in text
        assert "unnest" not in text


def test_refresh__warehouse_fails__sentence_shown_and_last_good_results_kept(
    world, project, site_admin, client
):
    # Given: a good refresh over the warehouse
    experiment, production, _assignment = world
    card = {
        "primaryMetrics": [{"name": "wh_purchase", "type": "sum"}],
        "assignmentSource": "Assignments",
    }
    experiment = _rescore(site_admin, experiment, card)
    good = results_request(actor=site_admin, environment=production, experiment=experiment)
    assert results_compute(good.pk).state == ResultsState.DONE

    # When: the warehouse stops answering (the port now points nowhere)
    connection = experiment.project.warehouse_connections.get()
    warehouse_connection_update(
        actor=site_admin, connection=connection, data=connection_input_from(connection, port=1)
    )
    bad = results_request(actor=site_admin, environment=production, experiment=experiment)
    failed = results_compute(bad.pk)

    # Then
    assert failed.state == ResultsState.FAILED
    assert "could not be reached" in failed.error
    latest = latest_results(production, experiment=experiment)
    assert latest.done.pk == good.pk
    assert latest.failed.pk == bad.pk
    assert latest.payload["metrics"][0]["groups"][0]["units"] > 0

    # And the results page says so beside the last good results and where units came from
    client.force_login(site_admin)
    page = client.get(
        reverse("experiment-results", args=[project.slug, experiment.pk]), {"env": "production"}
    ).content.decode()
    assert "The last refresh failed:</strong> The warehouse at 127.0.0.1:1 could not" in page
    assert "assigned by the warehouse source Assignments (Customer warehouse)" in page


def test_metric_over_ingested_events__in_a_warehouse_experiment__says_why_not(
    world, project, site_admin
):
    experiment, production, _assignment = world
    card = {
        "primaryMetrics": [{"name": "purchase", "type": "sum"}],
        "secondaryMetrics": [{"name": "wh_purchase", "type": "sum"}],
        "assignmentSource": "Assignments",
    }
    experiment = _rescore(site_admin, experiment, card)

    payload = compute(experiment, production, now=timezone.now())

    ingested, warehouse = payload["metrics"]
    assert "only metrics over metric sources" in ingested["message"]
    assert ingested["groups"] == []
    assert warehouse["message"] is None
    assert warehouse["groups"][0]["units"] > 0


def test_daily_refresh__warehouse_experiment__queued_in_production(world, project, site_admin):
    # Given: a running experiment over the assignment source, and no ingested exposure
    # counts (which would name production for an experiment over the SDKs' exposures)
    experiment, production, _assignment = world
    ExposureCount.objects.all().delete()
    card = {
        "primaryMetrics": [{"name": "wh_purchase", "type": "sum"}],
        "assignmentSource": "Assignments",
    }
    _rescore(site_admin, experiment, card)

    # When
    queued = results_schedule()

    # Then
    assert queued == 1
    pending = latest_results(production, experiment=experiment).pending
    assert pending is not None
    assert results_compute(pending.pk).state == ResultsState.DONE
