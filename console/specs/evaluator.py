"""Evaluate Statsig ``download_config_specs`` (DCS) payloads exactly like the real SDKs.

``Evaluator(spec, id_lists)`` compiles a v1 or v2 payload once: every condition becomes a
closure with its target pre-processed (case-folded sets, parsed versions, compiled regexes,
hash prefixes), every rule a tuple, every spec a ``run(user, ctx)`` closure returning a
pre-built outcome. ``check_gate`` is the fast path; ``get_feature_gate``/``get_config``/
``get_layer`` also collect secondary exposures; ``explain`` (``console.specs.explain``)
reports every rule and condition for the console's "test a user" panel.

The reference is the legacy Python SDK (``statsig`` 0.72.1, docs/statsig-spec.md §5); statsig-node
6.5.2 and statsig-python-core 0.24.0 (Rust) agree on every shape the spec builder emits (the
official fixtures and an every-operator spec, 1,000 users, tests/specs). Where they do not,
the divergence is documented here, in ``operators`` and in ``user``, and each one is pinned
by ``test_divergent_shapes__documented__...`` against the three SDKs:

* Gate rule with ``returnValue: false`` and a passing rollout: legacy and node say true, Rust
  false (docs/statsig-spec.md §12.3). Builder: "serve false" is ``passPercentage: 0``.
* ``enabled: false``: legacy/node return false (gates) or the default with rule
  ``"disabled"``; Rust evaluates the rules anyway, and returns a gate's ``defaultValue``
  (§12.4). Builder: disabled specs have ``rules: []``, gates ``defaultValue: false``.
* Unsupported condition type or operator: legacy drops the whole spec (reason Unsupported,
  value false / ``{}``, rule id ``""``); so do node and Rust. A ``pass_gate`` on an
  unsupported or unknown gate is simply false in legacy (and it wipes the exposures collected
  so far); node and Rust make the *outer* spec unsupported. A condition with no operator
  (other than public/pass_gate/fail_gate) is false in legacy, unsupported in node and Rust.
  Rust (0.24) also rejects ``multi_pass_gate``/``multi_fail_gate``. Builder: emit none of
  these.
* Evaluation errors (``gt`` on a non-numeric value, an invalid regex, a null salt): legacy
  ends with rule id ``"error"`` and the value its shared result object held at that point
  (modelled exactly by ``_legacy_eval``); node and Rust fail just the condition. Nested-gate
  errors stay inside the nested gate in legacy.
* Secondary exposures: legacy records only the gate itself for ``multi_*`` conditions; node
  also adds the nested gates' exposures. Segments (``segment:*``) are dropped from every list.
* Missing condition ``idType``: legacy/node use ``userID``; Rust drops the whole payload.

Not modelled: local overrides and config mapping (``overrides``/``override_rules``), sticky
(persisted) assignments, sampling, and client-initialize formatting.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from console.specs.operators import (
    SUPPORTED_OPERATORS,
    OpFn,
    compile_operator,
    folded_targets,
    numeric_threshold,
)
from console.specs.user import (
    BUILTIN_FIELDS,
    Getter,
    StatsigUser,
    make_environment_getter,
    make_field_getter,
    make_ip_getter,
    make_ua_getter,
    make_unit_id_getter,
    user_id,
)

GATE, CONFIG, LAYER = "gate", "config", "layer"
SECTIONS = {GATE: "feature_gates", CONFIG: "dynamic_configs", LAYER: "layer_configs"}
KINDS = {
    "gate": GATE,
    "feature_gate": GATE,
    "segment": GATE,
    "holdout": GATE,
    "config": CONFIG,
    "dynamic_config": CONFIG,
    "experiment": CONFIG,
    "autotune": CONFIG,
    "layer": LAYER,
}

SUPPORTED_CONDITION_TYPES = frozenset(
    [
        "public",
        "fail_gate",
        "pass_gate",
        "ip_based",
        "ua_based",
        "user_field",
        "environment_field",
        "current_time",
        "user_bucket",
        "unit_id",
        "multi_pass_gate",
        "multi_fail_gate",
        "target_app",
    ]
)

# Result.reason (legacy names them "none", "Unrecognized", "Unsupported", "error").
RECOGNIZED = "Recognized"
UNRECOGNIZED = "Unrecognized"
UNSUPPORTED = "Unsupported"
ERROR = "Error"

_sha256 = hashlib.sha256
_read_u64 = struct.Struct(">Q").unpack_from
_ALWAYS, _NEVER, _HASH = 0, 1, 2

SpecJson = Mapping[str, Any]
"""One spec, rule or condition object of the DCS payload (JSON: values are unchecked)."""


class Exposure(TypedDict):
    """A secondary exposure, as the SDKs report it."""

    gate: str
    gateValue: str
    ruleID: str


@dataclass(slots=True)
class Result:
    """What the SDKs return for a gate, dynamic config / experiment or layer."""

    name: str
    value: Any
    rule_id: str
    group_name: str | None = None
    id_type: str = ""
    reason: str = RECOGNIZED
    passed: bool = False
    secondary_exposures: list[Exposure] = field(default_factory=list)
    undelegated_secondary_exposures: list[Exposure] = field(default_factory=list)
    allocated_experiment: str | None = None
    explicit_parameters: list[str] = field(default_factory=list)
    is_experiment_group: bool = False


class _Outcome:
    """A pre-built evaluation outcome: one per rule and rollout result, plus default/disabled."""

    __slots__ = ("passed", "json", "rule_id", "group_name", "is_experiment_group", "id_type")

    def __init__(
        self, passed: bool, json: Any, rule_id: Any, group_name: Any, is_exp: Any, id_type: Any
    ):
        self.passed = passed
        self.json = json
        self.rule_id = rule_id
        self.group_name = group_name
        self.is_experiment_group = is_exp
        self.id_type = id_type


class _Ctx:
    """Exposure bookkeeping of one full evaluation (None on the check_gate fast path)."""

    __slots__ = ("exp", "undelegated", "allocated", "explicit")

    def __init__(self) -> None:
        self.exp: list[Exposure] = []
        self.undelegated: list[Exposure] | None = None  # None: same list as exp
        self.allocated: str | None = None
        self.explicit: list[str] | None = None

    def reset(self) -> None:
        # Legacy resets its shared result when a nested gate is unknown or unsupported.
        self.exp = []
        self.undelegated = []
        self.allocated = None
        self.explicit = None


# A compiled condition or rule match: (user, ctx) -> passed. ctx is None on the fast path.
ConditionFn = Callable[[StatsigUser, "_Ctx | None"], bool]
# A compiled spec: (user, ctx) -> its pre-built outcome.
Run = Callable[[StatsigUser, "_Ctx | None"], _Outcome]


class _Condition:
    __slots__ = ("raw", "type", "operator", "target", "fn", "value_of", "may_raise", "nested")

    def __init__(
        self,
        raw: SpecJson,
        ctype: str,
        fn: ConditionFn,
        value_of: Getter | None,
        may_raise: bool,
        nested: bool,
    ):
        self.raw = raw
        self.type = ctype
        # As the payload gives them (legacy reads them whatever their type).
        self.operator: Any = raw.get("operator")
        self.target: Any = raw.get("targetValue")
        self.fn = fn
        self.value_of = value_of
        self.may_raise = may_raise
        self.nested = nested


class _Rule:
    __slots__ = (
        "raw",
        "index",
        "conditions",
        "match",
        "mode",
        "threshold",
        "prefix",
        "unit_of",
        "on_pass",
        "on_fail",
        "delegate",
    )

    raw: SpecJson
    index: int
    conditions: list[_Condition]
    match: ConditionFn
    mode: int  # _ALWAYS, _NEVER or _HASH
    # passPercentage * 100, or an object() that raises when compared (legacy: rule "error").
    threshold: Any
    prefix: str | None  # None: a non-string salt, so hashing raises (legacy: rule "error")
    unit_of: Getter | None  # None: userID, read inline on the fast path
    on_pass: _Outcome
    on_fail: _Outcome
    delegate: str | None  # configDelegate


class _Spec:
    __slots__ = ("name", "kind", "raw", "enabled", "rules", "run", "default")

    name: str
    kind: str
    raw: SpecJson
    enabled: bool
    rules: list[_Rule]
    run: Run
    default: _Outcome


def _clean(exposures: list[Exposure]) -> list[Exposure]:
    """Drop segment exposures and duplicates, keeping the first occurrence (legacy order)."""
    if not exposures:
        return []
    if len(exposures) == 1:
        exposure = exposures[0]
        return [] if exposure["gate"].startswith("segment:") else [exposure]
    seen: set[str] = set()
    out: list[Exposure] = []
    for exposure in exposures:
        if exposure["gate"].startswith("segment:"):
            continue
        key = f"{exposure['gate']}|{exposure['gateValue']}|{exposure['ruleID']}"
        if key not in seen:
            seen.add(key)
            out.append(exposure)
    return out


def _always(user: StatsigUser, ctx: _Ctx | None) -> bool:
    return True


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def spec_entries(
    section: Any, condition_map: Mapping[str, Any] | None
) -> list[tuple[Any, SpecJson]]:
    """``(name, spec)`` pairs of a v1 list or a v2 name-keyed map, with v2 condition keys
    replaced by the conditions themselves (a missing key becomes ``None``)."""
    if isinstance(section, Mapping):
        entries: list[tuple[Any, SpecJson]] = list(section.items())
    else:
        entries = [(spec.get("name"), spec) for spec in section or ()]
    if condition_map is None:
        return entries
    inlined: list[tuple[Any, SpecJson]] = []
    for name, spec in entries:
        rules = [
            {
                **rule,
                "conditions": [
                    v1_condition(condition_map.get(key) if isinstance(key, str) else key)
                    for key in rule.get("conditions", [])
                ],
            }
            for rule in spec.get("rules", [])
        ]
        inlined.append((name, {**spec, "rules": rules}))
    return inlined


def v1_condition(condition: Any) -> Any:
    """A dcs-v2 condition in its v1 form. v2 exports may give ``any``/``none`` targets as an
    object keyed by the (lower-cased) values; v1 lists them."""
    if (
        isinstance(condition, Mapping)
        and isinstance(condition.get("targetValue"), Mapping)
        and condition.get("operator") in ("any", "none")
    ):
        return {**condition, "targetValue": list(condition["targetValue"])}
    return condition


def _is_supported(spec: SpecJson) -> bool:
    """Legacy: every condition's type and operator, lower-cased, must be known."""
    for rule in spec.get("rules", []):
        for condition in rule.get("conditions", []):
            if condition is None:  # a v2 condition key missing from condition_map
                return False
            op = condition.get("operator")
            if op is not None and (
                not isinstance(op, str) or op.lower() not in SUPPORTED_OPERATORS
            ):
                return False
            ctype = condition.get("type")
            if ctype is not None and (
                not isinstance(ctype, str) or ctype.lower() not in SUPPORTED_CONDITION_TYPES
            ):
                return False
    return True


