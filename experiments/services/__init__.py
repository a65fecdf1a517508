"""Every write to experiments, layers and holdouts.

Each takes a whole document (experiments/types.py) or names one lifecycle step, checks the
actor's role (members and admins write, viewers read), takes the project's experiments
lock and the row lock, validates (experiments.documents), saves, bumps `revision` and
records exactly one audit event with the documents before and after.
"""

from experiments.services.experiments import (
    experiment_abandon,
    experiment_archive,
    experiment_create,
    experiment_reset,
    experiment_ship,
    experiment_start,
    experiment_update,
)
from experiments.services.holdouts import holdout_archive, holdout_create, holdout_update
from experiments.services.layers import layer_archive, layer_create, layer_update

__all__ = [
    "experiment_abandon",
    "experiment_archive",
    "experiment_create",
    "experiment_reset",
    "experiment_ship",
    "experiment_start",
    "experiment_update",
    "holdout_archive",
    "holdout_create",
    "holdout_update",
    "layer_archive",
    "layer_create",
    "layer_update",
]
