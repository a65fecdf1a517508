"""Validation of a proposed experiment document."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from console.entities import imported_identity, imported_rule_id
from console.exceptions import Conflict
from console.models import Project, Tag
from console.targeting.conditions import CONDITION_TYPES, ConditionDoc, ValueKind, clean_condition
from console.targeting.fields import (
    CONTROL,
    clean_id_type,
    clean_owner,
    clean_tags,
    clean_unit_ids,
    fail,
    project_tags,
    require_object,
    text,
)
from experiments.documents.cleaning import (
    _clean_name,
    _clean_parameters,
    _clean_percent,
    _unit_types,
    check_value,
    layer_parameter,
)
from experiments.documents.common import (
    HUNDRED,
    MAX_CONDITIONS,
    MAX_GROUPS,
    MAX_PARAMETERS,
    PARAMETER_NAME,
    _number,
)
from experiments.documents.rendering import _parameters_to_doc, layer_defaults
from experiments.documents.scorecard import check_metrics, clean_scorecard
from experiments.models import (
    STATSIG_STATUS,
    Experiment,
    ExperimentStatus,
    Layer,
    status_from_document,
)
from experiments.types import (
    ExperimentDocument,
    StoredGroup,
    StoredOverride,
    StoredParameter,
)
from gates.documents import (
    new_rule_id,
)
from gates.models import FeatureGate
from gates.selectors import dynamic_config_get, gate_get, segment_get

# ---------------------------------------------------------------- experiments


@dataclass
class CleanedExperiment:
    """A validated experiment document and what the services store from it."""

    document: dict[str, Any]
    allocation: Decimal
    layer: Layer | None
    targeting_gate: FeatureGate | None
    targeting_conditions: list[ConditionDoc]
    parameters: list[StoredParameter]
    groups: list[StoredGroup]
    overrides: list[StoredOverride]
    tags: list[Tag] = field(default_factory=list)
    owner: Any = None


def _clean_layer_ref(project: Project, doc: dict, id_type: str) -> Layer | None:
    name = doc.get("layerID")
    if name is None or name == "":
        return None
    layer = (
        Layer.objects.active().filter(project=project, name__iexact=str(name).strip()).first()
        if isinstance(name, str)
        else None
    )
    if layer is None:
        raise fail(f"This project has no layer named {name!r}.", "unknown_layer", "layerID")
    if layer.id_type != id_type:
        raise fail(
            f"The layer {layer.name!r} randomises by {layer.id_type}; the experiment must too.",
            "layer_unit_type",
            "idType",
        )
    return layer


def _value_type(value: Any) -> str | None:
    """The parameter type of a value as Statsig's console infers it (None: not one of ours)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return None


def _infer_parameters(doc: dict, layer_params: dict[str, StoredParameter] | None) -> list[dict]:
    """Statsig's create body: no `parameters`, only the groups' `parameterValues`. The
    parameters are the names found there, in order, typed by their values (in a layer, by
    the layer's parameter); no default unless the layer has one. Null values are unset."""
    raw = doc.get("groups")
    found: dict[str, dict[str, Any]] = {}
    first_path: dict[str, str] = {}
    for i, group in enumerate(raw if isinstance(raw, list) else []):
        values = group.get("parameterValues") if isinstance(group, dict) else None
        if not isinstance(values, dict):
            continue  # _clean_groups says what is wrong with it
        for name, value in values.items():
            path = f"groups[{i}].parameterValues.{name}"
            if value is None:
                continue
            if not PARAMETER_NAME.match(name):
                raise fail(
                    "Parameter names use letters, digits, '_', '.' and '-' (1-100, starting "
                    "with a letter or '_').",
                    "invalid_name",
                    path,
                )
            if layer_params is not None:
                owned = layer_parameter(layer_params, name, path)
                kind: str | None = owned["type"]
            else:
                kind = _value_type(value)
                if kind is None:
                    raise fail(
                        "A parameter value is a string, a number, a boolean or an object.",
                        "invalid_type",
                        path,
                    )
            if name not in found:
                if len(found) == MAX_PARAMETERS:
                    raise fail(f"At most {MAX_PARAMETERS} parameters.", "too_many_parameters", path)
                found[name] = {"name": name, "type": kind}
                first_path[name] = path
            elif found[name]["type"] != kind:
                raise fail(
                    f"{name!r} is a {found[name]['type']} in {first_path[name]} and a {kind} "
                    "here: a parameter has one type in every group.",
                    "parameter_type_conflict",
                    path,
                )
    return list(found.values())


