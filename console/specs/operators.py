"""Condition operators, compiled once per condition into ``fn(value) -> bool``.

Semantics are the legacy Python SDK's (statsig 0.72.1), including where it raises: a raised
exception makes the whole evaluation end with rule id ``"error"`` (see ``evaluator``).
Divergences from statsig-node and statsig-python-core (Rust), which the spec builder avoids:

* ``gt``/``gte``/``lt``/``lte`` on a non-numeric value: legacy raises (rule ``"error"``); node
  and Rust fail only the condition. Legacy accepts what ``float()`` accepts (``" 5"``,
  ``"1_000"``, ``"inf"``); Rust does not trim.
* ``eq``/``neq``: legacy is Python ``==`` (``5 != "5"``); node uses ``==`` (coerces) and Rust
  coerces numbers and strings. Prefer ``any``/``none`` for equality.
* ``any``/``none`` and the ``str_*`` operators fold case with ``str.casefold`` (legacy); node
  and Rust lower-case (``"ß"`` differs). Values are stringified first: legacy writes
  ``str(5.0) == "5.0"`` and ``str(True) == "True"`` where node/Rust write ``"5"``/``"true"``.
  A missing value never matches in legacy; Rust matches it as ``""`` (node as ``"null"`` or
  ``"undefined"``): never put ``""``/``"null"`` in a target list.
* ``version_*``: legacy cuts at the first ``-`` only when it is not the first character and
  parses each part with ``int(float(part))``; reaching a non-numeric part makes every version
  operator false. Node agrees on ordinary versions, but parses parts with ``Number()``
  (``""`` is 0 there). Emit plain dotted integers.
* ``before``/``after``/``on``: legacy only takes epoch numbers (10 digits = seconds, 11+ =
  milliseconds, compared to the second) and ``on`` uses the server's local date; node and
  Rust also parse date strings. Emit epoch milliseconds.
* ``str_matches``: Python ``re`` in legacy, JavaScript ``RegExp`` in node (values of 1000+
  characters never match), the Rust ``regex`` crate in core. Keep to the common subset (no
  look-around, no back-references).
* ``array_contains_*``: legacy compares target items as strings and as ints in the user's
  list; node compares the raw target items. Emit string targets.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

OpFn = Callable[[Any], bool]

NUMERIC = ("gt", "gte", "lt", "lte")
VERSION = ("version_gt", "version_gte", "version_lt", "version_lte", "version_eq", "version_neq")
STRING_LIST = ("str_starts_with_any", "str_ends_with_any", "str_contains_any", "str_contains_none")
ARRAY = (
    "array_contains_any",
    "array_contains_none",
    "array_contains_all",
    "not_array_contains_all",
)
DATES = ("before", "after", "on")

SUPPORTED_OPERATORS = frozenset(
    [
        *NUMERIC,
        *VERSION,
        "any",
        "none",
        "any_case_sensitive",
        "none_case_sensitive",
        *STRING_LIST,
        "str_matches",
        "eq",
        "neq",
        *DATES,
        "in_segment_list",
        "not_in_segment_list",
        *ARRAY,
    ]
)

_sha256 = hashlib.sha256
_b64 = base64.b64encode
_CACHE_LIMIT = 8192


class _Broken:
    """A target that cannot be converted: using it raises, as in the legacy SDK."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _raise(broken: _Broken) -> bool:
    raise ValueError(f"invalid target value: {broken.error}")


def _never(value: Any) -> bool:
    return False


# ---------------------------------------------------------------- numbers


def _numeric(op: str, target: Any) -> tuple[OpFn, bool]:
    try:
        goal: Any = None if target is None else float(target)
    except (TypeError, ValueError) as exc:
        goal = _Broken(exc)

    if isinstance(goal, _Broken):

        def broken(value: Any) -> bool:
            if value is not None:
                float(value)
            return _raise(goal)

        return broken, True
    if goal is None:

        def no_target(value: Any) -> bool:
            if value is not None:
                float(value)
            return False

        return no_target, True

    # float() raises on non-numeric values: legacy ends the evaluation with "error".
    if op == "gt":
        return (lambda value: False if value is None else float(value) > goal), True
    if op == "gte":
        return (lambda value: False if value is None else float(value) >= goal), True
    if op == "lt":
        return (lambda value: False if value is None else float(value) < goal), True
    return (lambda value: False if value is None else float(value) <= goal), True


def numeric_threshold(op: str, target: Any) -> float | None:
    """The float target of a numeric operator, or None when it is not a plain number."""
    if op not in NUMERIC or target is None or isinstance(target, bool):
        return None
    try:
        return float(target)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- versions


