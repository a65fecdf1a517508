"""Documents of saved experiments, layers and holdouts (<entity>_to_document)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from console.targeting.fields import (
    tag_names,
)
from experiments.documents.common import _number
from experiments.documents.scorecard import stored_scorecard
from experiments.models import STATSIG_STATUS, Experiment, Holdout, Layer
from experiments.types import (
    ExperimentDocument,
    HoldoutDocument,
    LayerDocument,
    StoredParameter,
)

# ---------------------------------------------------------------- to_document


def _parameters_to_doc(stored: list[StoredParameter], layer_defaults: dict | None) -> list:
    return [
        {
            "name": p["name"],
            "type": p["type"],
            "defaultValue": (
                layer_defaults.get(p["name"]) if layer_defaults is not None else p["defaultValue"]
            ),
            "description": p["description"],
        }
        for p in stored
    ]


def layer_defaults(layer: Layer) -> dict[str, Any]:
    """Every layer parameter's default: the layer's spec defaultValue."""
    return {p["name"]: p["defaultValue"] for p in layer.parameters}


def experiment_to_document(experiment: Experiment) -> ExperimentDocument:
    """The experiment as an ExperimentDocument. Select `layer`, `targeting_gate` and
    `owner` and prefetch `tags` when rendering many."""
    layer = experiment.layer if experiment.layer_id else None
    defaults = layer_defaults(layer) if layer is not None else None
    names = {g["id"]: g["name"] for g in experiment.groups}
    doc: ExperimentDocument = {
        "name": experiment.name,
        "description": experiment.description,
        "hypothesis": experiment.hypothesis,
        "idType": experiment.id_type,
        "status": STATSIG_STATUS[experiment.status],  # type: ignore[typeddict-item]
        "allocation": _number(Decimal(experiment.allocation)),
        "layerID": layer.name if layer is not None else None,
        "targetingGateID": (
            experiment.targeting_gate.name if experiment.targeting_gate_id else None
        ),
        "targetingConditions": [dict(c) for c in experiment.targeting_conditions],  # type: ignore[misc]
        "parameters": _parameters_to_doc(experiment.parameters, defaults),
        "groups": [
            {
                "id": g["id"],
                "name": g["name"],
                "description": g["description"],
                "size": g["size"],
                "parameterValues": dict(g["parameterValues"]),
            }
            for g in experiment.groups
        ],
        "overrides": [
            {
                "group": names.get(o["groupId"], o["groupId"]),
                "unitIDs": list(o["unitIDs"]),
                "segments": list(o["segments"]),
            }
            for o in experiment.overrides
        ],
        "tags": tag_names(experiment),
        "owner": experiment.owner.email if experiment.owner_id else None,
        "launchedGroupID": experiment.launched_group_id or None,
        **stored_scorecard(experiment.scorecard),
    }
    return doc


def layer_to_document(layer: Layer) -> LayerDocument:
    return {
        "name": layer.name,
        "description": layer.description,
        "idType": layer.id_type,
        "parameters": _parameters_to_doc(layer.parameters, None),
    }


def holdout_to_document(holdout: Holdout) -> HoldoutDocument:
    """Prefetch `experiments` when rendering many."""
    return {
        "name": holdout.name,
        "description": holdout.description,
        "idType": holdout.id_type,
        "passPercentage": _number(Decimal(holdout.percentage)),
        "isGlobal": holdout.is_global,
        "experimentIDs": sorted(
            (e.name for e in holdout.experiments.all() if e.archived_at is None), key=str.lower
        ),
    }
