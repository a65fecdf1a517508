"""Experiment results in a real browser: a PM picks the primary metric on the experiment's
Setup tab, opens Results, presses Refresh, watches the worker compute, and reads the lift
with its interval, the units per group and the cumulative lift. A viewer reads the same
page without the Refresh button."""

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
from tests.conftest import review_nowhere
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.experiments.factories import experiment_document
from tests.experiments.results_seed import seed_purchases
from tests.publishing.conftest import (  # noqa: F401 (fixtures)
    celery_worker_process,
    start_celery_worker,
)

SHOTS = os.environ.get("GATEHOUSE_SCREENSHOTS")  # a directory: screenshots for people


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"results-{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_event_table", "celery_worker_process")
def test_results__pm_refreshes__reads_the_lift(page: Page, live_server):
    # Given a running experiment whose units bought over the last three days, Test about
    # 10% more, and the catalog's purchase::sum
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    review_nowhere(project, admin)  # the scorecard edit applies at once
    metric_create(
        actor=admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase"),
    )
    experiment = experiment_services.experiment_create(
        actor=admin, project=project, document=experiment_document("checkout_button")
    )
    experiment = experiment_services.experiment_start(actor=admin, experiment=experiment)
    experiment.started_at = experiment.started_at.replace(year=experiment.started_at.year - 1)
    experiment.save(update_fields=["started_at"])
    spec_publish(actor=None, project=project)
    production = project.environments.get(name="production")
    seed_purchases(production)
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    viewer = UserFactory(username="vic", email="vic@corp.example")
    Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": 1360, "height": 900})
    sign_in(page, live_server, "pam@corp.example")

    # When she makes purchase::sum the primary metric on the Setup tab
    page.goto(live_server.url + reverse("experiment-detail", args=["shop", experiment.pk]))
    primary = page.locator("#scorecard fieldset", has_text="Primary metrics")
    primary.get_by_text("purchase::sum").click()
    _shot(page, "setup")
    page.get_by_role("button", name="Save changes").click()
    expect(primary.get_by_role("checkbox", name="purchase::sum")).to_be_checked()

    # And opens Results: nothing computed yet, so she refreshes
    page.get_by_role("navigation", name="Experiment pages").get_by_role(
        "link", name="Results"
    ).click()
    expect(page.get_by_text("No results yet in production")).to_be_visible()
    page.get_by_role("button", name="Refresh", exact=True).click()

    # Then the worker computes them and the page shows them without a reload
    results = page.get_by_test_id("results-primary")
    expect(results).to_be_visible()
    row = results.locator("tbody tr").first
    expect(row).to_contain_text("purchase")
    expect(row).to_contain_text("Test")
    lift = row.locator(".lift").inner_text()
    assert lift.startswith("+"), lift
    expect(page.locator("#exposures-summary")).to_contain_text("300")
    expect(page.locator("canvas[data-drawn='true']")).to_have_count(2)  # units, lift
    _shot(page, "pm")

    # And a viewer reads the same results, without Refresh
    page.context.clear_cookies()
    sign_in(page, live_server, "vic@corp.example")
    page.goto(live_server.url + reverse("experiment-results", args=["shop", experiment.pk]))
    expect(page.get_by_test_id("results-primary")).to_contain_text(lift)
    expect(page.get_by_role("button", name="Refresh", exact=True)).to_have_count(0)