class _Unparsable:
    """A version part ``int(float(part))`` rejects; ``overflow`` ones raise when reached."""

    __slots__ = ("overflow",)

    def __init__(self, overflow: bool) -> None:
        self.overflow = overflow


_BAD_PART = _Unparsable(False)
_HUGE_PART = _Unparsable(True)


VersionPart = int | _Unparsable
Version = tuple[VersionPart, ...]


def parse_version(text: str) -> Version:
    """Parts of a version string as legacy reads them (``"1.2.3-beta"`` -> (1, 2, 3))."""
    dash = text.find("-")
    if dash > 0:
        text = text[:dash]
    parts: list[VersionPart] = []
    for part in text.split("."):
        try:
            parts.append(int(float(part)))
        except ValueError:
            parts.append(_BAD_PART)
        except OverflowError:
            parts.append(_HUGE_PART)
    return tuple(parts)


def _strip_zeros(parts: Version) -> tuple[int, ...] | None:
    """Parts without trailing zeros, when plain tuple order equals version order (all parts
    are ints >= 0); None otherwise."""
    ints: list[int] = []
    for part in parts:
        if not isinstance(part, int) or part < 0:  # parts are ints or _Unparsable, never bools
            return None
        ints.append(part)
    end = len(ints)
    while end and ints[end - 1] == 0:
        end -= 1
    return tuple(ints[:end])


_version_cache: dict[str, tuple[Version, tuple[int, ...] | None]] = {}


def _version(text: str) -> tuple[Version, tuple[int, ...] | None]:
    try:
        return _version_cache[text]
    except KeyError:
        parts = parse_version(text)
        entry = (parts, _strip_zeros(parts))
        if len(_version_cache) >= _CACHE_LIMIT:
            _version_cache.clear()
        _version_cache[text] = entry
        return entry


def compare_versions(left: Version, right: Version) -> int | None:
    """-1/0/1, or None when an unparsable part is reached first (legacy: operator false)."""
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else 0
        if isinstance(a, _Unparsable):
            if a.overflow:
                raise OverflowError("version part too large")
            return None
        b = right[i] if i < len(right) else 0
        if isinstance(b, _Unparsable):
            if b.overflow:
                raise OverflowError("version part too large")
            return None
        if a < b:
            return -1
        if a > b:
            return 1
    return 0


_VERSION_TESTS: dict[str, Callable[[int], bool]] = {
    "version_gt": lambda c: c > 0,
    "version_gte": lambda c: c >= 0,
    "version_lt": lambda c: c < 0,
    "version_lte": lambda c: c <= 0,
    "version_eq": lambda c: c == 0,
    "version_neq": lambda c: c != 0,
}


def _version_op(op: str, target: Any) -> tuple[OpFn, bool]:
    if target is None:
        return _never, False
    goal_parts, goal_key = _version(str(target))
    test = _VERSION_TESTS[op]
    cache = _version_cache
    fast = {
        "version_gt": goal_key.__lt__ if goal_key is not None else None,
        "version_gte": goal_key.__le__ if goal_key is not None else None,
        "version_lt": goal_key.__gt__ if goal_key is not None else None,
        "version_lte": goal_key.__ge__ if goal_key is not None else None,
        "version_eq": goal_key.__eq__ if goal_key is not None else None,
        "version_neq": goal_key.__ne__ if goal_key is not None else None,
    }[op]

    def version(value: Any) -> bool:
        if value is None:
            return False
        if value.__class__ is not str:
            value = str(value)
        entry = cache.get(value)
        if entry is None:
            entry = _version(value)
        key = entry[1]
        if key is not None and fast is not None:
            return fast(key)
        result = compare_versions(entry[0], goal_parts)
        return False if result is None else test(result)

    # Unparsable parts that overflow ("inf", "1e999") raise like legacy does.
    return version, True


# ---------------------------------------------------------------- strings


def folded_targets(op: Any, target: Any) -> frozenset[str] | None:
    """Case-folded string targets of an ``any``/``none`` condition (None for other shapes)."""
    if op not in ("any", "none") or not isinstance(target, list):
        return None
    return frozenset(str(item).casefold() for item in target)


