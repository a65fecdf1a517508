"""Compiling the conditions of a DCS payload into closures, and a rule's conditions into one
match. Each condition's target is pre-processed once (case-folded sets, parsed versions,
compiled regexes, hash prefixes) and the hottest shapes (``user_field`` membership and
leaves, ``user_bucket`` assignment) fuse lookup and operator into a single closure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from console.specs.compiled import Condition, ConditionFn, Ctx, Run, SpecJson, always
from console.specs.operators import OpFn, compile_operator, folded_targets, numeric_threshold
from console.specs.user import (
    BUILTIN_FIELDS,
    Getter,
    StatsigUser,
    fallback_value,
    make_environment_getter,
    make_field_getter,
    make_ip_getter,
    make_ua_getter,
    make_unit_id_getter,
    user_id,
)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _none(user: StatsigUser) -> Any:
    return None


def _broken(raw: SpecJson, kind: str, message: str) -> Condition:
    """A condition whose evaluation raises, as legacy's does for this malformed payload."""

    def broken(user: StatsigUser, ctx: Ctx | None) -> bool:
        raise TypeError(message)

    return Condition(raw, kind, broken, _none, True, False)


class ConditionCompiler:
    """Compiles the conditions of one payload.

    ``gate_runs`` is the evaluator's dict of compiled gates, filled as specs compile: nested
    gate conditions read it per call. ``bucket_hash`` is the evaluator's memoised hash of
    ``user_bucket`` inputs.
    """

    def __init__(
        self,
        id_lists: Mapping[str, set[str]],
        default_environment: str | None,
        app_id: Any,
        gate_runs: Mapping[str, Run],
        bucket_hash: Callable[[str], int],
    ):
        self.id_lists = id_lists
        self.default_environment = default_environment
        self.app_id = app_id
        self.gate_runs = gate_runs
        self.bucket_hash = bucket_hash

    def compile(self, raw: SpecJson) -> Condition:
        ctype = raw.get("type", "")
        if not isinstance(ctype, str):
            return _broken(raw, "", f"condition type is {ctype!r}")
        kind = ctype.lower()
        if kind == "public":
            return Condition(raw, kind, always, _none, False, False)
        if kind in ("pass_gate", "fail_gate"):
            fn = self._nested_gate(raw, kind == "pass_gate")
            return Condition(raw, kind, fn, None, not _hashable(raw.get("targetValue")), True)
        if kind in ("multi_pass_gate", "multi_fail_gate"):
            fn = self._multi_gate(raw, kind == "multi_pass_gate")
            return Condition(raw, kind, fn, None, True, True)

        op = raw.get("operator")
        target = raw.get("targetValue")
        op_fn, may_raise = compile_operator(
            op, target, is_user_bucket=kind == "user_bucket", id_lists=self.id_lists
        )
        if kind == "user_bucket":
            return self._user_bucket(raw, op, target, op_fn, may_raise)
        if kind == "ip_based":
            return _ip_based(raw, op_fn)
        field_name = raw.get("field", "")
        if kind == "user_field":
            return _user_field(raw, field_name, op, target, op_fn, may_raise)
        if kind == "environment_field":
            may_raise = may_raise or not (
                isinstance(field_name, str) and field_name == field_name.lower()
            )
        value_of = self._getter(kind, raw)

        def leaf(user: StatsigUser, ctx: Ctx | None) -> bool:
            return op_fn(value_of(user))

        return Condition(raw, kind, leaf, value_of, may_raise, False)

    def _getter(self, kind: str, raw: SpecJson) -> Getter:
        """The user's value for the condition kinds that read it through a plain getter."""
        field_name = raw.get("field", "")
        if kind == "ua_based":
            return make_ua_getter(field_name)
        if kind == "environment_field":
            return make_environment_getter(field_name, self.default_environment)
        if kind == "current_time":

            def now(user: StatsigUser) -> int:
                return round(time.time() * 1000)

            return now
        if kind == "unit_id":
            return make_unit_id_getter(raw.get("idType", "userID"))
        if kind == "target_app":
            app_id = self.app_id

            def target_app(user: StatsigUser) -> Any:
                return app_id

            return target_app
        return _none  # "" (type missing): legacy compares a missing value

    def _user_bucket(
        self, raw: SpecJson, op: Any, target: Any, op_fn: OpFn, may_raise: bool
    ) -> Condition:
        additional = raw.get("additionalValues", {"salt": None})
        if not isinstance(additional, Mapping):
            return _broken(raw, "user_bucket", "additionalValues is not an object")
        salt = additional.get("salt")
        prefix = ("" if salt is None else str(salt) or "") + "."
        unit_of = make_unit_id_getter(raw.get("idType", "userID"))
        hash_of = self.bucket_hash

        def bucket(user: StatsigUser) -> int:
            return hash_of(prefix + (unit_of(user) or "")) % 1000

        threshold = numeric_threshold(op, target)
        if op == "lt" and threshold is not None:

            def bucket_lt(user: StatsigUser, ctx: Ctx | None) -> bool:
                return hash_of(prefix + (unit_of(user) or "")) % 1000 < threshold

            return Condition(raw, "user_bucket", bucket_lt, bucket, False, False)

        if (
            op in ("any", "none")
            and isinstance(target, list | tuple)
            and all(b.__class__ is int for b in target)
        ):
            # Layer and experiment assignment: a set lookup of the bucket, inlined.
            buckets = frozenset(target)
            negate: bool = op == "none"

            def bucket_in(user: StatsigUser, ctx: Ctx | None) -> bool:
                return (hash_of(prefix + (unit_of(user) or "")) % 1000 in buckets) ^ negate

            return Condition(raw, "user_bucket", bucket_in, bucket, False, False)

        def bucket_op(user: StatsigUser, ctx: Ctx | None) -> bool:
            return op_fn(bucket(user))

        # The bucket is an int, so numeric operators cannot raise on it.
        safe = op in ("any", "none") or threshold is not None
        return Condition(raw, "user_bucket", bucket_op, bucket, may_raise and not safe, False)

    def _nested_gate(self, raw: SpecJson, want: bool) -> ConditionFn:
        target: Any = raw.get("targetValue")  # a gate name, unless the payload is broken
        runs = self.gate_runs  # filled as specs compile; read per call

        def nested_gate(user: StatsigUser, ctx: Ctx | None) -> bool:
            run = runs.get(target)
            if run is None:
                if ctx is not None:
                    ctx.reset()
                    ctx.exp.append({"gate": target, "gateValue": "false", "ruleID": ""})
                return not want
            outcome = run(user, ctx)
            if ctx is not None:
                ctx.exp.append(
                    {
                        "gate": target,
                        "gateValue": "true" if outcome.passed else "false",
                        "ruleID": outcome.rule_id,
                    }
                )
            return outcome.passed is want

        return nested_gate

    def _multi_gate(self, raw: SpecJson, want: bool) -> ConditionFn:
        targets = raw.get("targetValue")
        runs = self.gate_runs  # filled as specs compile; read per call

        def multi_gate(user: StatsigUser, ctx: Ctx | None) -> bool:
            if targets is None or len(targets) == 0:
                return False
            for gate in targets:
                run = runs.get(gate)
                outcome = None if run is None else run(user, None)
                passed = False if outcome is None else outcome.passed
                if ctx is not None:
                    ctx.exp.append(
                        {
                            "gate": gate,
                            "gateValue": "true" if passed else "false",
                            "ruleID": "" if outcome is None else outcome.rule_id,
                        }
                    )
                if passed is want:
                    return True
            return False

        return multi_gate


