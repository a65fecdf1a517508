"""A gate's scorecard: units that passed it against units that failed, on the project's Core
metrics, computed by the results worker and shown as a panel of the gate's page."""

from __future__ import annotations

import random

import pytest
from django.urls import reverse

from console.publishing.services import spec_publish
from experiments.models import ExperimentResults, ResultsState
from experiments.results.services import results_compute, results_request
from gates import services as gate_services
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from tests.gates.factories import condition, gate_document, rule
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.metrics.seed import event, gate_check, store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]


@pytest.fixture
def rollout(project, site_admin):
    """new_checkout at 50%, checked by 400 users; those who pass spend about 10% more; the
    catalog's purchase::sum is tagged Core, purchase::event_count is not."""
    metric_create(
        actor=site_admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase", tags=["core"]),
    )
    metric_create(
        actor=site_admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="event_count", event_name="purchase"),
    )
    gate = gate_services.gate_create(
        actor=site_admin,
        project=project,
        document=gate_document("new_checkout", rules=[rule("Half", [condition("public")], 50)]),
    )
    spec_publish(actor=None, project=project)
    production = project.environments.get(name="production")
    rng = random.Random(11)
    batch = []
    for i in range(400):
        passed = i % 2 == 0
        batch.append(gate_check("new_checkout", f"u{i}", passed))
        for _ in range(rng.randint(0, 3)):
            value = rng.gauss(20 * (1.1 if passed else 1.0), 5)
            batch.append(event("purchase", f"u{i}", value=round(value, 2)))
    store(production, batch)
    return gate, production


def test_scorecard__passing_against_failing_on_core_metrics_only(rollout, site_admin):
    gate, production = rollout

    queued = results_request(actor=site_admin, gate=gate, environment=production)
    results = results_compute(queued.pk)

    assert results.state == ResultsState.DONE
    assert [(g["name"], g["units"]) for g in results.payload["exposures"]["groups"]] == [
        ("fail", 200),
        ("pass", 200),
    ]
    (metric,) = results.payload["metrics"]  # Core only
    assert metric["id"] == "purchase::sum"
    (comparison,) = metric["comparisons"]
    fail, passed = metric["groups"]
    means = [g["statistics"]["sum"] / g["statistics"]["n"] for g in (fail, passed)]
    assert comparison["group"] == "pass"
    assert comparison["relative"]["estimate"] == pytest.approx(means[1] / means[0] - 1, rel=1e-9)
    assert results.payload["srm"] is None


def test_panel__member_refreshes_from_the_gate_page__viewer_reads_it(
    client, project, rollout, project_member, project_viewer
):
    gate, production = rollout
    url = reverse("gate-detail", args=[project.slug, gate.pk])
    client.force_login(project_member)

    before = client.get(url).content.decode()
    response = client.post(
        reverse("gate-scorecard-refresh", args=[project.slug, gate.pk]) + "?env=production"
    )
    results_compute(ExperimentResults.objects.get(gate=gate).pk)
    client.force_login(project_viewer)
    after = client.get(url, {"env": "production"}).content.decode()

    assert "Not computed yet" in before
    assert response.status_code == 302
    assert 'data-testid="gate-scorecard"' in after
    assert "purchase" in after
    assert "Computed" in after
    assert "scorecard/refresh/" not in after


def test_refresh__viewer_refused(client, project, rollout, project_viewer):
    gate, _ = rollout
    client.force_login(project_viewer)

    response = client.post(reverse("gate-scorecard-refresh", args=[project.slug, gate.pk]))

    assert response.status_code == 403
    assert not ExperimentResults.objects.exists()