def _membership(op: str, target: Any, is_user_bucket: bool) -> tuple[OpFn, bool]:
    negate = op in ("none", "none_case_sensitive")
    if is_user_bucket and op in ("any", "none"):
        # Legacy iterates the target: a list, or (dcs-v2 exports) an object keyed by bucket.
        buckets = set()
        for item in target if isinstance(target, list | dict) else ():
            try:
                buckets.add(int(item))
            except (TypeError, ValueError):
                continue
        if negate:
            return (lambda value: not (value.__class__ is int and value in buckets)), False
        return (lambda value: value.__class__ is int and value in buckets), False

    if not isinstance(target, list):
        return (lambda value: negate), False
    fold = op in ("any", "none")
    items = frozenset(str(item).casefold() if fold else str(item) for item in target)

    if fold:
        if negate:

            def none_of(value: Any) -> bool:
                if value is None:
                    return True
                return (value if value.__class__ is str else str(value)).casefold() not in items

            return none_of, False

        def any_of(value: Any) -> bool:
            if value is None:
                return False
            return (value if value.__class__ is str else str(value)).casefold() in items

        return any_of, False

    if negate:
        return (
            lambda value: (
                value is None or (value if value.__class__ is str else str(value)) not in items
            )
        ), False
    return (
        lambda value: (
            value is not None and (value if value.__class__ is str else str(value)) in items
        )
    ), False


def _string_list(op: str, target: Any) -> tuple[OpFn, bool]:
    negate = op == "str_contains_none"
    if target is None:
        return (lambda value: negate), False
    try:
        needles = tuple(str(item).casefold() for item in target if item is not None)
    except TypeError as exc:
        broken = _Broken(exc)
        return (lambda value: negate if value is None else _raise(broken)), True

    if op == "str_starts_with_any":

        def starts(value: Any) -> bool:
            if value is None:
                return False
            return (value if value.__class__ is str else str(value)).casefold().startswith(needles)

        return starts, False
    if op == "str_ends_with_any":

        def ends(value: Any) -> bool:
            if value is None:
                return False
            return (value if value.__class__ is str else str(value)).casefold().endswith(needles)

        return ends, False

    def contains(value: Any) -> bool:
        if value is None:
            return negate
        text = (value if value.__class__ is str else str(value)).casefold()
        for needle in needles:
            if needle in text:
                return not negate
        return negate

    return contains, False


def _regex(target: Any) -> tuple[OpFn, bool]:
    if target is None:
        return _never, False
    try:
        search = re.compile(str(target)).search
    except re.error as exc:
        broken = _Broken(exc)
        return (lambda value: False if value is None else _raise(broken)), True

    def matches(value: Any) -> bool:
        if value is None:
            return False
        return search(value if value.__class__ is str else str(value)) is not None

    return matches, False


# ---------------------------------------------------------------- dates


def epoch_datetime(value: Any) -> datetime | None:
    """Legacy date reading: an epoch number, milliseconds when it has 11+ digits; local time."""
    if value is None:
        return None
    epoch = int(value)
    if len(str(value)) >= 11:
        epoch //= 1000
    return datetime.fromtimestamp(epoch)  # noqa: DTZ006 - legacy compares naive local times


def _dates(op: str, target: Any) -> tuple[OpFn, bool]:
    try:
        goal: datetime | _Broken | None = epoch_datetime(target)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        goal = _Broken(exc)

    def dates(value: Any) -> bool:
        if value is None and target is None:
            return False
        mine = epoch_datetime(value)
        if isinstance(goal, _Broken):
            return _raise(goal)
        if mine is None or goal is None:
            return False
        if op == "before":
            return mine < goal
        if op == "after":
            return mine > goal
        return mine.date() == goal.date()

    return dates, True


# ---------------------------------------------------------------- ID lists and arrays


def id_list_entry(value: Any) -> str:
    return _b64(_sha256(str(value).encode()).digest()).decode()[:8]


def _segment_list(op: str, target: Any, id_lists: Mapping[str, Any]) -> tuple[OpFn, bool]:
    inside = op == "in_segment_list"
    try:
        hash(target)
    except TypeError:
        unhashable = True
    else:
        unhashable = False

    def in_list(value: Any) -> bool:
        ids = id_lists.get(target)
        if ids is None:
            return not inside
        return (id_list_entry(value) in ids) is inside

    return in_list, unhashable


def _safe_int(item: str) -> int | None:
    try:
        return int(item)
    except (TypeError, ValueError):
        return None


def _arrays(op: str, target: Any) -> tuple[OpFn, bool]:
    if not isinstance(target, list):

        def broken(value: Any) -> bool:
            if not isinstance(value, list):
                return False
            raise TypeError("array operator needs a list target")

        return broken, True
    # Deduplicated string forms (legacy keeps them as dict keys), each with its int reading.
    pairs = tuple((_safe_int(text), text) for text in dict.fromkeys(str(item) for item in target))

    if op in ("array_contains_any", "array_contains_none"):
        negate = op == "array_contains_none"

        def any_common(value: Any) -> bool:
            if not isinstance(value, list):
                return False
            for number, text in pairs:
                if (number and number in value) or text in value:
                    return not negate
            return negate

        return any_common, False

    negate = op == "not_array_contains_all"

    def has_all(value: Any) -> bool:
        if not isinstance(value, list):
            return False
        for number, text in pairs:
            if number not in value and text not in value:
                return negate
        return not negate

    return has_all, False