def _ip_based(raw: SpecJson, op_fn: OpFn) -> Condition:
    getter = make_ip_getter(raw.get("field", ""))

    def ip_based(user: StatsigUser, ctx: Ctx | None) -> bool:
        # ip_based stops at a missing value before the operator runs.
        value = getter(user)
        return False if value is None else op_fn(value)

    return Condition(raw, "ip_based", ip_based, getter, True, False)


def _user_field(
    raw: SpecJson, field_name: Any, op: Any, target: Any, op_fn: OpFn, may_raise: bool
) -> Condition:
    getter = make_field_getter(field_name)
    if not isinstance(field_name, str):

        def leaf(user: StatsigUser, ctx: Ctx | None) -> bool:
            return op_fn(getter(user))

        return Condition(raw, "user_field", leaf, getter, True, False)
    items = folded_targets(op, target)
    if items is not None:
        fused = _field_membership(field_name, items, negate=op == "none")
        condition = Condition(raw, "user_field", fused, getter, False, False)
        if op == "any":
            condition.lookup = (field_name, folded_field(field_name), items)
        return condition
    return Condition(
        raw, "user_field", _field_leaf(field_name, op, op_fn), getter, may_raise, False
    )


def folded_field(field: str) -> Getter:
    """A ``user_field`` value as ``any``/``none`` compare it: stringified and case-folded, or
    None when it is missing. A built-in value (``userID`` included: it is stringified like
    any value) is read inline, ``fallback_value`` only when it is missing and the user has
    custom or private fields."""
    key = BUILTIN_FIELDS.get(field.lower())
    folded, lowered = field.casefold(), field.lower()

    if key is None:

        def custom_text_of(user: StatsigUser) -> str | None:
            value = fallback_value(user, None, field, folded, lowered)
            if value is None:
                return None
            return (value if value.__class__ is str else str(value)).casefold()

        return custom_text_of
    builtin_key: str = key

    def builtin_text_of(user: StatsigUser) -> str | None:
        value = user.get(builtin_key)
        if value is None or value == "":
            if user.get("custom") is None and user.get("privateAttributes") is None:
                if value is None:
                    return None
            else:
                value = fallback_value(user, value, field, folded, lowered)
                if value is None:
                    return None
        return (value if value.__class__ is str else str(value)).casefold()

    return builtin_text_of


