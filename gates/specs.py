"""The gates app's spec contributor: live gates and segments into `feature_gates`,
dynamic configs into `dynamic_configs`, large ID-list segments into `id_lists`.

Four queries per build whatever the number of entities (gates, segments, configs, and
the IDs of small ID-list segments).

Shapes (docs/statsig-spec.md §6 and §12):
* gate: `defaultValue: false`; rules `returnValue: true`; disabled (switch off or status
  disabled) → `enabled: false, rules: []`; launched → one public 100% rule; otherwise the
  override rules (`unit_id any [ids]` with the gate's idType, pass 100 / pass 0, ids ending
  in "override") and then the rules that apply to this environment.
* segment: `segment:<name>`, entity `segment`; an ID list of up to INLINE_ID_LIMIT IDs is
  one `unit_id any [ids]` rule, a larger one `unit_id in_segment_list <name>` plus
  `id_lists[<name>]` (its file: gates.selectors.segment_id_list_lines).
* dynamic config: `defaultValue` object, rules return their `returnValue`.
"""

from __future__ import annotations

from typing import Any

from console.targeting.conditions import condition_to_spec
from gates.models import DynamicConfig, FeatureGate, GateStatus, Segment, SegmentID, SegmentKind

INLINE_ID_LIMIT = 1_000
SEGMENT_PREFIX = "segment:"


def _applies(rule: dict[str, Any], environment_id: int) -> bool:
    ids = rule.get("environmentIds")
    return ids is None or environment_id in ids


def _rule(rule: dict[str, Any], id_type: str, return_value: Any) -> dict[str, Any]:
    return {
        "name": rule["id"],
        "groupName": rule["name"],
        "id": rule["id"],
        "salt": rule["salt"],
        "passPercentage": rule["passPercentage"],
        "conditions": [condition_to_spec(c, id_type=id_type) for c in rule["conditions"]],
        "returnValue": return_value,
        "idType": id_type,
    }


def _fixed_rule(rule_id: str, group: str, condition: dict, id_type: str, *, passes: bool):
    # A rule that decides without bucketing: pass 100 or 0 (never returnValue false with
    # 100%, which legacy SDKs read as true).
    return {
        "name": rule_id,
        "groupName": group,
        "id": rule_id,
        "salt": "",
        "passPercentage": 100 if passes else 0,
        "conditions": [condition],
        "returnValue": passes,
        "idType": id_type,
    }


def _public(id_type: str) -> dict[str, Any]:
    return {
        "type": "public",
        "operator": None,
        "targetValue": None,
        "field": None,
        "additionalValues": {},
        "idType": id_type,
    }


def _unit_id_any(ids: list[str], id_type: str) -> dict[str, Any]:
    return {
        "type": "unit_id",
        "operator": "any",
        "targetValue": ids,
        "field": None,
        "additionalValues": {},
        "idType": id_type,
    }


def _override_rules(overrides: list[dict], environment_id: int, id_type: str) -> list[dict]:
    """Leading rules for this environment: its own entry wins over the every-environment
    one for an ID listed in both."""
    everywhere = next((o for o in overrides if o["environmentId"] is None), None)
    here = next((o for o in overrides if o["environmentId"] == environment_id), None)
    own_pass = set(here["passingIDs"]) if here else set()
    own_fail = set(here["failingIDs"]) if here else set()
    failing, passing = set(own_fail), set(own_pass)
    if everywhere:
        failing |= set(everywhere["failingIDs"]) - own_pass
        passing |= set(everywhere["passingIDs"]) - own_fail
    rules = []
    if failing:
        rules.append(
            _fixed_rule(
                "failing:id_override",
                "Forced to fail",
                _unit_id_any(sorted(failing), id_type),
                id_type,
                passes=False,
            )
        )
    if passing:
        rules.append(
            _fixed_rule(
                "passing:id_override",
                "Forced to pass",
                _unit_id_any(sorted(passing), id_type),
                id_type,
                passes=True,
            )
        )
    return rules


