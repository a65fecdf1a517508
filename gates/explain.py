"""Test a user: evaluate a saved gate, segment or dynamic config for one user in one
environment exactly as the SDKs would (the spec as it would be published now, through our
evaluator), and explain the outcome rule by rule, condition by condition. Reads only.

experiments.explain builds on evaluator_for and user_id_lists."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.specs.builder import SpecError, build_spec
from console.specs.evaluator import Evaluator
from console.specs.hashing import id_list_hash
from console.specs.operators import show
from console.targeting.conditions import CONDITION_TYPES, OPERATORS, SEGMENT_PREFIX, ValueKind
from console.targeting.text import join_values, pretty_json, show_time
from gates.documents import dynamic_config_to_document, gate_to_document, segment_to_document
from gates.models import DynamicConfig, FeatureGate, GateStatus, Segment, SegmentID


@dataclass
class ConditionResult:
    label: str
    operator: str
    target: str
    user_value: str
    passed: bool
    reason: str
    error: str | None = None


@dataclass
class RuleResult:
    number: int | None  # the rule's place in the editor (None: override, launch, ID list)
    name: str
    pass_percentage: Any
    evaluated: bool
    matched: bool
    decided: bool
    conditions: list[ConditionResult]
    rollout: dict[str, Any] | None = None
    rule_id: str = ""

    @property
    def state(self) -> str:
        if self.decided:
            return "decided"
        if not self.evaluated:
            return "skipped"
        return "matched" if self.matched else "missed"


@dataclass
class TestOutcome:
    kind: str  # "gate" or "config"
    environment: Any
    user: dict[str, Any]
    passed: bool = False
    value: str = ""  # configs: the JSON returned
    headline: str = ""
    detail: str = ""
    rules: list[RuleResult] = field(default_factory=list)
    not_here: list[str] = field(default_factory=list)  # rules limited to other environments
    notice: str = ""
    user_json: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return join_values(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _user_value(entry: dict[str, Any]) -> str:
    value = entry.get("user_value")
    if isinstance(value, list) and value and isinstance(value[0], dict) and "gate" in value[0]:
        return ", ".join(
            f"{g['gate'].removeprefix(SEGMENT_PREFIX)} {'passes' if g['value'] else 'fails'}"
            for g in value
        )
    if value is None:
        return "missing"
    return show(value) if not isinstance(value, str) else value


def _condition_result(entry: dict[str, Any], doc_condition: dict[str, Any] | None):
    op = entry.get("operator")
    target = entry.get("target")
    if doc_condition is not None:
        ctype = CONDITION_TYPES.get(doc_condition["type"])
        label = ctype.label if ctype else doc_condition["type"]
        if doc_condition.get("field"):
            label = f"{label} “{doc_condition['field']}”"
        if doc_condition.get("customID"):
            label = f"{label} ({doc_condition['customID']})"
        op_label = OPERATORS[op].label if op in OPERATORS else ""
        target = doc_condition.get("targetValue")
        kind = OPERATORS[op].value if op in OPERATORS else (ctype.target if ctype else "")
        target_text = show_time(target) if kind == ValueKind.TIME else _text(target)
    else:
        spec_type = str(entry.get("type") or "")
        label = {"public": "Everyone", "unit_id": f"Unit ID ({entry.get('id_type')})"}.get(
            spec_type, str(entry.get("field") or spec_type)
        )
        op_label = {
            "any": "is any of",
            "in_segment_list": "is in the ID list",
        }.get(op or "", op or "")
        if isinstance(target, list) and len(target) > 6:
            op_label, target_text = "is on the list of", f"{len(target):,} IDs"
        else:
            target_text = _text(target)
    if len(target_text) > 160:
        target_text = target_text[:159] + "…"
    return ConditionResult(
        label=label,
        operator=op_label,
        target=target_text,
        user_value=_user_value(entry),
        passed=bool(entry.get("passed")),
        reason=entry.get("reason") or "",
        error=entry.get("error"),
    )


def user_id_lists(project, spec: dict[str, Any], user: dict[str, Any]) -> dict[str, set[str]]:
    """The big ID-list segments the spec names, reduced to the user's own IDs (the
    evaluator only asks whether the user's ID is in; loading millions would be waste)."""
    names = list(spec.get("id_lists") or {})
    lists: dict[str, set[str]] = {name: set() for name in names}
    custom_ids = user.get("customIDs")
    custom = list(custom_ids.values()) if isinstance(custom_ids, dict) else []
    ids = {str(v) for v in [user.get("userID"), *custom] if v is not None and v != ""}
    if names and ids:
        rows = SegmentID.objects.filter(
            segment__project=project,
            segment__archived_at__isnull=True,
            segment__name__in=names,
            unit_id__in=ids,
        ).values_list("segment__name", "unit_id")
        for name, unit_id in rows:
            lists[name].add(id_list_hash(unit_id))
    return lists


