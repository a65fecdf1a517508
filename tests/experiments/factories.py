"""Factories for experiments rows and builders for the documents the services take."""

from __future__ import annotations

from typing import Any

import factory

from experiments.models import Experiment, Layer
from gates.documents import new_rule_id
from tests.console.factories import ProjectFactory


def parameter(name: str = "color", type_: str = "string", default: Any = "grey", **extra):
    return {"name": name, "type": type_, "defaultValue": default, "description": "", **extra}


def group(name: str, size: float, values: dict | None = None, **extra) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "size": size,
        "parameterValues": values or {},
        **extra,
    }


def experiment_document(name: str = "checkout_button", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Does a blue button sell more?",
        "hypothesis": "Blue converts better than grey.",
        "idType": "userID",
        "status": "draft",
        "allocation": 100,
        "layerID": None,
        "targetingGateID": None,
        "targetingConditions": [],
        "parameters": [parameter()],
        "groups": [
            group("Control", 50, {"color": "grey"}),
            group("Test", 50, {"color": "blue"}),
        ],
        "overrides": [],
        "tags": [],
        "owner": None,
        **fields,
    }


def layer_document(name: str = "checkout_layer", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Checkout page experiments",
        "idType": "userID",
        "parameters": [parameter(), parameter("discount", "number", 0)],
        **fields,
    }


def holdout_document(name: str = "q3_holdout", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "idType": "userID",
        "passPercentage": 10,
        "isGlobal": False,
        "experimentIDs": [],
        **fields,
    }


def stored_groups(*sizes: float) -> list[dict[str, Any]]:
    return [
        {
            "id": new_rule_id(),
            "name": f"Group {i}",
            "description": "",
            "size": size,
            "parameterValues": {"color": f"c{i}"},
        }
        for i, size in enumerate(sizes)
    ]


class LayerFactory(factory.django.DjangoModelFactory):
    """A layer row written directly (bypassing the services): for reads and specs."""

    class Meta:
        model = Layer

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"layer_{n:05d}")
    parameters = factory.LazyFunction(lambda: [parameter()])


class ExperimentFactory(factory.django.DjangoModelFactory):
    """An experiment row written directly (bypassing the services): for reads and specs."""

    class Meta:
        model = Experiment
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"experiment_{n:05d}")
    parameters = factory.LazyFunction(lambda: [parameter()])
    groups = factory.LazyFunction(lambda: stored_groups(50, 50))
