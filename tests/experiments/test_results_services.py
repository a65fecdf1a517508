"""Refreshing results: who may ask, what is refused, a refresh asked twice computes once,
the worker's run (state, range, payload), a lost enqueue resent and an interrupted run
failed by the sweep, and the API's results and refresh endpoints."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from console.exceptions import DomainError, NotAllowed
from console.models import AuditEvent
from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.models import ExperimentResults, ResultsState
from experiments.results.services import (
    COMPUTE_TIME_LIMIT_S,
    results_compute,
    results_request,
    results_requeue,
    results_schedule,
)
from tests.api_support import api_url_for, assert_error, session_client
from tests.experiments.factories import experiment_document
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.metrics.seed import exposure, group_rules, store

api_url = api_url_for("experiments-api")


@pytest.fixture
def running(project, site_admin):
    experiment = experiment_services.experiment_create(
        actor=site_admin, project=project, document=experiment_document("checkout_button")
    )
    return experiment_services.experiment_start(actor=site_admin, experiment=experiment)


@pytest.fixture
def production(project):
    return project.environments.get(name="production")


def test_request__member_queues_one__asked_twice_computes_once(
    running, production, project_member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        first = results_request(actor=project_member, experiment=running, environment=production)
        again = results_request(actor=project_member, experiment=running, environment=production)

    assert again.pk == first.pk
    assert first.state == ResultsState.QUEUED
    assert len(callbacks) == 1  # one enqueue
    assert AuditEvent.objects.filter(action="experiment.results_requested").count() == 1


def test_request__viewer_refused__draft_refused(
    project, running, production, project_viewer, site_admin
):
    draft = experiment_services.experiment_create(
        actor=site_admin, project=project, document=experiment_document("draft_one")
    )

    with pytest.raises(NotAllowed):
        results_request(actor=project_viewer, experiment=running, environment=production)
    with pytest.raises(DomainError) as refused:
        results_request(actor=site_admin, experiment=draft, environment=production)

    assert refused.value.code == "not_started"
    assert not ExperimentResults.objects.exists()


def test_compute__done_with_range_and_payload__twice_delivered_computes_once(
    running, production, site_admin
):
    queued = results_request(actor=site_admin, experiment=running, environment=production)

    done = results_compute(queued.pk)
    again = results_compute(queued.pk)

    assert again is None
    done.refresh_from_db()
    assert done.state == ResultsState.DONE
    assert done.range_start == running.started_at
    assert done.range_end <= timezone.now()
    assert [g["name"] for g in done.payload["exposures"]["groups"]] == ["Control", "Test"]
    assert done.payload["metrics"] == []  # no scorecard metrics, no Core ones yet


def test_requeue__lost_enqueue_resent__interrupted_run_failed(running, production, site_admin):
    lost = results_request(actor=site_admin, experiment=running, environment=production)
    ExperimentResults.objects.filter(pk=lost.pk).update(
        requested_at=timezone.now() - timezone.timedelta(hours=1)
    )
    staging = production.project.environments.get(name="staging")
    stuck = ExperimentResults.objects.create(
        experiment=running,
        environment=staging,
        state=ResultsState.RUNNING,
        started_at=timezone.now() - timezone.timedelta(seconds=COMPUTE_TIME_LIMIT_S + 120),
    )

    resent = results_requeue()

    stuck.refresh_from_db()
    assert resent == 1
    assert stuck.state == ResultsState.FAILED
    assert "interrupted" in stuck.error


def test_api__refresh_202_then_results_after_the_worker(running, production, project_member):
    client = session_client(project_member)

    refreshed = client.post(
        api_url("api-experiment-results-refresh", "checkout_button", environment="production"),
        {},
        format="json",
    )
    waiting = client.get(
        api_url("api-experiment-results", "checkout_button", environment="production")
    )
    results_compute(ExperimentResults.objects.get().pk)
    done = client.get(
        api_url("api-experiment-results", "checkout_button", environment="production")
    )

    assert refreshed.status_code == 202, refreshed.content
    assert waiting.json()["data"]["refreshing"] == "queued"
    data = done.json()["data"]
    assert data["state"] == "done"
    assert data["refreshing"] is None
    assert data["srm"]["verdict"] == "ok"
    assert data["metrics"] == []


def test_api__viewer_cannot_refresh__unknown_environment_400(running, project_viewer):
    client = session_client(project_viewer)

    refused = client.post(
        api_url("api-experiment-results-refresh", "checkout_button"), {}, format="json"
    )
    unknown = client.get(api_url("api-experiment-results", "checkout_button", environment="mars"))

    assert_error(refused, 403)
    assert_error(unknown, 400, "unknown_environment")


def test_a_failed_refresh__keeps_the_last_results_in_sight_with_its_reason(
    client, project, running, production, site_admin
):
    done = results_compute(
        results_request(actor=site_admin, experiment=running, environment=production).pk
    )
    ExperimentResults.objects.create(
        experiment=running,
        environment=production,
        state=ResultsState.FAILED,
        error="The results could not be computed; the error is in the worker's log.",
    )
    client.force_login(site_admin)

    page = client.get(
        reverse("experiment-results", args=[project.slug, running.pk]), {"env": "production"}
    ).content.decode()
    data = (
        session_client(site_admin)
        .get(api_url("api-experiment-results", "checkout_button", environment="production"))
        .json()["data"]
    )

    assert "The last refresh failed" in page
    assert "Results from" in page  # the previous results stay
    assert data["state"] == "done"
    assert data["computedAt"] == done.payload["computedAt"]
    assert data["error"].startswith("The results could not be computed")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_event_table")
def test_schedule__each_running_experiment_where_its_units_were_exposed__once(
    project, running, production, site_admin
):
    idle = experiment_services.experiment_start(
        actor=site_admin,
        experiment=experiment_services.experiment_create(
            actor=site_admin, project=project, document=experiment_document("nobody_sees_it")
        ),
    )
    spec_publish(actor=None, project=project)
    rules = group_rules(production, "checkout_button")
    store(production, [exposure("checkout_button", rules["Test"], "u1")])

    queued = results_schedule()
    again = results_schedule()

    rows = ExperimentResults.objects.all()
    assert (queued, again) == (1, 0)
    assert [(r.experiment_id, r.environment_id) for r in rows] == [(running.pk, production.pk)]
    assert not rows.filter(experiment=idle).exists()
