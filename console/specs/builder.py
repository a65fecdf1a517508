"""Assembles a project's Statsig download_config_specs for one environment.

`build_spec(project, environment, time_ms=...)` asks every registered contributor
(console.specs.registry) for its specs and returns the v1 payload (docs/statsig-spec.md §1);
`to_v2(v1)` reshapes it into dcs-v2 (name-keyed specs, conditions in `condition_map`),
the only format statsig-python-core reads. `spec_json` serialises either canonically.

Publisher rules (docs/statsig-spec.md §12) enforced here for every contributor: `has_updates`
true, integer `time`, `diagnostics` all 0, `default_environment` = the environment's tier,
required keys on every spec/rule/condition (`check_spec`), lowercase condition types and
operators, no `experiment_group`, no null salts, and sorted output so that identical
inputs give byte-identical specs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.specs.registry import contributors

if TYPE_CHECKING:
    from console.models import Environment, Project

SPEC_SECTIONS = ("feature_gates", "dynamic_configs", "layer_configs")
# Sampling rates (out of 10000) of SDK diagnostics events: 0 stops them
# (docs/statsig-spec.md §12.9).
DIAGNOSTICS = {
    "api_call": 0,
    "dcs": 0,
    "download_config_specs": 0,
    "get_id_list": 0,
    "get_id_list_sources": 0,
    "idlist": 0,
    "initialize": 0,
    "log": 0,
    "log_event": 0,
    "logevent": 0,
}
SPEC_KEYS = ("name", "type", "entity", "salt", "enabled", "defaultValue", "idType", "rules")
RULE_KEYS = ("name", "id", "salt", "passPercentage", "conditions", "returnValue", "idType")
CONDITION_KEYS = ("type", "operator", "targetValue", "field", "additionalValues", "idType")
CONDITION_TYPES = {
    "public",
    "pass_gate",
    "fail_gate",
    "multi_pass_gate",
    "multi_fail_gate",
    "user_field",
    "environment_field",
    "ip_based",
    "ua_based",
    "current_time",
    "user_bucket",
    "unit_id",
    "target_app",
}
V2_REQUIRED = (
    "has_updates",
    "time",
    "feature_gates",
    "dynamic_configs",
    "layer_configs",
    "experiment_to_layer",
    "condition_map",
)


class SpecError(ValueError):
    """A contributor produced something SDKs would reject or misread."""


@dataclass
class SpecDraft:
    """What contributors fill for one project and environment (v1 shapes)."""

    project: Project
    environment: Environment
    feature_gates: list[dict[str, Any]] = field(default_factory=list)
    dynamic_configs: list[dict[str, Any]] = field(default_factory=list)
    layer_configs: list[dict[str, Any]] = field(default_factory=list)
    layers: dict[str, list[str]] = field(default_factory=dict)
    experiment_to_layer: dict[str, str] = field(default_factory=dict)
    id_lists: dict[str, bool] = field(default_factory=dict)


def build_spec(project: Project, environment: Environment, *, time_ms: int) -> dict[str, Any]:
    """The v1 download_config_specs of `project` for `environment`.

    `time_ms` is the payload's lcut: an integer epoch-ms that must grow with every publish
    (SDKs ignore older payloads). Raises SpecError if a contributor breaks a publisher rule.
    """
    if isinstance(time_ms, bool) or not isinstance(time_ms, int) or time_ms <= 0:
        raise SpecError("time_ms is a positive integer (epoch milliseconds).")
    if environment.project_id != project.pk:
        raise SpecError("The environment belongs to another project.")
    draft = SpecDraft(project=project, environment=environment)
    for contribute in contributors():
        contribute(project, environment, draft)
    return _assemble(draft, time_ms)


def empty_spec(environment: Environment, *, time_ms: int) -> dict[str, Any]:
    """The v1 payload of an environment before its first publish: valid, with no entities,
    so SDKs pointed at a new project initialize (and pick up the first version, which is
    newer, at their next poll)."""
    return _assemble(SpecDraft(project=environment.project, environment=environment), time_ms)


def _assemble(draft: SpecDraft, time_ms: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "has_updates": True,
        "time": time_ms,
        "feature_gates": _sorted_specs(draft.feature_gates, "feature_gates"),
        "dynamic_configs": _sorted_specs(draft.dynamic_configs, "dynamic_configs"),
        "layer_configs": _sorted_specs(draft.layer_configs, "layer_configs"),
        "layers": {name: sorted(exps) for name, exps in sorted(draft.layers.items())},
        "experiment_to_layer": dict(sorted(draft.experiment_to_layer.items())),
        "id_lists": dict.fromkeys(sorted(draft.id_lists), True),
        "diagnostics": dict(DIAGNOSTICS),
        "default_environment": draft.environment.tier,
        "sdk_keys_to_app_ids": {},
        "hashed_sdk_keys_to_app_ids": {},
    }
    check_spec(spec)
    return spec


def _sorted_specs(specs: list[dict[str, Any]], section: str) -> list[dict[str, Any]]:
    ordered = sorted(specs, key=lambda s: s.get("name", ""))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.get("name") == after.get("name"):
            raise SpecError(f"Two specs in {section} are named {after.get('name')!r}.")
    return ordered


def check_spec(spec: dict[str, Any]) -> None:
    """Raise SpecError unless every spec, rule and condition of a v1 payload carries the
    keys the SDKs require, with lowercase types/operators and no null salts."""
    if not isinstance(spec.get("time"), int) or spec.get("has_updates") is not True:
        raise SpecError("A spec needs has_updates: true and an integer time.")
    for section in SPEC_SECTIONS:
        for entry in spec[section]:
            check_entity(section, entry)


def check_entity(section: str, entry: dict[str, Any]) -> None:
    """check_spec's rules for one spec of `section`."""
    where = f"{section}/{entry.get('name')}"
    _require(entry, SPEC_KEYS, where)
    if not isinstance(entry["salt"], str):
        raise SpecError(f"{where}: the salt is a string.")
    if not entry["enabled"] and entry["rules"]:
        raise SpecError(f"{where}: a disabled spec has no rules (Rust ignores enabled).")
    for rule in entry["rules"]:
        rule_where = f"{where}/{rule.get('id')}"
        _require(rule, RULE_KEYS, rule_where)
        if not isinstance(rule["salt"], str):
            raise SpecError(f"{rule_where}: a rule salt is a string, never null.")
        for condition in rule["conditions"]:
            _require(condition, CONDITION_KEYS, rule_where)
            ctype, operator = condition["type"], condition["operator"]
            if ctype not in CONDITION_TYPES:
                raise SpecError(f"{rule_where}: unsupported condition type {ctype!r}.")
            if operator is not None and operator != operator.lower():
                raise SpecError(f"{rule_where}: operators are lowercase ({operator!r}).")
            if not condition["idType"]:
                raise SpecError(f"{rule_where}: every condition needs an idType.")


