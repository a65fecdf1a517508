"""Console pages of experiments, layers and holdouts, mounted under /p/<slug>/ beside the
gates pages (URL names are <entity>-<action>)."""

from django.urls import path

from experiments import views
from experiments.views import gate_scorecard, holdout_results, warehouse_export

urlpatterns = [
    path("experiments/", views.experiment_list, name="experiment-list"),
    path("experiments/new/", views.experiment_create, name="experiment-create"),
    path("experiments/<int:pk>/", views.experiment_detail, name="experiment-detail"),
    path("experiments/<int:pk>/start/", views.experiment_start, name="experiment-start"),
    path("experiments/<int:pk>/ship/", views.experiment_ship, name="experiment-ship"),
    path("experiments/<int:pk>/abandon/", views.experiment_abandon, name="experiment-abandon"),
    path("experiments/<int:pk>/reset/", views.experiment_reset, name="experiment-reset"),
    path("experiments/<int:pk>/archive/", views.experiment_archive, name="experiment-archive"),
    path("experiments/<int:pk>/test/", views.experiment_test, name="experiment-test"),
    path("experiments/<int:pk>/results/", views.experiment_results, name="experiment-results"),
    path(
        "experiments/<int:pk>/results/refresh/",
        views.experiment_results_refresh,
        name="experiment-results-refresh",
    ),
    path(
        "experiments/<int:pk>/results.csv",
        views.experiment_results_csv,
        name="experiment-results-csv",
    ),
    path(
        "experiments/<int:pk>/export/<slug:table>.<slug:fmt>",
        views.experiment_export,
        name="experiment-export",
    ),
    path(
        "holdouts/<int:pk>/export/<slug:table>.<slug:fmt>",
        holdout_results.holdout_export,
        name="holdout-export",
    ),
    path(
        "gates/<int:pk>/scorecard/refresh/",
        gate_scorecard.gate_scorecard_refresh,
        name="gate-scorecard-refresh",
    ),
    path(
        "experiments/warehouse-export/",
        warehouse_export.warehouse_export,
        name="warehouse-export",
    ),
    path("layers/", views.layer_list, name="layer-list"),
    path("layers/new/", views.layer_create, name="layer-create"),
    path("layers/<int:pk>/", views.layer_detail, name="layer-detail"),
    path("layers/<int:pk>/archive/", views.layer_archive, name="layer-archive"),
    path("layers/<int:pk>/test/", views.layer_test, name="layer-test"),
    path("holdouts/", views.holdout_list, name="holdout-list"),
    path("holdouts/new/", views.holdout_create, name="holdout-create"),
    path("holdouts/<int:pk>/", views.holdout_detail, name="holdout-detail"),
    path("holdouts/<int:pk>/archive/", views.holdout_archive, name="holdout-archive"),
    path(
        "holdouts/<int:pk>/results/refresh/",
        holdout_results.holdout_results_refresh,
        name="holdout-results-refresh",
    ),
]
