"""The warehouse endpoints of the console API: connections (admins; the password never
answered), their test, sources with their preview, and the error shape for a warehouse
that refuses (a 400, never a 5xx)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from metrics.models import AssignmentSource, WarehouseConnection
from tests.api_support import api_url_for, assert_error, session_client
from tests.metrics.warehouse_db import READER_PASSWORD, connection_input

pytestmark = pytest.mark.django_db
api_url = api_url_for("metrics-api")
T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.fixture
def assignments(warehouse):
    warehouse.load(
        "assignments",
        {"user_id": "text", "experiment": "text", "variant": "text", "ts": "timestamptz"},
        [(f"u{i}", "checkout", "Test" if i % 2 else "Control", T0) for i in range(5)],
    )


def _connection_body(warehouse) -> dict:
    data = connection_input(warehouse)
    return {
        "name": data.name,
        "kind": data.kind,
        "host": data.host,
        "port": data.port,
        "database": data.database,
        "user": data.user,
        "password": data.password,
        "sslmode": data.sslmode,
        "statementTimeoutSeconds": 20,
    }


def _source_body(connection_id: int, **overrides) -> dict:
    return {
        "name": "Assignments",
        "connection": connection_id,
        "sql": "SELECT * FROM assignments",
        "unitIdColumn": "user_id",
        "experimentColumn": "experiment",
        "groupColumn": "variant",
        "timestampColumn": "ts",
        **overrides,
    }


def test_connections__admin__create_list_test_without_the_password(
    warehouse, warehouse_allowed, project, site_admin
):
    # Given
    client = session_client(site_admin)

    # When
    created = client.post(
        api_url("api-warehouse-connection-list"), _connection_body(warehouse), format="json"
    )
    connection_id = created.json()["data"]["id"]
    listed = client.get(api_url("api-warehouse-connection-list"))
    tested = client.post(api_url("api-warehouse-connection-test", connection_id))

    # Then
    assert created.status_code == 201
    assert listed.status_code == 200
    assert [c["statementTimeoutSeconds"] for c in listed.json()["data"]] == [20]
    for response in (created, listed, tested):
        assert READER_PASSWORD not in json.dumps(response.json())
    assert tested.status_code == 200
    assert tested.json()["data"]["ok"] is True
    assert WarehouseConnection.objects.get().last_test_ok is True


def test_connections__member__refused(warehouse, project, project_member):
    client = session_client(project_member)
    response = client.post(
        api_url("api-warehouse-connection-list"), _connection_body(warehouse), format="json"
    )
    assert_error(response, 403)
    assert not WarehouseConnection.objects.exists()


def test_connection_patch__unreachable_port__test_answers_the_sentence(
    warehouse_connection, site_admin
):
    client = session_client(site_admin)
    url = api_url("api-warehouse-connection-detail", warehouse_connection.pk)

    patched = client.patch(url, {"port": 1}, format="json")
    tested = client.post(api_url("api-warehouse-connection-test", warehouse_connection.pk))

    assert patched.status_code == 200
    assert patched.json()["data"]["port"] == 1
    assert tested.json()["data"]["ok"] is False
    assert "could not be reached" in tested.json()["data"]["message"]


def test_source_preview__missing_column__400_with_field(
    warehouse_connection, assignments, project_member
):
    client = session_client(project_member)

    response = client.post(
        api_url("api-assignment-source-preview"),
        _source_body(warehouse_connection.pk, groupColumn="grp"),
        format="json",
    )

    assert_error(response, 400, code="missing_column", field="groupColumn")
    assert not AssignmentSource.objects.exists()


def test_source_create__valid__201_then_the_connection_cannot_go(
    warehouse_connection, assignments, project_member, site_admin
):
    response = session_client(project_member).post(
        api_url("api-assignment-source-list"), _source_body(warehouse_connection.pk), format="json"
    )
    assert response.status_code == 201
    assert response.json()["data"]["groupColumn"] == "variant"

    deleted = session_client(site_admin).delete(
        api_url("api-warehouse-connection-detail", warehouse_connection.pk)
    )

    assert_error(deleted, 409, code="connection_in_use")
    assert WarehouseConnection.objects.exists()


def test_source_create__timeout__400_sentence(warehouse_connection, assignments, site_admin):
    client = session_client(site_admin)
    client.patch(
        api_url("api-warehouse-connection-detail", warehouse_connection.pk),
        {"statementTimeoutSeconds": 1},
        format="json",
    )

    response = client.post(
        api_url("api-assignment-source-list"),
        _source_body(warehouse_connection.pk, sql="SELECT *, pg_sleep(2) AS z FROM assignments"),
        format="json",
    )

    assert_error(response, 400, code="timeout")
    assert "statement timeout" in response.json()["message"]
    assert not AssignmentSource.objects.exists()


def test_metric_document__over_a_metric_source__round_trips(
    warehouse_connection, warehouse, project_member
):
    # Given: a metric source with a value and a filter column
    warehouse.load(
        "purchases",
        {"user_id": "text", "ts": "timestamptz", "amount": "float8", "country": "text"},
        [("u1", T0, 3.5, "FR")],
    )
    client = session_client(project_member)
    created = client.post(
        api_url("api-metric-source-list"),
        {
            "name": "Purchases",
            "connection": warehouse_connection.pk,
            "table": "purchases",
            "unitIdColumn": "user_id",
            "timestampColumn": "ts",
            "valueColumns": ["amount"],
            "filterColumns": ["country"],
        },
        format="json",
    )
    assert created.status_code == 201
    document = {
        "name": "revenue",
        "type": "sum",
        "metricSource": "Purchases",
        "metricEvents": [
            {
                "type": "column",
                "column": "amount",
                "criteria": [
                    {"type": "column", "column": "country", "condition": "=", "values": ["FR"]}
                ],
            }
        ],
    }

    # When
    response = client.post(api_url("api-metric-list"), document, format="json")
    read = client.get(api_url("api-metric-detail", "revenue::sum"))

    # Then
    assert response.status_code == 201, response.json()
    data = read.json()["data"]
    assert data["metricSource"] == "Purchases"
    assert data["metricEvents"][0]["type"] == "column"
    assert data["metricEvents"][0]["column"] == "amount"
    assert data["metricEvents"][0]["criteria"][0]["column"] == "country"
    assert data["lineage"]["events"] == []

    # And a column the source does not declare is refused on its path
    bad = {**document, "name": "bad"}
    bad["metricEvents"] = [{"type": "column", "column": "price", "criteria": []}]
    refused = client.post(api_url("api-metric-list"), bad, format="json")
    assert_error(refused, 400, code="unknown_column")
