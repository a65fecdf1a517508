"""The metrics catalog in a real browser: events an app logged give their auto metrics; a
PM builds a ratio of two of them through the form (the form shows only the ratio's
fields), fixes what the form refuses, and sees the ratio's page with its daily chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.metrics.seed import event, store


@pytest.mark.django_db(transaction=True)
def test_catalog__pm_creates_a_ratio__sees_its_page_and_chart(
    page: Page, live_server, empty_event_table
):
    # Given a project whose production received visits and purchases, and a PM
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    production = project.environments.get(name="production")
    store(
        production,
        [event("visit", "u1"), event("visit", "u2"), event("purchase", "u1", value="30")],
    )
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    page.set_default_timeout(8000)
    sign_in(page, live_server, "pam@corp.example")

    # When she opens Metrics: each event already has its two auto metrics
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Metrics").click()
    results = page.locator("#metric-results")
    expect(results.get_by_role("link", name="visit")).to_have_count(2)
    expect(results.get_by_role("link", name="purchase")).to_have_count(2)

    # And she searches live: only purchase's metrics stay
    page.get_by_role("searchbox", name="Search", exact=True).fill("purch")
    expect(results.get_by_role("link", name="visit")).to_have_count(0)
    expect(results.get_by_role("link", name="purchase")).to_have_count(2)

    # And starts a ratio: the form shows the ratio's fields, not the events'
    page.get_by_role("link", name="New metric").click()
    page.get_by_label("Name", exact=True).fill("purchases_per_visitor")
    page.get_by_label("Type").select_option("ratio")
    expect(page.get_by_label("Numerator")).to_be_visible()
    expect(page.get_by_label("Event", exact=True)).to_be_hidden()
    page.get_by_label("Numerator").select_option("purchase::event_count")
    page.get_by_role("button", name="Create metric").click()

    # Then the form refuses it without a denominator, on that field
    expect(page.get_by_text("A ratio needs a denominator")).to_have_count(2)
    page.get_by_label("Denominator").select_option("visit::event_user")
    page.get_by_role("button", name="Create metric").click()

    # And the ratio's page says what it measures and draws its daily chart
    expect(page.get_by_role("heading", name="purchases_per_visitor")).to_be_visible()
    expect(page.get_by_test_id("definition")).to_contain_text(
        "Σ (the number of purchase events) ÷ Σ (1 if the unit logged visit events)"
    )
    page.get_by_role("navigation", name="Environment").get_by_role(
        "link", name="production"
    ).click()
    daily = page.get_by_test_id("daily")
    # htmx swaps the card for production's: wait until the new one is in and settled
    expect(daily.get_by_role("link", name="production")).to_have_attribute("aria-current", "page")
    expect(page.locator(".htmx-request, .htmx-settling, .htmx-swapping")).to_have_count(0)
    expect(daily.locator("canvas[data-drawn]")).to_be_visible()
    box = daily.locator("canvas").bounding_box()
    assert box is not None
    assert box["height"] > 100
    expect(page.get_by_test_id("history")).to_contain_text("metric.created")
