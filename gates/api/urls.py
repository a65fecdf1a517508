"""Gates API, mounted at /console/v1/ beside console.api (paths follow Statsig's Console
API: no trailing slashes; an entity is named by its name)."""

from django.urls import path

from gates.api import views

app_name = "gates-api"

urlpatterns = [
    path("gates", views.GateListView.as_view(), name="api-gate-list"),
    path("gates/<str:name>", views.GateDetailView.as_view(), name="api-gate-detail"),
    path(
        "gates/<str:name>/enable",
        views.GateSwitchView.as_view(is_enabled=True),
        name="api-gate-enable",
    ),
    path(
        "gates/<str:name>/disable",
        views.GateSwitchView.as_view(is_enabled=False),
        name="api-gate-disable",
    ),
    path("segments", views.SegmentListView.as_view(), name="api-segment-list"),
    path("segments/<str:name>", views.SegmentDetailView.as_view(), name="api-segment-detail"),
    path(
        "segments/<str:name>/id_list",
        views.SegmentIdListView.as_view(),
        name="api-segment-id-list",
    ),
    path("dynamic_configs", views.DynamicConfigListView.as_view(), name="api-dynamic-config-list"),
    path(
        "dynamic_configs/<str:name>",
        views.DynamicConfigDetailView.as_view(),
        name="api-dynamic-config-detail",
    ),
]
