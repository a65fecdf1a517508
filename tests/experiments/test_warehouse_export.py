"""Assignments and results written into the customer's warehouse on each refresh
(docs/export.md), for real, into a separate PostgreSQL database (tests/metrics/warehouse_db):
the tables created with the export's columns, an experiment's rows replaced on the next
refresh in one transaction, Redshift's path (multi-row INSERTs) run against PostgreSQL and
every statement parsed with the Redshift dialect; a failing export recorded on the results
and shown, the refresh done all the same; who may choose the connection."""

from __future__ import annotations

import pytest
import sqlglot
from django.urls import reverse
from django.utils.html import escape
from psycopg import sql

from console import services as console_services
from console.exceptions import DomainError, NotAllowed
from console.models import AuditEvent, Role
from experiments.models import ExperimentResults, ResultsState, WarehouseExport
from experiments.results import export
from experiments.results.services import results_compute, results_request
from experiments.results.warehouse import ASSIGNMENTS, RESULTS, warehouse_export_set
from metrics.models import Exposure
from metrics.warehouse import writer
from metrics.warehouse.services import warehouse_connection_create
from tests.api_support import api_url_for, assert_error, console_key, key_client
from tests.experiments.results_seed import EXPERIMENT, seed_purchases
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.metrics.seed import exposure, group_rules, store
from tests.metrics.warehouse_db import READER_PASSWORD, admin_connection, connection_input

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

WRITER_PASSWORD = "writer-password-1"
api_url = api_url_for("experiments-api")


@pytest.fixture
def production(project):
    return project.environments.get(name="production")


@pytest.fixture(scope="session")
def writer_role(warehouse):
    """A role that may create schemas in the warehouse database: the export's user."""
    name = warehouse.name + "_writer"
    with admin_connection("postgres") as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(WRITER_PASSWORD)
            )
        )
        conn.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(warehouse.name), sql.Identifier(name)
            )
        )
    yield name
    with admin_connection(warehouse.name) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
    with admin_connection("postgres") as conn:
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                sql.Identifier(warehouse.name), sql.Identifier(name)
            )
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def clean_schema(warehouse):
    warehouse.execute("DROP SCHEMA IF EXISTS analytics CASCADE")
    yield
    warehouse.execute("DROP SCHEMA IF EXISTS analytics CASCADE")


def _connection(project, site_admin, warehouse, writer_role, **overrides):
    fields = {"user": writer_role, "password": WRITER_PASSWORD, "schema": "analytics"}
    return warehouse_connection_create(
        actor=site_admin,
        project=project,
        data=connection_input(warehouse, **(fields | overrides)),
    )


def _refresh(site_admin, experiment, environment) -> ExperimentResults:
    done = results_compute(
        results_request(actor=site_admin, experiment=experiment, environment=environment).pk
    )
    assert done is not None
    return done


def _rows(warehouse, table: str) -> list[dict]:
    with admin_connection(warehouse.name) as conn, conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT * FROM analytics.{} ORDER BY 1, 2, 3, 4, 5, 6").format(
                sql.Identifier(table)
            )
        )
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.usefixtures("warehouse_allowed", "clean_schema")
@pytest.mark.parametrize("kind", ["postgres", "redshift"])
def test_refresh__writes_assignments_and_results__replaced_on_the_next(
    project, production, measured, site_admin, warehouse, writer_role, kind
):
    # Given the project exports to a connection (Redshift's path: multi-row INSERTs)
    connection = _connection(project, site_admin, warehouse, writer_role, kind=kind)
    warehouse_export_set(actor=site_admin, project=project, connection=connection)
    seed_purchases(production)

    # When the results are refreshed
    first = _refresh(site_admin, measured, production)

    # Then the schema and tables exist, with a row per unit and per metric and group
    assert first.state == ResultsState.DONE
    assert first.export_error == ""
    assert first.exported_at is not None
    assignments = _rows(warehouse, "gatehouse_assignments")
    stored = Exposure.objects.filter(environment=production, name=EXPERIMENT)
    assert {(r["unit_id"], r["group"], r["first_exposure_at"]) for r in assignments} == {
        (e.unit_id, e.group_name, e.first_at) for e in stored
    }
    assert {(r["project"], r["environment"], r["entity"]) for r in assignments} == {
        ("payments", "production", "experiment")
    }
    results = _rows(warehouse, "gatehouse_results")
    (comparison,) = first.payload["metrics"][0]["comparisons"]
    control, test = sorted(results, key=lambda r: not r["is_control"])
    assert (control["group"], control["units"], test["group"]) == ("Control", 300, "Test")
    assert test["relative_change"] == comparison["relative"]["estimate"]
    assert test["p_value"] == comparison["p_value"]

    # When 10 more units are exposed and the results refreshed again
    rules = group_rules(production, EXPERIMENT)
    store(production, [exposure(EXPERIMENT, rules["Test"], f"late{i}") for i in range(10)])
    _refresh(site_admin, measured, production)

    # Then the experiment's rows were replaced, not added to
    assert len(_rows(warehouse, "gatehouse_assignments")) == 610
    assert len(_rows(warehouse, "gatehouse_results")) == 2


