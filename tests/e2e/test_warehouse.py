"""Settings → Warehouse in a real browser: an admin adds a connection to the customer's
PostgreSQL, tests it, then defines an assignment source: the page refuses a column the
query does not return with a sentence, previews the first rows once fixed, and saves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection as db
from playwright.sync_api import Page, expect

from console import services as console_services
from metrics.models import AssignmentSource, WarehouseConnection
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.metrics.warehouse_db import READER_PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"
T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.mark.django_db(transaction=True)
def test_warehouse__admin_connects_and_previews_a_source(
    page: Page, live_server, warehouse, warehouse_allowed
):
    # Given a project, its admin, and the customer's assignments table
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    warehouse.load(
        "assignments",
        {"user_id": "text", "experiment": "text", "variant": "text", "assigned_at": "timestamptz"},
        [(f"u{i}", "checkout", "Test" if i % 2 else "Control", T0) for i in range(20)],
    )
    page.set_default_timeout(10000)
    sign_in(page, live_server, "root@corp.example")

    # When she adds a connection on Settings → Warehouse
    page.goto(f"{live_server.url}/p/{project.slug}/settings/")
    page.get_by_role("link", name="Warehouse").click()
    form = page.locator("#new-connection")
    form.get_by_label("Name").fill("Analytics")
    form.get_by_label("Warehouse").select_option("postgres")
    form.get_by_label("Host").fill(db.settings_dict["HOST"] or "127.0.0.1")
    form.get_by_label("Port").fill(str(db.settings_dict["PORT"] or 5432))
    form.get_by_label("Database").fill(warehouse.name)
    form.get_by_label("User").fill(warehouse.reader)
    form.get_by_label("Password").fill(READER_PASSWORD)
    form.get_by_label("SSL mode").select_option("disable")
    form.get_by_role("button", name="Add connection").click()

    # And tests it: connected, and the password is nowhere on the page
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connections [data-test-state=ok]")).to_be_visible()
    expect(page.get_by_text("Connected: PostgreSQL").first).to_be_visible()
    assert READER_PASSWORD not in page.content()
    assert WarehouseConnection.objects.get().last_test_ok is True

    # And defines an assignment source with a group column the query does not return
    page.get_by_role("link", name="Add assignment source").click()
    page.get_by_label("Name").fill("Checkout assignments")
    page.get_by_label("SQL").fill(
        "SELECT user_id, experiment, variant, assigned_at FROM assignments"
    )
    page.get_by_label("Group column").fill("group_name")
    page.get_by_role("button", name="Save source").click()

    # Then the page says which column is missing and what the query returns; nothing saved
    expect(page.get_by_text("The source has no column 'group_name'").first).to_be_visible()
    assert not AssignmentSource.objects.exists()

    # When she fixes it and previews: the first rows, typed; still nothing saved
    page.get_by_label("Group column").fill("variant")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview.get_by_role("cell", name="u0", exact=True)).to_be_visible()
    expect(preview.get_by_text("timestamptz")).to_be_visible()
    assert not AssignmentSource.objects.exists()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "warehouse_source_preview.png"), full_page=True)

    # And saves it: it is listed on the Warehouse tab
    page.get_by_role("button", name="Save source").click()
    sources = page.locator("#assignment-sources")
    expect(sources.get_by_role("link", name="Checkout assignments")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "warehouse_settings.png"), full_page=True)
    assert AssignmentSource.objects.get().group_column == "variant"
