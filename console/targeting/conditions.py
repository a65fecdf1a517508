"""The condition catalogue: every condition a PM can put in a rule, as data.

`CONDITION_TYPES` maps a document condition `type` (the Statsig Console API name) to what
it may be combined with (operators) and to the Statsig spec condition it becomes
(`spec_type` + `spec_field`). `OPERATORS` says what kind of `targetValue` each operator
takes. Pages render their dropdowns from `condition_catalogue()`; validation
(`clean_condition`) and the spec builder (`condition_to_spec`) read the same tables, so a
new condition type is one entry here, not a code branch.

Mapping to spec conditions (docs/statsig-spec.md §3, §4):

| document type      | spec type           | spec field      | idType of the spec condition |
|--------------------|---------------------|-----------------|------------------------------|
| public             | public              | -               | entity's                     |
| user_id            | user_field          | userID          | entity's                     |
| email              | user_field          | email           | entity's                     |
| country            | ip_based            | country         | entity's                     |
| ip_address         | user_field          | ip              | entity's                     |
| locale             | user_field          | locale          | entity's                     |
| app_version        | user_field          | appVersion      | entity's                     |
| browser_name       | ua_based            | browser_name    | entity's                     |
| browser_version    | ua_based            | browser_version | entity's                     |
| os_name            | ua_based            | os_name         | entity's                     |
| os_version         | ua_based            | os_version      | entity's                     |
| device_model       | user_field          | device_model    | entity's                     |
| custom_field       | user_field          | <field>         | entity's (+custom_field)     |
| unit_id            | unit_id             | <customID>      | customID (+custom_id)        |
| environment_tier   | environment_field   | tier            | entity's                     |
| passes_gate        | pass_gate           | -               | entity's (target: gate name) |
| fails_gate         | fail_gate           | -               | entity's (target: gate name) |
| passes_segment     | pass_gate           | -               | entity's (target: segment:x) |
| fails_segment      | fail_gate           | -               | entity's (target: segment:x) |
| time               | current_time        | -               | entity's                     |
| target_app         | target_app          | -               | entity's                     |
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, TypedDict

from console.exceptions import DomainError
from console.models import EnvironmentTier


class ConditionDoc(TypedDict):
    """One condition as documents hold it; `type` and `operator` come from CONDITION_TYPES."""

    type: str
    operator: str | None
    targetValue: Any
    field: str | None  # custom_field only: the custom attribute's name
    customID: str | None  # unit_id only: the unit type whose ID is compared


# ---------------------------------------------------------------- operators


class ValueKind:
    """What an operator's targetValue is (the cleaned form in brackets)."""

    NONE = "none"  # no value [None]
    STRINGS = "strings"  # a non-empty list of strings [list[str]]
    REGEX = "regex"  # one regular expression [str]
    NUMBER = "number"  # one number [int | float]
    VERSION = "version"  # one dotted version, e.g. 1.2.3 [str]
    TIME = "time"  # a moment: epoch milliseconds or ISO 8601 [int, epoch ms]
    GATE = "gate"  # a gate's name [str]
    SEGMENT = "segment"  # a segment's name [str]


@dataclass(frozen=True)
class Operator:
    key: str
    label: str
    value: str  # ValueKind


