"""The client SDKs' `/v1/initialize` payload (statsig-dcs.md §9), from our evaluator.

Entries are keyed by the hashed name: `djb2`, or `none` for raw names (the only two the
current @statsig/js-client reads), or `sha256` for older clients. Segments and holdouts are
never exposed. Not modelled yet: targetAppIDs filtering (no target apps) and `param_stores`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from console.specs.evaluator import Evaluator
from console.specs.hashing import djb2

HASHES = ("djb2", "none", "sha256")
HIDDEN_ENTITIES = {"segment", "holdout"}


def hash_name(name: str, algorithm: str) -> str:
    if algorithm == "sha256":
        return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()
    return djb2(name) if algorithm == "djb2" else name


def _exposures(exposures: list[dict], algorithm: str) -> list[dict]:
    return [{**e, "gate": hash_name(e["gate"], algorithm)} for e in exposures]


def client_initialize(
    spec_v1: Mapping[str, Any], evaluator: Evaluator, user: dict, *, algorithm: str
) -> dict[str, Any]:
    """Every gate, config/experiment and layer of `spec_v1` evaluated for `user`."""
    h = algorithm if algorithm in HASHES else "djb2"
    specs = {
        section: {s["name"]: s for s in spec_v1.get(section, [])}
        for section in ("feature_gates", "dynamic_configs", "layer_configs")
    }
    layer_of = dict(spec_v1.get("experiment_to_layer") or {})
    gates: dict[str, Any] = {}
    for name, spec in specs["feature_gates"].items():
        if spec.get("entity") in HIDDEN_ENTITIES:
            continue
        r = evaluator.get_feature_gate(user, name)
        gates[hash_name(name, h)] = {
            "name": hash_name(name, h),
            "value": bool(r.value),
            "rule_id": r.rule_id,
            "id_type": spec.get("idType", "userID"),
            "secondary_exposures": _exposures(r.secondary_exposures, h),
        }
    configs: dict[str, Any] = {}
    for name, spec in specs["dynamic_configs"].items():
        if spec.get("entity") in HIDDEN_ENTITIES:
            continue
        r = evaluator.get_config(user, name)
        entry: dict[str, Any] = {
            "name": hash_name(name, h),
            "value": r.value,
            "rule_id": r.rule_id,
            "group": r.rule_id,
            "passed": r.passed,
            "is_device_based": spec.get("idType") == "stableID",
            "id_type": spec.get("idType", "userID"),
            "secondary_exposures": _exposures(r.secondary_exposures, h),
        }
        if spec.get("entity") == "experiment":
            entry["is_user_in_experiment"] = r.is_experiment_group
            entry["is_experiment_active"] = bool(spec.get("isActive"))
            if r.group_name is not None:
                entry["group_name"] = r.group_name
            layer = specs["layer_configs"].get(layer_of.get(name, ""))
            if spec.get("hasSharedParams") and layer is not None:
                entry["is_in_layer"] = True
                entry["explicit_parameters"] = list(spec.get("explicitParameters") or [])
                entry["value"] = {**(layer.get("defaultValue") or {}), **(r.value or {})}
        configs[hash_name(name, h)] = entry
    layers: dict[str, Any] = {}
    for name, spec in specs["layer_configs"].items():
        r = evaluator.get_layer(user, name)
        entry = {
            "name": hash_name(name, h),
            "value": r.value,
            "rule_id": r.rule_id,
            "group": r.rule_id,
            "passed": r.passed,
            "is_device_based": spec.get("idType") == "stableID",
            "explicit_parameters": list(r.explicit_parameters),
            "secondary_exposures": _exposures(r.secondary_exposures, h),
            "undelegated_secondary_exposures": _exposures(r.undelegated_secondary_exposures, h),
        }
        if r.allocated_experiment:
            experiment = specs["dynamic_configs"].get(r.allocated_experiment, {})
            entry["allocated_experiment_name"] = hash_name(r.allocated_experiment, h)
            entry["is_user_in_experiment"] = r.is_experiment_group
            entry["is_experiment_active"] = bool(experiment.get("isActive"))
            if r.group_name is not None:
                entry["group_name"] = r.group_name
        layers[hash_name(name, h)] = entry
    evaluated = {"userID": user.get("userID")}
    if user.get("customIDs"):
        evaluated["customIDs"] = user["customIDs"]
    return {
        "feature_gates": gates,
        "dynamic_configs": configs,
        "layer_configs": layers,
        "sdkParams": {},
        "has_updates": True,
        "time": spec_v1["time"],
        "hash_used": h,
        "generator": "gatehouse",
        "evaluated_keys": evaluated,
        "user": user,
        "sdkInfo": {"sdkType": "gatehouse", "sdkVersion": "1"},
    }
