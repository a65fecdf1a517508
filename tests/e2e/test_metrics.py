"""Events and exposures, in a real browser: an SDK-shaped batch posted over HTTP to
/v1/log_event shows up in the events page's live tail without a reload, and the
experiment's page draws its exposures chart; with the events in PostgreSQL and in
ClickHouse (embedded chdb)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from console.publishing.services import ruleset_version_create
from experiments import services as experiment_services
from metrics.services import exposures_apply
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.experiments.factories import experiment_document
from tests.metrics.seed import exposure, group_rules


def _log_event(base: str, secret: str, events: list[dict]) -> int:
    request = urllib.request.Request(
        base + "/v1/log_event",
        data=json.dumps({"events": events}).encode(),
        headers={"Content-Type": "application/json", "STATSIG-API-KEY": secret},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("engine", ["postgres", "clickhouse"])
def test_metrics__events_sent__live_tail_and_exposure_chart(
    page: Page, live_server, request, engine, tmp_path
):
    if engine == "clickhouse":
        request.getfixturevalue("clickhouse_engine")
    # Given a project with a running, published experiment, a server key and a viewer
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    production = project.environments.get(name="production")
    experiment = experiment_services.experiment_start(
        actor=admin,
        experiment=experiment_services.experiment_create(
            actor=admin, project=project, document=experiment_document("checkout_button")
        ),
    )
    ruleset_version_create(actor=admin, project=project, reason="started")
    secret = console_services.key_create(
        actor=admin, project=project, kind="server", environment=production, name="api"
    ).secret
    viewer = UserFactory(username="vic", email="vic@corp.example")
    Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)
    page.set_default_timeout(8000)
    sign_in(page, live_server, "vic@corp.example")

    # When she opens Metrics, then its Events tab, in production: nothing yet, and how to
    # send events
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Metrics").click()
    page.get_by_role("navigation", name="Metrics").get_by_role("link", name="Events").click()
    page.get_by_role("navigation", name="Environment").get_by_role(
        "link", name="production"
    ).click()
    expect(page.get_by_text("No events in production yet")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    # And an app sends a custom event and exposures to /v1/log_event
    rules = group_rules(production, "checkout_button")
    now = int(time.time() * 1000)
    purchase = {
        "eventName": "purchase_completed",
        "user": {"userID": "shopper-7"},
        "value": "42.5",
        "metadata": {"currency": "EUR"},
        "time": now,
    }
    exposures = [
        exposure("checkout_button", rules["Control"], "shopper-7", at=now),
        exposure("checkout_button", rules["Test"], "shopper-8", at=now),
    ]
    assert _log_event(live_server.url, secret, [purchase, *exposures]) == 202

    # Then the live tail shows the event, its value, metadata and user, without a reload
    tail = page.get_by_test_id("event-tail")
    expect(tail.get_by_text("purchase_completed")).to_be_visible()
    expect(tail).to_contain_text("42.5")
    expect(tail).to_contain_text("currency=EUR")
    expect(tail).to_contain_text("shopper-7")
    assert page.evaluate("window.stillTheSamePage") is True
    page.screenshot(path=str(tmp_path / f"events-{engine}.png"), full_page=True)

    # And, once the worker has counted the exposures, the experiment's page draws them
    assert exposures_apply() == 1
    page.goto(
        live_server.url
        + reverse("experiment-detail", args=["shop", experiment.pk])
        + "?env=production"
    )
    panel = page.get_by_test_id("exposures")
    expect(panel.locator("canvas[data-drawn]").first).to_be_visible()
    box = panel.locator("canvas").first.bounding_box()
    assert box is not None
    assert box["height"] > 100
    expect(panel.locator("tbody")).to_contain_text("Control")
