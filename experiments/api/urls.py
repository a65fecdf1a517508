"""Experiments API, mounted at /console/v1/ beside console.api and gates.api (paths follow
Statsig's Console API: no trailing slashes; an entity is named by its name)."""

from django.urls import path

from experiments.api import projectcode, views

app_name = "experiments-api"

urlpatterns = [
    path("export", projectcode.ProjectExportView.as_view(), name="api-project-export"),
    path("import", projectcode.ProjectImportView.as_view(), name="api-project-import"),
    path("experiments", views.ExperimentListView.as_view(), name="api-experiment-list"),
    path("warehouse_export", views.WarehouseExportView.as_view(), name="api-warehouse-export"),
    path(
        "experiments/<str:name>",
        views.ExperimentDetailView.as_view(),
        name="api-experiment-detail",
    ),
    path(
        "experiments/<str:name>/exposures",
        views.ExperimentExposuresView.as_view(),
        name="api-experiment-exposures",
    ),
    path(
        "experiments/<str:name>/results",
        views.ExperimentResultsView.as_view(),
        name="api-experiment-results",
    ),
    path(
        "experiments/<str:name>/results/refresh",
        views.ExperimentResultsRefreshView.as_view(),
        name="api-experiment-results-refresh",
    ),
    path(
        "experiments/<str:name>/export/assignments",
        views.ExperimentAssignmentsExportView.as_view(),
        name="api-experiment-export-assignments",
    ),
    path(
        "experiments/<str:name>/export/results",
        views.ExperimentResultsExportView.as_view(),
        name="api-experiment-export-results",
    ),
    path(
        "experiments/<str:name>/start",
        views.ExperimentStartView.as_view(),
        name="api-experiment-start",
    ),
    path(
        "experiments/<str:name>/ship",
        views.ExperimentShipView.as_view(),
        name="api-experiment-ship",
    ),
    # Statsig's name for shipping a group.
    path(
        "experiments/<str:name>/make_decision",
        views.ExperimentShipView.as_view(),
        name="api-experiment-make-decision",
    ),
    path(
        "experiments/<str:name>/abandon",
        views.ExperimentAbandonView.as_view(),
        name="api-experiment-abandon",
    ),
    path(
        "experiments/<str:name>/reset",
        views.ExperimentResetView.as_view(),
        name="api-experiment-reset",
    ),
    path("layers", views.LayerListView.as_view(), name="api-layer-list"),
    path("layers/<str:name>", views.LayerDetailView.as_view(), name="api-layer-detail"),
    path(
        "layers/<str:name>/allocation",
        views.LayerAllocationView.as_view(),
        name="api-layer-allocation",
    ),
    path("holdouts", views.HoldoutListView.as_view(), name="api-holdout-list"),
    path("holdouts/<str:name>", views.HoldoutDetailView.as_view(), name="api-holdout-detail"),
    path(
        "holdouts/<str:name>/results",
        views.HoldoutResultsView.as_view(),
        name="api-holdout-results",
    ),
    path(
        "holdouts/<str:name>/results/refresh",
        views.HoldoutResultsRefreshView.as_view(),
        name="api-holdout-results-refresh",
    ),
    path(
        "holdouts/<str:name>/export/assignments",
        views.HoldoutAssignmentsExportView.as_view(),
        name="api-holdout-export-assignments",
    ),
    path(
        "holdouts/<str:name>/export/results",
        views.HoldoutResultsExportView.as_view(),
        name="api-holdout-export-results",
    ),
]
