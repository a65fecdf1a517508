import datetime as dt

import pytest

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent
from metrics.models import AssignmentSource, MetricSource, WarehouseConnection
from metrics.warehouse import client
from metrics.warehouse.client import WarehouseError
from metrics.warehouse.services import (
    AssignmentSourceInput,
    MetricSourceInput,
    assignment_source_create,
    assignment_source_preview,
    metric_source_create,
    metric_source_delete,
    metric_source_preview,
    warehouse_connection_create,
    warehouse_connection_delete,
    warehouse_connection_test,
    warehouse_connection_update,
)
from tests.metrics.warehouse_db import READER_PASSWORD, connection_input

T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


@pytest.fixture
def assignments_table(warehouse):
    warehouse.load(
        "assignments",
        {"user_id": "text", "experiment": "text", "variant": "text", "ts": "timestamptz"},
        [(f"u{i}", "checkout", "Test" if i % 2 else "Control", T0) for i in range(30)],
    )
    warehouse.load(
        "purchases",
        {"user_id": "text", "ts": "timestamptz", "amount": "numeric", "note": "text"},
        [(f"u{i}", T0, i * 1.5, "x") for i in range(30)],
    )


def assignment_input(connection, **overrides) -> AssignmentSourceInput:
    fields = {
        "name": "Checkout assignments",
        "connection_id": connection.pk,
        "sql": "SELECT user_id, experiment, variant, ts FROM assignments",
        "unit_id_column": "user_id",
        "experiment_column": "experiment",
        "group_column": "variant",
        "timestamp_column": "ts",
        **overrides,
    }
    return AssignmentSourceInput(**fields)


def metric_source_input(connection, **overrides) -> MetricSourceInput:
    fields = {
        "name": "Purchases",
        "connection_id": connection.pk,
        "table": "purchases",
        "unit_id_column": "user_id",
        "timestamp_column": "ts",
        "value_columns": ("amount",),
        **overrides,
    }
    return MetricSourceInput(**fields)


# ---------------------------------------------------------------- connections


def test_connection_create__admin__password_encrypted_and_never_audited(
    warehouse, warehouse_allowed, project, site_admin
):
    # When
    connection = warehouse_connection_create(
        actor=site_admin, project=project, data=connection_input(warehouse)
    )

    # Then
    stored = WarehouseConnection.objects.get(pk=connection.pk)
    assert READER_PASSWORD not in stored.password_encrypted
    assert client.Target.of(stored).password == READER_PASSWORD
    assert stored.password_hint == "…" + READER_PASSWORD[-2:]
    event = AuditEvent.objects.get(action="warehouse_connection.created")
    assert READER_PASSWORD not in str(event.after)
    assert event.after["host"] == stored.host


def test_connection_create__member__refused(warehouse, project, project_member):
    with pytest.raises(NotAllowed):
        warehouse_connection_create(
            actor=project_member, project=project, data=connection_input(warehouse)
        )
    assert not WarehouseConnection.objects.exists()


def test_connection_create__no_password__refused(warehouse, project, site_admin):
    with pytest.raises(DomainError) as caught:
        warehouse_connection_create(
            actor=site_admin, project=project, data=connection_input(warehouse, password="")
        )
    assert caught.value.field == "password"


def test_connection_update__empty_password__keeps_the_stored_one(warehouse_connection, site_admin):
    # Given
    data = connection_input_from(warehouse_connection, password="", statement_timeout_seconds=9)

    # When
    updated = warehouse_connection_update(
        actor=site_admin, connection=warehouse_connection, data=data
    )

    # Then
    assert updated.statement_timeout_seconds == 9
    assert client.Target.of(updated).password == READER_PASSWORD
    event = AuditEvent.objects.get(action="warehouse_connection.updated")
    assert event.before == {"statement_timeout_seconds": 30}
    assert event.after == {"statement_timeout_seconds": 9}


def connection_input_from(connection, **overrides):
    from metrics.warehouse.services import ConnectionInput

    fields = {
        "name": connection.name,
        "kind": connection.kind,
        "host": connection.host,
        "port": connection.port,
        "database": connection.database,
        "user": connection.user,
        "password": None,
        "schema": connection.schema,
        "sslmode": connection.sslmode,
        "statement_timeout_seconds": connection.statement_timeout_seconds,
        **overrides,
    }
    return ConnectionInput(**fields)


def test_connection_test__reachable__ok_and_remembered(warehouse_connection, site_admin):
    outcome = warehouse_connection_test(actor=site_admin, connection=warehouse_connection)

    assert outcome.ok, outcome.message
    assert "PostgreSQL" in outcome.message
    stored = WarehouseConnection.objects.get(pk=warehouse_connection.pk)
    assert stored.last_test_ok is True
    assert stored.last_tested_at is not None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"port": 1}, "could not be reached"),
        ({"user": "nobody_here"}, "refused the user name or password"),
        ({"database": "no_such_database_here"}, "has no database named"),
        ({"host": "no-such-host.invalid"}, "could not be found"),
    ],
)
def test_connection_test__failures__one_sentence_each(
    warehouse_connection, site_admin, overrides, expected
):
    # Given
    connection = warehouse_connection_update(
        actor=site_admin,
        connection=warehouse_connection,
        data=connection_input_from(warehouse_connection, **overrides),
    )

    # When
    outcome = warehouse_connection_test(actor=site_admin, connection=connection)

    # Then
    assert not outcome.ok
    assert expected in outcome.message
    assert WarehouseConnection.objects.get(pk=connection.pk).last_test_ok is False