OPERATORS: dict[str, Operator] = {
    op.key: op
    for op in [
        Operator("any", "is any of", ValueKind.STRINGS),
        Operator("none", "is none of", ValueKind.STRINGS),
        Operator("any_case_sensitive", "is any of (case sensitive)", ValueKind.STRINGS),
        Operator("none_case_sensitive", "is none of (case sensitive)", ValueKind.STRINGS),
        Operator("str_starts_with_any", "starts with any of", ValueKind.STRINGS),
        Operator("str_ends_with_any", "ends with any of", ValueKind.STRINGS),
        Operator("str_contains_any", "contains any of", ValueKind.STRINGS),
        Operator("str_contains_none", "contains none of", ValueKind.STRINGS),
        Operator("str_matches", "matches the regular expression", ValueKind.REGEX),
        Operator("gt", ">", ValueKind.NUMBER),
        Operator("gte", "≥", ValueKind.NUMBER),
        Operator("lt", "<", ValueKind.NUMBER),
        Operator("lte", "≤", ValueKind.NUMBER),
        Operator("version_gt", "version >", ValueKind.VERSION),
        Operator("version_gte", "version ≥", ValueKind.VERSION),
        Operator("version_lt", "version <", ValueKind.VERSION),
        Operator("version_lte", "version ≤", ValueKind.VERSION),
        Operator("version_eq", "version =", ValueKind.VERSION),
        Operator("version_neq", "version ≠", ValueKind.VERSION),
        Operator("before", "is before", ValueKind.TIME),
        Operator("after", "is after", ValueKind.TIME),
        Operator("on", "is on the day of", ValueKind.TIME),
        Operator("array_contains_any", "list contains any of", ValueKind.STRINGS),
        Operator("array_contains_none", "list contains none of", ValueKind.STRINGS),
        Operator("array_contains_all", "list contains all of", ValueKind.STRINGS),
        Operator("not_array_contains_all", "list does not contain all of", ValueKind.STRINGS),
    ]
}

SET_OPS = ("any", "none")
STRING_OPS = (
    "any",
    "none",
    "any_case_sensitive",
    "none_case_sensitive",
    "str_starts_with_any",
    "str_ends_with_any",
    "str_contains_any",
    "str_contains_none",
    "str_matches",
)
NAME_OPS = ("any", "none", "str_contains_any", "str_contains_none", "str_matches")
NUMBER_OPS = ("gt", "gte", "lt", "lte")
VERSION_OPS = (
    "version_gt",
    "version_gte",
    "version_lt",
    "version_lte",
    "version_eq",
    "version_neq",
)
TIME_OPS = ("before", "after", "on")
ARRAY_OPS = (
    "array_contains_any",
    "array_contains_none",
    "array_contains_all",
    "not_array_contains_all",
)


# ---------------------------------------------------------------- condition types


@dataclass(frozen=True)
class ConditionType:
    key: str  # document `type`
    label: str
    spec_type: str  # Statsig spec condition `type`
    spec_field: str | None  # spec `field`; custom_field/unit_id take it from the document
    operators: tuple[str, ...]  # allowed operators; () means "no operator" (operator: null)
    target: str = ValueKind.NONE  # value kind when there is no operator (gate, segment)
    takes_field: bool = False  # `field` (custom attribute name) required
    takes_custom_id: bool = False  # `customID` (unit type) required
    choices: tuple[str, ...] = ()  # the only values allowed, when fixed
    help: str = ""


