"""Evaluate Statsig ``download_config_specs`` (DCS) payloads exactly like the real SDKs.

``Evaluator(spec, id_lists)`` compiles a v1 or v2 payload once: every condition becomes a
closure with its target pre-processed (case-folded sets, parsed versions, compiled regexes,
hash prefixes), every rule a match and a settle closure (its rollout or delegation), every
spec a ``run(user, ctx)`` closure returning a pre-built outcome; rules that test the same
user field for membership are served from one index (``_make_run``). ``check_gate`` is the
fast path; ``get_feature_gate``/``get_config``/``get_layer`` also collect secondary
exposures; ``explain`` (``console.specs.explain``) reports every rule and condition for the
console's "test a user" panel. The compiled forms
are in ``compiled``, condition compilation in ``conditions``, payload reading in ``payload``.

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
  (modelled exactly by ``console.specs.legacy``); node and Rust fail just the condition. Nested-gate
  errors stay inside the nested gate in legacy.
* Secondary exposures: legacy records only the gate itself for ``multi_*`` conditions; node
  also adds the nested gates' exposures. Segments (``segment:*``) are dropped from every list.
* Missing condition ``idType``: legacy/node use ``userID``; Rust drops the whole payload.

Not modelled: local overrides and config mapping (``overrides``/``override_rules``), sticky
(persisted) assignments, sampling, and client-initialize formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from console.specs.compiled import (
    ALWAYS,
    CONFIG,
    GATE,
    HASH,
    KINDS,
    LAYER,
    NEVER,
    SECTIONS,
    UNRECOGNIZED,
    UNSUPPORTED,
    ConditionFn,
    Ctx,
    Outcome,
    Result,
    Rule,
    Run,
    Spec,
    SpecJson,
    clean_exposures,
    read_u64,
    sha256,
)
from console.specs.conditions import ConditionCompiler, make_match
from console.specs.legacy import legacy_result
from console.specs.payload import is_supported, spec_entries
from console.specs.user import StatsigUser, make_unit_id_getter, user_id


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
        self._specs: dict[str, dict[str, Spec]] = {GATE: {}, CONFIG: {}, LAYER: {}}
        self._runs: dict[str, dict[str, Run]] = {GATE: {}, CONFIG: {}, LAYER: {}}
        self._conditions = ConditionCompiler(
            self.id_lists,
            self.default_environment,
            self.app_id,
            self._runs[GATE],
            self._bucket_hash,
        )
        condition_map = spec.get("condition_map") if self.is_v2 else None
        for kind, section in SECTIONS.items():
            for name, raw in spec_entries(spec.get(section), condition_map):
                if name is None:
                    continue
                try:
                    compiled = self._compile_spec(name, kind, raw) if is_supported(raw) else None
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
            return bool(legacy_result(self, user, name, GATE).value)  # a gate's value is a bool

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
        ctx = Ctx()
        try:
            outcome = spec.run(user, ctx)
            exposures = clean_exposures(ctx.exp)
            undelegated = (
                list(exposures) if ctx.undelegated is None else clean_exposures(ctx.undelegated)
            )
        except Exception:
            return legacy_result(self, user, name, kind)
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
            value = memo[key] = read_u64(sha256(key.encode()).digest())[0]
        return value

    def _compile_spec(self, name: str, kind: str, raw: SpecJson) -> Spec:
        spec = Spec()
        spec.name, spec.kind, spec.raw = name, kind, raw
        spec.enabled = bool(raw.get("enabled", False))
        id_type = raw.get("idType", "")
        default_json = raw.get("defaultValue", {})
        spec.default = Outcome(
            False, default_json, "default" if spec.enabled else "disabled", None, False, id_type
        )
        spec.rules = [
            self._compile_rule(index, rule, raw, kind)
            for index, rule in enumerate(raw.get("rules", []))
        ]
        spec.run = self._make_run(spec)
        return spec

    def _compile_rule(self, index: int, raw: SpecJson, spec_raw: SpecJson, kind: str) -> Rule:
        rule = Rule()
        rule.raw, rule.index = raw, index
        rule.conditions = [self._conditions.compile(c) for c in raw.get("conditions", [])]
        rule.match = make_match(rule.conditions)

        pass_percentage = raw.get("passPercentage", 0)
        rule.threshold = None
        if pass_percentage == 100.0:
            rule.mode = ALWAYS
        elif pass_percentage == 0.0:
            rule.mode = NEVER
        else:
            rule.mode = HASH
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
        rule.on_pass = Outcome(True, raw.get("returnValue"), rule_id, group, is_exp, id_type)
        default_json = spec_raw.get("defaultValue", {})
        rule.on_fail = Outcome(False, default_json, rule_id, group, is_exp, id_type)
        rule.delegate = raw.get("configDelegate")
        rule.settle = self._make_settle(rule)
        return rule

    def _make_settle(self, rule: Rule) -> Run:
        """What a matched rule returns: its delegate's outcome when the experiment exists
        (checked per call, as legacy then treats the rule as a normal one), else its pre-built
        outcome, hashing the unit only for a partial rollout."""
        on_pass, on_fail = rule.on_pass, rule.on_fail
        if rule.mode == ALWAYS:

            def settle(user: StatsigUser, ctx: Ctx | None) -> Outcome:
                return on_pass

        elif rule.mode == NEVER:

            def settle(user: StatsigUser, ctx: Ctx | None) -> Outcome:
                return on_fail

        elif rule.prefix is None:

            def settle(user: StatsigUser, ctx: Ctx | None) -> Outcome:
                # A non-string salt: the hash input cannot be built (legacy: rule "error").
                raise TypeError("rule salt is not a string")

        else:
            threshold, prefix, unit_of = rule.threshold, rule.prefix, rule.unit_of
            sha, read = sha256, read_u64

            def settle(user: StatsigUser, ctx: Ctx | None) -> Outcome:
                uid = user.get("userID") if unit_of is None else unit_of(user)
                if uid.__class__ is not str:
                    uid = "" if uid is None else str(uid)
                if read(sha((prefix + uid).encode()).digest())[0] % 10000 < threshold:
                    return on_pass
                return on_fail

        if rule.delegate is None:
            return settle
        target = rule.delegate
        delegate = self._make_delegate(target)
        config_runs = self._runs[CONFIG]
        settle_here = settle

        def settle_delegated(user: StatsigUser, ctx: Ctx | None) -> Outcome:
            if target in config_runs:
                return delegate(user, ctx)
            return settle_here(user, ctx)

        return settle_delegated

    def _make_run(self, spec: Spec) -> Run:
        """The first matching rule's outcome, else the default.

        Rules whose single condition is ``user_field any`` are served from an index when
        that saves work: one dict per field maps each case-folded target to the first such
        rule listing it, so the user's value is read and folded once per field instead of
        once per rule. The other rules still run in order, up to the first indexed match;
        the lookups are pure, so skipping them changes nothing when an earlier rule matches
        (an exception in one makes the call replay legacy step by step, as any error does).
        """
        default = spec.default
        if not spec.enabled:
            return lambda user, ctx: default
        rules = spec.rules
        tables: dict[str, tuple[Callable[[StatsigUser], str | None], dict[str, int]]] = {}
        walk: list[tuple[ConditionFn, Run]] = []  # the other rules, in order
        walked_before: list[int] = []  # per rule: how many walked rules come before it
        for index, rule in enumerate(rules):
            walked_before.append(len(walk))
            lookup = rule.conditions[0].lookup if len(rule.conditions) == 1 else None
            if lookup is None:
                walk.append((rule.match, rule.settle))
                continue
            field, text_of, items = lookup
            table = tables.setdefault(field, (text_of, {}))[1]
            for item in items:
                table.setdefault(item, index)
        if len(rules) - len(walk) <= len(tables):  # no field is tested twice: nothing to save
            plain = tuple((rule.match, rule.settle) for rule in rules)

            def run(user: StatsigUser, ctx: Ctx | None) -> Outcome:
                for match, settle in plain:
                    if match(user, ctx):
                        return settle(user, ctx)
                return default

            return run
        count = len(rules)
        lookups = tuple(tables.values())
        rest = tuple(walk)
        cut = tuple(walked_before)
        settles = tuple(rule.settle for rule in rules)

        def indexed_run(user: StatsigUser, ctx: Ctx | None) -> Outcome:
            first = count  # the first indexed rule that matches
            for text_of, table in lookups:
                text = text_of(user)
                if text is not None:
                    at = table.get(text, count)
                    if at < first:
                        first = at
            for match, settle in rest if first == count else rest[: cut[first]]:
                if match(user, ctx):
                    return settle(user, ctx)
            if first < count:
                return settles[first](user, ctx)
            return default

        return indexed_run

    def _make_delegate(self, target: str) -> Run:
        """A layer rule's hand-over to the experiment ``target`` (its ``configDelegate``)."""
        config_specs = self._specs[CONFIG]
        config_runs = self._runs[CONFIG]

        def delegate(user: StatsigUser, ctx: Ctx | None) -> Outcome:
            delegate_run = config_runs[target]
            if ctx is None:
                return delegate_run(user, None)
            ctx.undelegated = list(ctx.exp)
            outcome = delegate_run(user, ctx)
            ctx.explicit = config_specs[target].raw.get("explicitParameters", [])
            ctx.allocated = target
            return outcome

        return delegate
