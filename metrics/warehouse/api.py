"""Console API for the customer's warehouse (docs/warehouse.md), at /console/v1/: the
project's connections (admins; the password is write-only) and the assignment and metric
sources on them (members write, everyone reads), with a test of a connection and a preview
of a source. A warehouse that refuses is a 400 with its sentence, never a 5xx."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status

from console.api import schema
from console.api.base import ConsoleAPIView, ok, valid
from console.api.permissions import get_in_project, resolve_project
from console.models import Role
from metrics.warehouse import selectors, services
from metrics.warehouse.models import (
    AssignmentSource,
    MetricSource,
    SslMode,
    WarehouseConnection,
    WarehouseKind,
)

# ---------------------------------------------------------------- shapes


class ConnectionInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.CharField(help_text=" or ".join(f'"{k}"' for k in WarehouseKind.values))
    host = serializers.CharField(max_length=253)
    port = serializers.IntegerField(required=False, default=5432)
    database = serializers.CharField(max_length=63)
    user = serializers.CharField(max_length=63)
    # Write-only; absent or empty in a PATCH keeps the stored one.
    password = serializers.CharField(max_length=500, required=False, allow_blank=True)
    schema = serializers.CharField(max_length=63, required=False, default="gatehouse")
    sslmode = serializers.ChoiceField(
        choices=SslMode.values, required=False, default=SslMode.PREFER
    )
    statementTimeoutSeconds = serializers.IntegerField(
        source="statement_timeout_seconds", required=False, default=300
    )


class ConnectionChanges(ConnectionInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class ConnectionOutput(serializers.Serializer):
    """A connection; never its password, only `passwordHint`."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField()
    database = serializers.CharField()
    user = serializers.CharField()
    passwordHint = serializers.CharField(source="password_hint")
    schema = serializers.CharField()
    sslmode = serializers.CharField()
    statementTimeoutSeconds = serializers.IntegerField(source="statement_timeout_seconds")
    lastTestedAt = serializers.DateTimeField(source="last_tested_at", allow_null=True)
    lastTestOk = serializers.BooleanField(source="last_test_ok", allow_null=True)
    lastTestMessage = serializers.CharField(source="last_test_message")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class TestOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()


class AssignmentSourceInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    connection = serializers.IntegerField(help_text="The warehouse connection's id.")
    sql = serializers.CharField(max_length=20000)
    unitType = serializers.CharField(source="unit_type", required=False, default="userID")
    unitIdColumn = serializers.CharField(source="unit_id_column")
    experimentColumn = serializers.CharField(source="experiment_column")
    groupColumn = serializers.CharField(source="group_column")
    timestampColumn = serializers.CharField(source="timestamp_column")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class AssignmentSourceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    connection = serializers.IntegerField(source="connection_id")
    sql = serializers.CharField()
    unitType = serializers.CharField(source="unit_type")
    unitIdColumn = serializers.CharField(source="unit_id_column")
    experimentColumn = serializers.CharField(source="experiment_column")
    groupColumn = serializers.CharField(source="group_column")
    timestampColumn = serializers.CharField(source="timestamp_column")
    description = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class MetricSourceInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    connection = serializers.IntegerField(help_text="The warehouse connection's id.")
    sql = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    table = serializers.CharField(max_length=127, required=False, allow_blank=True, default="")
    unitIdColumn = serializers.CharField(source="unit_id_column")
    timestampColumn = serializers.CharField(source="timestamp_column")
    valueColumns = serializers.ListField(
        source="value_columns",
        child=serializers.CharField(max_length=63),
        required=False,
        default=list,
        max_length=services.MAX_VALUE_COLUMNS + 1,
    )
    filterColumns = serializers.ListField(
        source="filter_columns",
        child=serializers.CharField(max_length=63),
        required=False,
        default=list,
        max_length=services.MAX_VALUE_COLUMNS + 1,
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class MetricSourceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    connection = serializers.IntegerField(source="connection_id")
    sql = serializers.CharField()
    table = serializers.CharField()
    unitIdColumn = serializers.CharField(source="unit_id_column")
    timestampColumn = serializers.CharField(source="timestamp_column")
    valueColumns = serializers.ListField(source="value_columns", child=serializers.CharField())
    filterColumns = serializers.ListField(source="filter_columns", child=serializers.CharField())
    description = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class PreviewOutput(serializers.Serializer):
    columns = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text='[{"name", "type"}], as the warehouse returns them.',
    )
    rows = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))


