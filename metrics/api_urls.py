"""Metrics API, mounted at /console/v1/ beside the other apps' (no trailing slashes)."""

from django.urls import path

from metrics import api
from metrics.warehouse import api as warehouse

app_name = "metrics-api"

urlpatterns = [
    path("events", api.EventListView.as_view(), name="api-event-list"),
    path("metrics", api.MetricListView.as_view(), name="api-metric-list"),
    # IDs are name::type and a name may hold "/": the rest of the path is the ID (a type
    # never holds "/", so ".../power" is the power of the ID before it).
    path("metrics/<path:metric_id>/power", api.MetricPowerView.as_view(), name="api-metric-power"),
    path("metrics/<path:metric_id>", api.MetricDetailView.as_view(), name="api-metric-detail"),
    path(
        "warehouse_connections",
        warehouse.ConnectionListView.as_view(),
        name="api-warehouse-connection-list",
    ),
    path(
        "warehouse_connections/<int:pk>",
        warehouse.ConnectionDetailView.as_view(),
        name="api-warehouse-connection-detail",
    ),
    path(
        "warehouse_connections/<int:pk>/test",
        warehouse.ConnectionTestView.as_view(),
        name="api-warehouse-connection-test",
    ),
    path(
        "assignment_sources",
        warehouse.AssignmentSourceListView.as_view(),
        name="api-assignment-source-list",
    ),
    path(
        "assignment_sources/preview",
        warehouse.AssignmentSourcePreviewView.as_view(),
        name="api-assignment-source-preview",
    ),
    path(
        "assignment_sources/<int:pk>",
        warehouse.AssignmentSourceDetailView.as_view(),
        name="api-assignment-source-detail",
    ),
    path("metric_sources", warehouse.MetricSourceListView.as_view(), name="api-metric-source-list"),
    path(
        "metric_sources/preview",
        warehouse.MetricSourcePreviewView.as_view(),
        name="api-metric-source-preview",
    ),
    path(
        "metric_sources/<int:pk>",
        warehouse.MetricSourceDetailView.as_view(),
        name="api-metric-source-detail",
    ),
]
