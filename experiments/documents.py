"""Documents: the canonical JSON form of experiments, layers and holdouts.

`<entity>_to_document(obj)` renders a row; `clean_<entity>(project, doc, existing)` checks a
proposed document against the project (names, unit types, tags, owner, the layer and its
parameters, the targeting gate, segments and conditions, group sizes and parameter types)
and returns the cleaned document plus what the services store, or raises
DomainError/Conflict with a `code` and a `field` path such as "groups[1].parameterValues.color".
`validate_<entity>_document` returns just the cleaned document.

A document is whole: a missing key means its default, not "unchanged". Unknown keys are
ignored. Salts never appear: a group keeps its id (its spec rule id and salt) by carrying
it. Rules that depend on the experiment's status (what may change while it runs) and on
the layer's free buckets are the services' (they hold the locks).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models.functions import Lower

from console.exceptions import Conflict
from console.models import Project, Tag
from console.targeting.conditions import CONDITION_TYPES, ConditionDoc, ValueKind, clean_condition
from console.targeting.fields import (
    CONTROL,
    MAX_SAFE_INTEGER,
    boolean,
    clean_id_type,
    clean_owner,
    clean_tags,
    clean_unit_ids,
    fail,
    project_tags,
    require_object,
    tag_names,
    text,
    unsafe_integer,
)
from experiments.models import Experiment, ExperimentStatus, Holdout, Layer
from experiments.types import (
    ExperimentDocument,
    HoldoutDocument,
    LayerDocument,
    StoredGroup,
    StoredOverride,
    StoredParameter,
)
from gates.documents import (
    MAX_VALUE_BYTES,
    NAME_PATTERN,
    NAME_RULE,
    new_rule_id,
)
from gates.models import FeatureGate
from gates.selectors import dynamic_config_get, gate_get, segment_get, unit_type_names

PARAMETER_TYPES = ("string", "number", "boolean", "object")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
MAX_PARAMETERS = 100
MAX_GROUPS = 20
MAX_CONDITIONS = 50
MAX_STRING_VALUE = 10_000
HUNDRED = Decimal(100)


def _number(value: Decimal) -> int | float:
    """A Decimal as the JSON number documents carry (an int when whole)."""
    return int(value) if value == value.to_integral_value() else float(value)


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
        "status": experiment.status,  # type: ignore[typeddict-item]
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
        "launchedGroup": names.get(experiment.launched_group_id),
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


# ---------------------------------------------------------------- shared cleaning


def _clean_name(project: Project, doc: dict, model, existing, what: str) -> str:
    name = doc.get("name")
    name = name.strip() if isinstance(name, str) else name
    if existing is not None:
        if name is not None and name != existing.name:
            raise fail(
                "A name cannot change: SDK calls use it. Create a new one and archive this "
                "one instead.",
                "name_immutable",
                "name",
            )
        return existing.name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise fail(NAME_RULE, "invalid_name", "name")
    taken = (
        model.objects.active()
        .filter(project=project)
        .annotate(lname=Lower("name"))
        .filter(lname=name.lower())
        .exists()
    )
    if taken:
        raise Conflict(
            f"The {what} name '{name}' is already taken.", code="duplicate", field="name"
        )
    return name


def _unit_types(project: Project) -> dict[str, str]:
    return {name.lower(): name for name in unit_type_names(project=project)}


def _clean_percent(value: Any, path: str, *, decimals: int, what: str, code: str) -> Decimal:
    """A percentage from 0 to 100 with at most `decimals` decimals, as an exact Decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise fail(f"The {what} is a number from 0 to 100.", code, path)
    try:
        exact = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise fail(f"The {what} is a number from 0 to 100.", code, path) from exc
    if not exact.is_finite() or not 0 <= exact <= HUNDRED:
        raise fail(f"The {what} is between 0 and 100 percent.", "percentage_out_of_range", path)
    step = Decimal(1).scaleb(-decimals)
    if exact != exact.quantize(step):
        raise fail(
            f"The {what} has at most {decimals} decimal{'s' if decimals > 1 else ''}.",
            "percentage_precision",
            path,
        )
    return exact.quantize(step)