CONDITION_TYPES: dict[str, ConditionType] = {
    ct.key: ct
    for ct in [
        ConditionType("public", "Everyone", "public", None, (), help="Every unit."),
        ConditionType("user_id", "User ID", "user_field", "userID", STRING_OPS),
        ConditionType("email", "Email", "user_field", "email", STRING_OPS),
        ConditionType(
            "country",
            "Country",
            "ip_based",
            "country",
            SET_OPS,
            help="Two-letter country codes (ISO 3166-1); derived from the IP when unset.",
        ),
        ConditionType(
            "ip_address",
            "IP address",
            "user_field",
            "ip",
            ("any", "none", "str_starts_with_any", "str_matches"),
        ),
        ConditionType("locale", "Locale", "user_field", "locale", STRING_OPS),
        ConditionType(
            "app_version", "App version", "user_field", "appVersion", SET_OPS + VERSION_OPS
        ),
        ConditionType("browser_name", "Browser name", "ua_based", "browser_name", NAME_OPS),
        ConditionType(
            "browser_version",
            "Browser version",
            "ua_based",
            "browser_version",
            # Version comparisons only: the SDKs' UA parsers write versions differently as text
            # ("17.1.0" vs "17.1"), but compare them equal as versions.
            VERSION_OPS,
        ),
        ConditionType("os_name", "Operating system", "ua_based", "os_name", NAME_OPS),
        ConditionType("os_version", "OS version", "ua_based", "os_version", VERSION_OPS),
        ConditionType("device_model", "Device model", "user_field", "device_model", STRING_OPS),
        ConditionType(
            "custom_field",
            "Custom field",
            "user_field",
            None,
            STRING_OPS + NUMBER_OPS + VERSION_OPS + TIME_OPS + ARRAY_OPS,
            takes_field=True,
            help="A key of the user's `custom` object; dates are epoch milliseconds.",
        ),
        ConditionType(
            "unit_id",
            "Unit ID",
            "unit_id",
            None,
            STRING_OPS,
            takes_custom_id=True,
            help="The unit ID of a unit type (userID, stableID or a custom one).",
        ),
        ConditionType(
            "environment_tier",
            "Environment tier",
            "environment_field",
            "tier",
            SET_OPS,
            choices=tuple(EnvironmentTier.values),
        ),
        ConditionType("passes_gate", "Passes gate", "pass_gate", None, (), ValueKind.GATE),
        ConditionType("fails_gate", "Fails gate", "fail_gate", None, (), ValueKind.GATE),
        ConditionType("passes_segment", "Is in segment", "pass_gate", None, (), ValueKind.SEGMENT),
        ConditionType(
            "fails_segment", "Is not in segment", "fail_gate", None, (), ValueKind.SEGMENT
        ),
        ConditionType("time", "Current time", "current_time", None, TIME_OPS),
        ConditionType(
            "target_app",
            "Target app",
            "target_app",
            None,
            SET_OPS,
            help="The app of the SDK key in use.",
        ),
    ]
}

# Spec conditions name segments with this prefix (they live among the feature gates).
SEGMENT_PREFIX = "segment:"


def condition_catalogue() -> list[dict[str, Any]]:
    """The catalogue as JSON-able rows, with each operator's label and value kind: what
    a page needs to render type and operator dropdowns and the value input."""
    return [
        {
            **asdict(ct),
            "operators": [
                {"key": op, "label": OPERATORS[op].label, "value": OPERATORS[op].value}
                for op in ct.operators
            ],
        }
        for ct in CONDITION_TYPES.values()
    ]


# ---------------------------------------------------------------- validation

