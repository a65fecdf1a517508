"""Console pages of experiments, layers and holdouts (URL names <entity>-<action>), one
module per subject."""

from experiments.views.experiment_pages import (
    experiment_abandon,
    experiment_archive,
    experiment_create,
    experiment_detail,
    experiment_list,
    experiment_reset,
    experiment_ship,
    experiment_start,
)
from experiments.views.holdouts import holdout_archive, holdout_create, holdout_detail, holdout_list
from experiments.views.layers import layer_archive, layer_create, layer_detail, layer_list
from experiments.views.results import (
    experiment_export,
    experiment_results,
    experiment_results_csv,
    experiment_results_refresh,
)
from experiments.views.testing import experiment_test, layer_test

__all__ = [
    "experiment_abandon",
    "experiment_archive",
    "experiment_create",
    "experiment_export",
    "experiment_detail",
    "experiment_list",
    "experiment_reset",
    "experiment_results",
    "experiment_results_csv",
    "experiment_results_refresh",
    "experiment_ship",
    "experiment_start",
    "experiment_test",
    "holdout_archive",
    "holdout_create",
    "holdout_detail",
    "holdout_list",
    "layer_archive",
    "layer_create",
    "layer_detail",
    "layer_list",
    "layer_test",
]