def _non_finite(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return isinstance(value, float) and not math.isfinite(value)


def check_value(kind: str, value: Any, path: str) -> Any:
    """A parameter value of type `kind`, or DomainError code="wrong_type"."""
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
    }[kind]
    if not ok:
        article = "an" if kind == "object" else "a"
        raise fail(
            f"This parameter is {article} {kind}: {json.dumps(value)[:80]} is not.",
            "wrong_type",
            path,
        )
    if kind == "string" and len(value) > MAX_STRING_VALUE:
        raise fail(f"Text values have at most {MAX_STRING_VALUE:,} characters.", "too_long", path)
    if _non_finite(value):
        raise fail("Numbers are finite.", "wrong_type", path)
    if unsafe_integer(value):
        raise fail(
            f"Integers stay within ±{MAX_SAFE_INTEGER:,} (JavaScript SDKs would round larger "
            "ones); send larger numbers as strings.",
            "unsafe_integer",
            path,
        )
    if kind == "object" and len(json.dumps(value, separators=(",", ":"))) > MAX_VALUE_BYTES:
        raise fail(f"A value has at most {MAX_VALUE_BYTES:,} bytes.", "too_large", path)
    return value


def _clean_parameters(
    doc: dict, *, layer_params: dict[str, StoredParameter] | None
) -> list[StoredParameter]:
    """Parameters with their defaults; in a layer, each must be a layer parameter of the
    same type, whose default it takes (stored as None, rendered from the layer)."""
    raw = doc.get("parameters") or []
    if not isinstance(raw, list):
        raise fail("'parameters' is a list.", "invalid", "parameters")
    if len(raw) > MAX_PARAMETERS:
        raise fail(f"At most {MAX_PARAMETERS} parameters.", "too_many_parameters", "parameters")
    out: list[StoredParameter] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"parameters[{i}]"
        if not isinstance(item, dict):
            raise fail("Each parameter is an object.", "invalid", path)
        name = item.get("name")
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            raise fail(
                "Parameter names use letters, digits, '_', '.' and '-' (1-100, starting with "
                "a letter or '_').",
                "invalid_name",
                f"{path}.name",
            )
        if name.lower() in seen:
            raise fail(f"Two parameters are named {name!r}.", "duplicate", f"{path}.name")
        seen.add(name.lower())
        kind = item.get("type")
        if kind not in PARAMETER_TYPES:
            raise fail(
                f"A parameter's type is one of {', '.join(PARAMETER_TYPES)}.",
                "invalid_type",
                f"{path}.type",
            )
        description = text(item, "description", max_length=1000, path=f"{path}.description")
        if layer_params is None:
            if "defaultValue" not in item:
                raise fail("Give the parameter a default value.", "missing_default", path)
            default = check_value(kind, item["defaultValue"], f"{path}.defaultValue")
        else:
            owned = layer_params.get(name)
            if owned is None:
                raise fail(
                    f"The layer has no parameter {name!r}: an experiment in a layer sets "
                    "layer parameters (add it to the layer first).",
                    "unknown_layer_parameter",
                    f"{path}.name",
                )
            if owned["type"] != kind:
                raise fail(
                    f"The layer's {name!r} is a {owned['type']}.", "wrong_type", f"{path}.type"
                )
            if (
                item.get("defaultValue") is not None
                and item["defaultValue"] != owned["defaultValue"]
            ):
                raise fail(
                    "In a layer, the defaults are the layer's: change them on the layer.",
                    "layer_default",
                    f"{path}.defaultValue",
                )
            default = None
        out.append(
            {"name": name, "type": kind, "defaultValue": default, "description": description}
        )
    return out


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
        if not (isinstance(group_id, str) and group_id in known_ids and group_id not in ids):
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
            if key not in types:
                raise fail(
                    f"The experiment has no parameter {key!r}.",
                    "unknown_parameter",
                    f"{path}.parameterValues.{key}",
                )
            cleaned[key] = check_value(types[key], value, f"{path}.parameterValues.{key}")
        full = {p["name"]: cleaned.get(p["name"], defaults[p["name"]]) for p in parameters}
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
    if status not in (None, "", current):
        raise fail(
            f"The status is {current}: start, ship, abandon, reset and archive change it.",
            "status_read_only",
            "status",
        )
    unit_types = _unit_types(project)
    id_type = clean_id_type(unit_types, doc)
    layer = _clean_layer_ref(project, doc, id_type)
    layer_params = {p["name"]: p for p in layer.parameters} if layer is not None else None
    parameters = _clean_parameters(doc, layer_params=layer_params)
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
    tags = clean_tags(project_tags(project), doc)
    owner = clean_owner(project, doc)
    names = {g["id"]: g["name"] for g in groups}
    launched = existing.launched_group_id if existing is not None else ""
    document = {
        "name": name,
        "description": text(doc, "description", max_length=5000),
        "hypothesis": text(doc, "hypothesis", max_length=5000),
        "idType": id_type,
        "status": str(current),
        "allocation": _number(allocation),
        "layerID": layer.name if layer is not None else None,
        "targetingGateID": gate.name if gate is not None else None,
        "targetingConditions": conditions,
        "parameters": _parameters_to_doc(parameters, defaults if layer is not None else None),
        "groups": [dict(g) for g in groups],
        "overrides": overrides_doc,
        "tags": [t.name for t in tags],
        "owner": owner.email if owner else None,
        "launchedGroup": names.get(launched),
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


# ---------------------------------------------------------------- holdouts


@dataclass
class CleanedHoldout:
    document: dict[str, Any]
    percentage: Decimal
    experiments: list[Experiment]


def clean_holdout(project: Project, doc: Any, existing: Holdout | None) -> CleanedHoldout:
    doc = require_object(doc)
    name = _clean_name(project, doc, Holdout, existing, "holdout")
    if existing is None and gate_get(project=project, name=name) is not None:
        raise Conflict(
            f"A gate is named '{name}': holdouts and gates share SDK names.",
            code="duplicate",
            field="name",
        )
    id_type = clean_id_type(_unit_types(project), doc)
    percentage = _clean_percent(
        doc.get("passPercentage"),
        "passPercentage",
        decimals=2,
        what="holdout percentage",
        code="invalid_percentage",
    )
    is_global = boolean(doc, "isGlobal", default=False)
    raw = doc.get("experimentIDs") or []
    if not isinstance(raw, list):
        raise fail("'experimentIDs' is a list of experiment names.", "invalid", "experimentIDs")
    if is_global and raw:
        raise fail(
            "A global holdout applies to every experiment: leave experimentIDs empty.",
            "global_with_experiments",
            "experimentIDs",
        )
    wanted = {n.strip().lower(): i for i, n in enumerate(raw) if isinstance(n, str)}
    found = {
        e.name.lower(): e
        for e in Experiment.objects.active()
        .filter(project=project)
        .annotate(lname=Lower("name"))
        .filter(lname__in=list(wanted))
    }
    for i, item in enumerate(raw):
        if not isinstance(item, str) or item.strip().lower() not in found:
            raise fail(
                f"This project has no experiment named {item!r}.",
                "unknown_experiment",
                f"experimentIDs[{i}]",
            )
    experiments = sorted(found.values(), key=lambda e: e.name.lower())
    return CleanedHoldout(
        document={
            "name": name,
            "description": text(doc, "description", max_length=5000),
            "idType": id_type,
            "passPercentage": _number(percentage),
            "isGlobal": is_global,
            "experimentIDs": [e.name for e in experiments],
        },
        percentage=percentage,
        experiments=experiments,
    )


def validate_holdout_document(project: Project, doc: Any, existing: Holdout | None = None):
    return clean_holdout(project, doc, existing).document