def gate_spec(gate: dict[str, Any], environment_id: int) -> dict[str, Any]:
    """The spec of one gate row (as `.values()` of FeatureGate) in one environment."""
    id_type = gate["id_type"]
    enabled = gate["is_enabled"] and gate["status"] != GateStatus.DISABLED
    rules: list[dict[str, Any]] = []
    if enabled and gate["status"] == GateStatus.LAUNCHED:
        rules = [_fixed_rule("launched", "Launched", _public(id_type), id_type, passes=True)]
    elif enabled:
        rules = _override_rules(gate["overrides"], environment_id, id_type) + [
            _rule(r, id_type, True) for r in gate["rules"] if _applies(r, environment_id)
        ]
    return {
        "name": gate["name"],
        "type": "feature_gate",
        "entity": "feature_gate",
        "salt": gate["salt"],
        "enabled": enabled,
        "defaultValue": False,
        "idType": id_type,
        "rules": rules,
        "version": gate["revision"],
    }


def segment_spec(
    segment: dict[str, Any], environment_id: int, inline_ids: list[str] | None
) -> dict[str, Any]:
    id_type = segment["id_type"]
    if segment["kind"] == SegmentKind.RULE_BASED:
        rules = [_rule(r, id_type, True) for r in segment["rules"] if _applies(r, environment_id)]
    elif segment["id_count"] == 0:
        rules = []
    elif inline_ids is not None:
        rules = [
            _fixed_rule(
                "id_list", "ID list", _unit_id_any(inline_ids, id_type), id_type, passes=True
            )
        ]
    else:
        condition = {
            "type": "unit_id",
            "operator": "in_segment_list",
            "targetValue": segment["name"],
            "field": None,
            "additionalValues": {},
            "idType": id_type,
        }
        rules = [_fixed_rule("id_list", "ID list", condition, id_type, passes=True)]
    return {
        "name": SEGMENT_PREFIX + segment["name"],
        "type": "feature_gate",
        "entity": "segment",
        "salt": segment["salt"],
        "enabled": True,
        "defaultValue": False,
        "idType": id_type,
        "rules": rules,
        "version": segment["revision"],
    }


def dynamic_config_spec(config: dict[str, Any], environment_id: int) -> dict[str, Any]:
    id_type = config["id_type"]
    enabled = config["is_enabled"]
    rules = (
        [
            _rule(r, id_type, r.get("returnValue", {}))
            for r in config["rules"]
            if _applies(r, environment_id)
        ]
        if enabled
        else []
    )
    return {
        "name": config["name"],
        "type": "dynamic_config",
        "entity": "dynamic_config",
        "salt": config["salt"],
        "enabled": enabled,
        "defaultValue": config["default_value"],
        "idType": id_type,
        "rules": rules,
        "version": config["revision"],
    }


_COMMON = ("pk", "name", "salt", "id_type", "rules", "revision")


def contribute(project, environment, draft) -> None:
    """Registered in GatesConfig.ready(): adds this project's live gates, segments and
    dynamic configs for `environment` to the draft."""
    env_id = environment.pk
    gates = FeatureGate.objects.active().filter(project=project)
    for gate in gates.values(*_COMMON, "is_enabled", "status", "overrides"):
        draft.feature_gates.append(gate_spec(gate, env_id))

    segments = list(
        Segment.objects.active().filter(project=project).values(*_COMMON, "kind", "id_count")
    )
    small = [
        s["pk"]
        for s in segments
        if s["kind"] == SegmentKind.ID_LIST and 0 < s["id_count"] <= INLINE_ID_LIMIT
    ]
    inline: dict[int, list[str]] = {pk: [] for pk in small}
    if small:
        rows = (
            SegmentID.objects.filter(segment_id__in=small)
            .order_by("segment_id", "unit_id")
            .values_list("segment_id", "unit_id")
        )
        for segment_id, unit_id in rows:
            inline[segment_id].append(unit_id)
    for segment in segments:
        ids = inline.get(segment["pk"])
        draft.feature_gates.append(segment_spec(segment, env_id, ids))
        if segment["kind"] == SegmentKind.ID_LIST and ids is None and segment["id_count"]:
            draft.id_lists[segment["name"]] = True

    configs = DynamicConfig.objects.active().filter(project=project)
    for config in configs.values(*_COMMON, "is_enabled", "default_value"):
        draft.dynamic_configs.append(dynamic_config_spec(config, env_id))