def evaluator_for(
    project, environment, user: dict[str, Any], *, spec: dict[str, Any] | None = None
) -> tuple[Evaluator | None, str]:
    """An evaluator of `environment`'s spec as it would be published now (or of `spec`, a
    proposed one), with the ID lists reduced to `user`'s IDs; or None and why it cannot be
    built."""
    if spec is None:
        try:
            spec = build_spec(project, environment, time_ms=int(time.time() * 1000))
        except SpecError as exc:
            return None, f"The rules of {environment.name} could not be assembled: {exc}"
    return Evaluator(spec, user_id_lists(project, spec, user)), ""


@dataclass(frozen=True)
class _Subject:
    """What differs between explaining a gate, a segment and a config."""

    key: str  # "gate", "segment", "config"
    label: str
    explain_kind: str  # the evaluator's kind
    to_document: Callable[[Any], Any]

    def spec_name(self, obj) -> str:
        return SEGMENT_PREFIX + obj.name if self.key == "segment" else obj.name


_SUBJECTS = {
    FeatureGate: _Subject("gate", "gate", "gate", gate_to_document),
    Segment: _Subject("segment", "segment", "gate", segment_to_document),
    DynamicConfig: _Subject("config", "dynamic config", "config", dynamic_config_to_document),
}


def explain_entity(
    obj,
    environment,
    user: dict[str, Any],
    *,
    spec: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
) -> TestOutcome:
    """Evaluate the saved gate, segment or dynamic config for `user` in `environment`,
    rule by rule, as the SDKs would, and say why; or its proposed version: `spec` the
    environment's spec with a change set applied, `document` the entity as proposed."""
    kind = _SUBJECTS[type(obj)]
    project = obj.project
    outcome = TestOutcome(
        kind="config" if kind.key == "config" else "gate",
        environment=environment,
        user=user,
        user_json=pretty_json(user),
    )
    evaluator, notice = evaluator_for(project, environment, user, spec=spec)
    if evaluator is None:
        outcome.headline = "Cannot evaluate"
        outcome.notice = notice
        return outcome
    report = evaluator.explain(user, kind.spec_name(obj), kind.explain_kind)
    result = report["result"]
    shown = document if document is not None else kind.to_document(obj)
    # A proposed rule may have no ID yet: it gets one when applied.
    doc_rules = {r.get("id") or f"new-{i}": (i, r) for i, r in enumerate(shown.get("rules") or [])}
    seen: set[str] = set()
    for entry in report["rules"]:
        key = entry["id"] if entry["id"] in doc_rules else None
        if key is None and document is not None:
            # A dry run gives new rules new IDs: the proposed rule of the same name, in order.
            key = next(
                (
                    rule_id
                    for rule_id, (_, r) in doc_rules.items()
                    if rule_id not in seen
                    and r.get("name") in (entry.get("group_name"), entry.get("name"))
                ),
                None,
            )
        place = doc_rules.get(key) if key else None
        if key and place:
            seen.add(key)
        doc_conditions = place[1]["conditions"] if place else []
        outcome.rules.append(
            RuleResult(
                number=place[0] + 1 if place else None,
                name=entry.get("group_name") or entry.get("name") or "",
                pass_percentage=entry.get("pass_percentage"),
                evaluated=bool(entry["evaluated"]),
                matched=bool(entry["matched"]),
                decided=bool(entry["decided"]),
                conditions=[
                    _condition_result(
                        c, doc_conditions[i] if place and i < len(doc_conditions) else None
                    )
                    for i, c in enumerate(entry["conditions"])
                ],
                rollout=entry.get("rollout"),
                rule_id=entry.get("id") or "",
            )
        )
    rules_live = report["enabled"] and not (
        kind.key == "gate" and (shown.get("status") or obj.status) == GateStatus.LAUNCHED
    )
    if rules_live:
        outcome.not_here = [
            f"Rule {i + 1} “{r['name']}”"
            for rule_id, (i, r) in doc_rules.items()
            if rule_id not in seen
        ]
    decided = next((r for r in outcome.rules if r.decided), None)
    # A config "passes" when a rule serves its value: a rule that matched but left the
    # user outside its rollout reports its own rule ID, yet serves the default.
    outcome.passed = (
        bool(result["value"])
        if kind.key != "config"
        else decided is not None and bool(decided.rollout and decided.rollout.get("passed"))
    )
    if kind.key == "config":
        outcome.value = pretty_json(result["value"])
    outcome.headline, outcome.detail = _verdict(kind, obj, report, decided)
    if result["reason"] not in ("Recognized",):
        outcome.notice = (
            f"The SDKs report “{result['reason']}” for this {kind.label}: {report['summary']}."
        )
    return outcome


