"""Console API for the customer's warehouse (docs/warehouse.md), at /console/v1/: the
project's connections (admins; the password is write-only) and their test. Sources are
managed on Settings → Warehouse."""

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