def _clean_groups(
    doc: dict,
    existing: Experiment | None,
    parameters: list[StoredParameter],
    defaults: dict[str, Any],
) -> list[StoredGroup]:
    raw = doc.get("groups")
    if not isinstance(raw, list) or not raw:
        raise fail("An experiment has at least one group.", "no_groups", "groups")
    if len(raw) > MAX_GROUPS:
        raise fail(f"At most {MAX_GROUPS} groups.", "too_many_groups", "groups")
    known_ids = {g["id"] for g in existing.groups} if existing is not None else set()
    # A new experiment an import creates keeps its groups' ids (identity.groups: true): a
    # group's id is its rule's id and salt in the spec.
    keep_ids = existing is None and imported_identity(doc).get("groups") is True
    types = {p["name"]: p["type"] for p in parameters}
    groups: list[StoredGroup] = []
    names: set[str] = set()
    ids: set[str] = set()
    total = Decimal(0)
    for i, item in enumerate(raw):
        path = f"groups[{i}]"
        if not isinstance(item, dict):
            raise fail("Each group is an object.", "invalid", path)
        name = text(item, "name", max_length=100, path=f"{path}.name")
        if not name or CONTROL.search(name):
            raise fail("Name the group (1-100 characters).", "invalid_name", f"{path}.name")
        if name.lower() in names:
            raise fail(f"Two groups are named {name!r}.", "duplicate", f"{path}.name")
        names.add(name.lower())
        group_id = item.get("id")
        if keep_ids and group_id not in ids:
            group_id = imported_rule_id(group_id, f"{path}.id")
        elif not (isinstance(group_id, str) and group_id in known_ids and group_id not in ids):
            group_id = new_rule_id()
        ids.add(group_id)
        size = _clean_percent(
            item.get("size"), f"{path}.size", decimals=2, what="group size", code="invalid_size"
        )
        total += size
        values = item.get("parameterValues") or {}
        if not isinstance(values, dict):
            raise fail("'parameterValues' is an object.", "invalid", f"{path}.parameterValues")
        cleaned: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue  # unset: the default, if any
            if key not in types:
                raise fail(
                    f"The experiment has no parameter {key!r}.",
                    "unknown_parameter",
                    f"{path}.parameterValues.{key}",
                )
            cleaned[key] = check_value(types[key], value, f"{path}.parameterValues.{key}")
        full = {p["name"]: cleaned.get(p["name"], defaults[p["name"]]) for p in parameters}
        full = {key: value for key, value in full.items() if value is not None}
        groups.append(
            {
                "id": group_id,
                "name": name,
                "description": text(
                    item, "description", max_length=1000, path=f"{path}.description"
                ),
                "size": _number(size),
                "parameterValues": full,
            }
        )
    if total != HUNDRED:
        raise fail(
            f"Group sizes add up to 100 percent (they add up to {_number(total)}).",
            "group_sizes",
            "groups",
        )
    return groups


def _clean_overrides(project: Project, doc: dict, groups: list[StoredGroup]):
    raw = doc.get("overrides") or []
    if not isinstance(raw, list):
        raise fail("'overrides' is a list.", "invalid", "overrides")
    by_name = {g["name"].lower(): g for g in groups}
    cleaned: list[dict[str, Any]] = []
    stored: list[StoredOverride] = []
    owner_of: dict[str, str] = {}
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        path = f"overrides[{i}]"
        if not isinstance(entry, dict):
            raise fail("Each override is an object.", "invalid", path)
        name = entry.get("group")
        group = by_name.get(name.strip().lower()) if isinstance(name, str) else None
        if group is None:
            raise fail(f"The experiment has no group {name!r}.", "unknown_group", f"{path}.group")
        if group["id"] in seen:
            raise fail("One override entry per group.", "duplicate_override", f"{path}.group")
        seen.add(group["id"])
        unit_ids = clean_unit_ids(entry.get("unitIDs"), f"{path}.unitIDs", per="group")
        for j, unit_id in enumerate(unit_ids):
            if unit_id in owner_of:
                raise fail(
                    f"{unit_id!r} is forced into two groups ({owner_of[unit_id]} and "
                    f"{group['name']}).",
                    "conflicting_override",
                    f"{path}.unitIDs[{j}]",
                )
            owner_of[unit_id] = group["name"]
        segments_raw = entry.get("segments") or []
        if not isinstance(segments_raw, list):
            raise fail("'segments' is a list of segment names.", "invalid", f"{path}.segments")
        segments: list[str] = []
        for j, seg_name in enumerate(segments_raw):
            segment = (
                segment_get(project=project, name=seg_name.strip())
                if isinstance(seg_name, str) and seg_name.strip()
                else None
            )
            if segment is None:
                raise fail(
                    f"This project has no segment named {seg_name!r}.",
                    "unknown_segment",
                    f"{path}.segments[{j}]",
                )
            if segment.name not in segments:
                segments.append(segment.name)
        cleaned.append({"group": group["name"], "unitIDs": unit_ids, "segments": segments})
        stored.append({"groupId": group["id"], "unitIDs": unit_ids, "segments": segments})
    return cleaned, stored


