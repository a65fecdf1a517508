"""The compiled forms the evaluator runs: the kinds and their payload sections, results and
exposures, and the pre-built outcomes, conditions, rules and specs that
``console.specs.evaluator`` compiles a DCS payload into (``console.specs.conditions``
compiles the conditions, ``console.specs.legacy`` replays a failed evaluation).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from console.specs.user import Getter, StatsigUser

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


# Result.reason (legacy names them "none", "Unrecognized", "Unsupported", "error").
RECOGNIZED = "Recognized"
UNRECOGNIZED = "Unrecognized"
UNSUPPORTED = "Unsupported"
ERROR = "Error"

sha256 = hashlib.sha256
read_u64 = struct.Struct(">Q").unpack_from
ALWAYS, NEVER, HASH = 0, 1, 2

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


class Outcome:
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


class Ctx:
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
ConditionFn = Callable[[StatsigUser, "Ctx | None"], bool]
# A compiled spec: (user, ctx) -> its pre-built outcome.
Run = Callable[[StatsigUser, "Ctx | None"], Outcome]


# A condition a rule index can serve: (field name, the user's case-folded value or None,
# the case-folded targets). ``user_field`` + ``any`` only; see Evaluator._make_run.
Lookup = tuple[str, Callable[[StatsigUser], "str | None"], frozenset[str]]


class Condition:
    __slots__ = (
        "raw",
        "type",
        "operator",
        "target",
        "fn",
        "value_of",
        "may_raise",
        "nested",
        "lookup",
    )

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
        self.lookup: Lookup | None = None


class Rule:
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
        "settle",
    )

    raw: SpecJson
    index: int
    conditions: list[Condition]
    match: ConditionFn
    mode: int  # ALWAYS, NEVER or HASH
    # passPercentage * 100, or an object() that raises when compared (legacy: rule "error").
    threshold: Any
    prefix: str | None  # None: a non-string salt, so hashing raises (legacy: rule "error")
    unit_of: Getter | None  # None: userID, read inline on the fast path
    on_pass: Outcome
    on_fail: Outcome
    delegate: str | None  # configDelegate
    settle: Run  # the outcome once the rule matched: delegation, then the rollout


class Spec:
    __slots__ = ("name", "kind", "raw", "enabled", "rules", "run", "default")

    name: str
    kind: str
    raw: SpecJson
    enabled: bool
    rules: list[Rule]
    run: Run
    default: Outcome


def clean_exposures(exposures: list[Exposure]) -> list[Exposure]:
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


def always(user: StatsigUser, ctx: Ctx | None) -> bool:
    return True