def _require(obj: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise SpecError(f"{where}: missing {', '.join(missing)}.")


def condition_key(blob: str) -> str:
    # 64 bits of SHA-256: collision-free in practice for any project's condition count
    # (djb2's 32 bits would collide around 100k conditions). Checked anyway below.
    return str(int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big"))


def to_v2(v1: dict[str, Any]) -> dict[str, Any]:
    """The dcs-v2 form of a v1 payload: specs keyed by name (without `name`), each rule's
    conditions replaced by keys of a shared `condition_map`, `layers` dropped (Rust reads
    `experiment_to_layer`), `response_format: "dcs-v2"`. Conditions are shared with `v1`,
    not copied: treat both as read-only."""
    condition_map: dict[str, dict[str, Any]] = {}
    blobs: dict[str, str] = {}

    def key_of(condition: dict[str, Any]) -> str:
        blob = json.dumps(condition, sort_keys=True, separators=(",", ":"))
        key = condition_key(blob)
        if key in blobs and blobs[key] != blob:
            raise SpecError(f"Two different conditions hash to the key {key}.")
        blobs[key] = blob
        condition_map[key] = condition
        return key

    def convert(spec: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k != "name"}
        out["rules"] = [
            {**rule, "conditions": [key_of(c) for c in rule["conditions"]]}
            for rule in spec["rules"]
        ]
        return out

    v2 = {k: v for k, v in v1.items() if k not in (*SPEC_SECTIONS, "layers")}
    for section in SPEC_SECTIONS:
        v2[section] = {spec["name"]: convert(spec) for spec in v1[section]}
    v2["condition_map"] = dict(sorted(condition_map.items()))
    v2["experiment_to_layer"] = dict(v1.get("experiment_to_layer", {}))
    v2["response_format"] = "dcs-v2"
    missing = [k for k in V2_REQUIRED if k not in v2]
    if missing:
        raise SpecError(f"dcs-v2 payload is missing {', '.join(missing)}.")
    return v2


def spec_json(spec: dict[str, Any], *, indent: int | None = None) -> str:
    """Canonical JSON (sorted keys): identical specs give identical bytes."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(
        spec, sort_keys=True, separators=separators, indent=indent, ensure_ascii=False
    )
