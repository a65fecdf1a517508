"""Reading a DCS payload: its v1 and v2 sections as ``(name, spec)`` pairs with conditions
inlined, and whether legacy evaluates a spec at all (every condition type and operator known).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.specs.compiled import SpecJson
from console.specs.operators import SUPPORTED_OPERATORS

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


def is_supported(spec: SpecJson) -> bool:
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