class Evaluator:
    """Compiled DCS payload (v1 or v2) plus ID lists ``{name: set of 8-char hashes}``.

    Users are plain dicts in the Statsig user shape. Returned values are the spec's own
    objects: treat them as read-only.
    """

    def __init__(self, spec: SpecJson, id_lists: Mapping[str, Iterable[str]] | None = None):
        self.spec = spec
        self.is_v2 = "condition_map" in spec or isinstance(spec.get("feature_gates"), Mapping)
        self.id_lists: dict[str, set[str]] = {
            name: set(ids) for name, ids in (id_lists or {}).items()
        }
        self.default_environment = spec.get("default_environment")
        self.app_id = spec.get("app_id")
        self.unsupported: set[str] = set()
        # user_bucket hashes: a layer's salt is hashed by its assignment rules and again by the
        # experiment it delegates to, so one evaluation reuses them (bounded, distinct users).
        self._bucket_memo: dict[str, int] = {}
        self._specs: dict[str, dict[str, _Spec]] = {GATE: {}, CONFIG: {}, LAYER: {}}
        self._runs: dict[str, dict[str, Run]] = {GATE: {}, CONFIG: {}, LAYER: {}}
        condition_map = spec.get("condition_map") if self.is_v2 else None
        for kind, section in SECTIONS.items():
            for name, raw in spec_entries(spec.get(section), condition_map):
                if name is None:
                    continue
                try:
                    compiled = self._compile_spec(name, kind, raw) if _is_supported(raw) else None
                except (AttributeError, TypeError, ValueError):
                    compiled = None  # malformed beyond what the SDKs evaluate: treat as such
                if compiled is None:
                    self.unsupported.add(name)
                    continue
                self._specs[kind][name] = compiled
                self._runs[kind][name] = compiled.run
        # Bound for the fast path.
        self._gate_runs = self._runs[GATE]

    # ------------------------------------------------------------ public API

    def names(self, kind: str) -> list[str]:
        """Names of the supported specs of a kind ("gate", "config", "layer" or an alias)."""
        return list(self._specs[KINDS[kind]])

    def check_gate(self, user: StatsigUser, name: str) -> bool:
        """The gate's boolean for this user (false for unknown or unsupported gates)."""
        run = self._gate_runs.get(name)
        if run is None:
            return False
        try:
            return run(user, None).passed
        except Exception:
            return bool(self._slow(user, name, GATE).value)  # a gate's value is a bool

    def get_feature_gate(self, user: StatsigUser, name: str) -> Result:
        return self._evaluate(user, name, GATE)

    def get_config(self, user: StatsigUser, name: str) -> Result:
        """A dynamic config or experiment (both live in ``dynamic_configs``)."""
        return self._evaluate(user, name, CONFIG)

    get_experiment = get_config

    def get_layer(self, user: StatsigUser, name: str) -> Result:
        """A layer; a rule with ``configDelegate`` hands over to that experiment."""
        return self._evaluate(user, name, LAYER)

    def evaluate(self, user: StatsigUser, name: str, kind: str) -> Result:
        """``get_feature_gate``/``get_config``/``get_layer`` by kind name."""
        return self._evaluate(user, name, KINDS[kind])

    def explain(self, user: StatsigUser, name: str, kind: str = GATE) -> dict[str, Any]:
        """Every rule and condition of a spec for this user; see ``console.specs.explain``."""
        from console.specs.explain import explain

        return explain(self, user, name, KINDS[kind])

    # ------------------------------------------------------------ evaluation

    def _missing(self, name: str, kind: str) -> Result:
        reason = UNSUPPORTED if name in self.unsupported else UNRECOGNIZED
        return Result(name=name, value=False if kind == GATE else {}, rule_id="", reason=reason)

    def _evaluate(self, user: StatsigUser, name: str, kind: str) -> Result:
        spec = self._specs[kind].get(name)
        if spec is None:
            return self._missing(name, kind)
        ctx = _Ctx()
        try:
            outcome = spec.run(user, ctx)
            exposures = _clean(ctx.exp)
            undelegated = list(exposures) if ctx.undelegated is None else _clean(ctx.undelegated)
        except Exception:
            return self._slow(user, name, kind)
        return Result(
            name=name,
            value=outcome.passed if kind == GATE else outcome.json,
            rule_id=outcome.rule_id,
            group_name=outcome.group_name,
            id_type=outcome.id_type,
            passed=outcome.passed,
            secondary_exposures=exposures,
            undelegated_secondary_exposures=undelegated,
            allocated_experiment=ctx.allocated,
            explicit_parameters=list(ctx.explicit or []),
            is_experiment_group=outcome.is_experiment_group is True,
        )

    # ------------------------------------------------------------ compilation

    def _bucket_hash(self, key: str) -> int:
        memo = self._bucket_memo
        value = memo.get(key)
        if value is None:
            if len(memo) >= 1024:
                memo.clear()
            value = memo[key] = _read_u64(_sha256(key.encode()).digest())[0]
        return value

    def _compile_spec(self, name: str, kind: str, raw: SpecJson) -> _Spec:
        spec = _Spec()
        spec.name, spec.kind, spec.raw = name, kind, raw
        spec.enabled = bool(raw.get("enabled", False))
        id_type = raw.get("idType", "")
        default_json = raw.get("defaultValue", {})
        spec.default = _Outcome(
            False, default_json, "default" if spec.enabled else "disabled", None, False, id_type
        )
        spec.rules = [
            self._compile_rule(index, rule, raw, kind)
            for index, rule in enumerate(raw.get("rules", []))
        ]
        spec.run = self._make_run(spec)
        return spec

    def _compile_rule(self, index: int, raw: SpecJson, spec_raw: SpecJson, kind: str) -> _Rule:
        rule = _Rule()
        rule.raw, rule.index = raw, index
        rule.conditions = [self._compile_condition(c) for c in raw.get("conditions", [])]
        rule.match = _make_match(rule.conditions)

        pass_percentage = raw.get("passPercentage", 0)
        rule.threshold = None
        if pass_percentage == 100.0:
            rule.mode = _ALWAYS
        elif pass_percentage == 0.0:
            rule.mode = _NEVER
        else:
            rule.mode = _HASH
            try:
                rule.threshold = pass_percentage * 100
            except TypeError:
                rule.threshold = object()  # comparing with it raises, as legacy does
        spec_salt = spec_raw.get("salt", "")
        rule_salt = raw.get("salt", raw.get("id", ""))
        ok = isinstance(spec_salt, str) and isinstance(rule_salt, str)
        # A non-string salt makes the hash input raise (legacy: rule "error").
        rule.prefix = f"{spec_salt}.{rule_salt}." if ok else None
        unit_type = raw.get("idType", "userID")
        rule.unit_of = None  # None: userID, read inline on the fast path
        if make_unit_id_getter(unit_type) is not user_id:
            rule.unit_of = make_unit_id_getter(unit_type)

        id_type = spec_raw.get("idType", "")
        rule_id = raw.get("id", "")
        group = raw.get("groupName")
        is_exp = raw.get("isExperimentGroup", False)
        rule.on_pass = _Outcome(True, raw.get("returnValue"), rule_id, group, is_exp, id_type)
        default_json = spec_raw.get("defaultValue", {})
        rule.on_fail = _Outcome(False, default_json, rule_id, group, is_exp, id_type)
        rule.delegate = raw.get("configDelegate")
        return rule

    def _make_run(self, spec: _Spec) -> Run:
        default = spec.default
        if not spec.enabled:
            return lambda user, ctx: default
        config_specs = self._specs[CONFIG]
        config_runs = self._runs[CONFIG]

        def make_delegate(target: str) -> Run:
            def delegate(user: StatsigUser, ctx: _Ctx | None) -> _Outcome:
                delegate_run = config_runs[target]
                if ctx is None:
                    return delegate_run(user, None)
                ctx.undelegated = list(ctx.exp)
                outcome = delegate_run(user, ctx)
                ctx.explicit = config_specs[target].raw.get("explicitParameters", [])
                ctx.allocated = target
                return outcome

            return delegate

        def resolve(target: str | None) -> Run | None:
            # Whether the experiment exists is checked when the rule matches (run below):
            # legacy then treats the rule as a normal one.
            return None if target is None else make_delegate(target)

        rules = tuple(
            (
                rule.match,
                (
                    rule.mode,
                    rule.threshold,
                    rule.prefix,
                    rule.unit_of,
                    rule.on_pass,
                    rule.on_fail,
                    resolve(rule.delegate),
                    rule.delegate,
                ),
            )
            for rule in spec.rules
        )
        sha, read = _sha256, _read_u64

        def run(user: StatsigUser, ctx: _Ctx | None) -> _Outcome:
            for match, tail in rules:
                if match(user, ctx):
                    mode, threshold, prefix, unit_of, on_pass, on_fail, delegate, name = tail
                    if delegate is not None and name in config_runs:
                        return delegate(user, ctx)
                    if mode == _ALWAYS:
                        return on_pass
                    if mode == _NEVER:
                        return on_fail
                    uid = user.get("userID") if unit_of is None else unit_of(user)
                    if uid.__class__ is not str:
                        uid = "" if uid is None else str(uid)
                    if prefix is None:  # a non-string salt (what `None + uid` raised before)
                        raise TypeError("rule salt is not a string")
                    if read(sha((prefix + uid).encode()).digest())[0] % 10000 < threshold:
                        return on_pass
                    return on_fail
            return default

        return run

    def _compile_condition(self, raw: SpecJson) -> _Condition:
        ctype = raw.get("type", "")
        if not isinstance(ctype, str):

            def broken(user: StatsigUser, ctx: _Ctx | None) -> bool:
                raise TypeError(f"condition type is {ctype!r}")

            return _Condition(raw, "", broken, lambda user: None, True, False)
        kind = ctype.lower()
        if kind == "public":
            return _Condition(raw, kind, _always, lambda user: None, False, False)
        if kind in ("pass_gate", "fail_gate"):
            fn = self._nested_gate(raw, kind == "pass_gate")
            return _Condition(raw, kind, fn, None, not _hashable(raw.get("targetValue")), True)
        if kind in ("multi_pass_gate", "multi_fail_gate"):
            fn = self._multi_gate(raw, kind == "multi_pass_gate")
            return _Condition(raw, kind, fn, None, True, True)

        op = raw.get("operator")
        target = raw.get("targetValue")
        field_name = raw.get("field", "")
        id_type = raw.get("idType", "userID")
        op_fn, may_raise = compile_operator(
            op, target, is_user_bucket=kind == "user_bucket", id_lists=self.id_lists
        )

        if kind == "user_bucket":
            return self._user_bucket(raw, op, target, op_fn, may_raise, id_type)

        getter: Getter
        if kind == "ip_based":
            getter = make_ip_getter(field_name)
            # ip_based stops at a missing value before the operator runs.
            ip_getter = getter

            def ip_based(user: StatsigUser, ctx: _Ctx | None) -> bool:
                value = ip_getter(user)
                return False if value is None else op_fn(value)

            return _Condition(raw, kind, ip_based, getter, True, False)
        if kind == "ua_based":
            getter = make_ua_getter(field_name)
        elif kind == "user_field":
            getter = make_field_getter(field_name)
            items = folded_targets(op, target)
            if items is not None and isinstance(field_name, str):
                fused = _field_membership(field_name, items, negate=op == "none")
                return _Condition(raw, kind, fused, getter, False, False)
            if isinstance(field_name, str):
                fused = _field_leaf(field_name, op_fn)
                return _Condition(raw, kind, fused, getter, may_raise, False)
            may_raise = True
        elif kind == "environment_field":
            getter = make_environment_getter(field_name, self.default_environment)
            may_raise = may_raise or not (
                isinstance(field_name, str) and field_name == field_name.lower()
            )
        elif kind == "current_time":

            def getter(user: StatsigUser) -> int:
                return round(time.time() * 1000)

        elif kind == "unit_id":
            getter = make_unit_id_getter(id_type)
        elif kind == "target_app":
            app_id = self.app_id

            def getter(user: StatsigUser) -> Any:
                return app_id

        else:  # "" (type missing): legacy compares a missing value

            def getter(user: StatsigUser) -> Any:
                return None

        value_of = getter

        def leaf(user: StatsigUser, ctx: _Ctx | None) -> bool:
            return op_fn(value_of(user))

        return _Condition(raw, kind, leaf, getter, may_raise, False)

    def _user_bucket(
        self, raw: SpecJson, op: Any, target: Any, op_fn: OpFn, may_raise: bool, id_type: Any
    ) -> _Condition:
        additional = raw.get("additionalValues", {"salt": None})
        if not isinstance(additional, Mapping):

            def broken(user: StatsigUser, ctx: _Ctx | None) -> bool:
                raise TypeError("additionalValues is not an object")

            return _Condition(raw, "user_bucket", broken, lambda user: None, True, False)
        salt = additional.get("salt")
        prefix = ("" if salt is None else str(salt) or "") + "."
        unit_of = make_unit_id_getter(id_type)
        hash_of = self._bucket_hash

        def bucket(user: StatsigUser) -> int:
            return hash_of(prefix + (unit_of(user) or "")) % 1000

        threshold = numeric_threshold(op, target)
        if op == "lt" and threshold is not None:

            def bucket_lt(user: StatsigUser, ctx: _Ctx | None) -> bool:
                return hash_of(prefix + (unit_of(user) or "")) % 1000 < threshold

            return _Condition(raw, "user_bucket", bucket_lt, bucket, False, False)

        if (
            op in ("any", "none")
            and isinstance(target, list | tuple)
            and all(b.__class__ is int for b in target)
        ):
            # Layer and experiment assignment: a set lookup of the bucket, inlined.
            buckets = frozenset(target)
            negate: bool = op == "none"

            def bucket_in(user: StatsigUser, ctx: _Ctx | None) -> bool:
                return (hash_of(prefix + (unit_of(user) or "")) % 1000 in buckets) ^ negate

            return _Condition(raw, "user_bucket", bucket_in, bucket, False, False)

        def bucket_op(user: StatsigUser, ctx: _Ctx | None) -> bool:
            return op_fn(bucket(user))

        # The bucket is an int, so numeric operators cannot raise on it.
        safe = op in ("any", "none") or threshold is not None
        return _Condition(raw, "user_bucket", bucket_op, bucket, may_raise and not safe, False)

    def _nested_gate(self, raw: SpecJson, want: bool) -> ConditionFn:
        target: Any = raw.get("targetValue")  # a gate name, unless the payload is broken
        runs = self._runs[GATE]  # filled as specs compile; read per call

        def nested_gate(user: StatsigUser, ctx: _Ctx | None) -> bool:
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
        runs = self._runs[GATE]  # filled as specs compile; read per call

        def multi_gate(user: StatsigUser, ctx: _Ctx | None) -> bool:
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

    # ------------------------------------------------------------ faithful slow path

    def _slow(self, user: StatsigUser, name: str, kind: str) -> Result:
        """Re-run an evaluation that raised, modelling legacy's shared result object: the
        value reported with rule id "error" is whatever that object held when it failed."""
        state = _Shared()
        try:
            self._legacy_eval(user, name, kind, state, nested=False)
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
        self, user: StatsigUser, name: Any, kind: str, state: _Shared, nested: bool
    ) -> None:
        spec = self._specs[kind].get(name)
        if spec is None:
            state.reset()
            state.reason = UNSUPPORTED if name in self.unsupported else UNRECOGNIZED
            return
        if not spec.enabled:
            state.finalize(spec, False, None, nested)
            return
        for rule in spec.rules:
            passed = True
            for condition in rule.conditions:
                if not self._legacy_condition(user, condition, state):
                    passed = False
            state.passed = passed
            if not passed:
                continue
            target = rule.delegate
            if target is not None and target in self._specs[CONFIG]:
                state.undelegated = list(state.exp)
                self._legacy_eval(user, target, CONFIG, state, nested=True)
                explicit = self._specs[CONFIG][target].raw.get("explicitParameters", [])
                state.explicit = explicit
                state.allocated = target
                state.finalize_exposures()
                return
            state.finalize(spec, _legacy_rollout(user, rule), rule, nested)
            return
        state.finalize(spec, False, None, nested)

    def _legacy_check_gate(
        self, user: StatsigUser, name: Any, state: _Shared, nested: bool
    ) -> None:
        hash(name)  # an unhashable gate name raises outside the nested error boundary
        try:
            self._legacy_eval(user, name, GATE, state, nested)
        except RecursionError:
            raise
        except Exception:
            state.rule_id = "error"
            state.reason = ERROR

    def _legacy_condition(self, user: StatsigUser, condition: _Condition, state: _Shared) -> bool:
        kind = condition.type
        if kind in ("pass_gate", "fail_gate"):
            target = condition.target
            self._legacy_check_gate(user, target, state, nested=True)
            state.exp.append(
                {
                    "gate": target,
                    "gateValue": "true" if state.passed else "false",
                    "ruleID": state.rule_id,
                }
            )
            return bool(state.passed) if kind == "pass_gate" else not state.passed
        if kind in ("multi_pass_gate", "multi_fail_gate"):
            targets = condition.target
            if targets is None or len(targets) == 0:
                return False
            result = False
            for gate in targets:
                fresh = _Shared()
                self._legacy_check_gate(user, gate, fresh, nested=False)
                state.exp.append(
                    {
                        "gate": gate,
                        "gateValue": "true" if fresh.passed else "false",
                        "ruleID": fresh.rule_id,
                    }
                )
                if kind == "multi_pass_gate":
                    result = result or bool(fresh.passed)
                else:
                    result = result or not fresh.passed
                if result:
                    break
            return result
        return condition.fn(user, None)


