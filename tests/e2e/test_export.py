"""Exports in a real browser: an analyst (a viewer) opens an experiment's Results, opens the
Export menu and downloads the assignments as CSV and the results as Parquet; the files are
what the database and the stored results say."""

from __future__ import annotations

import csv
import os

import pyarrow.parquet as pq
import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.results.services import results_compute, results_request
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from metrics.models import Exposure
from metrics.warehouse.services import warehouse_connection_create
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.experiments.factories import experiment_document
from tests.experiments.results_seed import EXPERIMENT, seed_purchases
from tests.metrics.warehouse_db import admin_connection, connection_input

SHOTS = os.environ.get("GATEHOUSE_SCREENSHOTS")  # a directory: screenshots for people


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_event_table")
def test_export_menu__viewer_downloads_assignments_csv_and_results_parquet(
    page: Page, live_server, tmp_path
):
    # Given a running experiment with 600 exposed units and its results computed
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    metric_create(
        actor=admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase"),
    )
    experiment = experiment_services.experiment_create(
        actor=admin,
        project=project,
        document=experiment_document(
            EXPERIMENT, primaryMetrics=[{"name": "purchase", "type": "sum"}]
        ),
    )
    experiment = experiment_services.experiment_start(actor=admin, experiment=experiment)
    experiment.started_at -= timezone.timedelta(days=30)
    experiment.save(update_fields=["started_at"])
    spec_publish(actor=None, project=project)
    production = project.environments.get(name="production")
    seed_purchases(production)
    results_compute(results_request(actor=admin, experiment=experiment, environment=production).pk)
    analyst = UserFactory(username="ana", email="ana@corp.example")
    Membership.objects.create(project=project, user=analyst, role=Role.VIEWER)
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": 1360, "height": 900})
    sign_in(page, live_server, "ana@corp.example")

    # When she opens the Export menu on the Results tab
    page.goto(live_server.url + reverse("experiment-results", args=["shop", experiment.pk]))
    menu = page.get_by_test_id("export-menu")
    menu.get_by_text("Export", exact=True).click()
    expect(menu.get_by_role("link", name="Assignments CSV")).to_be_visible()
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "export-menu.png"))

    # And downloads the assignments as CSV, then the results as Parquet
    with page.expect_download() as csv_download:
        menu.get_by_role("link", name="Assignments CSV").click()
    assignments = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(assignments)
    with page.expect_download() as parquet_download:  # the menu stays open
        menu.get_by_role("link", name="Results Parquet").click()
    results = tmp_path / parquet_download.value.suggested_filename
    parquet_download.value.save_as(results)

    # Then the CSV holds a row per exposed unit, in its group
    assert assignments.name == "checkout_button-production-assignments.csv"
    with assignments.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    stored = dict(
        Exposure.objects.filter(environment=production, name=EXPERIMENT).values_list(
            "unit_id", "group_name"
        )
    )
    assert {r["unit_id"]: r["group"] for r in rows} == stored
    assert len(stored) == 600
    # And the Parquet file the metric's Control and Test rows
    assert results.name == "checkout_button-production-results.parquet"
    table = pq.read_table(results).to_pylist()
    assert [(r["metric"], r["group"], r["units"]) for r in table] == [
        ("purchase", "Control", 300),
        ("purchase", "Test", 300),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_event_table", "warehouse_allowed")
def test_warehouse_export__admin_chooses_the_connection__refresh_writes_it(
    page: Page, live_server, request
):
    # Given a project with a warehouse connection (the test database's own user), and a
    # running experiment with exposed units
    customer = request.getfixturevalue("warehouse")  # tests/metrics/warehouse_db.py
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    connection = warehouse_connection_create(
        actor=admin,
        project=project,
        data=connection_input(
            customer, name="Analytics", user="postgres", password="trusted", schema="shop_export"
        ),
    )
    experiment = experiment_services.experiment_create(
        actor=admin, project=project, document=experiment_document(EXPERIMENT)
    )
    experiment = experiment_services.experiment_start(actor=admin, experiment=experiment)
    spec_publish(actor=None, project=project)
    production = project.environments.get(name="production")
    seed_purchases(production, units=50)
    page.set_default_timeout(15_000)
    page.set_viewport_size({"width": 1360, "height": 900})
    sign_in(page, live_server, "root@corp.example")

    # When the admin opens the Export menu's warehouse link and chooses the connection
    page.goto(live_server.url + reverse("experiment-results", args=["shop", experiment.pk]))
    menu = page.get_by_test_id("export-menu")
    menu.get_by_text("Export", exact=True).click()
    menu.get_by_role("link", name="Into a warehouse on each refresh…").click()
    page.get_by_label("Export to").select_option(value=str(connection.pk))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Export to")).to_have_value(
        str(project.warehouse_connections.get().pk)
    )

    # And the results are refreshed
    results_compute(results_request(actor=admin, experiment=experiment, environment=production).pk)
    page.reload()

    # Then the page lists the export, and the warehouse holds a row per unit
    expect(page.get_by_test_id("recent-exports")).to_contain_text("checkout_button")
    expect(page.get_by_test_id("recent-exports")).to_contain_text("Written")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "warehouse-export.png"), full_page=True)
    with admin_connection(customer.name) as conn:
        (count,) = conn.execute("SELECT count(*) FROM shop_export.gatehouse_assignments").fetchone()
        conn.execute("DROP SCHEMA shop_export CASCADE")
    assert count == 50
