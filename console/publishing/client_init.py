"""The client SDKs' `/v1/initialize` payload (docs/statsig-spec.md §11), from our evaluator.

Entries are keyed by the hashed name: `djb2`, or `none` for raw names (the only two the
current @statsig/js-client reads), or `sha256` for older clients. Segments and holdouts are
never exposed. Not modelled yet: targetAppIDs filtering (keys have no target app),
`param_stores`, deltas, and fields derived from the request (IP, user agent).

@statsig/js-client sends back, from the values it holds for the same user, their `time` as
`sinceTime` and our `full_checksum`; `client_is_current` tells the view to answer 204 then.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from console.specs.evaluator import Evaluator
from console.specs.hashing import djb2

HASHES = ("djb2", "none", "sha256")
HIDDEN_ENTITIES = {"segment", "holdout"}
CHECKSUMMED = (
    "feature_gates",
    "dynamic_configs",
    "layer_configs",
    "hash_used",
    "evaluated_keys",
    "user",
    "derived_fields",
)


def hash_name(name: str, algorithm: str) -> str:
    if algorithm == "sha256":
        return base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()
    return djb2(name) if algorithm == "djb2" else name


def _exposures(exposures: list[dict], algorithm: str) -> list[dict]:
    return [{**e, "gate": hash_name(e["gate"], algorithm)} for e in exposures]


def _with_stable_id(user: dict, stable_id: Any) -> dict:
    """`user` with `customIDs.stableID` filled from the SDK's metadata when it has none
    (client SDKs generate the device's stableID and send it beside the user)."""
    ids = user.get("customIDs") if isinstance(user.get("customIDs"), dict) else {}
    if not isinstance(stable_id, str) or not stable_id or ids.get("stableID"):
        return user
    return {**user, "customIDs": {**ids, "stableID": stable_id}}


def _checksum(payload: Mapping[str, Any]) -> str:
    """What tells two payloads' values apart for the same request, whatever their `time`."""
    content = {key: payload[key] for key in CHECKSUMMED}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def client_initialize(
    spec_v1: Mapping[str, Any],
    evaluator: Evaluator,
    user: dict,
    *,
    algorithm: str,
    stable_id: str | None = None,
) -> dict[str, Any]:
    """Every gate, config/experiment and layer of `spec_v1` evaluated for `user` (with the
    SDK's `stable_id` when the user carries none), echoing `user` as sent."""
    h = algorithm if algorithm in HASHES else "djb2"
    sent = user
    user = _with_stable_id(user, stable_id)
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
    payload: dict[str, Any] = {
        "feature_gates": gates,
        "dynamic_configs": configs,
        "layer_configs": layers,
        "sdkParams": {},
        "has_updates": True,
        "time": spec_v1["time"],
        "hash_used": h,
        "generator": "gatehouse",
        "evaluated_keys": evaluated,
        "user": sent,
        # Nothing is derived from the request yet; clients send this back as
        # `previousDerivedFields`.
        "derived_fields": {},
        "sdkInfo": {"sdkType": "gatehouse", "sdkVersion": "1"},
        # js-client gzips its event batches to a custom API only when told to (/v1/rgstr
        # reads `?gz=1`).
        "sdk_flags": {"enable_log_event_compression": True},
    }
    payload["full_checksum"] = _checksum(payload)
    return payload


def client_is_current(body: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether the client that sent `body` already holds `payload`'s values: its values
    are at least as new (`sinceTime`, sent only when they were fetched for this very user
    and hash) and, when it sends one, their `full_checksum` is ours. The checksum catches
    what time alone misses (a `current_time` rule that has since flipped)."""
    since = body.get("sinceTime")
    if not isinstance(since, int) or isinstance(since, bool) or since <= 0:
        return False
    if since < payload["time"]:
        return False
    checksum = body.get("full_checksum")
    return checksum is None or checksum == payload["full_checksum"]