def _legacy_rollout(user: StatsigUser, rule: _Rule) -> bool:
    if rule.mode == _ALWAYS:
        return True
    if rule.mode == _NEVER:
        return False
    uid = user.get("userID") if rule.unit_of is None else rule.unit_of(user)
    if uid.__class__ is not str:
        uid = "" if uid is None else str(uid)
    if rule.prefix is None:  # a non-string salt (what `None + uid` raised before)
        raise TypeError("rule salt is not a string")
    digest = _sha256((rule.prefix + uid).encode()).digest()
    passed: bool = _read_u64(digest)[0] % 10000 < rule.threshold
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

    def finalize(self, spec: _Spec, passed: bool, rule: _Rule | None, nested: bool) -> None:
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
        self.exp = _clean(current)
        self.undelegated = _clean(current if self.undelegated is None else self.undelegated)


def _field_membership(field: str, items: frozenset[str], negate: bool) -> ConditionFn:
    """``user_field`` + ``any``/``none`` in one closure (the hottest condition). The lookup
    order is ``fallback_value``'s, inlined to save calls."""
    key = BUILTIN_FIELDS.get(field.lower())
    folded, lowered = field.casefold(), field.lower()

    def fallback(user: StatsigUser, value: Any) -> Any:
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
        return value

    if key is None or key == "userID":
        read = user_id if key == "userID" else (lambda user: None)

        def membership(user: StatsigUser, ctx: _Ctx | None) -> bool:
            value = read(user)
            if value is None or value == "":
                value = fallback(user, value)
                if value is None:
                    return negate
            text = value if value.__class__ is str else str(value)
            return (text.casefold() in items) is not negate

        return membership
    builtin_key: str = key

    def builtin_membership(user: StatsigUser, ctx: _Ctx | None) -> bool:
        value = user.get(builtin_key)
        if value is None or value == "":
            if user.get("custom") is None and user.get("privateAttributes") is None:
                if value is None:
                    return negate
            else:
                value = fallback(user, value)
                if value is None:
                    return negate
        text = value if value.__class__ is str else str(value)
        return (text.casefold() in items) is not negate

    return builtin_membership