def _clean_targeting(project: Project, doc: dict, unit_types: dict[str, str]):
    gate_name = doc.get("targetingGateID")
    raw_conditions = doc.get("targetingConditions") or []
    if not isinstance(raw_conditions, list):
        raise fail("'targetingConditions' is a list.", "invalid", "targetingConditions")
    if gate_name not in (None, "") and raw_conditions:
        raise fail(
            "Target with a gate or with conditions, not both.",
            "targeting_exclusive",
            "targetingConditions",
        )
    gate = None
    if gate_name not in (None, ""):
        gate = (
            gate_get(project=project, name=gate_name.strip())
            if isinstance(gate_name, str)
            else None
        )
        if gate is None:
            raise fail(
                f"This project has no gate named {gate_name!r}.", "unknown_gate", "targetingGateID"
            )
    if len(raw_conditions) > MAX_CONDITIONS:
        raise fail(
            f"At most {MAX_CONDITIONS} targeting conditions.",
            "too_many_conditions",
            "targetingConditions",
        )
    conditions: list[ConditionDoc] = []
    for i, raw in enumerate(raw_conditions):
        path = f"targetingConditions[{i}]"
        condition = clean_condition(raw, path=path, unit_types=unit_types)
        target = CONDITION_TYPES[condition["type"]].target
        if target == ValueKind.GATE:
            found = gate_get(project=project, name=condition["targetValue"])
            if found is None:
                raise fail(
                    f"This project has no gate named {condition['targetValue']!r}.",
                    "unknown_gate",
                    f"{path}.targetValue",
                )
            condition["targetValue"] = found.name
        elif target == ValueKind.SEGMENT:
            found_segment = segment_get(project=project, name=condition["targetValue"])
            if found_segment is None:
                raise fail(
                    f"This project has no segment named {condition['targetValue']!r}.",
                    "unknown_segment",
                    f"{path}.targetValue",
                )
            condition["targetValue"] = found_segment.name
        conditions.append(condition)
    return gate, conditions


def clean_experiment(project: Project, doc: Any, existing: Experiment | None) -> CleanedExperiment:
    """For services: validate_experiment_document's work, plus what to store."""
    doc = require_object(doc)
    name = _clean_name(project, doc, Experiment, existing, "experiment")
    if existing is None and dynamic_config_get(project=project, name=name) is not None:
        raise Conflict(
            f"A dynamic config is named '{name}': experiments and configs share SDK names.",
            code="duplicate",
            field="name",
        )
    current = existing.status if existing is not None else ExperimentStatus.DRAFT
    status = doc.get("status")
    if status not in (None, "") and status_from_document(status) != current:
        raise fail(
            f"The status is {STATSIG_STATUS[current]}: start, ship, abandon, reset and archive "
            "change it.",
            "status_read_only",
            "status",
        )
    unit_types = _unit_types(project)
    id_type = clean_id_type(unit_types, doc)
    layer = _clean_layer_ref(project, doc, id_type)
    layer_params = {p["name"]: p for p in layer.parameters} if layer is not None else None
    if not doc.get("parameters"):
        doc = {**doc, "parameters": _infer_parameters(doc, layer_params)}
    parameters = _clean_parameters(doc, layer_params=layer_params, default_required=False)
    if layer is not None:
        defaults = layer_defaults(layer)
    else:
        defaults = {p["name"]: p["defaultValue"] for p in parameters}
    groups = _clean_groups(doc, existing, parameters, defaults)
    overrides_doc, overrides = _clean_overrides(project, doc, groups)
    allocation = _clean_percent(
        100 if doc.get("allocation") is None else doc["allocation"],
        "allocation",
        decimals=1,
        what="allocation",
        code="invalid_allocation",
    )
    gate, conditions = _clean_targeting(project, doc, unit_types)
    known_tags = project_tags(project)
    tags = clean_tags(known_tags, doc)
    scorecard = clean_scorecard(known_tags, doc)
    check_metrics(project, scorecard, id_type)
    owner = clean_owner(project, doc)
    launched = existing.launched_group_id if existing is not None else ""
    document = {
        "name": name,
        "description": text(doc, "description", max_length=5000),
        "hypothesis": text(doc, "hypothesis", max_length=5000),
        "idType": id_type,
        "status": STATSIG_STATUS[current],
        "allocation": _number(allocation),
        "layerID": layer.name if layer is not None else None,
        "targetingGateID": gate.name if gate is not None else None,
        "targetingConditions": conditions,
        "parameters": _parameters_to_doc(parameters, defaults if layer is not None else None),
        "groups": [dict(g) for g in groups],
        "overrides": overrides_doc,
        "tags": [t.name for t in tags],
        "owner": owner.email if owner else None,
        "launchedGroupID": launched if any(g["id"] == launched for g in groups) else None,
        **scorecard,
    }
    return CleanedExperiment(
        document=document,
        allocation=allocation,
        layer=layer,
        targeting_gate=gate,
        targeting_conditions=conditions,
        parameters=parameters,
        groups=groups,
        overrides=overrides,
        tags=tags,
        owner=owner,
    )


def validate_experiment_document(
    project: Project, doc: Any, existing: Experiment | None = None
) -> ExperimentDocument:
    """The cleaned ExperimentDocument, or DomainError/Conflict naming the field at fault."""
    return clean_experiment(project, doc, existing).document  # type: ignore[return-value]
