"""Metrics API, mounted at /console/v1/ beside the other apps' (no trailing slashes)."""

from django.urls import path

from metrics import api

app_name = "metrics-api"

urlpatterns = [
    path("events", api.EventListView.as_view(), name="api-event-list"),
    path("metrics", api.MetricListView.as_view(), name="api-metric-list"),
    # IDs are name::type and a name may hold "/": the rest of the path is the ID (a type
    # never holds "/", so ".../power" is the power of the ID before it).
    path("metrics/<path:metric_id>/power", api.MetricPowerView.as_view(), name="api-metric-power"),
    path("metrics/<path:metric_id>", api.MetricDetailView.as_view(), name="api-metric-detail"),
]