@pytest.mark.usefixtures("warehouse_allowed", "clean_schema")
def test_a_failure_midway__the_old_rows_stay__recorded_and_shown(
    client, project, production, measured, site_admin, warehouse, writer_role
):
    # Given a first export, then the results table changed by someone so inserts fail
    connection = _connection(project, site_admin, warehouse, writer_role)
    warehouse_export_set(actor=site_admin, project=project, connection=connection)
    seed_purchases(production, units=40)
    _refresh(site_admin, measured, production)
    warehouse.execute(
        "ALTER TABLE analytics.gatehouse_results ALTER COLUMN units TYPE boolean USING false"
    )
    rules = group_rules(production, EXPERIMENT)
    store(production, [exposure(EXPERIMENT, rules["Test"], "late")])

    # When the results are refreshed again
    failed = _refresh(site_admin, measured, production)

    # Then the refresh is done, the export's error is on it and on the page, and the
    # assignments written first were rolled back with it (readers never see half)
    assert failed.state == ResultsState.DONE
    assert failed.exported_at is None
    assert failed.export_error.startswith("The export to Customer warehouse failed:")
    assert len(_rows(warehouse, "gatehouse_assignments")) == 40
    client.force_login(site_admin)
    page = client.get(reverse("experiment-results", args=["payments", measured.pk]))
    assert escape(failed.export_error) in page.content.decode()


@pytest.mark.usefixtures("warehouse_allowed", "clean_schema")
def test_read_only_user_or_unreachable__refresh_done__error_recorded(
    project, production, measured, site_admin, warehouse, writer_role
):
    # Given an export connection whose user may only read
    reader_connection = _connection(
        project, site_admin, warehouse, writer_role, user=warehouse.reader, password=READER_PASSWORD
    )
    warehouse_export_set(actor=site_admin, project=project, connection=reader_connection)
    seed_purchases(production, units=10)

    # When
    refused = _refresh(site_admin, measured, production)
    nowhere = _connection(project, site_admin, warehouse, writer_role, name="Gone", port=1)
    warehouse_export_set(actor=site_admin, project=project, connection=nowhere)
    unreachable = _refresh(site_admin, measured, production)

    # Then both refreshes are done; each says why its export failed
    assert (refused.state, unreachable.state) == (ResultsState.DONE, ResultsState.DONE)
    assert "may not" in refused.export_error or "permission" in refused.export_error
    assert "could not be reached" in unreachable.export_error
    assert refused.payload["metrics"][0]["comparisons"]  # the results themselves are there
    assert unreachable.payload["metrics"][0]["comparisons"]


def test_statements__every_one_parses_as_redshift__no_copy_for_redshift():
    # Given the statements the writer sends to a Redshift connection
    statements = [writer.create_schema_sql("analytics")]
    for table in (ASSIGNMENTS, RESULTS):
        size = writer.insert_batch_rows(table)
        statements += [
            writer.create_table_sql("analytics", table),
            writer.delete_sql("analytics", table),
            writer.insert_sql("analytics", table, size),
            writer.insert_sql("analytics", table, 1),
        ]

    # When each is parsed with the Redshift dialect
    parsed = [sqlglot.parse(statement, read="redshift") for statement in statements]

    # Then each is one statement, and an INSERT's parameters stay under Redshift's limit
    assert all(len(p) == 1 and p[0] is not None for p in parsed)
    assert not any(s.upper().startswith("COPY") for s in statements)
    assert all(
        writer.insert_batch_rows(t) * len(t.columns) <= 32_767 for t in (ASSIGNMENTS, RESULTS)
    )
    assert [name for name, _ in ASSIGNMENTS.columns] == export.ASSIGNMENTS.names
    assert dict(RESULTS.columns)["computed_at"] == "time"
    assert dict(RESULTS.columns)["units"] == "int"
    assert dict(RESULTS.columns)["p_value"] == "float"


