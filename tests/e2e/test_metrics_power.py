"""The power calculator in a real browser: a PM opens Metrics → Power, picks a metric and
a gate's passing units, and sees the MDE by weeks in a table and a chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from metrics.catalog.services import metric_autocreate
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.metrics.power_seed import GATE, seed_power


@pytest.mark.django_db(transaction=True)
def test_power__pm_picks_metric_and_gate__sees_table_and_chart(
    page: Page, live_server, empty_event_table
):
    # Given a project whose production logged four weeks of visits, purchases, gate checks
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    production = project.environments.get(name="production")
    seed_power(production)
    metric_autocreate(project=project)
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    page.set_default_timeout(8000)
    sign_in(page, live_server, "pam@corp.example")

    # When she opens Metrics → Power in production and picks purchases over the gate
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Metrics").click()
    page.get_by_role("navigation", name="Metrics").get_by_role("link", name="Power").click()
    page.get_by_label("Environment", exact=True).select_option("production")
    page.get_by_label("Metric", exact=True).select_option("purchase::event_count")
    page.get_by_role("button", name="Calculate").click()
    # (the population list is the environment's: production's gates after the first answer)
    page.get_by_label("Population", exact=True).select_option(f"gate:{GATE}")
    page.get_by_label("Target MDE (%)").fill("50")
    page.get_by_role("button", name="Calculate").click()

    # Then the table shows weeks 1 to 4 with an MDE each, and the chart is drawn
    table = page.get_by_role("table", name="MDE by weeks")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(table.locator("tbody tr").first).to_contain_text("1 week")
    expect(table.locator("tbody tr").last).to_contain_text("%")
    expect(page.locator("#power-result")).to_contain_text("Units passing gate new_checkout")
    canvas = page.locator("canvas[data-chart]")
    expect(canvas).to_be_visible()
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]'))"
    )
    page.screenshot(path="/tmp/power-gate.png", full_page=True)

    # And the empty state when the population saw nobody (staging has no events)
    page.get_by_label("Environment", exact=True).select_option("staging")
    page.get_by_label("Population", exact=True).select_option("all")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_text("No units in this population in the last 4 weeks")).to_be_visible()
    page.screenshot(path="/tmp/power-empty.png", full_page=True)
