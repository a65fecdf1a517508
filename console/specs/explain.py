"""Why a user gets what they get: every rule and condition of a spec, for the console's
"test a user" panel. Slower than the evaluation itself and JSON-serialisable.

The authoritative result comes from the evaluator (``result``). Rules are then walked in
order: each condition is evaluated on its own to show the user's value, the target and a
one-line reason; the first rule whose conditions all pass is the deciding one and the rules
after it are marked ``evaluated: False`` (the SDKs never look at them, but the panel shows
whether they would match).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from console.specs.compiled import CONFIG, GATE, LAYER, Condition, Result, Rule, Spec, SpecJson
from console.specs.hashing import ROLLOUT_BUCKETS, statsig_hash
from console.specs.operators import describe, show
from console.specs.user import StatsigUser

if TYPE_CHECKING:
    from console.specs.evaluator import Evaluator

# Explanations are JSON documents for the console's "test a user" panel and its API.
Explanation = dict[str, Any]

_LABELS = {
    "current_time": "current time",
    "target_app": "target app",
}


def _label(condition: Condition) -> str:
    raw = condition.raw
    kind = condition.type
    field = raw.get("field")
    if kind in _LABELS:
        return _LABELS[kind]
    if kind == "user_bucket":
        return f"bucket of {raw.get('idType', 'userID')}"
    if kind == "unit_id":
        return str(raw.get("idType", "userID"))
    if kind == "environment_field":
        return f"environment {field}"
    if kind == "ip_based":
        return f"{field} (from IP)" if field == "country" else str(field)
    if kind == "ua_based":
        return f"{field} (from user agent)"
    return str(field)


def rule_name(evaluator: Evaluator, kind: str, name: str, rule_id: str) -> str:
    """A rule as people know it: "rule 2 'Employees'" (its name, else its place), or what
    a built-in rule ID means; the raw ID only when nothing better exists."""
    spec = evaluator._specs[kind].get(name)
    for rule in spec.rules if spec is not None else []:
        if rule.raw.get("id") == rule_id:
            label = rule.raw.get("name") or rule.raw.get("groupName")
            return f"rule {rule.index + 1} '{label}'" if label else f"rule {rule.index + 1}"
    if rule_id in ("default", ""):
        return "no rule matched"
    if rule_id == "disabled":
        return "disabled"
    return f"rule '{rule_id}'"


def _nested(evaluator: Evaluator, user: StatsigUser, condition: Condition) -> Explanation:
    kind = condition.type
    want = kind in ("pass_gate", "multi_pass_gate")
    names = condition.target if kind.startswith("multi_") else [condition.target]
    gates: list[dict[str, Any]] = []
    for name in names or []:
        result = evaluator.get_feature_gate(user, name)
        gates.append(
            {
                "gate": name,
                "value": result.value,
                "rule_id": result.rule_id,
                "rule": rule_name(evaluator, GATE, name, result.rule_id),
            }
        )
    passed = any(gate["value"] is want for gate in gates)
    verb = "passes" if want else "fails"
    if not gates:
        reason = "no gates listed, so the condition fails"
    elif len(gates) == 1:
        gate = gates[0]
        state = "passes" if gate["value"] else "fails"
        reason = f"gate '{gate['gate']}' {state} ({gate['rule']})"
    else:
        listed = ", ".join(f"{g['gate']}={'pass' if g['value'] else 'fail'}" for g in gates)
        reason = f"needs any gate that {verb}: {listed}"
    return {"user_value": gates, "passed": passed, "reason": reason}


def _condition(
    evaluator: Evaluator, user: StatsigUser, index: int, condition: Condition
) -> Explanation:
    raw = condition.raw
    entry: Explanation = {
        "index": index,
        "type": raw.get("type"),
        "operator": raw.get("operator"),
        "field": raw.get("field"),
        "id_type": raw.get("idType"),
        "target": raw.get("targetValue"),
        "user_value": None,
        "passed": False,
        "reason": "",
        "error": None,
    }
    try:
        if condition.type == "public":
            entry.update(passed=True, reason="everyone passes")
            return entry
        if condition.nested:
            entry.update(_nested(evaluator, user, condition))
            return entry
        if condition.value_of is None:  # only nested-gate conditions have no getter
            raise TypeError("condition has no value to read")
        value = condition.value_of(user)
        passed = bool(condition.fn(user, None))
    except Exception as exc:
        entry.update(error=f"{type(exc).__name__}: {exc}", reason=f"evaluation error: {exc}")
        return entry
    entry["user_value"] = value
    entry["passed"] = passed
    if condition.type == "user_bucket":
        salt = (raw.get("additionalValues") or {}).get("salt")
        reason = describe(raw.get("operator"), _label(condition), value, _short(raw), passed)
        entry["reason"] = f"{reason} (salt '{salt}')"
    elif condition.type == "ip_based" and value is None:
        entry["reason"] = f"{_label(condition)} is unknown, so the condition fails"
    else:
        entry["reason"] = describe(
            raw.get("operator"), _label(condition), value, raw.get("targetValue"), passed
        )
    return entry


def _short(raw: SpecJson) -> Any:
    """user_bucket targets are long bucket lists: summarise them."""
    target = raw.get("targetValue")
    if isinstance(target, list) and len(target) > 8:
        return [f"{len(target)} buckets"]
    return target


def _rollout(user: StatsigUser, spec: Spec, rule: Rule) -> Explanation:
    percentage = rule.raw.get("passPercentage", 0)
    out: Explanation = {"pass_percentage": percentage, "unit_id": None, "bucket": None}
    if rule.mode == 0:
        out.update(passed=True, reason="100% rollout: every matching unit passes")
        return out
    if rule.mode == 1:
        out.update(passed=False, reason="0% rollout: no unit passes (the rule serves the default)")
        return out
    uid = user.get("userID") if rule.unit_of is None else rule.unit_of(user)
    uid = "" if uid is None else str(uid)
    try:
        if rule.prefix is None:  # a non-string salt: the error `None + uid` raises
            raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'str'")
        bucket = statsig_hash(rule.prefix + uid) % ROLLOUT_BUCKETS
        passed: bool = bucket < rule.threshold
    except TypeError as exc:
        out.update(passed=False, reason=f"evaluation error: {exc}")
        return out
    word = "inside" if passed else "outside"
    out.update(
        unit_id=uid,
        bucket=bucket,
        threshold=rule.threshold,
        passed=passed,
        reason=f"bucket {bucket} of {ROLLOUT_BUCKETS} is {word} the {percentage}% rollout "
        f"(< {rule.threshold:g})",
    )
    return out


def explain(evaluator: Evaluator, user: StatsigUser, name: str, kind: str) -> Explanation:
    """See the module docstring. ``kind`` is "gate", "config" or "layer"."""
    result = evaluator.evaluate(user, name, kind)
    spec = evaluator._specs[kind].get(name)
    out: Explanation = {
        "name": name,
        "kind": kind,
        "result": asdict(result),
        "found": spec is not None,
        "supported": name not in evaluator.unsupported,
        "enabled": None,
        "entity": None,
        "id_type": None,
        "deciding_rule": None,
        "rules": [],
        "delegate": None,
        "summary": "",
    }
    if spec is None:
        out["summary"] = (
            f"'{name}' is not supported by the SDKs: every user gets the default"
            if name in evaluator.unsupported
            else f"no {kind} named '{name}' in this spec"
        )
        return out
    out.update(enabled=spec.enabled, entity=spec.raw.get("entity"), id_type=spec.raw.get("idType"))
    decided: Rule | None = None
    for rule in spec.rules:
        conditions = [
            _condition(evaluator, user, index, condition)
            for index, condition in enumerate(rule.conditions)
        ]
        matched = all(entry["passed"] for entry in conditions)
        evaluated = spec.enabled and decided is None
        entry: Explanation = {
            "index": rule.index,
            "id": rule.raw.get("id"),
            "name": rule.raw.get("name"),
            "group_name": rule.raw.get("groupName"),
            "pass_percentage": rule.raw.get("passPercentage"),
            "id_type": rule.raw.get("idType"),
            "evaluated": evaluated,
            "matched": matched,
            "decided": False,
            "conditions": conditions,
            "rollout": None,
            "delegate": rule.raw.get("configDelegate"),
        }
        if evaluated and matched:
            decided = rule
            entry["decided"] = True
            delegate = entry["delegate"]
            if delegate is not None and delegate in evaluator._specs[CONFIG]:
                out["delegate"] = explain(evaluator, user, delegate, CONFIG)
            else:
                entry["rollout"] = _rollout(user, spec, rule)
        out["rules"].append(entry)
    out["deciding_rule"] = None if decided is None else decided.index
    out["summary"] = _summary(spec, decided, out, result)
    return out


def _summary(spec: Spec, decided: Rule | None, out: Explanation, result: Result) -> str:
    value = show(result.value)
    if result.reason == "Error":
        return f"the SDKs hit an evaluation error (rule 'error'): value {value}"
    if not spec.enabled:
        return f"disabled: everyone gets the default {value}"
    if decided is None:
        return f"no rule matched: default {value}"
    label = decided.raw.get("name") or decided.raw.get("groupName") or decided.raw.get("id")
    if out["delegate"] is not None:
        return (
            f"rule {decided.index + 1} '{label}' matched and delegates to "
            f"'{decided.raw.get('configDelegate')}': {out['delegate']['summary']}"
        )
    rollout = out["rules"][decided.index]["rollout"]
    verdict = "passes" if rollout["passed"] else "is outside the rollout"
    what = "gate" if spec.kind == GATE else ("layer" if spec.kind == LAYER else "value")
    return f"rule {decided.index + 1} '{label}' matched and the unit {verdict}: {what} {value}"
