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


# ---------------------------------------------------------------- form data builders
# The POST fields of the experiment, layer and holdout pages.


def experiment_data(
    name: str | None = "checkout_button",
    params=(("color", "string", "grey"),),
    groups=(("Control", 50, {"color": "grey"}), ("Test", 50, {"color": "blue"})),
    **fields,
) -> dict[str, Any]:
    """The experiment page's POST fields: parameters as (name, type, default) and groups
    as (name, size, {parameter: value text}) or (id, name, size, values)."""
    data: dict[str, Any] = {
        "hypothesis": "Blue sells more",
        "description": "",
        "owner": "",
        "id_type": "userID",
        "layer": "",
        "allocation": "100",
        "targeting_gate": "",
        "targeting_conditions": "",
    }
    names = []
    for i, (pname, ptype, default) in enumerate(params):
        data[f"param-{i}-name"] = pname
        data[f"param-{i}-type"] = ptype
        data[f"param-{i}-default"] = "" if default is None else str(default)
        data[f"param-{i}-description"] = ""
        names.append(pname)
    for i, g in enumerate(groups):
        gid, gname, size, values = g if len(g) == 4 else ("", *g)
        data[f"group-{i}-id"] = gid
        data[f"group-{i}-name"] = gname
        data[f"group-{i}-size"] = str(size)
        data[f"group-{i}-description"] = ""
        for j, pname in enumerate(names):
            data[f"group-{i}-value-{j}"] = str(values.get(pname, ""))
    data.update(fields)
    if name is not None:
        data["name"] = name
    return data


def running_data(experiment: Experiment, **fields) -> dict[str, Any]:
    """The page's fields for a saved experiment, exactly as stored (group ids kept)."""
    groups = [(g["id"], g["name"], g["size"], g["parameterValues"]) for g in experiment.groups]
    params = [(p["name"], p["type"], p["defaultValue"]) for p in experiment.parameters]
    return experiment_data(None, params, groups, **fields)


def layer_data(name: str | None = "checkout_page", params=(("color", "string", "grey"),), **f):
    data: dict[str, Any] = {"description": "", "id_type": "userID", **f}
    for i, (pname, ptype, default) in enumerate(params):
        data.update(
            {
                f"param-{i}-name": pname,
                f"param-{i}-type": ptype,
                f"param-{i}-default": str(default),
                f"param-{i}-description": "",
            }
        )
    if name is not None:
        data["name"] = name
    return data


def holdout_data(name: str | None = "q4_holdout", **fields) -> dict[str, Any]:
    data = {
        "description": "",
        "id_type": "userID",
        "percentage": "5",
        "is_global": "false",
        "experiments": [],
        **fields,
    }
    if name is not None:
        data["name"] = name
    return data
