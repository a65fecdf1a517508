"""A holdout's results: everyone else against the held-out units, on the Core metrics and
its experiments' metrics, computed by the results worker from the holdout checks the SDKs
report among experiment exposures; a panel of the holdout's page, the API and beat's
daily refresh."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.models import ExperimentResults, ResultsState
from experiments.results.services import results_compute, results_request, results_schedule
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from tests.api_support import api_url_for, session_client
from tests.experiments.factories import experiment_document, holdout_document
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.metrics.seed import event, exposure, group_rules, store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

api_url = api_url_for("experiments-api")
HELD_OUT = 40  # of 400 users: the holdout's 10%


@pytest.fixture
def holdout(project, site_admin):
    """q3_holdout (10%) over checkout_button, whose primary metric is purchase::event_count;
    purchase::sum is tagged Core. Published, nothing exposed yet."""
    for metric_type, tags in (("sum", ["core"]), ("event_count", [])):
        metric_create(
            actor=site_admin,
            project=project,
            data=MetricInput(
                name="purchase", metric_type=metric_type, event_name="purchase", tags=tags
            ),
        )
    experiment = experiment_services.experiment_create(
        actor=site_admin,
        project=project,
        document=experiment_document(
            "checkout_button", primaryMetrics=[{"name": "purchase", "type": "event_count"}]
        ),
    )
    experiment = experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    created = experiment_services.holdout_create(
        actor=site_admin,
        project=project,
        document=holdout_document("q3_holdout", experimentIDs=["checkout_button"]),
    )
    spec_publish(actor=None, project=project)
    return created


def _checked(production, *, users: int = 400, held_out: int = HELD_OUT) -> None:
    """Each user exposed to checkout_button with the holdout's check among the secondary
    exposures (the first `held_out` held out), and one purchase: 0.9 or 1.1 times 20 when
    held out, of 22 (+10%) for everyone else, alternating (each side's mean is exact)."""
    rules = group_rules(production, "checkout_button")
    batch = []
    for i in range(users):
        passed = i < held_out
        rule = "holdout:q3_holdout" if passed else rules[("Control", "Test")[i % 2]]
        check = exposure("checkout_button", rule, f"u{i}")
        check["secondaryExposures"] = [
            {"gate": "q3_holdout", "gateValue": "true" if passed else "false", "ruleID": "h"}
        ]
        value = (20 if passed else 22) * (1.1 if i % 2 else 0.9)
        batch += [check, event("purchase", f"u{i}", value=round(value, 6))]
    store(production, batch)


def test_results__everyone_else_against_the_held_out__lift_and_split_checked(
    project, holdout, site_admin
):
    # Given 40 held-out and 360 other users checked, the others buying 10% more
    production = project.environments.get(name="production")
    _checked(production)

    # When a refresh is computed
    queued = results_request(actor=site_admin, holdout=holdout, environment=production)
    results = results_compute(queued.pk)

    # Then the held-out units are the control, everyone else shows +10%, the split is the
    # holdout's (no SRM), on the Core metric and the experiment's primary metric
    assert results.state == ResultsState.DONE, results.error
    payload = results.payload
    groups = payload["exposures"]["groups"]
    assert [(g["name"], g["units"], g["expectedShare"]) for g in groups] == [
        ("pass", 40, pytest.approx(0.1)),
        ("fail", 360, pytest.approx(0.9)),
    ]
    assert payload["srm"]["verdict"] == "ok"
    assert payload["range"]["start"] == holdout.created_at.isoformat()
    by_id = {m["id"]: m for m in payload["metrics"]}
    assert {i: m["role"] for i, m in by_id.items()} == {
        "purchase::event_count": "secondary",
        "purchase::sum": "guardrail",
    }
    (comparison,) = by_id["purchase::sum"]["comparisons"]
    assert comparison["group"] == "fail"
    assert comparison["relative"]["estimate"] == pytest.approx(0.10, rel=1e-9)
    assert comparison["significant"] is True
    assert payload["groupLabels"] == {"pass": "Held out", "fail": "Everyone else"}


def test_results__split_far_from_the_percentage__srm_alert_on_the_page(
    client, project, holdout, site_admin
):
    # Given half the users held out by a 10% holdout (exposures lost on one side)
    production = project.environments.get(name="production")
    _checked(production, held_out=200)

    results_compute(results_request(actor=site_admin, holdout=holdout, environment=production).pk)
    client.force_login(site_admin)
    page = client.get(reverse("holdout-detail", args=[project.slug, holdout.pk])).content.decode()

    assert "Sample ratio mismatch" in page
    assert "Held out 50.0% (the holdout gives 10.0%)" in page


def test_panel__no_checks__empty_state__refresh_computes_nothing_and_fails_nowhere(
    client, project, holdout, project_member
):
    # Given a holdout no SDK has reported yet
    url = reverse("holdout-detail", args=[project.slug, holdout.pk])
    client.force_login(project_member)

    # When a member opens its page, refreshes, and the worker computes
    before = client.get(url)
    refreshed = client.post(
        reverse("holdout-results-refresh", args=[project.slug, holdout.pk]) + "?env=production"
    )
    results = results_compute(ExperimentResults.objects.get(holdout=holdout).pk)
    after = client.get(url, {"env": "production"})

    # Then the panel says why there is nothing, before and after, with no error
    assert before.status_code == 200
    assert refreshed.status_code == 302
    assert results.state == ResultsState.DONE
    for response in (before, after):
        body = response.content.decode()
        assert 'data-testid="holdout-results"' in body
        assert "No holdout checks recorded yet in production" in body
        assert "the SDKs report them with experiment exposures" in body


def test_panel__member_refreshes__viewer_reads_the_lift_without_refresh(
    client, project, holdout, project_member, project_viewer
):
    production = project.environments.get(name="production")
    _checked(production)
    url = reverse("holdout-detail", args=[project.slug, holdout.pk])
    client.force_login(project_member)

    before = client.get(url).content.decode()
    client.post(reverse("holdout-results-refresh", args=[project.slug, holdout.pk]))
    results_compute(ExperimentResults.objects.get(holdout=holdout).pk)
    client.force_login(project_viewer)
    after = client.get(url).content.decode()

    assert "Not computed yet in production" in before
    assert "+10.0%" in after
    assert "Everyone else" in after
    assert "Held out" in after
    assert "results/refresh/" not in after


def test_refresh__viewer_refused(client, project, holdout, project_viewer):
    client.force_login(project_viewer)

    response = client.post(reverse("holdout-results-refresh", args=[project.slug, holdout.pk]))

    assert response.status_code == 403
    assert not ExperimentResults.objects.exists()


def test_api__refresh_then_results(project, holdout, project_member):
    _checked(project.environments.get(name="production"))
    client = session_client(project_member)

    refreshed = client.post(
        api_url("api-holdout-results-refresh", "q3_holdout", environment="production"),
        {},
        format="json",
    )
    results_compute(ExperimentResults.objects.get(holdout=holdout).pk)
    done = client.get(api_url("api-holdout-results", "q3_holdout", environment="production"))
    missing = client.get(api_url("api-holdout-results", "no_such", environment="production"))

    assert refreshed.status_code == 202, refreshed.content
    data = done.json()["data"]
    assert data["state"] == "done"
    row = next(m for m in data["metrics"] if m["metricID"] == "purchase::sum")
    assert row["group"] == "Everyone else"
    assert row["percentChange"] == pytest.approx(10.0)
    assert [g["units"] for g in data["exposures"]["groups"]] == [40, 360]
    assert missing.status_code == 404


def test_schedule__holdouts_with_checks_refreshed_daily__others_not(project, holdout, site_admin):
    # Given checks in production only, and a second holdout nobody checked
    experiment_services.holdout_create(
        actor=site_admin, project=project, document=holdout_document("quiet_holdout")
    )
    _checked(project.environments.get(name="production"), users=20, held_out=2)

    queued = results_schedule()

    rows = ExperimentResults.objects.filter(holdout__isnull=False)
    assert list(rows.values_list("holdout__name", "environment__name")) == [
        ("q3_holdout", "production")
    ]
    assert queued == 1 + ExperimentResults.objects.filter(experiment__isnull=False).count()
