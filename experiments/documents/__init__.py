"""The canonical JSON form of experiments, layers and holdouts: rendering saved entities and
cleaning proposed documents. One module per subject."""

from experiments.documents.experiments import clean_experiment, validate_experiment_document
from experiments.documents.holdouts import clean_holdout
from experiments.documents.layers import clean_layer
from experiments.documents.rendering import (
    experiment_to_document,
    holdout_to_document,
    layer_to_document,
)

__all__ = [
    "clean_experiment",
    "clean_holdout",
    "clean_layer",
    "experiment_to_document",
    "holdout_to_document",
    "layer_to_document",
    "validate_experiment_document",
]