# Rules the spec builder adds in front of (or instead of) the entity's own rules.
BUILT_RULES = {
    "launched": "The gate is launched: everyone passes.",
    "passing:id_override": "An override forces this ID to pass.",
    "failing:id_override": "An override forces this ID to fail.",
    "id_list": "The ID is on the segment’s list.",
}


def _verdict(kind: _Subject, obj, report, decided: RuleResult | None) -> tuple[str, str]:
    value = report["result"]["value"]
    served = decided is not None and bool(decided.rollout and decided.rollout.get("passed"))
    if kind.key == "config":
        headline = "Gets the default"
        if decided is not None and served:
            headline = (
                f"Gets the value of rule {decided.number}"
                if decided.number is not None
                else "Gets a rule’s value"
            )
    elif kind.key == "segment":
        headline = "In the segment" if value else "Not in the segment"
    else:
        headline = "Passes" if value else "Fails"
    if not report["found"]:
        return headline, f"This {kind.label} is not in the spec: {report['summary']}."
    if not report["enabled"]:
        if kind.key == "config":
            return headline, "The config is switched off: everyone gets the default."
        why = "switched off" if obj.is_enabled is False else "disabled"
        return headline, f"The gate is {why}: nobody passes."
    if decided is None:
        if kind.key == "config":
            return headline, "No rule matched, so the user gets the default value."
        return headline, "No rule matched."
    if decided.number is None:
        return headline, BUILT_RULES.get(decided.rule_id, f"Decided by “{decided.name}”.")
    rule = f"rule {decided.number} “{decided.name}”"
    rollout = decided.rollout or {}
    if rollout.get("passed"):
        if rollout.get("bucket") is None:
            return headline, f"Decided by {rule}."
        return headline, (
            f"Decided by {rule}: the user is inside its {rollout['pass_percentage']}% rollout."
        )
    if rollout.get("bucket") is None:
        return headline, f"{rule[0].upper()}{rule[1:]} matched, but it passes 0% of units."
    return headline, (
        f"{rule[0].upper()}{rule[1:]} matched, but the user is outside its "
        f"{rollout.get('pass_percentage')}% rollout."
    )
