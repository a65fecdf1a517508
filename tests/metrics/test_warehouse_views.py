"""Settings → Warehouse through Django's test client: the list (the password never shown,
constant queries), adding and testing a connection, a source's preview and its refusals
(nothing saved), and the metric form's source choice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from metrics.models import AssignmentSource, Metric, MetricSource, WarehouseConnection
from metrics.warehouse.services import MetricSourceInput, metric_source_create
from tests.metrics.warehouse_db import READER_PASSWORD, connection_input

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.fixture
def tables(warehouse):
    warehouse.load(
        "assignments",
        {"user_id": "text", "experiment": "text", "variant": "text", "ts": "timestamptz"},
        [(f"u{i}", "checkout", "Test" if i % 2 else "Control", T0) for i in range(12)],
    )
    warehouse.load(
        "purchases",
        {"user_id": "text", "ts": "timestamptz", "amount": "numeric", "country": "text"},
        [(f"u{i}", T0, i * 2.5, "FR") for i in range(12)],
    )


def _url(project, name, *args) -> str:
    return reverse(name, args=[project.slug, *args])


def test_warehouse_page__connection__hint_shown_never_the_password(
    client, warehouse_connection, project_member
):
    # Given
    project = warehouse_connection.project
    client.force_login(project_member)

    # When
    response = client.get(_url(project, "warehouse"))

    # Then
    assert response.status_code == 200
    html = response.content.decode()
    assert warehouse_connection.name in html
    assert warehouse_connection.password_hint in html
    assert READER_PASSWORD not in html
    assert "Test connection" not in html  # members see, admins manage


def test_warehouse_page__more_sources__same_queries(
    client, warehouse_connection, tables, site_admin, django_assert_num_queries
):
    project = warehouse_connection.project
    client.force_login(site_admin)

    def add(name: str) -> None:
        metric_source_create(
            actor=site_admin,
            project=project,
            data=MetricSourceInput(
                name=name,
                connection_id=warehouse_connection.pk,
                table="purchases",
                unit_id_column="user_id",
                timestamp_column="ts",
            ),
            verify=False,
        )

    add("One")
    with CaptureQueriesContext(db) as one:
        client.get(_url(project, "warehouse"))
    add("Two")
    add("Three")
    with django_assert_num_queries(len(one)):
        client.get(_url(project, "warehouse"))


def test_connection_create__admin_posts__saved_encrypted(
    client, warehouse, warehouse_allowed, project, site_admin
):
    # Given
    client.force_login(site_admin)
    data = vars_of(connection_input(warehouse))

    # When
    response = client.post(_url(project, "warehouse-connection-create"), data)

    # Then
    assert response.status_code == 302
    stored = WarehouseConnection.objects.get(project=project)
    assert stored.database == warehouse.name
    assert READER_PASSWORD not in stored.password_encrypted
    page = client.get(_url(project, "warehouse")).content.decode()
    assert READER_PASSWORD not in page


def vars_of(data) -> dict:
    return {
        "name": data.name,
        "engine": data.kind,
        "host": data.host,
        "port": data.port,
        "database": data.database,
        "user": data.user,
        "password": data.password or "",
        "schema": data.schema,
        "sslmode": data.sslmode,
        "statement_timeout_seconds": data.statement_timeout_seconds,
    }


def test_connection_create__member__forbidden(client, warehouse, project, project_member):
    client.force_login(project_member)
    response = client.post(
        _url(project, "warehouse-connection-create"), vars_of(connection_input(warehouse))
    )
    assert response.status_code == 403
    assert not WarehouseConnection.objects.exists()


def test_connection_create__bad_port__form_error_nothing_saved(
    client, warehouse, project, site_admin
):
    client.force_login(site_admin)
    response = client.post(
        _url(project, "warehouse-connection-create"),
        {**vars_of(connection_input(warehouse)), "port": "70000"},
    )
    assert response.status_code == 400
    assert not WarehouseConnection.objects.exists()


def test_connection_test__reachable__success_message(client, warehouse_connection, site_admin):
    project = warehouse_connection.project
    client.force_login(site_admin)

    response = client.post(
        _url(project, "warehouse-connection-test", warehouse_connection.pk), follow=True
    )

    assert response.status_code == 200
    assert "Connected: PostgreSQL" in response.content.decode()
    assert WarehouseConnection.objects.get().last_test_ok is True


def test_connection_edit__password_left_empty__kept(client, warehouse_connection, site_admin):
    project = warehouse_connection.project
    client.force_login(site_admin)
    before = warehouse_connection.password_encrypted
    page = client.get(_url(project, "warehouse-connection-update", warehouse_connection.pk))
    assert READER_PASSWORD not in page.content.decode()
    data = {**vars_of(connection_input_for(warehouse_connection)), "password": ""}

    response = client.post(
        _url(project, "warehouse-connection-update", warehouse_connection.pk), data
    )

    assert response.status_code == 302
    assert WarehouseConnection.objects.get().password_encrypted == before


def connection_input_for(connection):
    from tests.metrics.test_warehouse_services import connection_input_from

    return connection_input_from(connection, statement_timeout_seconds=12)


def _assignment_post(connection, **overrides) -> dict:
    return {
        "name": "Assignments",
        "connection": connection.pk,
        "sql": "SELECT user_id, experiment, variant, ts FROM assignments",
        "unit_type": "userID",
        "unit_id_column": "user_id",
        "experiment_column": "experiment",
        "group_column": "variant",
        "timestamp_column": "ts",
        **overrides,
    }


def test_source_preview__first_rows_shown_nothing_saved(
    client, warehouse_connection, tables, project_member
):
    project = warehouse_connection.project
    client.force_login(project_member)

    response = client.post(
        _url(project, "warehouse-source-create", "assignment"),
        {**_assignment_post(warehouse_connection), "preview": "1"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Preview" in html
    assert "timestamptz" in html
    assert ">u0<" in html
    assert not AssignmentSource.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        ({"group_column": "grp"}, "The source has no column &#x27;grp&#x27;"),
        ({"sql": "SELECT nope FROM"}, "The SQL does not parse"),
        ({"sql": "SELECT * FROM missing_table"}, "The warehouse refused the SQL"),
    ],
)
def test_source_save__bad__sentence_on_the_page_nothing_saved(
    client, warehouse_connection, tables, project_member, overrides, sentence
):
    project = warehouse_connection.project
    client.force_login(project_member)

    response = client.post(
        _url(project, "warehouse-source-create", "assignment"),
        _assignment_post(warehouse_connection, **overrides),
    )

    assert response.status_code == 400
    assert sentence in response.content.decode()
    assert not AssignmentSource.objects.exists()


def test_metric_form__over_a_metric_source__created(
    client, warehouse_connection, tables, project_member
):
    # Given
    project = warehouse_connection.project
    client.force_login(project_member)
    response = client.post(
        _url(project, "warehouse-source-create", "metric"),
        {
            "name": "Purchases",
            "connection": warehouse_connection.pk,
            "table": "purchases",
            "unit_id_column": "user_id",
            "timestamp_column": "ts",
            "value_columns": "amount",
            "filter_columns": "country",
        },
    )
    assert response.status_code == 302
    assert MetricSource.objects.get().value_columns == ["amount"]

    # When
    response = client.post(
        _url(project, "metric-create"),
        {
            "name": "revenue",
            "metric_type": "sum",
            "source": "Purchases",
            "value_field": "amount",
            "filter_0_field": "country",
            "filter_0_operator": "eq",
            "filter_0_values": "FR",
            "direction": "increase",
            "winsorize_upper": "0.999",
        },
    )

    # Then
    assert response.status_code == 302, response.content.decode()[:2000]
    metric = Metric.objects.get(name="revenue")
    assert metric.source.name == "Purchases"
    assert metric.filters == [{"field": "country", "operator": "eq", "values": ["FR"]}]


def test_metric_form__unknown_value_column__error_on_the_field(
    client, warehouse_connection, tables, project_member
):
    project = warehouse_connection.project
    metric_source_create(
        actor=project_member,
        project=project,
        data=MetricSourceInput(
            name="Purchases",
            connection_id=warehouse_connection.pk,
            table="purchases",
            unit_id_column="user_id",
            timestamp_column="ts",
            value_columns=("amount",),
        ),
    )
    client.force_login(project_member)

    response = client.post(
        _url(project, "metric-create"),
        {
            "name": "revenue",
            "metric_type": "sum",
            "source": "Purchases",
            "value_field": "price",
            "direction": "increase",
        },
    )

    assert response.status_code == 400
    assert "&#x27;price&#x27; is not a value column of Purchases" in response.content.decode()
    assert not Metric.objects.filter(name="revenue").exists()


def test_metric_page__over_a_metric_source__says_where_its_values_come_from(
    client, warehouse_connection, tables, project_member
):
    # Given
    from metrics.catalog.services import metric_create
    from metrics.catalog.validation import FilterInput, MetricInput

    project = warehouse_connection.project
    metric_source_create(
        actor=project_member,
        project=project,
        data=MetricSourceInput(
            name="Purchases",
            connection_id=warehouse_connection.pk,
            table="purchases",
            unit_id_column="user_id",
            timestamp_column="ts",
            value_columns=("amount",),
            filter_columns=("country",),
        ),
    )
    metric = metric_create(
        actor=project_member,
        project=project,
        data=MetricInput(
            name="revenue",
            metric_type="sum",
            source="Purchases",
            value_field="amount",
            filters=[FilterInput("country", "eq", ["FR"])],
        ),
    )
    client.force_login(project_member)

    # When
    response = client.get(reverse("metric-detail", args=[project.slug, metric.pk]))

    # Then
    assert response.status_code == 200
    html = response.content.decode()
    assert "The sum of amount over rows of Purchases where country is FR, per unit." in html
    assert "reads the warehouse metric source <strong>Purchases</strong>" in html
