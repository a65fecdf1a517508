"""HTML forms of gates, segments and dynamic configs: they shape and type-check input and
turn it into the documents the services take; gates.documents judges the content.

The rules editor is not a Django form: its rows come and go (add, remove, move), so it is
a small tree of dataclasses (`RulesEditor` → `RuleRow` → `ConditionRow`) read from the POST
data by field-name prefix, rendered back with the user's text untouched, and given the
validators' errors by their document path (`rules[1].conditions[0].targetValue`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as _field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from console.http_input import JsonRefused, load_json
from console.targeting.conditions import CONDITION_TYPES, OPERATORS, ValueKind
from console.targeting.text import (
    join_values,
    parse_json_object,
    pretty_json,
    show_time,
    split_values,
)
from gates.idlists import parse_pasted_ids
from gates.models import GateStatus, SegmentKind

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
        )


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

    # ------------------------------------------------------------ reading

    @classmethod
    def from_rules(cls, rules: list[dict[str, Any]], *, config: bool = False) -> RulesEditor:
        return cls([RuleRow.from_document(r, config=config) for r in rules], config=config)

    @classmethod
    def from_data(cls, data, *, config: bool = False) -> RulesEditor:
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
                )
            )
        return cls(rules, config=config)

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
        key = part if part in ("name", "passPercentage", "environments", "returnValue") else ""
        rule.errors.setdefault(key, []).append(message)
        return f"Rule {i + 1}"


# ---------------------------------------------------------------- overrides


@dataclass
class OverrideRow:
    """Forced results for one environment (key "all": every environment)."""

    key: str
    label: str
    environment: str | None  # the document's environment name
    passing: str = ""
    failing: str = ""
    errors: list[str] = _field(default_factory=list)


def override_rows(environments, overrides: list[dict] | None = None, data=None):
    by_env = {o.get("environment"): o for o in overrides or []}
    rows = []
    for key, label, env_name in [("all", "Every environment", None)] + [
        (str(e.pk), e.name, e.name) for e in environments
    ]:
        row = OverrideRow(key=key, label=label, environment=env_name)
        if data is not None:
            row.passing = data.get(f"override-{key}-pass", "")
            row.failing = data.get(f"override-{key}-fail", "")
        elif env_name in by_env or (env_name is None and None in by_env):
            entry = by_env[env_name]
            row.passing = "\n".join(entry.get("passingIDs") or [])
            row.failing = "\n".join(entry.get("failingIDs") or [])
        rows.append(row)
    return rows


def overrides_document(rows: list[OverrideRow]) -> tuple[list[dict], list[OverrideRow]]:
    """The document's `overrides` (entries with IDs only) and the row of each entry, so
    that `overrides[i]` errors land on the right row."""
    out, order = [], []
    for row in rows:
        passing, failing = parse_pasted_ids(row.passing), parse_pasted_ids(row.failing)
        if passing or failing:
            out.append(
                {"environment": row.environment, "passingIDs": passing, "failingIDs": failing}
            )
            order.append(row)
    return out, order


_OVERRIDE_PATH = re.compile(r"^overrides\[(\d+)\]")


def attach_override_error(order: list[OverrideRow], path: str | None, message: str) -> bool:
    m = _OVERRIDE_PATH.match(path or "")
    if not m or int(m.group(1)) >= len(order):
        return False
    order[int(m.group(1))].errors.append(message)
    return True


# ---------------------------------------------------------------- entity forms


class JSONObjectField(forms.CharField):
    """A JSON object typed in a text box (optional: empty gives `empty_value`)."""

    widget = forms.Textarea

    def __init__(self, *, what: str = "The value", **kwargs):
        self.what = what
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "class": "code autosize"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        parsed, error = parse_json_object(text, what=self.what)
        if error:
            raise forms.ValidationError(error)
        return parsed

    def prepare_value(self, value):
        if isinstance(value, dict):
            return pretty_json(value)
        return value


class EntityForm(forms.Form):
    """What gates, segments and configs share: name (create only), description, owner,
    tags and unit type. Choices come from the project."""

    name = forms.CharField(
        max_length=100,
        widget=forms.TextInput(
            attrs={"autofocus": True, "placeholder": "e.g. new_checkout", "class": "mono"}
        ),
        help_text="Letters, digits, _ and -. Your code uses it; it cannot change later.",
    )
    description = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What it controls and why"}),
    )
    owner = forms.ChoiceField(required=False)
    tags = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    id_type = forms.ChoiceField(label="Unit type")

    def __init__(self, *args, members, tags, unit_types, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["name"]
        self.fields["owner"].choices = [("", "— Nobody —")] + [(m, m) for m in members]
        self.fields["tags"].choices = [(t, t) for t in tags]
        self.fields["id_type"].choices = [(u, u) for u in unit_types]
        self.fields["id_type"].help_text = "Who is bucketed: each unit passes or fails as one."

    def base_document(self) -> dict[str, Any]:
        data = self.cleaned_data
        doc = {
            "description": data["description"],
            "owner": data["owner"] or None,
            "tags": list(data["tags"]),
            "idType": data["id_type"],
        }
        if "name" in self.fields:
            doc["name"] = data["name"].strip()
        return doc


LIVE_STATUSES = [
    (GateStatus.IN_PROGRESS, "In progress"),
    (GateStatus.LAUNCHED, "Launched"),
    (GateStatus.DISABLED, "Disabled"),
]


class GateForm(EntityForm):
    status = forms.ChoiceField(choices=LIVE_STATUSES, initial=GateStatus.IN_PROGRESS)
    is_enabled = forms.BooleanField(
        required=False,
        initial=True,
        label="Enabled",
        help_text="Off: the gate fails for everyone, whatever its rules say.",
    )
    is_permanent = forms.TypedChoiceField(
        label="Lifetime",
        choices=[("false", "Temporary"), ("true", "Permanent")],
        coerce=lambda v: v == "true",
        initial="false",
        help_text="Temporary gates are flagged stale once decided; permanent ones "
        "(kill switches) are not.",
    )

    def document(self, rules, overrides) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **self.base_document(),
            "status": data["status"],
            "isEnabled": data["is_enabled"],
            "isPermanent": data["is_permanent"],
            "rules": rules,
            "overrides": overrides,
        }

    @staticmethod
    def initial_from(doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": doc["description"],
            "owner": doc["owner"] or "",
            "tags": doc["tags"],
            "id_type": doc["idType"],
            "status": doc["status"],
            "is_enabled": doc["isEnabled"],
            "is_permanent": "true" if doc["isPermanent"] else "false",
        }


class SegmentForm(EntityForm):
    kind = forms.ChoiceField(
        label="Type",
        choices=[
            (SegmentKind.RULE_BASED, "Rule based: units matching rules, like a gate"),
            (SegmentKind.ID_LIST, "ID list: units whose IDs you paste or upload"),
        ],
        initial=SegmentKind.RULE_BASED,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, editing=editing, **kwargs)
        if editing:
            del self.fields["kind"]
        else:
            self.fields["name"].widget.attrs["placeholder"] = "e.g. employees"
        self.fields["description"].widget.attrs["placeholder"] = "Who is in it"

    def document(self, rules, *, kind: str) -> dict[str, Any]:
        return {
            **self.base_document(),
            "type": kind,
            "rules": rules if kind == SegmentKind.RULE_BASED else [],
        }

    @staticmethod
    def initial_from(doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": doc["description"],
            "owner": doc["owner"] or "",
            "tags": doc["tags"],
            "id_type": doc["idType"],
        }


class DynamicConfigForm(EntityForm):
    is_enabled = forms.BooleanField(
        required=False,
        initial=True,
        label="Enabled",
        help_text="Off: everyone gets the default value.",
    )
    default_value = JSONObjectField(
        label="Default value",
        what="The default value",
        initial="{}",
        required=False,
        help_text="A JSON object: what units get when no rule matches.",
    )
    schema = JSONObjectField(
        label="JSON Schema",
        what="The schema",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "code autosize", "spellcheck": "false"}),
        help_text="Draft 2020-12. The default and every rule's value must match it.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].widget.attrs["placeholder"] = "e.g. checkout_settings"
        self.fields["description"].widget.attrs["placeholder"] = "What it configures"

    def document(self, rules) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **self.base_document(),
            "isEnabled": data["is_enabled"],
            "defaultValue": data["default_value"] if data["default_value"] is not None else {},
            "schema": data["schema"],
            "rules": rules,
        }

    @staticmethod
    def initial_from(doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": doc["description"],
            "owner": doc["owner"] or "",
            "tags": doc["tags"],
            "id_type": doc["idType"],
            "is_enabled": doc["isEnabled"],
            "default_value": pretty_json(doc["defaultValue"]),
            "schema": pretty_json(doc["schema"]) if doc["schema"] is not None else "",
        }


# ---------------------------------------------------------------- lists


STALE_CHOICES = [("", "Any"), ("stale", "Stale only"), ("fresh", "Not stale")]


class GateFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Name or description", "type": "search"}),
    )
    tag = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *LIVE_STATUSES, (GateStatus.ARCHIVED, "Archived")],
    )
    stale = forms.ChoiceField(required=False, choices=STALE_CHOICES, label="Stale")

    def __init__(self, *args, tags, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = [("", "Any tag")] + [(t, t) for t in tags]


class SearchForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Name or description", "type": "search"}),
    )


class SegmentFilterForm(SearchForm):
    kind = forms.ChoiceField(
        required=False,
        label="Type",
        choices=[("", "Any type")] + list(SegmentKind.choices),
    )


# ---------------------------------------------------------------- segment IDs


class SegmentIdsForm(forms.Form):
    ids = forms.CharField(
        label="IDs",
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "user-1, user-2 …  (commas, spaces or new lines)"}
        ),
    )

    def clean_ids(self) -> list[str]:
        ids = parse_pasted_ids(self.cleaned_data["ids"])
        if not ids:
            raise forms.ValidationError("Paste at least one ID.")
        return ids


class SegmentUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="One ID per line; a header line (id) is skipped."
    )
    mode = forms.ChoiceField(
        choices=[("add", "Add to the list"), ("replace", "Replace the whole list")],
        initial="add",
        widget=forms.RadioSelect,
    )


class UnitTypeForm(forms.Form):
    name = forms.CharField(
        max_length=50, widget=forms.TextInput(attrs={"placeholder": "e.g. companyID"})
    )
    description = forms.CharField(required=False, max_length=200)


# ---------------------------------------------------------------- test a user


class TestUserForm(forms.Form):
    environment = forms.ChoiceField()
    user_id = forms.CharField(required=False, label="User ID")
    email = forms.CharField(required=False)
    ip = forms.CharField(required=False, label="IP address")
    user_agent = forms.CharField(required=False, label="User agent")
    country = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "US"}))
    locale = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "en_US"}))
    app_version = forms.CharField(
        required=False, label="App version", widget=forms.TextInput(attrs={"placeholder": "1.2.0"})
    )
    custom = forms.CharField(
        required=False,
        label="Custom fields",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "plan=pro\nage=31"}),
        help_text="key=value per line, or a JSON object.",
    )
    custom_ids = forms.CharField(
        required=False,
        label="Custom IDs",
        widget=forms.Textarea(attrs={"rows": 1, "placeholder": "companyID=acme"}),
        help_text="unit type=ID per line.",
    )
    user_json = forms.CharField(
        required=False,
        label="User JSON",
        widget=forms.Textarea(
            attrs={"rows": 4, "class": "code", "placeholder": '{"userID": "u-1", "email": …}'}
        ),
        help_text="If given, it is used as is and the fields above are ignored.",
    )

    def __init__(self, *args, environments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].choices = [(str(e.pk), e.name) for e in environments]

    @classmethod
    def for_environments(cls, environments, data=None) -> TestUserForm:
        """The panel's form, production chosen when there is one."""
        production = next((e for e in environments if e.tier == "production"), None)
        initial = {"environment": str(production.pk)} if production else {}
        return cls(data, environments=environments, initial=initial, auto_id="test_%s")

    @staticmethod
    def _pairs(text: str, *, what: str, typed: bool) -> dict[str, Any]:
        text = text.strip()
        if text.startswith("{"):
            value, error = parse_json_object(text, what=what)
            if error:
                raise forms.ValidationError(error)
            return value
        out: dict[str, Any] = {}
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, raw = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(f"Line {n}: write key=value.")
            raw = raw.strip()
            value: Any = raw
            if typed:
                try:
                    value = load_json(raw)
                except (JsonRefused, ValueError):
                    value = raw
            out[key.strip()] = value
        return out

    def clean_custom(self):
        return self._pairs(self.cleaned_data["custom"], what="Custom fields", typed=True)

    def clean_custom_ids(self):
        ids = self._pairs(self.cleaned_data["custom_ids"], what="Custom IDs", typed=False)
        return {k: str(v) for k, v in ids.items()}

    def clean_user_json(self):
        text = self.cleaned_data["user_json"].strip()
        if not text:
            return None
        value, error = parse_json_object(text, what="A user")
        if error:
            raise forms.ValidationError(error)
        return value

    def user(self) -> dict[str, Any]:
        """The Statsig user the panel evaluates."""
        data = self.cleaned_data
        if data["user_json"] is not None:
            return data["user_json"]
        user: dict[str, Any] = {}
        for key, name in [
            ("user_id", "userID"),
            ("email", "email"),
            ("ip", "ip"),
            ("user_agent", "userAgent"),
            ("country", "country"),
            ("locale", "locale"),
            ("app_version", "appVersion"),
        ]:
            if data[key].strip():
                user[name] = data[key].strip()
        if data["custom"]:
            user["custom"] = data["custom"]
        if data["custom_ids"]:
            user["customIDs"] = data["custom_ids"]
        return user
