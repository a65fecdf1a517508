"""The evaluator's faithful slow path: an evaluation that raised is re-run step by step,
modelling legacy's shared result object (``_ConfigEvaluation``): the value reported with rule
id "error" is whatever that object held when it failed (docs/statsig-spec.md §5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.specs.compiled import (
    ALWAYS,
    CONFIG,
    ERROR,
    GATE,
    NEVER,
    RECOGNIZED,
    UNRECOGNIZED,
    UNSUPPORTED,
    Condition,
    Exposure,
    Result,
    Rule,
    Spec,
    clean_exposures,
    read_u64,
    sha256,
)
from console.specs.user import StatsigUser

if TYPE_CHECKING:
    from console.specs.evaluator import Evaluator


def legacy_result(evaluator: Evaluator, user: StatsigUser, name: str, kind: str) -> Result:
    """Re-run an evaluation that raised, as legacy runs it, and report what legacy reports."""
    state = _Shared()
    try:
        _legacy_eval(evaluator, user, name, kind, state, nested=False)
    except RecursionError:
        # Legacy lets it reach the server's error boundary: the call's default.
        return Result(name, False if kind == GATE else {}, "", reason=ERROR)
    except Exception:
        state.rule_id = "error"
        state.reason = ERROR
    undelegated = state.exp if state.undelegated is None else state.undelegated
    return Result(
        name=name,
        value=bool(state.passed) if kind == GATE else state.json,
        rule_id=state.rule_id,
        group_name=state.group_name,
        id_type=state.id_type,
        reason=state.reason,
        passed=bool(state.passed),
        secondary_exposures=list(state.exp),
        undelegated_secondary_exposures=list(undelegated),
        allocated_experiment=state.allocated,
        explicit_parameters=list(state.explicit or []),
        is_experiment_group=state.is_experiment_group is True,
    )


def _legacy_eval(
    evaluator: Evaluator, user: StatsigUser, name: Any, kind: str, state: _Shared, nested: bool
) -> None:
    spec = evaluator._specs[kind].get(name)
    if spec is None:
        state.reset()
        state.reason = UNSUPPORTED if name in evaluator.unsupported else UNRECOGNIZED
        return
    if not spec.enabled:
        state.finalize(spec, False, None, nested)
        return
    configs = evaluator._specs[CONFIG]
    for rule in spec.rules:
        passed = True
        for condition in rule.conditions:
            if not _legacy_condition(evaluator, user, condition, state):
                passed = False
        state.passed = passed
        if not passed:
            continue
        target = rule.delegate
        if target is not None and target in configs:
            state.undelegated = list(state.exp)
            _legacy_eval(evaluator, user, target, CONFIG, state, nested=True)
            state.explicit = configs[target].raw.get("explicitParameters", [])
            state.allocated = target
            state.finalize_exposures()
            return
        state.finalize(spec, _legacy_rollout(user, rule), rule, nested)
        return
    state.finalize(spec, False, None, nested)


def _legacy_check_gate(
    evaluator: Evaluator, user: StatsigUser, name: Any, state: _Shared, nested: bool
) -> None:
    hash(name)  # an unhashable gate name raises outside the nested error boundary
    try:
        _legacy_eval(evaluator, user, name, GATE, state, nested)
    except RecursionError:
        raise
    except Exception:
        state.rule_id = "error"
        state.reason = ERROR


def _legacy_condition(
    evaluator: Evaluator, user: StatsigUser, condition: Condition, state: _Shared
) -> bool:
    kind = condition.type
    if kind in ("pass_gate", "fail_gate"):
        target = condition.target
        _legacy_check_gate(evaluator, user, target, state, nested=True)
        state.exp.append(
            {
                "gate": target,
                "gateValue": "true" if state.passed else "false",
                "ruleID": state.rule_id,
            }
        )
        return bool(state.passed) if kind == "pass_gate" else not state.passed
    if kind in ("multi_pass_gate", "multi_fail_gate"):
        return _legacy_multi_gate(evaluator, user, condition, state)
    return condition.fn(user, None)


def _legacy_multi_gate(
    evaluator: Evaluator, user: StatsigUser, condition: Condition, state: _Shared
) -> bool:
    targets = condition.target
    if targets is None or len(targets) == 0:
        return False
    result = False
    for gate in targets:
        fresh = _Shared()
        _legacy_check_gate(evaluator, user, gate, fresh, nested=False)
        state.exp.append(
            {
                "gate": gate,
                "gateValue": "true" if fresh.passed else "false",
                "ruleID": fresh.rule_id,
            }
        )
        if condition.type == "multi_pass_gate":
            result = result or bool(fresh.passed)
        else:
            result = result or not fresh.passed
        if result:
            break
    return result


def _legacy_rollout(user: StatsigUser, rule: Rule) -> bool:
    if rule.mode == ALWAYS:
        return True
    if rule.mode == NEVER:
        return False
    uid = user.get("userID") if rule.unit_of is None else rule.unit_of(user)
    if uid.__class__ is not str:
        uid = "" if uid is None else str(uid)
    if rule.prefix is None:  # a non-string salt (what `None + uid` raised before)
        raise TypeError("rule salt is not a string")
    digest = sha256((rule.prefix + uid).encode()).digest()
    passed: bool = read_u64(digest)[0] % 10000 < rule.threshold
    return passed


class _Shared:
    """Legacy's mutable ``_ConfigEvaluation``, shared by nested gates and delegates."""

    __slots__ = (
        "passed",
        "json",
        "rule_id",
        "group_name",
        "is_experiment_group",
        "id_type",
        "exp",
        "undelegated",
        "allocated",
        "explicit",
        "reason",
    )

    # Values copied from the payload (JSON), as legacy holds them.
    passed: Any
    json: Any
    rule_id: Any
    group_name: Any
    is_experiment_group: Any
    id_type: Any
    exp: list[Exposure]
    undelegated: list[Exposure] | None
    allocated: str | None
    explicit: Any
    reason: str

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.passed = False
        self.json = {}
        self.rule_id = ""
        self.group_name = None
        self.is_experiment_group = False
        self.id_type = ""
        self.exp = []
        self.undelegated = None
        self.allocated = None
        self.explicit = None
        self.reason = RECOGNIZED

    def reset(self) -> None:
        self._clear()
        self.undelegated = []

    def finalize(self, spec: Spec, passed: bool, rule: Rule | None, nested: bool) -> None:
        raw = spec.raw
        self.passed = passed
        self.id_type = raw.get("idType", "")
        self.reason = RECOGNIZED
        if rule is None:
            self.json = raw.get("defaultValue", {})
            self.group_name = None
            self.is_experiment_group = False
            self.rule_id = "default" if raw.get("enabled") else "disabled"
        else:
            self.json = rule.raw.get("returnValue") if passed else raw.get("defaultValue", {})
            self.group_name = rule.raw.get("groupName")
            self.is_experiment_group = rule.raw.get("isExperimentGroup", False)
            self.rule_id = rule.raw.get("id", "")
        if not nested:
            self.finalize_exposures()

    def finalize_exposures(self) -> None:
        current = self.exp
        self.exp = clean_exposures(current)
        self.undelegated = clean_exposures(
            current if self.undelegated is None else self.undelegated
        )
