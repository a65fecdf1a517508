"""The rules editor: the condition catalogue as the type dropdown shows it, rules and
conditions as the page edits them (the user's text, not yet cleaned), and back to rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime

from console.targeting.conditions import CONDITION_TYPES, OPERATORS, ValueKind
from console.targeting.text import (
    join_values,
    parse_json_object,
    pretty_json,
    show_time,
    split_values,
)
from gates.documents.common import WAIT_UNITS as _UNITS
from gates.documents.common import rollout_text

# ---------------------------------------------------------------- the condition catalogue

# How the type dropdown groups the catalogue (a type missing here lands in "Other").
CONDITION_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("Everyone", ("public",)),
    ("User", ("user_id", "email", "unit_id", "custom_field")),
    ("Location and language", ("country", "ip_address", "locale")),
    ("App and device", ("app_version", "device_model", "target_app")),
    ("Browser and OS", ("browser_name", "browser_version", "os_name", "os_version")),
    ("Gates and segments", ("passes_gate", "fails_gate", "passes_segment", "fails_segment")),
    ("Environment and time", ("environment_tier", "time")),
]

VALUE_PLACEHOLDERS = {
    ValueKind.STRINGS: "Values, comma separated",
    ValueKind.REGEX: "A regular expression, e.g. ^.*@corp\\.example$",
    ValueKind.NUMBER: "A number, e.g. 18",
    ValueKind.VERSION: "A version, e.g. 2.4.0",
    ValueKind.TIME: "2025-06-01 or 2025-06-01T09:00Z",
}

DEFAULT_NEW_CONDITION = ("user_id", "any")

# Help under a condition row, where the catalogue's own help is written for developers.
CONDITION_HELP = {
    "public": "",
    "custom_field": "A key of the user’s custom attributes, e.g. plan or age. Dates are ISO "
    "dates or epoch milliseconds.",
    "unit_id": "Compares the ID of the chosen unit type (userID, stableID or a custom one).",
    "time": "The moment of the check, e.g. after 2025-06-01T09:00Z.",
}


def condition_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """(group label, [(type key, type label)]) for the type dropdown's optgroups."""
    placed: set[str] = set()
    groups = []
    for label, keys in CONDITION_GROUPS:
        items = [(k, CONDITION_TYPES[k].label) for k in keys if k in CONDITION_TYPES]
        placed.update(k for k, _ in items)
        if items:
            groups.append((label, items))
    rest = [(k, ct.label) for k, ct in CONDITION_TYPES.items() if k not in placed]
    if rest:
        groups.append(("Other", rest))
    return groups


# ---------------------------------------------------------------- the rules editor


