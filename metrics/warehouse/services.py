"""Warehouse writes: admins manage a project's connections; members define the sources on
them (docs/warehouse.md).

Every service checks the actor's role, locks what it changes, validates, saves and audits
in one transaction. A source is checked against the warehouse (its first rows, its
columns and their types) before it is saved (`verify`), so a source that cannot be read is
never saved; the check runs before the transaction, which never waits on the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from console.audit import audit_record
from console.exceptions import Conflict, DomainError
from console.models import Project, Role
from console.permissions import ensure_role
from console.services.common import clean_name, save_unique, validate_model
from metrics.warehouse import sources
from metrics.warehouse.client import (
    Target,
    WarehouseError,
    encrypt_password,
    fetch,
    password_hint,
)
from metrics.warehouse.models import (
    AssignmentSource,
    MetricSource,
    SslMode,
    WarehouseConnection,
    WarehouseKind,
)

MAX_CONNECTIONS_PER_PROJECT = 10
MAX_SOURCES_PER_PROJECT = 200
MAX_VALUE_COLUMNS = 20
CONNECTION_AUDITED = [
    "name",
    "kind",
    "host",
    "port",
    "database",
    "user",
    "schema",
    "sslmode",
    "statement_timeout_seconds",
]


# ---------------------------------------------------------------- connections


@dataclass(frozen=True, slots=True)
class ConnectionInput:
    name: str
    kind: str
    host: str
    port: int
    database: str
    user: str
    # None or "" on an update: keep the stored password.
    password: str | None
    schema: str = "gatehouse"
    sslmode: str = SslMode.PREFER
    statement_timeout_seconds: int = 300


def _connection_view(connection: WarehouseConnection) -> dict[str, Any]:
    """What the audit log keeps: never the password, only whether it changed (its hint)."""
    view = {field: getattr(connection, field) for field in CONNECTION_AUDITED}
    view["password"] = connection.password_hint or ("set" if connection.password_encrypted else "")
    return view


def _clean_connection(data: ConnectionInput) -> dict[str, Any]:
    if data.kind not in WarehouseKind.values:
        raise DomainError("Choose PostgreSQL or Redshift.", code="invalid", field="kind")
    if data.sslmode not in SslMode.values:
        raise DomainError("Choose an SSL mode.", code="invalid", field="sslmode")
    host = (data.host or "").strip()
    if not host or len(host) > 253 or not all(c.isalnum() or c in ".-:_[]" for c in host):
        raise DomainError(
            "Enter the warehouse's host name or address.", code="invalid", field="host"
        )
    if not isinstance(data.port, int) or not 1 <= data.port <= 65535:
        raise DomainError("The port is 1 to 65535.", code="invalid", field="port")
    timeout = data.statement_timeout_seconds
    if not isinstance(timeout, int) or not 1 <= timeout <= 3600:
        raise DomainError(
            "The statement timeout is 1 to 3600 seconds.",
            code="invalid",
            field="statement_timeout_seconds",
        )
    return {
        "name": clean_name(data.name, what="Connection name", max_length=100),
        "kind": data.kind,
        "host": host.strip("[]"),
        "port": data.port,
        "database": clean_name(data.database, what="Database", max_length=63, field="database"),
        "user": clean_name(data.user, what="User", max_length=63, field="user"),
        "schema": sources.clean_column(data.schema, what="schema", field="schema"),
        "sslmode": data.sslmode,
        "statement_timeout_seconds": timeout,
    }


def _name_taken(what: str, name: str) -> str:
    return f"This project already has a {what} named '{name}'."


@transaction.atomic
def warehouse_connection_create(
    *, actor, project: Project, data: ConnectionInput
) -> WarehouseConnection:
    """Add a connection (admins). Nothing is sent to the warehouse: test it afterwards."""
    ensure_role(actor, project, Role.ADMIN)
    fields = _clean_connection(data)
    if not data.password:
        raise DomainError("Enter the password.", code="required", field="password")
    Project.objects.select_for_update().get(pk=project.pk)
    if WarehouseConnection.objects.filter(project=project).count() >= MAX_CONNECTIONS_PER_PROJECT:
        raise DomainError(
            f"A project can have at most {MAX_CONNECTIONS_PER_PROJECT} warehouse connections.",
            code="too_many_connections",
        )
    connection = WarehouseConnection(
        project=project,
        password_encrypted=encrypt_password(data.password),
        password_hint=password_hint(data.password),
        created_by=actor,
        **fields,
    )
    validate_model(connection)
    save_unique(connection, message=_name_taken("connection", fields["name"]), field="name")
    audit_record(
        actor=actor,
        action="warehouse_connection.created",
        target=connection,
        project=project,
        after=_connection_view(connection),
    )
    return connection


@transaction.atomic
def warehouse_connection_update(
    *, actor, connection: WarehouseConnection, data: ConnectionInput
) -> WarehouseConnection:
    """Change a connection (admins); an empty password keeps the stored one. The last test
    is forgotten when where or how to connect changed."""
    ensure_role(actor, connection.project, Role.ADMIN)
    connection = WarehouseConnection.objects.select_for_update().get(pk=connection.pk)
    before = _connection_view(connection)
    fields = _clean_connection(data)
    for key, value in fields.items():
        setattr(connection, key, value)
    if data.password:
        connection.password_encrypted = encrypt_password(data.password)
        connection.password_hint = password_hint(data.password)
    after = _connection_view(connection)
    if data.password and after == before:
        after["password"] = f"{after['password'] or 'set'} (changed)"
    if after != before:
        connection.last_tested_at = None
        connection.last_test_ok = None
        connection.last_test_message = ""
    validate_model(connection)
    save_unique(connection, message=_name_taken("connection", fields["name"]), field="name")
    audit_record(
        actor=actor,
        action="warehouse_connection.updated",
        target=connection,
        project=connection.project,
        before=before,
        after=after,
    )
    return connection


@transaction.atomic
def warehouse_connection_delete(*, actor, connection: WarehouseConnection) -> None:
    """Remove a connection (admins); refused while sources use it."""
    ensure_role(actor, connection.project, Role.ADMIN)
    connection = WarehouseConnection.objects.select_for_update().get(pk=connection.pk)
    before = _connection_view(connection)
    audit_record(
        actor=actor,
        action="warehouse_connection.deleted",
        target=connection,
        project=connection.project,
        before=before,
    )
    try:
        with transaction.atomic():
            connection.delete()
    except ProtectedError as exc:
        raise Conflict(
            "Sources use this connection: delete them (or move them to another connection) first.",
            code="connection_in_use",
        ) from exc


def _product(version: str) -> str:
    """ "PostgreSQL 15.20" or "Redshift 1.0.7562" from what version() answers."""
    words = version.split()
    if "Redshift" in words and words.index("Redshift") + 1 < len(words):
        return "Redshift " + words[words.index("Redshift") + 1]
    return " ".join(words[:2])[:100] or "the warehouse answered"


@dataclass(frozen=True, slots=True)
class TestOutcome:
    ok: bool
    message: str


def warehouse_connection_test(*, actor, connection: WarehouseConnection) -> TestOutcome:
    """Connect and ask the warehouse its version (admins), and remember the outcome on the
    connection. A failure is an outcome (its sentence), not an error."""
    ensure_role(actor, connection.project, Role.ADMIN)
    try:
        _columns, rows = fetch(Target.of(connection), "SELECT version()")
        outcome = TestOutcome(True, f"Connected: {_product(str(rows[0][0]) if rows else '')}")
    except WarehouseError as exc:
        outcome = TestOutcome(False, exc.message)
    with transaction.atomic():
        locked = WarehouseConnection.objects.select_for_update().get(pk=connection.pk)
        locked.last_tested_at = timezone.now()
        locked.last_test_ok = outcome.ok
        locked.last_test_message = outcome.message[:500]
        locked.save(
            update_fields=["last_tested_at", "last_test_ok", "last_test_message", "updated_at"]
        )
        audit_record(
            actor=actor,
            action="warehouse_connection.tested",
            target=locked,
            project=locked.project,
            after={"ok": outcome.ok, "message": locked.last_test_message},
        )
    connection.last_tested_at = locked.last_tested_at
    connection.last_test_ok = locked.last_test_ok
    connection.last_test_message = locked.last_test_message
    return outcome


# ---------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class AssignmentSourceInput:
    name: str
    connection_id: int
    sql: str
    unit_id_column: str
    experiment_column: str
    group_column: str
    timestamp_column: str
    unit_type: str = "userID"
    description: str = ""


@dataclass(frozen=True, slots=True)
class MetricSourceInput:
    name: str
    connection_id: int
    unit_id_column: str
    timestamp_column: str
    sql: str = ""
    table: str = ""
    value_columns: tuple[str, ...] = ()
    filter_columns: tuple[str, ...] = ()
    description: str = ""


def _connection_of(project: Project, connection_id: Any) -> WarehouseConnection:
    try:
        return WarehouseConnection.objects.get(project=project, pk=int(connection_id))
    except (WarehouseConnection.DoesNotExist, TypeError, ValueError) as exc:
        raise DomainError(
            "Choose a warehouse connection of this project.", code="invalid", field="connection"
        ) from exc


def _description(value: str) -> str:
    text = (value or "").strip()
    if len(text) > 2000:
        raise DomainError(
            "The description can be at most 2000 characters.", code="too_long", field="description"
        )
    return text


def clean_assignment_source(project: Project, data: AssignmentSourceInput) -> dict[str, Any]:
    connection = _connection_of(project, data.connection_id)
    unit_type = clean_name(data.unit_type, what="Unit type", max_length=100, field="unit_type")
    return {
        "name": clean_name(data.name, what="Source name", max_length=100),
        "connection": connection,
        "description": _description(data.description),
        "sql": sources.clean_sql(data.sql, connection.kind),
        "unit_type": unit_type,
        "unit_id_column": sources.clean_column(
            data.unit_id_column, what="unit ID", field="unit_id_column"
        ),
        "experiment_column": sources.clean_column(
            data.experiment_column, what="experiment", field="experiment_column"
        ),
        "group_column": sources.clean_column(data.group_column, what="group", field="group_column"),
        "timestamp_column": sources.clean_column(
            data.timestamp_column, what="timestamp", field="timestamp_column"
        ),
    }


def assignment_source_required(fields: dict[str, Any]) -> dict[str, Any]:
    """The columns an assignment source must return, by form field, with their types."""
    return {
        "unit_id_column": (fields["unit_id_column"], sources.UNIT_ID),
        "experiment_column": (fields["experiment_column"], sources.TEXT),
        "group_column": (fields["group_column"], sources.TEXT),
        "timestamp_column": (fields["timestamp_column"], sources.TIMESTAMP),
    }


def clean_metric_source(project: Project, data: MetricSourceInput) -> dict[str, Any]:
    connection = _connection_of(project, data.connection_id)
    sql, table = (data.sql or "").strip(), (data.table or "").strip()
    if bool(sql) == bool(table):
        raise DomainError(
            "Give either a SQL query or a table, not both.", code="sql_or_table", field="sql"
        )
    values = _columns(data.value_columns, "value_columns", "value")
    filters = _columns(data.filter_columns, "filter_columns", "filter")
    return {
        "name": clean_name(data.name, what="Source name", max_length=100),
        "connection": connection,
        "description": _description(data.description),
        "sql": sources.clean_sql(sql, connection.kind) if sql else "",
        "table": sources.clean_table(table) if table else "",
        "unit_id_column": sources.clean_column(
            data.unit_id_column, what="unit ID", field="unit_id_column"
        ),
        "timestamp_column": sources.clean_column(
            data.timestamp_column, what="timestamp", field="timestamp_column"
        ),
        "value_columns": values,
        "filter_columns": filters,
    }


def _columns(names: Any, field: str, what: str) -> list[str]:
    out: list[str] = []
    for name in names or ():
        column = sources.clean_column(name, what=what, field=field)
        if column not in out:
            out.append(column)
    if len(out) > MAX_VALUE_COLUMNS:
        raise DomainError(
            f"At most {MAX_VALUE_COLUMNS} {what} columns.", code="too_many_columns", field=field
        )
    return out


def metric_source_required(fields: dict[str, Any]) -> dict[str, Any]:
    required: dict[str, Any] = {
        "unit_id_column": (fields["unit_id_column"], sources.UNIT_ID),
        "timestamp_column": (fields["timestamp_column"], sources.TIMESTAMP),
    }
    for column in fields["value_columns"]:
        required.setdefault(f"value_columns:{column}", (column, sources.NUMBER))
    for column in fields["filter_columns"]:
        required.setdefault(f"filter_columns:{column}", (column, sources.TEXT))
    return required


def _preview(fields: dict[str, Any], required: dict[str, Any]) -> sources.Preview:
    try:
        return sources.preview(
            Target.of(fields["connection"]),
            sources.from_sql(fields["sql"], fields.get("table", "")),
            required,
        )
    except WarehouseError as exc:
        if exc.field is None and exc.code == "bad_sql":
            exc.field = "sql" if fields["sql"] else "table"
        raise


def assignment_source_preview(
    *, actor, project: Project, data: AssignmentSourceInput
) -> sources.Preview:
    """The first rows of an assignment source as entered (members), columns checked."""
    ensure_role(actor, project, Role.MEMBER)
    fields = clean_assignment_source(project, data)
    return _preview(fields, assignment_source_required(fields))


def metric_source_preview(*, actor, project: Project, data: MetricSourceInput) -> sources.Preview:
    """The first rows of a metric source as entered (members), columns checked."""
    ensure_role(actor, project, Role.MEMBER)
    fields = clean_metric_source(project, data)
    return _preview(fields, metric_source_required(fields))


def _source_view(source: AssignmentSource | MetricSource, fields: list[str]) -> dict[str, Any]:
    view = {field: getattr(source, field) for field in fields}
    view["connection"] = source.connection.name
    return view


ASSIGNMENT_AUDITED = [
    "name",
    "description",
    "sql",
    "unit_type",
    "unit_id_column",
    "experiment_column",
    "group_column",
    "timestamp_column",
]
METRIC_SOURCE_AUDITED = [
    "name",
    "description",
    "sql",
    "table",
    "unit_id_column",
    "timestamp_column",
    "value_columns",
    "filter_columns",
]


def _ensure_room(project: Project, model: type[AssignmentSource] | type[MetricSource]) -> None:
    Project.objects.select_for_update().get(pk=project.pk)
    if model.objects.filter(project=project).count() >= MAX_SOURCES_PER_PROJECT:
        raise DomainError(
            f"A project can have at most {MAX_SOURCES_PER_PROJECT} sources of each kind.",
            code="too_many_sources",
        )


@dataclass(frozen=True)
class _SourceKind:
    """What differs between the two kinds of source for the services below."""

    model: type[AssignmentSource] | type[MetricSource]
    label: str  # "assignment source": in sentences
    action: str  # "assignment_source": the audit actions' prefix
    audited: list[str]
    clean: Callable[[Project, Any], dict[str, Any]]
    required: Callable[[dict[str, Any]], dict[str, Any]]


def _source_create(kind: _SourceKind, *, actor, project: Project, data: Any, verify: bool):
    ensure_role(actor, project, Role.MEMBER)
    fields = kind.clean(project, data)
    if verify:
        _preview(fields, kind.required(fields))
    with transaction.atomic():
        _ensure_room(project, kind.model)
        source = kind.model(project=project, created_by=actor, **fields)
        validate_model(source)
        save_unique(source, message=_name_taken(kind.label, fields["name"]), field="name")
        audit_record(
            actor=actor,
            action=f"{kind.action}.created",
            target=source,
            project=project,
            after=_source_view(source, kind.audited),
        )
    return source


def _source_update(kind: _SourceKind, *, actor, source, data: Any, verify: bool):
    ensure_role(actor, source.project, Role.MEMBER)
    fields = kind.clean(source.project, data)
    if verify:
        _preview(fields, kind.required(fields))
    with transaction.atomic():
        source = (
            kind.model.objects.select_for_update()
            .select_related("connection", "project")
            .get(pk=source.pk)
        )
        before = _source_view(source, kind.audited)
        for key, value in fields.items():
            setattr(source, key, value)
        validate_model(source)
        save_unique(source, message=_name_taken(kind.label, fields["name"]), field="name")
        audit_record(
            actor=actor,
            action=f"{kind.action}.updated",
            target=source,
            project=source.project,
            before=before,
            after=_source_view(source, kind.audited),
        )
    return source


_ASSIGNMENT = _SourceKind(
    AssignmentSource,
    "assignment source",
    "assignment_source",
    ASSIGNMENT_AUDITED,
    clean_assignment_source,
    assignment_source_required,
)
_METRIC = _SourceKind(
    MetricSource,
    "metric source",
    "metric_source",
    METRIC_SOURCE_AUDITED,
    clean_metric_source,
    metric_source_required,
)


def assignment_source_create(
    *, actor, project: Project, data: AssignmentSourceInput, verify: bool = True
) -> AssignmentSource:
    """Add an assignment source (members), checked against the warehouse first when
    `verify` (the pages and the API always do)."""
    return _source_create(_ASSIGNMENT, actor=actor, project=project, data=data, verify=verify)


def assignment_source_update(
    *, actor, source: AssignmentSource, data: AssignmentSourceInput, verify: bool = True
) -> AssignmentSource:
    return _source_update(_ASSIGNMENT, actor=actor, source=source, data=data, verify=verify)


@transaction.atomic
def assignment_source_delete(*, actor, source: AssignmentSource) -> None:
    ensure_role(actor, source.project, Role.MEMBER)
    source = (
        AssignmentSource.objects.select_for_update().select_related("connection").get(pk=source.pk)
    )
    audit_record(
        actor=actor,
        action="assignment_source.deleted",
        target=source,
        project=source.project,
        before=_source_view(source, ASSIGNMENT_AUDITED),
    )
    source.delete()


def metric_source_create(
    *, actor, project: Project, data: MetricSourceInput, verify: bool = True
) -> MetricSource:
    """Add a metric source (members), checked against the warehouse first when `verify`."""
    return _source_create(_METRIC, actor=actor, project=project, data=data, verify=verify)


def metric_source_update(
    *, actor, source: MetricSource, data: MetricSourceInput, verify: bool = True
) -> MetricSource:
    return _source_update(_METRIC, actor=actor, source=source, data=data, verify=verify)


@transaction.atomic
def metric_source_delete(*, actor, source: MetricSource) -> None:
    """Remove a metric source (members); refused while metrics are defined over it."""
    ensure_role(actor, source.project, Role.MEMBER)
    source = MetricSource.objects.select_for_update().select_related("connection").get(pk=source.pk)
    audit_record(
        actor=actor,
        action="metric_source.deleted",
        target=source,
        project=source.project,
        before=_source_view(source, METRIC_SOURCE_AUDITED),
    )
    try:
        with transaction.atomic():
            source.delete()
    except ProtectedError as exc:
        raise Conflict(
            "Metrics are defined over this source: archive or change them first.",
            code="source_in_use",
        ) from exc
