"""A project's warehouse connections and the sources defined on them (docs/warehouse.md).

Rows change only through metrics.warehouse.services. The password is stored encrypted
(console.secretbox, a key of its own): the worker must read it back to connect, so a hash
cannot do. metrics.models re-exports these models.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from console.models import Project, TimeStampedModel


class WarehouseKind(models.TextChoices):
    POSTGRES = "postgres", "PostgreSQL"
    # Reached through its PostgreSQL-compatible protocol; the SQL we generate stays inside
    # what Redshift accepts.
    REDSHIFT = "redshift", "Amazon Redshift"


class SslMode(models.TextChoices):
    """libpq's sslmode values."""

    DISABLE = "disable", "disable"
    PREFER = "prefer", "prefer"
    REQUIRE = "require", "require"
    VERIFY_CA = "verify-ca", "verify-ca"
    VERIFY_FULL = "verify-full", "verify-full"


class WarehouseConnection(TimeStampedModel):
    """How to reach one of the customer's warehouses: read-only sessions with a statement
    timeout (metrics.warehouse.connect); `schema` is where exports are written."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="warehouse_connections"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=WarehouseKind.choices)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(default=5432)
    database = models.CharField(max_length=63)
    user = models.CharField(max_length=63)
    password_encrypted = models.TextField(blank=True)
    # "…" and the last two characters, to tell passwords apart (never the password).
    password_hint = models.CharField(max_length=8, blank=True)
    schema = models.CharField(max_length=63, default="gatehouse")
    sslmode = models.CharField(max_length=12, choices=SslMode.choices, default=SslMode.PREFER)
    statement_timeout_seconds = models.PositiveIntegerField(default=300)
    # The latest "Test connection" (written by warehouse_connection_test only).
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=500, blank=True)
    # SET_NULL: the connection keeps working when its creator's account is deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "project", Lower("name"), name="metrics_warehouseconnection_name"
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535), name="metrics_warehouseconnection_port"
            ),
            models.CheckConstraint(
                condition=Q(statement_timeout_seconds__gte=1, statement_timeout_seconds__lte=3600),
                name="metrics_warehouseconnection_timeout",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()} {self.host}:{self.port}/{self.database})"


class AssignmentSource(TimeStampedModel):
    """A query in the customer's warehouse whose rows say which unit was assigned to which
    group of which experiment, and when: an experiment can take its exposures from it
    instead of the ingested ones (each unit's first row counts; a unit in two groups is a
    crossover)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="warehouse_assignment_sources"
    )
    # PROTECT: a connection with sources is not deleted from under them.
    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.PROTECT, related_name="assignment_sources"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    sql = models.TextField(max_length=20000)
    # The unit type the unit IDs are of ("userID", "stableID" or a custom ID type): an
    # experiment with another ID type cannot use the source.
    unit_type = models.CharField(max_length=100, default="userID")
    unit_id_column = models.CharField(max_length=63)
    experiment_column = models.CharField(max_length=63)
    group_column = models.CharField(max_length=63)
    timestamp_column = models.CharField(max_length=63)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("project", Lower("name"), name="metrics_assignmentsource_name")
        ]

    def __str__(self) -> str:
        return self.name


class MetricSource(TimeStampedModel):
    """A query or table in the customer's warehouse with a unit ID, a timestamp and value
    columns: metrics can count its rows or sum its values per unit instead of events."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="warehouse_metric_sources"
    )
    connection = models.ForeignKey(
        WarehouseConnection, on_delete=models.PROTECT, related_name="metric_sources"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    # One of the two: a SELECT, or a table (optionally `schema.table`).
    sql = models.TextField(blank=True, max_length=20000)
    table = models.CharField(max_length=127, blank=True)
    unit_id_column = models.CharField(max_length=63)
    timestamp_column = models.CharField(max_length=63)
    # Numeric columns metrics can sum or average.
    value_columns = models.JSONField(default=list, blank=True)
    # Text columns metrics can filter on.
    filter_columns = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("project", Lower("name"), name="metrics_metricsource_name"),
            models.CheckConstraint(
                condition=(Q(sql="") & ~Q(table="")) | (~Q(sql="") & Q(table="")),
                name="metrics_metricsource_sql_or_table",
            ),
        ]

    def __str__(self) -> str:
        return self.name