@dataclass
class ConditionRow:
    """One condition as the editor shows it: the user's text, not yet cleaned."""

    type: str = "public"
    operator: str = ""
    field: str = ""
    custom_id: str = ""
    value: str = ""  # list kinds: comma/newline separated; other kinds: one value
    checked: list[str] = _field(default_factory=list)  # fixed-choice types (environment tier)
    errors: dict[str, list[str]] = _field(default_factory=dict)

    @property
    def ctype(self):
        return CONDITION_TYPES.get(self.type) or CONDITION_TYPES["public"]

    @property
    def operators(self) -> list[tuple[str, str, str]]:
        """(key, label, value placeholder) of the operators the type allows."""
        return [
            (op, OPERATORS[op].label, VALUE_PLACEHOLDERS.get(OPERATORS[op].value, ""))
            for op in self.ctype.operators
        ]

    @property
    def value_kind(self) -> str:
        if self.ctype.operators:
            op = OPERATORS.get(self.operator)
            return op.value if op else ValueKind.STRINGS
        return self.ctype.target

    @property
    def help(self) -> str:
        help_text = CONDITION_HELP.get(self.type)
        return self.ctype.help.replace("`", "") if help_text is None else help_text

    @property
    def placeholder(self) -> str:
        return VALUE_PLACEHOLDERS.get(self.value_kind, "")

    @property
    def has_errors(self) -> bool:
        return any(self.errors.values())

    def normalise(self) -> None:
        """Keep the operator valid for the type (after the type changed)."""
        if self.type not in CONDITION_TYPES:
            self.type = "public"
        ops = self.ctype.operators
        if not ops:
            self.operator = ""
        elif self.operator not in ops:
            self.operator = ops[0]

    def to_document(self) -> dict[str, Any]:
        kind = self.value_kind
        text = self.value.strip()
        target: Any
        if kind == ValueKind.NONE:
            target = None
        elif kind == ValueKind.STRINGS:
            target = list(self.checked) if self.ctype.choices else split_values(self.value)
        elif kind == ValueKind.TIME and text.isdigit():
            target = int(text)
        else:
            target = text
        return {
            "type": self.type,
            "operator": self.operator or None,
            "targetValue": target,
            "field": (self.field.strip() or None) if self.ctype.takes_field else None,
            "customID": (self.custom_id or None) if self.ctype.takes_custom_id else None,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ConditionRow:
        row = cls(
            type=doc.get("type") or "public",
            operator=doc.get("operator") or "",
            field=doc.get("field") or "",
            custom_id=doc.get("customID") or "",
        )
        target = doc.get("targetValue")
        if row.ctype.choices and isinstance(target, list):
            row.checked = [str(t) for t in target]
        elif isinstance(target, list):
            row.value = join_values(target)
        elif row.value_kind == ValueKind.TIME:
            row.value = show_time(target)
        else:
            row.value = "" if target is None else str(target)
        return row


@dataclass
class RuleRow:
    id: str = ""
    name: str = ""
    percentage: str = "100"
    environments: list[str] = _field(default_factory=list)  # none checked: every environment
    conditions: list[ConditionRow] = _field(default_factory=list)
    return_value: str = "{}"  # dynamic configs only: JSON text
    rollout: str = ""  # gates only: the rollout schedule, one step a line (rollout_text)
    errors: dict[str, list[str]] = _field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(self.errors.values()) or any(c.has_errors for c in self.conditions)

    @classmethod
    def from_document(cls, doc: dict[str, Any], *, config: bool) -> RuleRow:
        pct = doc.get("passPercentage", 100)
        return cls(
            id=doc.get("id") or "",
            name=doc.get("name") or "",
            percentage=f"{pct:g}" if isinstance(pct, int | float) else str(pct),
            environments=list(doc.get("environments") or []),
            conditions=[ConditionRow.from_document(c) for c in doc.get("conditions") or []],
            return_value=pretty_json(doc.get("returnValue", {})) if config else "{}",
            rollout=rollout_text(doc.get("rolloutSchedule") or []),
        )


# A rollout step as typed: "25% after 2h" (s, m, h, d) or "100% at 2026-12-24 09:30" (UTC).
_STEP = re.compile(
    r"^\s*(?P<pct>\d+(?:\.\d+)?)\s*%?\s+(?:after\s+(?P<n>\d+)\s*(?P<unit>[smhd])"
    r"|at\s+(?P<at>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?)(?:\s*UTC)?)\s*$",
    re.I,
)


def parse_rollout(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The steps typed in the editor, and what could not be read (by line)."""
    steps: list[dict[str, Any]] = []
    errors: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _STEP.match(line)
        if m is None:
            errors.append(
                f"Rollout line {n} reads “{line.strip()[:40]}”: write “25% after 2h” "
                "(s, m, h or d) or “100% at 2026-12-24 09:30” (UTC)."
            )
            continue
        pct_text = m.group("pct")
        pct: int | float = float(pct_text) if "." in pct_text else int(pct_text)
        if m.group("at"):
            when = parse_datetime(m.group("at").replace(" ", "T"))
            if when is None:
                errors.append(f"Rollout line {n}: that date does not exist.")
                continue
            iso = when.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
            steps.append({"passPercentage": pct, "at": iso})
        else:
            seconds = int(m.group("n")) * _UNITS[m.group("unit").lower()]
            steps.append({"passPercentage": pct, "afterSeconds": seconds})
    return steps, errors


_RULE_KEY = re.compile(r"^rule-(\d+)-name$")
_COND_KEY = re.compile(r"^rule-(\d+)-cond-(\d+)-type$")
_PATH = re.compile(r"^rules\[(\d+)\](?:\.(\w+)(?:\[(\d+)\])?(?:\.(\w+))?)?")
_CONDITION_FIELDS = {"type", "operator", "field", "customID", "targetValue"}


@dataclass
class RulesEditor:
    """The ordered rules of a gate, segment or config while being edited."""

    rules: list[RuleRow] = _field(default_factory=list)
    config: bool = False  # rules carry a JSON return value
    errors: list[str] = _field(default_factory=list)
    rollouts: bool = False  # rules may carry a rollout schedule (gates)

    # ------------------------------------------------------------ reading

    @classmethod
    def from_rules(
        cls, rules: list[dict[str, Any]], *, config: bool = False, rollouts: bool = False
    ) -> RulesEditor:
        rows = [RuleRow.from_document(r, config=config) for r in rules]
        return cls(rows, config=config, rollouts=rollouts)

    @classmethod
    def from_data(cls, data, *, config: bool = False, rollouts: bool = False) -> RulesEditor:
        """Read the rows from POST data (`rule-<i>-…`, `rule-<i>-cond-<j>-…`), in index order."""
        rule_ids = sorted({int(m.group(1)) for k in data if (m := _RULE_KEY.match(k))})
        cond_ids: dict[int, list[int]] = {}
        for key in data:
            if m := _COND_KEY.match(key):
                cond_ids.setdefault(int(m.group(1)), []).append(int(m.group(2)))
        rules = []
        for i in rule_ids:
            p = f"rule-{i}-"
            conditions = []
            for j in sorted(cond_ids.get(i, [])):
                c = f"{p}cond-{j}-"
                row = ConditionRow(
                    type=data.get(c + "type", ""),
                    operator=data.get(c + "operator", ""),
                    field=data.get(c + "field", ""),
                    custom_id=data.get(c + "custom_id", ""),
                    value=data.get(c + "value", ""),
                    checked=data.getlist(c + "checked"),
                )
                row.normalise()
                conditions.append(row)
            rules.append(
                RuleRow(
                    id=data.get(p + "id", ""),
                    name=data.get(p + "name", ""),
                    percentage=data.get(p + "pass", "").strip(),
                    environments=data.getlist(p + "env"),
                    conditions=conditions,
                    return_value=data.get(p + "return", "{}"),
                    rollout=data.get(p + "rollout", "") if rollouts else "",
                )
            )
        return cls(rules, config=config, rollouts=rollouts)

    # ------------------------------------------------------------ editing

    def apply(self, action: str) -> None:
        """One button of the editor: add_rule, remove_rule:i, up:i, down:i, add_cond:i,
        remove_cond:i:j; anything else (refresh) only re-renders."""
        verb, _, rest = (action or "").partition(":")
        args = [int(a) for a in rest.split(":") if a.isdigit()]
        rules = self.rules

        def ok(i: int) -> bool:
            return 0 <= i < len(rules)

        if verb == "add_rule":
            rules.append(RuleRow(name="", conditions=[ConditionRow()]))
        elif verb == "remove_rule" and args and ok(args[0]):
            del rules[args[0]]
        elif verb in ("up", "down") and args and ok(args[0]):
            i = args[0]
            j = i - 1 if verb == "up" else i + 1
            if ok(j):
                rules[i], rules[j] = rules[j], rules[i]
        elif verb == "add_cond" and args and ok(args[0]):
            type_, op = DEFAULT_NEW_CONDITION
            rules[args[0]].conditions.append(ConditionRow(type=type_, operator=op))
        elif verb == "remove_cond" and len(args) == 2 and ok(args[0]):
            conditions = rules[args[0]].conditions
            if 0 <= args[1] < len(conditions):
                del conditions[args[1]]

    # ------------------------------------------------------------ writing

    def to_document(self) -> list[dict[str, Any]]:
        """The document's `rules`. Text that cannot be typed (a percentage that is not a
        number) is passed as is for the validators to name; JSON return values are parsed
        here and their syntax errors recorded on the row (see `has_errors`)."""
        out = []
        for rule in self.rules:
            try:
                pct: Any = Decimal(rule.percentage)
                pct = int(pct) if pct == pct.to_integral_value() else float(pct)
            except InvalidOperation:
                pct = rule.percentage or None
            doc: dict[str, Any] = {
                "name": rule.name,
                "passPercentage": pct,
                "conditions": [c.to_document() for c in rule.conditions],
                "environments": list(rule.environments) or None,
            }
            if rule.id:
                doc["id"] = rule.id
            if self.config:
                value, error = parse_json_object(rule.return_value, what="A return value")
                if error:
                    rule.errors.setdefault("returnValue", []).append(error)
                doc["returnValue"] = value
            if self.rollouts and rule.rollout.strip():
                steps, errors = parse_rollout(rule.rollout)
                for error in errors:
                    rule.errors.setdefault("rolloutSchedule", []).append(error)
                doc["rolloutSchedule"] = steps
            out.append(doc)
        return out

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(r.has_errors for r in self.rules)

    def attach(self, path: str | None, message: str) -> str | None:
        """Put a validator's error on the row its path names; returns where it went as
        words ("Rule 2, condition 1") or None if the path is not a rule's."""
        m = _PATH.match(path or "")
        if not m:
            return None
        i = int(m.group(1))
        if i >= len(self.rules):
            self.errors.append(message)
            return "Rules"
        rule = self.rules[i]
        part, index, sub = m.group(2), m.group(3), m.group(4)
        if part == "conditions" and index is not None and int(index) < len(rule.conditions):
            j = int(index)
            key = sub if sub in _CONDITION_FIELDS else "targetValue"
            if key == "customID":
                key = "custom_id"
            rule.conditions[j].errors.setdefault(key, []).append(message)
            return f"Rule {i + 1}, condition {j + 1}"
        named = ("name", "passPercentage", "environments", "returnValue", "rolloutSchedule")
        key = part if part in named else ""
        rule.errors.setdefault(key, []).append(message)
        return f"Rule {i + 1}"
