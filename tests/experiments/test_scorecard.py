"""The experiment scorecard: metrics and analysis settings in Statsig's Console API names,
through the API and the experiment page, editable at any status (they move no unit), and
refused with the field at fault when malformed (nothing saved)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from experiments import services
from experiments.documents import experiment_to_document
from experiments.models import Experiment
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput, StepInput
from tests.api_support import api_url_for, assert_error, session_client
from tests.experiments.factories import experiment_data, experiment_document, running_data

pytestmark = pytest.mark.usefixtures("no_review")

api_url = api_url_for("experiments-api")

SCORECARD = {
    "primaryMetrics": [{"name": "purchase", "type": "event_count"}],
    "secondaryMetrics": [{"name": "revenue", "type": "sum"}],
    "primaryMetricTags": [],
    "secondaryMetricTags": ["growth"],
    "duration": 28,
    "defaultConfidenceInterval": "99",
    "bonferroniCorrection": False,
    "benjaminiHochbergCorrection": True,
    "sequentialTesting": True,
    "cuped": False,
}


@pytest.fixture(autouse=True)
def catalog(project, project_admin):
    """The catalog metrics the scorecards below name."""
    for name, kind in (
        ("purchase", "event_count"),
        ("purchase", "event_user"),
        ("revenue", "sum"),
        ("purchase", "sum"),
        ("checkout::flow", "funnel"),
        ("a", "sum"),
    ):
        data = MetricInput(name=name, metric_type=kind, event_name="purchase")
        if kind == "funnel":
            data = MetricInput(
                name=name,
                metric_type=kind,
                steps=[StepInput("cart"), StepInput("purchase")],
            )
        metric_create(actor=project_admin, project=project, data=data)


@pytest.fixture
def running(project, project_admin):
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=experiment_document("checkout_button")
    )
    return services.experiment_start(actor=project_admin, experiment=experiment)


def test_api__scorecard_given__stored_and_returned_as_sent(project, project_member):
    client = session_client(project_member)

    created = client.post(
        api_url("api-experiment-list"),
        experiment_document("pricing_test", **SCORECARD),
        format="json",
    )

    assert created.status_code == 201, created.content
    data = client.get(api_url("api-experiment-detail", "pricing_test")).json()["data"]
    assert {k: data[k] for k in SCORECARD} == SCORECARD
    assert Experiment.objects.get(name="pricing_test").scorecard == SCORECARD


def test_api__catalog_ids_for_metrics__read_as_name_and_type(project, project_member):
    client = session_client(project_member)

    client.post(
        api_url("api-experiment-list"),
        experiment_document("pricing_test", primaryMetrics=["checkout::flow::funnel"]),
        format="json",
    )

    data = client.get(api_url("api-experiment-detail", "pricing_test")).json()["data"]
    assert data["primaryMetrics"] == [{"name": "checkout::flow", "type": "funnel"}]


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"primaryMetrics": "purchase"}, "invalid", "primaryMetrics"),
        ({"primaryMetrics": [{"name": "purchase"}]}, "invalid", "primaryMetrics[0].type"),
        ({"primaryMetrics": [{"name": "", "type": "sum"}]}, "invalid", "primaryMetrics[0].name"),
        (
            {"primaryMetrics": [{"name": "a", "type": "median"}]},
            "invalid",
            "primaryMetrics[0].type",
        ),
        (
            {"primaryMetrics": [{"name": "a", "type": "sum"}, {"name": "a", "type": "sum"}]},
            "duplicate_metric",
            "primaryMetrics[1]",
        ),
        (
            {
                "primaryMetrics": [{"name": "a", "type": "sum"}],
                "secondaryMetrics": [{"name": "a", "type": "sum"}],
            },
            "duplicate_metric",
            "secondaryMetrics[0]",
        ),
        (
            {"primaryMetrics": [{"name": f"m{i}", "type": "sum"} for i in range(11)]},
            "too_many_metrics",
            "primaryMetrics",
        ),
        ({"primaryMetricTags": ["nope"]}, "unknown_tag", "primaryMetricTags[0]"),
        (
            {
                "secondaryMetrics": [
                    {"name": "revenue", "type": "sum"},
                    {"name": "b", "type": "sum"},
                ]
            },
            "unknown_metric",
            "secondaryMetrics[1]",
        ),
        ({"duration": 0}, "invalid_duration", "duration"),
        ({"duration": 2.5}, "invalid", "duration"),
        ({"duration": True}, "invalid", "duration"),
        ({"defaultConfidenceInterval": "97"}, "invalid_confidence", "defaultConfidenceInterval"),
        ({"sequentialTesting": "yes"}, "invalid", "sequentialTesting"),
        (
            {"bonferroniCorrection": True, "benjaminiHochbergCorrection": True},
            "correction_exclusive",
            "benjaminiHochbergCorrection",
        ),
        ({"primaryMetrics": [{"name": "a\x00b", "type": "sum"}]}, None, None),
    ],
)
def test_api__malformed_scorecard__400_on_the_field_nothing_saved(
    project, project_member, fields, code, field
):
    client = session_client(project_member)

    response = client.post(
        api_url("api-experiment-list"), experiment_document("pricing_test", **fields), format="json"
    )

    assert_error(response, 400, code, field)
    assert not Experiment.objects.filter(name="pricing_test").exists()


def test_api__running_experiment__scorecard_changes_and_nothing_else_moves(
    project, project_member, running
):
    client = session_client(project_member)
    groups, buckets = running.groups, running.bucket_count

    response = client.patch(
        api_url("api-experiment-detail", "checkout_button"),
        {"primaryMetrics": [{"name": "purchase", "type": "event_user"}], "duration": 7},
        format="json",
    )

    assert response.status_code == 200, response.content
    running.refresh_from_db()
    assert running.scorecard["primaryMetrics"] == [{"name": "purchase", "type": "event_user"}]
    assert running.scorecard["duration"] == 7
    assert (running.groups, running.bucket_count) == (groups, buckets)


def test_api__decided_experiment__scorecard_still_editable(project, project_admin, running):
    shipped = services.experiment_ship(actor=project_admin, experiment=running, group="Test")
    client = session_client(project_admin)

    response = client.patch(
        api_url("api-experiment-detail", shipped.name), {"cuped": False}, format="json"
    )

    assert response.status_code == 200, response.content
    shipped.refresh_from_db()
    assert shipped.scorecard["cuped"] is False


def test_page__create_with_settings__scorecard_stored(client, project, project_member):
    client.force_login(project_member)
    data = experiment_data(
        "pricing_test",
        duration="21",
        confidence="90",
        correction="bonferroni",
        sequential_testing="on",
        cuped="on",
        primary_metric_tags=["growth"],
    )

    response = client.post(reverse("experiment-create", args=[project.slug]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    scorecard = Experiment.objects.get(name="pricing_test").scorecard
    assert scorecard["duration"] == 21
    assert scorecard["defaultConfidenceInterval"] == "90"
    assert scorecard["bonferroniCorrection"] is True
    assert scorecard["benjaminiHochbergCorrection"] is False
    assert scorecard["sequentialTesting"] is True
    assert scorecard["primaryMetricTags"] == ["growth"]


def test_page__edit__metrics_set_through_the_api_are_shown_checked_and_kept(
    client, project, project_admin, project_member, running
):
    services.experiment_update(
        actor=project_admin,
        experiment=running,
        document={
            **experiment_to_document(running),
            "primaryMetrics": [{"name": "purchase", "type": "sum"}],
        },
    )
    running.refresh_from_db()
    client.force_login(project_member)
    url = reverse("experiment-detail", args=[project.slug, running.pk])

    page = client.get(url).content.decode()
    fields = {
        "primary_metrics": ["purchase::sum"],
        "duration": "14",
        "confidence": "95",
        "correction": "none",
        "cuped": "on",
    }
    response = client.post(url, running_data(running, description="Edited", **fields))

    assert 'value="purchase::sum" checked' in page
    assert response.status_code == 302, response.content.decode()[:3000]
    running.refresh_from_db()
    assert running.description == "Edited"
    assert running.scorecard["primaryMetrics"] == [{"name": "purchase", "type": "sum"}]
