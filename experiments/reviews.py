"""The experiments app's entity kinds for change sets (registered in
ExperimentsConfig.ready()): experiments with their lifecycle actions, layers, holdouts.

The `describe_*` functions give the labelled lines a reviewer reads side by side (groups
with their sizes and parameter values, allocation, targeting, layer, status); like the
gates' ones they accept partial documents.
"""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from experiments import selectors, services
from experiments.documents import (
    experiment_to_document,
    holdout_to_document,
    layer_to_document,
)
from experiments.models import (
    Experiment,
    ExperimentStatus,
    Holdout,
    Layer,
    status_from_document,
)
from gates.reviews import Lines, common_lines, conditions_text, percent, show_values
from reviews.registry import Action, EntityKind, document_actions, register


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _parameter_lines(parameters: Any, *, defaults: bool = True) -> Lines:
    if not isinstance(parameters, list):
        return []
    lines: Lines = []
    for parameter in parameters:
        if not isinstance(parameter, dict):
            continue
        parts = [str(parameter.get("type") or "?")]
        if defaults:
            parts.append("default " + _value(parameter.get("defaultValue")))
        if parameter.get("description"):
            parts.append(str(parameter["description"]))
        lines.append((f"Parameter {parameter.get('name')}", " · ".join(parts)))
    return lines


def _group_lines(groups: Any) -> Lines:
    """("Group Test", "50% · color = "green", size = 3 · Bigger buttons")."""
    if not isinstance(groups, list):
        return []
    lines: Lines = []
    for group in groups:
        if not isinstance(group, dict):
            continue
        values = group.get("parameterValues") or {}
        parts = [percent(group.get("size", 0))]
        if isinstance(values, dict) and values:
            parts.append(", ".join(f"{k} = {_value(v)}" for k, v in sorted(values.items())))
        if group.get("description"):
            parts.append(str(group["description"]))
        lines.append((f"Group {group.get('name')}", " · ".join(parts)))
    return lines


def _targeting(doc: dict) -> str:
    gate = doc.get("targetingGateID")
    conditions = doc.get("targetingConditions") or []
    if gate:
        return f"Units passing gate {gate}"
    if conditions:
        return "Units where " + conditions_text(conditions)
    return "Everyone"


def _status(status: Any) -> str:
    ours = status_from_document(status)
    return ExperimentStatus(ours).label if ours is not None else str(status)


def describe_experiment(doc: dict) -> Lines:
    lines: Lines = []
    if "status" in doc:
        lines.append(("Status", _status(doc["status"])))
    if doc.get("launchedGroupID"):
        names = {g.get("id"): g.get("name") for g in doc.get("groups") or []}
        launched = doc["launchedGroupID"]
        lines.append(("Shipped group", str(names.get(launched) or launched)))
    if "hypothesis" in doc:
        lines.append(("Hypothesis", str(doc["hypothesis"] or "—")))
    lines += common_lines(doc)
    if "layerID" in doc:
        lines.append(("Layer", str(doc["layerID"] or "None (its own layer)")))
    if "allocation" in doc:
        whose = "the layer's units" if doc.get("layerID") else "units"
        lines.append(("Allocation", f"{percent(doc['allocation'])} of {whose}"))
    if "targetingGateID" in doc or "targetingConditions" in doc:
        lines.append(("Targeting", _targeting(doc)))
    if "parameters" in doc:
        lines += _parameter_lines(doc["parameters"])
    if "groups" in doc:
        lines += _group_lines(doc["groups"]) or [("Groups", "None")]
    for override in doc.get("overrides") or []:
        if not isinstance(override, dict):
            continue
        parts = []
        if override.get("unitIDs"):
            ids = override["unitIDs"]
            parts.append(f"{len(ids):,} IDs: {show_values(ids)}")
        if override.get("segments"):
            parts.append("segments " + show_values(override["segments"]))
        lines.append((f"Forced into {override.get('group')}", " · ".join(parts) or "none"))
    return lines


def describe_layer(doc: dict) -> Lines:
    lines = common_lines(doc)
    if "parameters" in doc:
        lines += _parameter_lines(doc["parameters"]) or [("Parameters", "None")]
    return lines


def describe_holdout(doc: dict) -> Lines:
    lines = common_lines(doc)
    if "passPercentage" in doc:
        lines.append(("Held out", f"{percent(doc['passPercentage'])} of units"))
    if "isGlobal" in doc or "experimentIDs" in doc:
        if doc.get("isGlobal"):
            applies = "Every experiment of the project (global)"
        else:
            applies = show_values(doc.get("experimentIDs") or [], limit=20)
            applies = applies if doc.get("experimentIDs") else "No experiment yet"
        lines.append(("Applies to", applies))
    return lines


def _url(name: str):
    return lambda entity: reverse(name, args=[entity.project.slug, entity.pk])


def _create_url(name: str):
    return lambda project: reverse(name, args=[project.slug])


def _lifecycle(label: str, service) -> Action:
    return Action(label, lambda actor, _p, experiment, _payload: service(actor, experiment))


def register_kinds() -> None:
    register(
        EntityKind(
            kind="experiment",
            label="experiment",
            model=Experiment,
            find=lambda project, name: selectors.experiment_get(project=project, name=name),
            to_document=experiment_to_document,
            describe=describe_experiment,
            url=_url("experiment-detail"),
            create_url=_create_url("experiment-create"),
            actions={
                **document_actions(
                    create=lambda a, p, doc: services.experiment_create(
                        actor=a, project=p, document=doc
                    ),
                    update=lambda a, e, doc: services.experiment_update(
                        actor=a, experiment=e, document=doc
                    ),
                    archive=lambda a, e: services.experiment_archive(actor=a, experiment=e),
                ),
                "start": _lifecycle(
                    "Started", lambda a, e: services.experiment_start(actor=a, experiment=e)
                ),
                "ship": Action(
                    "Shipped",
                    lambda a, _p, e, payload: services.experiment_ship(
                        actor=a, experiment=e, group=str(payload.get("group") or "")
                    ),
                ),
                "abandon": _lifecycle(
                    "Abandoned", lambda a, e: services.experiment_abandon(actor=a, experiment=e)
                ),
                "reset": _lifecycle(
                    "Reset", lambda a, e: services.experiment_reset(actor=a, experiment=e)
                ),
            },
        )
    )
    register(
        EntityKind(
            kind="layer",
            label="layer",
            model=Layer,
            find=lambda project, name: selectors.layer_get(project=project, name=name),
            to_document=layer_to_document,
            describe=describe_layer,
            url=_url("layer-detail"),
            create_url=_create_url("layer-create"),
            actions=document_actions(
                create=lambda a, p, doc: services.layer_create(actor=a, project=p, document=doc),
                update=lambda a, e, doc: services.layer_update(actor=a, layer=e, document=doc),
                archive=lambda a, e: services.layer_archive(actor=a, layer=e),
            ),
        )
    )
    register(
        EntityKind(
            kind="holdout",
            label="holdout",
            model=Holdout,
            find=lambda project, name: selectors.holdout_get(project=project, name=name),
            to_document=holdout_to_document,
            describe=describe_holdout,
            url=_url("holdout-detail"),
            create_url=_create_url("holdout-create"),
            actions=document_actions(
                create=lambda a, p, doc: services.holdout_create(actor=a, project=p, document=doc),
                update=lambda a, e, doc: services.holdout_update(actor=a, holdout=e, document=doc),
                archive=lambda a, e: services.holdout_archive(actor=a, holdout=e),
            ),
        )
    )