MAX_LIST_ITEMS = 10_000
MAX_STRING_LENGTH = 1_000
# Unsupported by Rust's regex crate (statsig-python-core): lookaround and backreferences.
# Lookarounds, backreferences and inline flags ("(?i)"): Python and Rust accept them, but
# JavaScript's RegExp (statsig-node) does not, so a spec using them would split the SDKs.
_NON_PORTABLE_REGEX = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=|\(\?[a-zA-Z]+[:)-]")
_VERSION = re.compile(r"^\d+(\.\d+)*(-[0-9A-Za-z.\-+]*)?$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
# Epoch numbers with fewer digits are read as seconds by the SDKs (docs/statsig-spec.md §4.2).
_MIN_EPOCH_MS = 10**11


def _error(message: str, *, code: str, field: str) -> DomainError:
    return DomainError(message, code=code, field=field)


def _single(value: Any) -> Any:
    """Operators taking one value also accept a one-element list (the Console API's habit)."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _clean_strings(value: Any, *, path: str) -> list[str]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _error("Give a non-empty list of values.", code="invalid_value", field=path)
    if len(value) > MAX_LIST_ITEMS:
        raise _error(
            f"A condition can list at most {MAX_LIST_ITEMS:,} values; use an ID-list "
            "segment for more.",
            code="too_many_values",
            field=path,
        )
    cleaned: list[str] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise _error("Values are text or numbers.", code="invalid_value", field=f"{path}[{i}]")
        text = (str(item) if not isinstance(item, str) else item).strip()
        if not text or len(text) > MAX_STRING_LENGTH:
            raise _error(
                f"Each value has 1 to {MAX_STRING_LENGTH} characters.",
                code="invalid_value",
                field=f"{path}[{i}]",
            )
        if text not in seen:
            seen.add(text)
            cleaned.append(text)
    return cleaned


def _clean_regex(value: Any, *, path: str) -> str:
    value = _single(value)
    if not isinstance(value, str) or not value or len(value) > MAX_STRING_LENGTH:
        raise _error("Give one regular expression.", code="invalid_regex", field=path)
    try:
        re.compile(value)
    except re.error as exc:
        raise _error(
            f"This is not a valid regular expression: {exc}.", code="invalid_regex", field=path
        ) from exc
    if _NON_PORTABLE_REGEX.search(value):
        raise _error(
            "Lookarounds, backreferences and inline flags such as (?i) are not supported by "
            "every SDK.",
            code="invalid_regex",
            field=path,
        )
    return value


def _clean_number(value: Any, *, path: str) -> int | float:
    value = _single(value)
    number: float
    if isinstance(value, bool):
        number = math.nan
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
    else:
        number = math.nan
    if not math.isfinite(number):
        raise _error(
            f"This operator compares numbers: {value!r} is not a number.",
            code="not_a_number",
            field=path,
        )
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _clean_version(value: Any, *, path: str) -> str:
    value = _single(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _VERSION.match(value.strip()):
        raise _error(
            f"{value!r} is not a version: use dotted numbers such as 1.2.3.",
            code="invalid_version",
            field=path,
        )
    return value.strip()


def _clean_time(value: Any, *, path: str) -> int:
    value = _single(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < _MIN_EPOCH_MS:
            raise _error(
                "Times are epoch milliseconds (13 digits), or an ISO 8601 date.",
                code="invalid_time",
                field=path,
            )
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
        except ValueError:
            pass
    raise _error(
        f"{value!r} is not a time: use epoch milliseconds or an ISO 8601 date.",
        code="invalid_time",
        field=path,
    )


def _clean_name(value: Any, *, path: str, what: str) -> str:
    value = _single(value)
    if not isinstance(value, str) or not value.strip():
        raise _error(f"Name the {what}.", code="invalid_value", field=path)
    return value.strip().removeprefix(SEGMENT_PREFIX) if what == "segment" else value.strip()


def _text_or_none(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    return value.strip() if isinstance(value, str) else value


def clean_condition(raw: Any, *, path: str, unit_types: dict[str, str]) -> ConditionDoc:
    """Check one document condition against the catalogue and return its cleaned form.

    `unit_types` maps lowercased unit type names to their spelling. Gate and segment names
    are only checked for shape here; the document validator resolves them in bulk."""
    if not isinstance(raw, dict):
        raise _error("Each condition is an object.", code="invalid_condition", field=path)
    ctype = _condition_type(raw, path=path)
    operator = _clean_operator(raw, ctype, path=path)
    field = _clean_field(raw, ctype, path=path)
    custom_id = _clean_custom_id(raw, ctype, path=path, unit_types=unit_types)
    kind = OPERATORS[operator].value if operator else ctype.target
    target = _clean_target(raw.get("targetValue"), kind, ctype, path=f"{path}.targetValue")
    return {
        "type": ctype.key,
        "operator": operator,
        "targetValue": target,
        "field": field,
        "customID": custom_id,
    }


def _condition_type(raw: dict, *, path: str) -> ConditionType:
    ctype = CONDITION_TYPES.get(str(raw.get("type") or "").strip().lower())
    if ctype is None:
        raise _error(
            f"Unknown condition type {raw.get('type')!r}.",
            code="invalid_condition_type",
            field=f"{path}.type",
        )
    return ctype


def _clean_operator(raw: dict, ctype: ConditionType, *, path: str) -> str | None:
    operator = _text_or_none(raw, "operator")
    operator = operator.lower() if isinstance(operator, str) else operator
    if ctype.operators and operator not in ctype.operators:
        raise _error(
            f"{ctype.label} conditions cannot use the operator {operator!r}; choose one of "
            f"{', '.join(ctype.operators)}.",
            code="operator_not_allowed",
            field=f"{path}.operator",
        )
    if not ctype.operators and operator is not None:
        raise _error(
            f"{ctype.label} conditions take no operator.",
            code="operator_not_allowed",
            field=f"{path}.operator",
        )
    return operator


def _clean_field(raw: dict, ctype: ConditionType, *, path: str) -> str | None:
    if not ctype.takes_field:
        return None
    field = _text_or_none(raw, "field")
    if not isinstance(field, str) or not _FIELD.match(field):
        raise _error(
            "Name the custom field (letters, digits, '_', '.', '-'; up to 100).",
            code="field_required",
            field=f"{path}.field",
        )
    return field


def _clean_custom_id(
    raw: dict, ctype: ConditionType, *, path: str, unit_types: dict[str, str]
) -> str | None:
    if not ctype.takes_custom_id:
        return None
    custom_id = _text_or_none(raw, "customID")
    if not isinstance(custom_id, str) or custom_id.lower() not in unit_types:
        raise _error(
            f"Unknown unit type {custom_id!r}; choose one of "
            f"{', '.join(sorted(unit_types.values()))}.",
            code="unknown_unit_type",
            field=f"{path}.customID",
        )
    return unit_types[custom_id.lower()]


def _clean_target(value: Any, kind: str, ctype: ConditionType, *, path: str) -> Any:
    """The condition's ``targetValue`` as the value kind of its operator (or type) wants."""
    if kind == ValueKind.NONE:
        return None
    if kind == ValueKind.GATE:
        return _clean_name(value, path=path, what="gate")
    if kind == ValueKind.SEGMENT:
        return _clean_name(value, path=path, what="segment")
    if kind == ValueKind.REGEX:
        return _clean_regex(value, path=path)
    if kind == ValueKind.NUMBER:
        return _clean_number(value, path=path)
    if kind == ValueKind.VERSION:
        return _clean_version(value, path=path)
    if kind == ValueKind.TIME:
        return _clean_time(value, path=path)
    return _clean_listed(value, ctype, path=path)


def _clean_listed(value: Any, ctype: ConditionType, *, path: str) -> list[str]:
    """A list of strings; countries upper-cased, fixed choices lower-cased and checked."""
    target = _clean_strings(value, path=path)
    if ctype.key == "country":
        if not all(_COUNTRY.match(c) for c in target):
            raise _error(
                "Countries are two-letter codes such as US or NZ.",
                code="invalid_value",
                field=path,
            )
        target = [c.upper() for c in target]
    if ctype.choices:
        target = [t.lower() for t in target]
        unknown = [t for t in target if t not in ctype.choices]
        if unknown:
            raise _error(
                f"Unknown value {unknown[0]!r}; choose from {', '.join(ctype.choices)}.",
                code="invalid_value",
                field=path,
            )
    return target


# ---------------------------------------------------------------- spec


def condition_to_spec(condition: ConditionDoc, *, id_type: str) -> dict[str, Any]:
    """The Statsig spec condition (v1, inline) for a cleaned document condition.

    Every spec condition carries an idType (Rust rejects the whole payload otherwise) and
    lowercase type and operator."""
    ctype = CONDITION_TYPES[condition["type"]]
    target = condition["targetValue"]
    field = ctype.spec_field
    additional: dict[str, Any] = {}
    if ctype.key == "custom_field":
        field = condition["field"]
        additional = {"custom_field": field}
    elif ctype.key == "unit_id":
        id_type = field = condition["customID"] or id_type
        additional = {"custom_id": id_type}
    elif ctype.target == ValueKind.SEGMENT:
        target = SEGMENT_PREFIX + target
    return {
        "type": ctype.spec_type,
        "operator": condition["operator"],
        "targetValue": target,
        "field": field,
        "additionalValues": additional,
        "idType": id_type,
    }