def _connection_input(data: dict[str, Any], current: WarehouseConnection | None = None):
    def pick(key: str) -> Any:
        return data[key] if key in data or current is None else getattr(current, key)

    return services.ConnectionInput(
        name=pick("name"),
        kind=pick("kind"),
        host=pick("host"),
        port=pick("port"),
        database=pick("database"),
        user=pick("user"),
        password=data.get("password") or None,
        schema=pick("schema"),
        sslmode=pick("sslmode"),
        statement_timeout_seconds=pick("statement_timeout_seconds"),
    )


def _preview(preview) -> dict[str, Any]:
    return {
        "columns": [{"name": name, "type": kind} for name, kind in preview.columns],
        "rows": preview.rows,
    }


# ---------------------------------------------------------------- connections


class ConnectionListView(ConsoleAPIView):
    @extend_schema(
        summary="List warehouse connections", responses={200: ConnectionOutput(many=True)}
    )
    def get(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        return self.paginated(selectors.connection_list(project=project), ConnectionOutput)

    @extend_schema(
        summary="Add a warehouse connection",
        request=ConnectionInput,
        responses={201: schema.answer("WarehouseConnectionAnswer", ConnectionOutput())},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        data = valid(ConnectionInput, request.data)
        connection = services.warehouse_connection_create(
            actor=request.user, project=project, data=_connection_input(data)
        )
        return ok("Connection added.", ConnectionOutput(connection).data, status.HTTP_201_CREATED)


class ConnectionDetailView(ConsoleAPIView):
    @extend_schema(
        summary="Update a warehouse connection",
        request=ConnectionChanges,
        responses={200: schema.answer("WarehouseConnectionAnswer", ConnectionOutput())},
    )
    def patch(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        connection = get_in_project(
            WarehouseConnection.objects, project, pk, what="warehouse connection"
        )
        data = valid(ConnectionChanges, request.data)
        connection = services.warehouse_connection_update(
            actor=request.user, connection=connection, data=_connection_input(data, connection)
        )
        return ok("Connection updated.", ConnectionOutput(connection).data)

    @extend_schema(
        summary="Delete a warehouse connection", responses={200: schema.DONE, **schema.errors(409)}
    )
    def delete(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        connection = get_in_project(
            WarehouseConnection.objects, project, pk, what="warehouse connection"
        )
        services.warehouse_connection_delete(actor=request.user, connection=connection)
        return ok("Connection deleted.", None)


class ConnectionTestView(ConsoleAPIView):
    @extend_schema(
        summary="Test a warehouse connection",
        description="Connects and asks the warehouse its version. A failure is an answer "
        "(`ok` false, the sentence in `message`), remembered on the connection.",
        request=None,
        responses={200: schema.answer("WarehouseTestAnswer", TestOutput())},
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        connection = get_in_project(
            WarehouseConnection.objects, project, pk, what="warehouse connection"
        )
        outcome = services.warehouse_connection_test(actor=request.user, connection=connection)
        return ok(outcome.message, {"ok": outcome.ok, "message": outcome.message})


# ---------------------------------------------------------------- sources


def _assignment_input(data: dict[str, Any]) -> services.AssignmentSourceInput:
    return services.AssignmentSourceInput(
        name=data["name"],
        connection_id=data["connection"],
        sql=data["sql"],
        unit_type=data["unit_type"],
        unit_id_column=data["unit_id_column"],
        experiment_column=data["experiment_column"],
        group_column=data["group_column"],
        timestamp_column=data["timestamp_column"],
        description=data["description"],
    )


def _metric_source_input(data: dict[str, Any]) -> services.MetricSourceInput:
    return services.MetricSourceInput(
        name=data["name"],
        connection_id=data["connection"],
        sql=data["sql"],
        table=data["table"],
        unit_id_column=data["unit_id_column"],
        timestamp_column=data["timestamp_column"],
        value_columns=tuple(data["value_columns"]),
        filter_columns=tuple(data["filter_columns"]),
        description=data["description"],
    )


class AssignmentSourceListView(ConsoleAPIView):
    @extend_schema(
        summary="List assignment sources", responses={200: AssignmentSourceOutput(many=True)}
    )
    def get(self, request):
        project, _ = resolve_project(request, Role.VIEWER)
        sources = selectors.assignment_source_list(project=project)
        return self.paginated(sources, AssignmentSourceOutput)

    @extend_schema(
        summary="Add an assignment source",
        description="Checked against the warehouse first (its columns and their types).",
        request=AssignmentSourceInput,
        responses={201: schema.answer("AssignmentSourceAnswer", AssignmentSourceOutput())},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        data = valid(AssignmentSourceInput, request.data)
        source = services.assignment_source_create(
            actor=request.user, project=project, data=_assignment_input(data)
        )
        return ok(
            "Assignment source added.",
            AssignmentSourceOutput(source).data,
            status.HTTP_201_CREATED,
        )


class AssignmentSourceDetailView(ConsoleAPIView):
    @extend_schema(
        summary="Replace an assignment source",
        request=AssignmentSourceInput,
        responses={200: schema.answer("AssignmentSourceAnswer", AssignmentSourceOutput())},
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.MEMBER)
        source = get_in_project(AssignmentSource.objects, project, pk, what="assignment source")
        data = valid(AssignmentSourceInput, request.data)
        source = services.assignment_source_update(
            actor=request.user, source=source, data=_assignment_input(data)
        )
        return ok("Assignment source updated.", AssignmentSourceOutput(source).data)

    @extend_schema(summary="Delete an assignment source", responses={200: schema.DONE})
    def delete(self, request, pk: int):
        project, _ = resolve_project(request, Role.MEMBER)
        source = get_in_project(AssignmentSource.objects, project, pk, what="assignment source")
        services.assignment_source_delete(actor=request.user, source=source)
        return ok("Assignment source deleted.", None)


class AssignmentSourcePreviewView(ConsoleAPIView):
    @extend_schema(
        summary="Preview an assignment source",
        description="The first rows of the source as given, its columns checked; saves nothing.",
        request=AssignmentSourceInput,
        responses={200: schema.answer("SourcePreviewAnswer", PreviewOutput())},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        data = valid(AssignmentSourceInput, request.data)
        preview = services.assignment_source_preview(
            actor=request.user, project=project, data=_assignment_input(data)
        )
        return ok("Preview.", _preview(preview))


class MetricSourceListView(ConsoleAPIView):
    @extend_schema(summary="List metric sources", responses={200: MetricSourceOutput(many=True)})
    def get(self, request):
        project, _ = resolve_project(request, Role.VIEWER)
        return self.paginated(selectors.metric_source_list(project=project), MetricSourceOutput)

    @extend_schema(
        summary="Add a metric source",
        description="Checked against the warehouse first (its columns and their types).",
        request=MetricSourceInput,
        responses={201: schema.answer("MetricSourceAnswer", MetricSourceOutput())},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        data = valid(MetricSourceInput, request.data)
        source = services.metric_source_create(
            actor=request.user, project=project, data=_metric_source_input(data)
        )
        return ok("Metric source added.", MetricSourceOutput(source).data, status.HTTP_201_CREATED)


class MetricSourceDetailView(ConsoleAPIView):
    @extend_schema(
        summary="Replace a metric source",
        request=MetricSourceInput,
        responses={200: schema.answer("MetricSourceAnswer", MetricSourceOutput())},
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.MEMBER)
        source = get_in_project(MetricSource.objects, project, pk, what="metric source")
        data = valid(MetricSourceInput, request.data)
        source = services.metric_source_update(
            actor=request.user, source=source, data=_metric_source_input(data)
        )
        return ok("Metric source updated.", MetricSourceOutput(source).data)

    @extend_schema(
        summary="Delete a metric source", responses={200: schema.DONE, **schema.errors(409)}
    )
    def delete(self, request, pk: int):
        project, _ = resolve_project(request, Role.MEMBER)
        source = get_in_project(MetricSource.objects, project, pk, what="metric source")
        services.metric_source_delete(actor=request.user, source=source)
        return ok("Metric source deleted.", None)


class MetricSourcePreviewView(ConsoleAPIView):
    @extend_schema(
        summary="Preview a metric source",
        description="The first rows of the source as given, its columns checked; saves nothing.",
        request=MetricSourceInput,
        responses={200: schema.answer("SourcePreviewAnswer", PreviewOutput())},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        data = valid(MetricSourceInput, request.data)
        preview = services.metric_source_preview(
            actor=request.user, project=project, data=_metric_source_input(data)
        )
        return ok("Preview.", _preview(preview))