def _field_membership(field: str, items: frozenset[str], negate: bool) -> ConditionFn:
    """``user_field`` + ``any``/``none`` in one closure (the hottest condition): the read of
    ``folded_field`` inlined, saving a call per evaluation."""
    key = BUILTIN_FIELDS.get(field.lower())
    folded, lowered = field.casefold(), field.lower()

    if key is None or key == "userID":
        read = user_id if key == "userID" else _none

        def membership(user: StatsigUser, ctx: Ctx | None) -> bool:
            value = read(user)
            if value is None or value == "":
                value = fallback_value(user, value, field, folded, lowered)
                if value is None:
                    return negate
            text = value if value.__class__ is str else str(value)
            return (text.casefold() in items) is not negate

        return membership
    builtin_key: str = key

    def builtin_membership(user: StatsigUser, ctx: Ctx | None) -> bool:
        value = user.get(builtin_key)
        if value is None or value == "":
            if user.get("custom") is None and user.get("privateAttributes") is None:
                if value is None:
                    return negate
            else:
                value = fallback_value(user, value, field, folded, lowered)
                if value is None:
                    return negate
        text = value if value.__class__ is str else str(value)
        return (text.casefold() in items) is not negate

    return builtin_membership


def _on_missing(op: Any, op_fn: OpFn) -> bool | None:
    """The operator's verdict on a missing value, decided once; None when it must run per
    call (ID lists are read per call, and an operator that raises must raise then)."""
    if op in ("in_segment_list", "not_in_segment_list"):
        return None
    try:
        return bool(op_fn(None))
    except Exception:
        return None


def _field_leaf(field: str, op: Any, op_fn: OpFn) -> ConditionFn:
    """``user_field`` lookup and operator in one closure: ``fallback_value`` inlined, since
    a custom field always falls back and this saves a call per evaluation, and the
    operator's verdict on a missing value decided at compile time."""
    key = BUILTIN_FIELDS.get(field.lower())
    folded, lowered = field.casefold(), field.lower()
    stringify = key == "userID"  # legacy StatsigUser stringifies userID (see user_id)
    on_missing = _on_missing(op, op_fn)

    def leaf(user: StatsigUser, ctx: Ctx | None) -> bool:
        value = None if key is None else user.get(key)
        if value is None or value == "":
            custom = user.get("custom")
            if custom is not None:
                if field in custom:
                    value = custom[field]
                elif folded in custom:
                    value = custom[folded]
            if value is None or value == "":
                private = user.get("privateAttributes")
                if private is not None:
                    if field in private:
                        value = private[field]
                    elif lowered in private:
                        value = private[lowered]
            if value is None and on_missing is not None:
                return on_missing
        elif stringify and value.__class__ is not str:
            value = str(value)
        return op_fn(value)

    return leaf


def make_match(conditions: list[Condition]) -> ConditionFn:
    """One callable for a rule's conditions. Legacy evaluates every condition (no short
    circuit): that matters for errors and for nested-gate exposures, so short-circuiting is
    used only when neither can happen."""
    fns = tuple(condition.fn for condition in conditions)
    if not fns:
        return always
    if len(fns) == 1:
        return fns[0]

    def every(user: StatsigUser, ctx: Ctx | None) -> bool:
        passed = True
        for fn in fns:
            if not fn(user, ctx):
                passed = False
        return passed

    def short(user: StatsigUser, ctx: Ctx | None) -> bool:
        for fn in fns:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not fn(user, ctx):
                return False
        return True

    if any(condition.may_raise for condition in conditions):
        return every
    if any(condition.nested for condition in conditions):
        return lambda user, ctx: short(user, ctx) if ctx is None else every(user, ctx)
    return short