def _field_leaf(field: str, op_fn: OpFn) -> ConditionFn:
    """``user_field`` lookup and operator in one closure (lookup as in ``fallback_value``)."""
    key = BUILTIN_FIELDS.get(field.lower())
    folded, lowered = field.casefold(), field.lower()

    def leaf(user: StatsigUser, ctx: _Ctx | None) -> bool:
        value = None if key is None else (user_id(user) if key == "userID" else user.get(key))
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
        return op_fn(value)

    return leaf


def _make_match(conditions: list[_Condition]) -> ConditionFn:
    """One callable for a rule's conditions. Legacy evaluates every condition (no short
    circuit): that matters for errors and for nested-gate exposures, so short-circuiting is
    used only when neither can happen."""
    fns = tuple(condition.fn for condition in conditions)
    if not fns:
        return _always
    if len(fns) == 1:
        return fns[0]

    def every(user: StatsigUser, ctx: _Ctx | None) -> bool:
        passed = True
        for fn in fns:
            if not fn(user, ctx):
                passed = False
        return passed

    def short(user: StatsigUser, ctx: _Ctx | None) -> bool:
        for fn in fns:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not fn(user, ctx):
                return False
        return True

    if any(condition.may_raise for condition in conditions):
        return every
    if any(condition.nested for condition in conditions):
        return lambda user, ctx: short(user, ctx) if ctx is None else every(user, ctx)
    return short
