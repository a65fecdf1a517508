"""Validation of a proposed layer document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.models import Project
from console.targeting.fields import (
    clean_id_type,
    require_object,
    text,
)
from experiments.documents.cleaning import _clean_name, _clean_parameters, _unit_types
from experiments.documents.rendering import _parameters_to_doc
from experiments.models import Layer
from experiments.types import (
    StoredParameter,
)

# ---------------------------------------------------------------- layers


@dataclass
class CleanedLayer:
    document: dict[str, Any]
    parameters: list[StoredParameter]


def clean_layer(project: Project, doc: Any, existing: Layer | None) -> CleanedLayer:
    doc = require_object(doc)
    name = _clean_name(project, doc, Layer, existing, "layer")
    id_type = clean_id_type(_unit_types(project), doc)
    parameters = _clean_parameters(doc, layer_params=None)
    return CleanedLayer(
        document={
            "name": name,
            "description": text(doc, "description", max_length=5000),
            "idType": id_type,
            "parameters": _parameters_to_doc(parameters, None),
        },
        parameters=parameters,
    )


def validate_layer_document(project: Project, doc: Any, existing: Layer | None = None):
    return clean_layer(project, doc, existing).document
