"""Metrics pages, mounted under /p/<slug>/ beside the other apps' pages."""

from django.urls import path

from metrics import views
from metrics.catalog import views as catalog
from metrics.power import views as power
from metrics.warehouse import views as warehouse

urlpatterns = [
    path("metrics/", catalog.metric_list, name="metric-list"),
    path("metrics/new/", catalog.metric_create, name="metric-create"),
    path("metrics/settings/", catalog.metric_settings, name="metric-settings"),
    path("metrics/<int:pk>/", catalog.metric_detail, name="metric-detail"),
    path("metrics/<int:pk>/edit/", catalog.metric_update, name="metric-update"),
    path("metrics/<int:pk>/archive/", catalog.metric_archive, name="metric-archive"),
    path("metrics/power/", power.power, name="metrics-power"),
    path("metrics/events/", views.events, name="metrics-events"),
    path("metrics/events/tail/", views.events_tail, name="metrics-events-tail"),
    path("settings/warehouse/", warehouse.warehouse, name="warehouse"),
    path(
        "settings/warehouse/connections/new/",
        warehouse.connection_create,
        name="warehouse-connection-create",
    ),
    path(
        "settings/warehouse/connections/<int:pk>/",
        warehouse.connection_update,
        name="warehouse-connection-update",
    ),
    path(
        "settings/warehouse/connections/<int:pk>/test/",
        warehouse.connection_test,
        name="warehouse-connection-test",
    ),
    path(
        "settings/warehouse/connections/<int:pk>/delete/",
        warehouse.connection_delete,
        name="warehouse-connection-delete",
    ),
    path(
        "settings/warehouse/<str:kind>-sources/new/",
        warehouse.source_edit,
        name="warehouse-source-create",
    ),
    path(
        "settings/warehouse/<str:kind>-sources/<int:pk>/",
        warehouse.source_edit,
        name="warehouse-source-update",
    ),
    path(
        "settings/warehouse/<str:kind>-sources/<int:pk>/delete/",
        warehouse.source_delete,
        name="warehouse-source-delete",
    ),
]