@pytest.mark.usefixtures("warehouse_allowed")
def test_set__admins_only__the_projects_own_connection__audited(
    project, site_admin, project_member, warehouse, writer_role
):
    # Given
    connection = _connection(project, site_admin, warehouse, writer_role)
    other = console_services.project_create(actor=site_admin, name="Other", slug="other")

    # When / Then
    with pytest.raises(NotAllowed):
        warehouse_export_set(actor=project_member, project=project, connection=connection)
    with pytest.raises(DomainError) as elsewhere:
        warehouse_export_set(actor=site_admin, project=other, connection=connection)
    assert elsewhere.value.code == "not_found"
    chosen = warehouse_export_set(actor=site_admin, project=project, connection=connection)
    again = warehouse_export_set(actor=site_admin, project=project, connection=connection)
    cleared = warehouse_export_set(actor=site_admin, project=project, connection=None)
    assert chosen is not None
    assert again == chosen
    assert cleared is None
    changes = list(
        AuditEvent.objects.filter(action="project.warehouse_export_changed")
        .order_by("pk")
        .values_list("before", "after")
    )
    # set, then cleared; the repeat changed nothing
    assert changes == [
        ({"warehouse_export": None}, {"warehouse_export": "Customer warehouse"}),
        ({"warehouse_export": "Customer warehouse"}, {"warehouse_export": None}),
    ]


@pytest.mark.usefixtures("warehouse_allowed", "clean_schema")
def test_page__admin_chooses__member_refused__latest_exports_listed(
    client,
    project,
    production,
    measured,
    site_admin,
    project_member,
    warehouse,
    writer_role,
    django_assert_max_num_queries,
):
    # Given a connection, and three refreshes exported through it (one failing)
    connection = _connection(project, site_admin, warehouse, writer_role)
    url = reverse("warehouse-export", args=["payments"])

    # When the admin chooses it on the page, and a member tries to clear it
    client.force_login(site_admin)
    chosen = client.post(url, {"connection": str(connection.pk)})
    client.force_login(project_member)
    refused = client.post(url, {"connection": ""})

    # Then the admin's choice holds
    assert chosen.status_code == 302
    assert refused.status_code == 403
    assert WarehouseExport.objects.get(project=project).connection == connection

    # When three refreshes are exported (the last one failing), and the member reads the page
    seed_purchases(production, units=10)
    for _ in range(2):
        _refresh(site_admin, measured, production)
    warehouse.execute(
        "ALTER TABLE analytics.gatehouse_results ADD COLUMN extra int NOT NULL DEFAULT 0"
    )
    warehouse.execute("ALTER TABLE analytics.gatehouse_results ALTER COLUMN extra DROP DEFAULT")
    _refresh(site_admin, measured, production)
    with django_assert_max_num_queries(12):
        page = client.get(url)

    # Then it names the connection and lists the exports, the failure with its reason
    text = page.content.decode()
    assert "Exported to <strong>Customer warehouse</strong>" in text
    assert text.count("Written ") == 2
    assert "violates not-null constraint" in text


@pytest.mark.usefixtures("warehouse_allowed")
def test_api__admin_key_chooses__viewer_reads__refusals(
    project, site_admin, warehouse, writer_role
):
    # Given a connection, an admin's key and a viewer's key
    _connection(project, site_admin, warehouse, writer_role)
    admin = key_client(console_key(site_admin, project, Role.ADMIN))
    viewer = key_client(console_key(site_admin, project, Role.VIEWER))
    url = api_url("api-warehouse-export")

    # When
    chosen = admin.patch(url, {"connection": "customer WAREHOUSE"}, format="json")
    read = viewer.get(url)
    refused = viewer.patch(url, {"connection": None}, format="json")
    unknown = admin.patch(url, {"connection": "nope"}, format="json")
    cleared = admin.patch(url, {"connection": None}, format="json")

    # Then
    assert chosen.status_code == 200, chosen.content
    assert read.json()["data"] == {"connection": "Customer warehouse", "schema": "analytics"}
    assert_error(refused, 403)
    assert_error(unknown, 400, "unknown_connection", "connection")
    assert cleared.json()["data"] == {"connection": None, "schema": None}
    assert not WarehouseExport.objects.exists()