# ---------------------------------------------------------------- entry point


def compile_operator(
    op: Any, target: Any, *, is_user_bucket: bool, id_lists: Mapping[str, Any]
) -> tuple[OpFn, bool]:
    """``(fn, may_raise)`` for an operator and its target. Unknown (or non-lowercase)
    operators evaluate to false, as in legacy; support is checked by the evaluator."""
    if op in NUMERIC:
        return _numeric(op, target)
    if op in _VERSION_TESTS:
        return _version_op(op, target)
    if op in ("any", "none", "any_case_sensitive", "none_case_sensitive"):
        return _membership(op, target, is_user_bucket)
    if op in STRING_LIST:
        return _string_list(op, target)
    if op == "str_matches":
        return _regex(target)
    if op == "eq":
        return (lambda value: value == target), False
    if op == "neq":
        return (lambda value: value != target), False
    if op in DATES:
        return _dates(op, target)
    if op in ("in_segment_list", "not_in_segment_list"):
        return _segment_list(op, target, id_lists)
    if op in ARRAY:
        return _arrays(op, target)
    return _never, False


# ---------------------------------------------------------------- explanations

_SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_VERSION_SYMBOLS = {
    "version_gt": ">",
    "version_gte": ">=",
    "version_lt": "<",
    "version_lte": "<=",
    "version_eq": "==",
    "version_neq": "!=",
}
_PHRASES = {
    "any": ("is any of", "is not any of"),
    "none": ("is none of", "is one of"),
    "any_case_sensitive": ("is any of (case-sensitive)", "is not any of (case-sensitive)"),
    "none_case_sensitive": ("is none of (case-sensitive)", "is one of (case-sensitive)"),
    "str_starts_with_any": ("starts with one of", "does not start with any of"),
    "str_ends_with_any": ("ends with one of", "does not end with any of"),
    "str_contains_any": ("contains one of", "does not contain any of"),
    "str_contains_none": ("contains none of", "contains one of"),
    "array_contains_any": ("contains one of", "does not contain any of"),
    "array_contains_none": ("contains none of", "contains one of"),
    "array_contains_all": ("contains all of", "does not contain all of"),
    "not_array_contains_all": ("does not contain all of", "contains all of"),
}


def show(value: Any, limit: int = 8) -> str:
    """A short, readable rendering of a target or user value."""
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        shown = ", ".join(str(item) for item in items[:limit])
        more = f", … (+{len(items) - limit} more)" if len(items) > limit else ""
        return f"[{shown}{more}]"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _when(value: Any) -> str:
    try:
        moment = epoch_datetime(value)
    except (TypeError, ValueError, OverflowError, OSError):
        return show(value)
    return show(value) if moment is None else moment.isoformat(sep=" ")


def describe(op: Any, label: str, value: Any, target: Any, passed: bool) -> str:
    """A one-line human reason for a condition outcome, e.g. "country 'DE' is not any of
    [US, CA]"."""
    if value is None and op not in ("in_segment_list", "not_in_segment_list"):
        verdict = "passes" if passed else "fails"
        return f"{label} is missing, so the condition {verdict}"
    shown = show(value)
    if op in _SYMBOLS:
        word = "" if passed else "not "
        return f"{label} {shown} is {word}{_SYMBOLS[op]} {show(target)}"
    if op in _VERSION_SYMBOLS:
        word = "" if passed else "not "
        return f"{label} {shown} is {word}{_VERSION_SYMBOLS[op]} {show(target)} (as versions)"
    if op in _PHRASES:
        return f"{label} {shown} {_PHRASES[op][0 if passed else 1]} {show(target)}"
    if op == "str_matches":
        return f"{label} {shown} {'matches' if passed else 'does not match'} /{target}/"
    if op in ("eq", "neq"):
        equal = passed if op == "eq" else not passed
        return f"{label} {shown} {'==' if equal else '!='} {show(target)}"
    if op in DATES:
        word = {"before": "before", "after": "after", "on": "on the day of"}[op]
        return f"{label} {_when(value)} is {'' if passed else 'not '}{word} {_when(target)}"
    if op in ("in_segment_list", "not_in_segment_list"):
        inside = passed if op == "in_segment_list" else not passed
        return f"{label} {shown} is {'' if inside else 'not '}in ID list {show(target)}"
    return f"operator {op!r} is not supported here, so the condition fails"
