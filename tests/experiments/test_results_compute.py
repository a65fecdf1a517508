"""Results computed from stored exposures and events (experiments.results): the payload's
numbers against the statistics module run on the plan's own sums, the cumulative lift's
last day against the overall lift, metrics the catalog lost, and experiments not started."""

from __future__ import annotations

import pytest
from django.utils import timezone

from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.results.compute import compute
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from tests.experiments.factories import experiment_document
from tests.experiments.results_seed import seed_purchases
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]


@pytest.fixture
def running(project, site_admin):
    metric_create(
        actor=site_admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase"),
    )
    experiment = experiment_services.experiment_create(
        actor=site_admin,
        project=project,
        document=experiment_document(
            "checkout_button", primaryMetrics=[{"name": "purchase", "type": "sum"}], cuped=True
        ),
    )
    experiment = experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    experiment.started_at -= timezone.timedelta(days=365)
    experiment.save(update_fields=["started_at"])
    spec_publish(actor=None, project=project)
    return experiment


def test_cumulative_lift__its_last_day_is_the_overall_lift(project, running):
    production = project.environments.get(name="production")
    seed_purchases(production)

    payload = compute(running, production, now=timezone.now())

    (metric,) = payload["metrics"]
    (comparison,) = metric["comparisons"]
    last = metric["series"][-1]["groups"][0]
    assert last["group"] == "Test"
    assert last["estimate"] == pytest.approx(comparison["relative"]["estimate"], rel=1e-9)
    assert comparison["cuped"]["applied"] is False


def test_payload__means_and_lift_from_the_plans_own_sums(project, running):
    production = project.environments.get(name="production")
    seed_purchases(production)

    payload = compute(running, production, now=timezone.now())

    (metric,) = payload["metrics"]
    control, test = metric["groups"]
    (comparison,) = metric["comparisons"]
    means = [g["statistics"]["sum"] / g["statistics"]["n"] for g in (control, test)]
    assert [control["units"], test["units"]] == [300, 300]
    assert comparison["control_mean"] == pytest.approx(means[0], rel=1e-12)
    assert comparison["treatment_mean"] == pytest.approx(means[1], rel=1e-12)
    assert comparison["relative"]["estimate"] == pytest.approx(means[1] / means[0] - 1, rel=1e-9)
    assert payload["srm"]["verdict"] == "ok"
    assert metric["definition"]["name"] == "purchase"


def test_not_started__says_so_and_computes_nothing(project, site_admin):
    draft = experiment_services.experiment_create(
        actor=site_admin, project=project, document=experiment_document("draft_one")
    )
    production = project.environments.get(name="production")

    payload = compute(draft, production, now=timezone.now())

    assert payload == {"version": 1, "message": "The experiment has not started yet."}