def test_connection_test__loopback_not_allowed__refused_before_connecting(
    warehouse, project, site_admin, settings
):
    # Given: the operator did not allow 127.0.0.1
    settings.GATEHOUSE_WAREHOUSE_ALLOWED_HOSTS = []
    connection = warehouse_connection_create(
        actor=site_admin, project=project, data=connection_input(warehouse)
    )

    # When
    outcome = warehouse_connection_test(actor=site_admin, connection=connection)

    # Then
    assert not outcome.ok
    assert "private, loopback" in outcome.message


def test_session__read_only__a_write_is_refused(warehouse_connection, assignments_table):
    with pytest.raises(WarehouseError) as caught:
        client.fetch(client.Target.of(warehouse_connection), "CREATE TABLE evil (x int)")
    assert caught.value.code in ("bad_sql", "permission")


def test_connection_delete__used_by_a_source__refused(
    warehouse_connection, assignments_table, site_admin
):
    # Given
    metric_source_create(
        actor=site_admin,
        project=warehouse_connection.project,
        data=metric_source_input(warehouse_connection),
    )

    # When / Then
    with pytest.raises(Conflict):
        warehouse_connection_delete(actor=site_admin, connection=warehouse_connection)
    assert WarehouseConnection.objects.filter(pk=warehouse_connection.pk).exists()
    assert not AuditEvent.objects.filter(action="warehouse_connection.deleted").exists()


# ---------------------------------------------------------------- sources


def test_assignment_source_create__valid__saved_after_the_check(
    warehouse_connection, assignments_table, project_member
):
    source = assignment_source_create(
        actor=project_member,
        project=warehouse_connection.project,
        data=assignment_input(warehouse_connection),
    )

    assert AssignmentSource.objects.get(pk=source.pk).group_column == "variant"
    assert AuditEvent.objects.filter(action="assignment_source.created").count() == 1


def test_assignment_source_preview__first_rows_and_types(
    warehouse_connection, assignments_table, project_member
):
    preview = assignment_source_preview(
        actor=project_member,
        project=warehouse_connection.project,
        data=assignment_input(warehouse_connection),
    )

    assert preview.columns == [
        ("user_id", "text"),
        ("experiment", "text"),
        ("variant", "text"),
        ("ts", "timestamptz"),
    ]
    assert len(preview.rows) == 10
    assert preview.rows[0][:3] == ["u0", "checkout", "Control"]


@pytest.mark.parametrize(
    ("overrides", "code", "field", "words"),
    [
        ({"sql": "SELEC user_id FROM assignments"}, "bad_sql", "sql", "does not parse"),
        ({"sql": "DELETE FROM assignments"}, "bad_sql", "sql", "one SELECT"),
        ({"sql": "SELECT * FROM no_such_table"}, "bad_sql", "sql", "no_such_table"),
        ({"group_column": "grp"}, "missing_column", "group_column", "no column 'grp'"),
        (
            {"sql": "SELECT user_id, experiment, variant, 'x'::text AS ts FROM assignments"},
            "wrong_type",
            "timestamp_column",
            "must be a timestamp",
        ),
        (
            {"sql": "SELECT *, pg_sleep(3) FROM assignments LIMIT 1"},
            "timeout",
            None,
            "statement timeout",
        ),
    ],
)
def test_assignment_source_create__bad__clear_error_and_nothing_saved(
    warehouse_connection, assignments_table, site_admin, overrides, code, field, words
):
    # Given: a one-second timeout
    warehouse_connection_update(
        actor=site_admin,
        connection=warehouse_connection,
        data=connection_input_from(warehouse_connection, statement_timeout_seconds=1),
    )

    # When
    with pytest.raises(DomainError) as caught:
        assignment_source_create(
            actor=site_admin,
            project=warehouse_connection.project,
            data=assignment_input(warehouse_connection, **overrides),
        )

    # Then
    assert caught.value.code == code
    assert caught.value.field == field
    assert words in caught.value.message
    assert not AssignmentSource.objects.exists()
    assert not AuditEvent.objects.filter(action="assignment_source.created").exists()


def test_metric_source_preview__text_value_column__wrong_type(
    warehouse_connection, assignments_table, project_member
):
    with pytest.raises(WarehouseError) as caught:
        metric_source_preview(
            actor=project_member,
            project=warehouse_connection.project,
            data=metric_source_input(warehouse_connection, value_columns=("amount", "note")),
        )
    assert caught.value.code == "wrong_type"
    assert caught.value.field == "value_columns"
    assert "'note' is text; it must be a number" in caught.value.message


def test_metric_source__sql_and_table__refused(warehouse_connection, project_member):
    with pytest.raises(DomainError) as caught:
        metric_source_create(
            actor=project_member,
            project=warehouse_connection.project,
            data=metric_source_input(warehouse_connection, sql="SELECT 1"),
        )
    assert caught.value.code == "sql_or_table"


def test_metric_source_delete__viewer__refused(
    warehouse_connection, assignments_table, site_admin, project_viewer
):
    source = metric_source_create(
        actor=site_admin,
        project=warehouse_connection.project,
        data=metric_source_input(warehouse_connection),
    )
    with pytest.raises(NotAllowed):
        metric_source_delete(actor=project_viewer, source=source)
    assert MetricSource.objects.filter(pk=source.pk).exists()
