"""Breakdowns in a real browser: on an experiment's Results tab a PM breaks the scorecard
down by country and sees the lift where it is (US) and not where it is not (France), then
by browser, then by the metric's own dimension, and exports the breakdown as CSV."""

from __future__ import annotations

import os
import random

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
from tests.experiments.factories import experiment_document
from tests.metrics.seed import DAY_MS, event, exposure, group_rules, now_ms, store

SHOTS = os.environ.get("GATEHOUSE_SCREENSHOTS")  # a directory: screenshots for people
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"  # noqa: E501
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"  # noqa: E501


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"breakdown-{name}.png"), full_page=True)


def _seed(environment) -> None:
    """600 units from the US, France and Japan (some without a country), on Chrome or an
    iPhone; Test units in the US buy about twice as often."""
    rules = group_rules(environment, "checkout_button")
    rng = random.Random(5)
    batch = []
    for i in range(600):
        group = "Test" if i % 2 else "Control"
        country = ["US", "FR", "JP", "US", None][(i // 2) % 5]
        fields = {"userAgent": CHROME if i % 3 else IPHONE}
        if country:
            fields["country"] = country
        at = now_ms() - DAY_MS * (1 + i % 3)
        batch.append(exposure("checkout_button", rules[group], f"u{i}", at=at, **fields))
        rate = 4 if group == "Test" and country == "US" else 2
        for _ in range(rng.randint(0, rate)):
            sku = rng.choice(["shoes", "shirts", "socks"])
            batch.append(event("purchase", f"u{i}", at=at + 60_000, metadata={"sku": sku}))
    store(environment, batch)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_event_table")
def test_breakdown__pm_breaks_results_down_by_country_browser_and_sku(page: Page, live_server):
    # Given a running experiment with purchase::event_count as its primary metric
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    metric_create(
        actor=admin,
        project=project,
        data=MetricInput(
            name="purchase",
            metric_type="event_count",
            event_name="purchase",
            dimensions=["metadata.sku"],
        ),
    )
    experiment = experiment_services.experiment_create(
        actor=admin,
        project=project,
        document=experiment_document(
            "checkout_button", primaryMetrics=[{"name": "purchase", "type": "event_count"}]
        ),
    )
    experiment = experiment_services.experiment_start(actor=admin, experiment=experiment)
    experiment.started_at = experiment.started_at.replace(year=experiment.started_at.year - 1)
    experiment.save(update_fields=["started_at"])
    spec_publish(actor=None, project=project)
    _seed(project.environments.get(name="production"))
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": 1360, "height": 900})
    sign_in(page, live_server, "pam@corp.example")
    page.goto(live_server.url + reverse("experiment-results", args=["shop", experiment.pk]))
    card = page.get_by_test_id("breakdown")
    expect(card).to_contain_text("Choose a dimension")

    # When she breaks the results down by country
    card.get_by_label("Break down by").select_option("country")

    # Then each country is a row, the lift shows in the US only, and the note says why
    # segments are exploratory
    table = page.get_by_test_id("breakdown-metric")
    expect(table.locator("tbody tr")).to_have_count(4)  # US, FR, JP, Unknown
    us = table.locator("tbody tr", has_text="US")
    expect(us).to_have_class("tone-good")
    assert us.locator(".lift").inner_text().startswith("+")
    expect(table.locator("tbody tr", has_text="FR")).to_have_class("tone-neutral")
    expect(page.get_by_test_id("breakdown-note")).to_contain_text(
        "not corrected for multiple comparisons"
    )
    assert "breakdown=country" in page.url  # a link to this view
    page.get_by_test_id("breakdown").scroll_into_view_if_needed()
    _shot(page, "country")

    # And by browser: Chrome and Mobile Safari
    card.get_by_label("Break down by").select_option("browser")
    expect(table.locator("tbody tr", has_text="Mobile Safari")).to_have_count(1)
    expect(table.locator("tbody tr", has_text="Chrome")).to_have_count(1)

    # And by the metric's sku dimension: one row per sku
    card.get_by_label("Break down by").select_option("metadata.sku")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).to_contain_text("shoes")
    _shot(page, "sku")

    # And she downloads it as CSV
    with page.expect_download() as download:
        card.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.endswith("breakdown-metadata.sku.csv")
