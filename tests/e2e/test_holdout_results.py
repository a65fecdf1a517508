"""A holdout's results in a real browser: a PM opens the holdout's page, refreshes its
Results panel, watches the worker compute, and reads everyone else's lift over the held-out
units; a holdout no SDK has reported yet says so."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from console.publishing.services import spec_publish
from experiments import services as experiment_services
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.experiments.factories import experiment_document, holdout_document
from tests.experiments.test_holdout_results import _checked
from tests.publishing.conftest import (  # noqa: F401 (fixtures)
    celery_worker_process,
    start_celery_worker,
)

SHOTS = os.environ.get("GATEHOUSE_SCREENSHOTS")  # a directory: screenshots for people


def _shot(page: Page, name: str) -> None:
    """The page, and the Results panel alone."""
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"holdout-{name}.png"), full_page=True)
        panel = page.get_by_test_id("holdout-results")
        panel.screenshot(path=os.path.join(SHOTS, f"holdout-{name}-panel.png"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_event_table", "celery_worker_process")
def test_holdout_results__pm_refreshes__reads_the_lift(page: Page, live_server):
    # Given a 10% holdout over a running experiment, 400 users checked, everyone else
    # buying 10% more; and a second holdout nobody checked
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    metric_create(
        actor=admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase", tags=["core"]),
    )
    experiment = experiment_services.experiment_create(
        actor=admin, project=project, document=experiment_document("checkout_button")
    )
    experiment_services.experiment_start(actor=admin, experiment=experiment)
    holdout = experiment_services.holdout_create(
        actor=admin,
        project=project,
        document=holdout_document("q3_holdout", experimentIDs=["checkout_button"]),
    )
    quiet = experiment_services.holdout_create(
        actor=admin, project=project, document=holdout_document("quiet_holdout")
    )
    spec_publish(actor=None, project=project)
    _checked(project.environments.get(name="production"))
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": 1360, "height": 900})
    sign_in(page, live_server, "pam@corp.example")

    # When she opens the holdout's page: nothing computed yet, so she refreshes
    page.goto(live_server.url + reverse("holdout-detail", args=["shop", holdout.pk]))
    panel = page.get_by_test_id("holdout-results")
    expect(panel).to_contain_text("Not computed yet in production")
    panel.get_by_role("button", name="Refresh").click()

    # Then the worker computes them and the panel shows them without a reload
    row = panel.locator("tbody tr").first
    expect(row).to_contain_text("Everyone else")
    expect(row.locator(".lift")).to_have_text("+10.0%")
    expect(panel).to_contain_text("Held out")
    expect(panel).to_contain_text("expected 10.0%")
    expect(panel.get_by_test_id("srm")).to_have_count(0)
    _shot(page, "results")

    # And the holdout nobody checked says why it has no results
    page.goto(live_server.url + reverse("holdout-detail", args=["shop", quiet.pk]))
    empty = page.get_by_test_id("holdout-results-empty")
    expect(empty).to_contain_text("No holdout checks recorded yet in production")
    expect(empty).to_contain_text("the SDKs report them with experiment exposures")
    _shot(page, "empty")
