"""HTML forms of experiments, layers and holdouts: they shape and type-check input and turn
it into the documents the services take; experiments.documents judges the content.

Parameters and groups come and go (add, remove), so like the gates rules editor they are a
small tree of dataclasses (`DesignEditor` → `ParamRow`, `GroupRow`) read from the POST data
by field-name prefix, rendered back with the user's text untouched, and given the
validators' errors by their document path (`groups[1].parameterValues.color`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from dataclasses import field as _field
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django import forms

from console.http_input import JsonRefused, load_json
from console.targeting.text import pretty_json
from experiments.documents.scorecard import (
    CONFIDENCE_LEVELS,
    MAX_DURATION_DAYS,
    SCORECARD_DEFAULTS,
    metric_id,
    stored_scorecard,
)
from experiments.models import ExperimentStatus
from gates.idlists import parse_pasted_ids

PARAMETER_TYPES = [
    ("string", "Text"),
    ("number", "Number"),
    ("boolean", "Boolean"),
    ("object", "JSON object"),
]
MAX_ROWS = 20


def _number(text: str) -> Any:
    """A typed number, or the text as is (the validator then names the wrong type)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    return int(value) if value == value.to_integral_value() else float(value)


def percent_text(value: Any) -> str:
    """A percentage as people write it: "12.5", "50" (no trailing zeros, no float noise)."""
    return show_value("number", float(Decimal(str(value))))


def show_value(kind: str, value: Any) -> str:
    """A stored parameter value as the text its input shows."""
    if value is None:
        return ""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "object":
        return json.dumps(value, ensure_ascii=False)
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_value(kind: str, text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, error) for a parameter value typed in its input."""
    if kind == "string":
        return text, None
    text = text.strip()
    if kind == "number":
        return _number(text), None
    if kind == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true", None
        return text, None
    try:
        value = load_json(text)
    except json.JSONDecodeError as exc:
        return None, f"This is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
    except (JsonRefused, ValueError) as exc:
        return None, getattr(exc, "message", str(exc))
    return value, None


# ---------------------------------------------------------------- parameters and groups


@dataclass
class ParamRow:
    name: str = ""
    type: str = "string"
    default: str = ""
    description: str = ""
    errors: dict[str, list[str]] = _field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(self.errors.values())


@dataclass
class GroupRow:
    id: str = ""
    name: str = ""
    description: str = ""
    size: str = ""
    values: list[str] = _field(default_factory=list)  # one per parameter row, "" = default
    unit_ids: str = ""  # override: IDs forced into the group
    segments: list[str] = _field(default_factory=list)  # override: segments forced in
    errors: dict[str, list[str]] = _field(default_factory=dict)
    value_errors: dict[int, list[str]] = _field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(self.errors.values()) or any(self.value_errors.values())

    @property
    def override_count(self) -> int:
        return len(parse_pasted_ids(self.unit_ids)) + len(self.segments)

    def cells(self, params: list[ParamRow]) -> list[tuple[int, ParamRow, str, list[str]]]:
        """(index, parameter, value text, errors) for the value inputs of this group."""
        values = self.values + [""] * (len(params) - len(self.values))
        return [(j, p, values[j], self.value_errors.get(j, [])) for j, p in enumerate(params)]


_PARAM_KEY = re.compile(r"^param-(\d+)-name$")
_GROUP_KEY = re.compile(r"^group-(\d+)-name$")
_PATH = re.compile(r"^(parameters|groups|overrides)\[(\d+)\](?:\.(\w+))?(?:\.([^\[]+))?")


@dataclass
class DesignEditor:
    """The parameters (and, for experiments, groups with their overrides) being edited."""

    params: list[ParamRow] = _field(default_factory=list)
    groups: list[GroupRow] = _field(default_factory=list)
    with_groups: bool = True
    layer_defaults: dict[str, Any] | None = None  # in a layer: its parameters' defaults
    layer_types: dict[str, str] = _field(default_factory=dict)
    param_errors: list[str] = _field(default_factory=list)
    group_errors: list[str] = _field(default_factory=list)
    override_errors: list[str] = _field(default_factory=list)
    _override_order: list[int] = _field(default_factory=list)

    # ------------------------------------------------------------ reading

    @classmethod
    def from_document(cls, doc: dict[str, Any] | None, *, with_groups: bool = True):
        if doc is None:
            params = [ParamRow()] if not with_groups else []
            groups = [GroupRow(name="Control", size="50"), GroupRow(name="Test", size="50")]
            return cls(params=params, groups=groups if with_groups else [], with_groups=with_groups)
        params = [
            ParamRow(
                name=p["name"],
                type=p["type"],
                default=show_value(p["type"], p.get("defaultValue")),
                description=p.get("description") or "",
            )
            for p in doc.get("parameters") or []
        ]
        overrides = {o["group"]: o for o in doc.get("overrides") or []}
        groups = []
        for g in doc.get("groups") or []:
            override = overrides.get(g["name"], {})
            groups.append(
                GroupRow(
                    id=g.get("id") or "",
                    name=g["name"],
                    description=g.get("description") or "",
                    size=show_value("number", g["size"]),
                    values=[show_value(p.type, g["parameterValues"].get(p.name)) for p in params],
                    unit_ids="\n".join(override.get("unitIDs") or []),
                    segments=list(override.get("segments") or []),
                )
            )
        return cls(params=params, groups=groups, with_groups=with_groups)

    @classmethod
    def from_data(cls, data, *, with_groups: bool = True) -> DesignEditor:
        param_ids = sorted({int(m.group(1)) for k in data if (m := _PARAM_KEY.match(k))})
        params = [
            ParamRow(
                name=data.get(f"param-{i}-name", "").strip(),
                type=data.get(f"param-{i}-type", "string"),
                default=data.get(f"param-{i}-default", ""),
                description=data.get(f"param-{i}-description", ""),
            )
            for i in param_ids[:100]
        ]
        groups = []
        if with_groups:
            group_ids = sorted({int(m.group(1)) for k in data if (m := _GROUP_KEY.match(k))})
            for i in group_ids[:MAX_ROWS]:
                p = f"group-{i}-"
                groups.append(
                    GroupRow(
                        id=data.get(p + "id", ""),
                        name=data.get(p + "name", ""),
                        description=data.get(p + "description", ""),
                        size=data.get(p + "size", "").strip(),
                        values=[data.get(f"{p}value-{j}", "") for j in param_ids[:100]],
                        unit_ids=data.get(p + "ids", ""),
                        segments=data.getlist(p + "segments"),
                    )
                )
        return cls(params=params, groups=groups, with_groups=with_groups)

    def set_layer(self, layer) -> None:
        """In a layer the defaults are the layer's: shown, not typed."""
        if layer is None:
            self.layer_defaults, self.layer_types = None, {}
            return
        self.layer_defaults = {p["name"]: p["defaultValue"] for p in layer.parameters}
        self.layer_types = {p["name"]: p["type"] for p in layer.parameters}

    def adopt_layer_parameters(self) -> None:
        """No parameters yet: start from every parameter of the chosen layer."""
        if self.params or self.layer_defaults is None:
            return
        self.params = [ParamRow(name=n, type=t) for n, t in self.layer_types.items()]
        for g in self.groups:
            g.values = [""] * len(self.params)

    def layer_default(self, param: ParamRow) -> str:
        if self.layer_defaults is None or param.name not in self.layer_defaults:
            return ""
        return show_value(
            self.layer_types.get(param.name, "string"), self.layer_defaults[param.name]
        )

    # ------------------------------------------------------------ editing

    def apply(self, action: str) -> None:
        """add_param, remove_param:i, add_group, remove_group:i; anything else re-renders."""
        verb, _, rest = (action or "").partition(":")
        index = int(rest) if rest.isdigit() else -1
        if verb == "add_param" and len(self.params) < 100:
            self.params.append(ParamRow())
            for g in self.groups:
                g.values = g.values + [""] * (len(self.params) - len(g.values))
        elif verb == "remove_param" and 0 <= index < len(self.params):
            del self.params[index]
            for g in self.groups:
                if index < len(g.values):
                    del g.values[index]
        elif verb == "add_group" and len(self.groups) < MAX_ROWS:
            self.groups.append(GroupRow(name=f"Test {len(self.groups)}", size="0"))
        elif verb == "remove_group" and 0 <= index < len(self.groups):
            del self.groups[index]

    # ------------------------------------------------------------ writing

    def parameters_document(self, *, in_layer: bool) -> list[dict[str, Any]]:
        out = []
        for row in self.params:
            doc: dict[str, Any] = {
                "name": row.name,
                "type": row.type,
                "description": row.description,
            }
            if in_layer:
                doc["defaultValue"] = None
            else:
                value, error = parse_value(row.type, row.default)
                if error:
                    row.errors.setdefault("defaultValue", []).append(error)
                doc["defaultValue"] = value
            out.append(doc)
        return out

    def groups_document(self) -> list[dict[str, Any]]:
        out = []
        for group in self.groups:
            values: dict[str, Any] = {}
            for j, param, text, _errors in group.cells(self.params):
                if text == "" or not param.name:
                    continue
                value, error = parse_value(param.type, text)
                if error:
                    group.value_errors.setdefault(j, []).append(error)
                values[param.name] = value
            doc: dict[str, Any] = {
                "name": group.name.strip(),
                "description": group.description,
                "size": _number(group.size) if group.size else None,
                "parameterValues": values,
            }
            if group.id:
                doc["id"] = group.id
            out.append(doc)
        return out

    def overrides_document(self) -> list[dict[str, Any]]:
        out, self._override_order = [], []
        for i, group in enumerate(self.groups):
            ids = parse_pasted_ids(group.unit_ids)
            if ids or group.segments:
                out.append(
                    {"group": group.name.strip(), "unitIDs": ids, "segments": group.segments}
                )
                self._override_order.append(i)
        return out

    @property
    def has_errors(self) -> bool:
        return (
            bool(self.param_errors or self.group_errors or self.override_errors)
            or any(p.has_errors for p in self.params)
            or any(g.has_errors for g in self.groups)
        )

    def attach(self, path: str | None, message: str) -> bool:
        """Put a validator's error on the row its path names; False if not the editor's."""
        path = path or ""
        if path == "parameters":
            self.param_errors.append(message)
            return True
        if path == "groups":
            self.group_errors.append(message)
            return True
        if path == "overrides":
            self.override_errors.append(message)
            return True
        m = _PATH.match(path)
        if not m:
            return False
        what, index, key, sub = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        if what == "parameters":
            if index >= len(self.params):
                self.param_errors.append(message)
            else:
                self.params[index].errors.setdefault(key or "name", []).append(message)
            return True
        if what == "overrides":
            if index < len(self._override_order):
                group = self.groups[self._override_order[index]]
                group.errors.setdefault("overrides", []).append(message)
            else:
                self.override_errors.append(message)
            return True
        if index >= len(self.groups):
            self.group_errors.append(message)
            return True
        group = self.groups[index]
        if key == "parameterValues" and sub:
            names = [p.name for p in self.params]
            if sub in names:
                group.value_errors.setdefault(names.index(sub), []).append(message)
                return True
        group.errors.setdefault(key if key in ("name", "size", "description") else "", []).append(
            message
        )
        return True

    @property
    def total_size(self) -> str:
        total = Decimal(0)
        for g in self.groups:
            try:
                total += Decimal(g.size or "0")
            except InvalidOperation:
                return "?"
        return show_value("number", _number(str(total)))


# ---------------------------------------------------------------- entity forms


class _Entity(forms.Form):
    """Name (create only), description and unit type; choices come from the project."""

    name = forms.CharField(
        max_length=100,
        widget=forms.TextInput(attrs={"autofocus": True, "class": "mono"}),
        help_text="Letters, digits, _ and -. Your code uses it; it cannot change later.",
    )
    description = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    id_type = forms.ChoiceField(label="Unit type")

    def __init__(self, *args, unit_types, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["name"]
        cast(forms.ChoiceField, self.fields["id_type"]).choices = [(u, u) for u in unit_types]

    def base_document(self) -> dict[str, Any]:
        data = self.cleaned_data
        doc = {"description": data["description"], "idType": data["id_type"]}
        if "name" in self.fields:
            doc["name"] = data["name"].strip()
        return doc


class ExperimentForm(_Entity):
    hypothesis = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. A blue button sells more than a grey one"}
        ),
    )
    owner = forms.ChoiceField(required=False)
    tags = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    # Plain text fields with a select widget: an unknown name reaches the validator, which
    # says what is wrong with it.
    layer = forms.CharField(required=False, widget=forms.Select)
    allocation = forms.CharField(
        label="Allocation",
        initial="100",
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 0.1}),
        help_text="Percent of eligible units that enter the experiment.",
    )
    targeting_gate = forms.CharField(label="Targeting gate", required=False, widget=forms.Select)
    targeting_conditions = forms.CharField(
        required=False,
        label="Inline conditions",
        widget=forms.Textarea(attrs={"rows": 3, "class": "code autosize", "spellcheck": "false"}),
        help_text="A JSON list of gate conditions, AND-ed, e.g. "
        '[{"type": "country", "operator": "any", "targetValue": ["NZ"]}]. '
        "Use a gate or conditions, not both.",
    )

    # The scorecard (experiments/documents/scorecard.py): what is measured, and how.
    primary_metrics = forms.MultipleChoiceField(
        required=False,
        label="Primary metrics",
        help_text="What the change is meant to move: they decide the experiment.",
    )
    secondary_metrics = forms.MultipleChoiceField(
        required=False,
        label="Secondary metrics",
        help_text="Guardrails and side effects to watch.",
    )
    primary_metric_tags = forms.MultipleChoiceField(required=False, label="Primary metric tags")
    secondary_metric_tags = forms.MultipleChoiceField(required=False, label="Secondary metric tags")
    # Not required: a post without them (a script, an older page) gets the defaults.
    duration = forms.IntegerField(
        required=False,
        label="Target duration (days)",
        initial=14,
        min_value=1,
        max_value=MAX_DURATION_DAYS,
        help_text="Results are final from this day on; sequential testing widens them before.",
    )
    confidence = forms.ChoiceField(
        required=False,
        label="Confidence level",
        initial="95",
        choices=[(level, f"{level}%") for level in CONFIDENCE_LEVELS],
    )
    correction = forms.ChoiceField(
        required=False,
        label="Multiple comparisons",
        initial="none",
        choices=[
            ("none", "No correction"),
            ("bonferroni", "Bonferroni"),
            ("benjamini_hochberg", "Benjamini-Hochberg"),
        ],
        help_text="Over the primary metrics and the test groups.",
    )
    sequential_testing = forms.BooleanField(
        required=False,
        label="Sequential testing: results are valid whenever you look",
    )
    cuped = forms.BooleanField(
        required=False,
        initial=True,
        label="CUPED: narrow the intervals with each unit's week before exposure",
    )
    assignment_source = forms.ChoiceField(
        required=False,
        label="Exposures from",
        help_text="The SDKs' exposures, or an assignment source of your warehouse (Settings → "
        "Warehouse): then its metrics are metrics over that warehouse's metric sources.",
    )

    def __init__(
        self, *args, members, tags, layers, gates, metrics=(), assignment_sources=(), **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.fields["assignment_source"].choices = [("", "Exposures logged by the SDKs")] + [
            (name, f"Warehouse: {name}") for name in assignment_sources
        ]
        for key in ("primary_metrics", "secondary_metrics"):
            self.fields[key].choices = [(m, m) for m in metrics]
        for key in ("primary_metric_tags", "secondary_metric_tags"):
            self.fields[key].choices = [(t, t) for t in tags]
        if "name" in self.fields:
            self.fields["name"].widget.attrs["placeholder"] = "e.g. checkout_button"
        self.fields["description"].widget.attrs["placeholder"] = "What it changes"
        self.fields["owner"].choices = [("", "— Nobody —")] + [(m, m) for m in members]
        self.fields["tags"].choices = [(t, t) for t in tags]
        self.fields["layer"].widget.choices = [("", "No layer (its own)")] + [
            (name, name) for name in layers
        ]
        self.fields["targeting_gate"].widget.choices = [("", "Everyone")] + [
            (name, f"Users passing {name}") for name in gates
        ]
        self.fields["id_type"].help_text = "Each unit stays in one group."

    def clean_allocation(self) -> Any:
        return _number(self.cleaned_data["allocation"])

    def clean_targeting_conditions(self) -> list:
        text = self.cleaned_data["targeting_conditions"].strip()
        if not text:
            return []
        try:
            value = load_json(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
            ) from exc
        except (JsonRefused, ValueError) as exc:
            raise forms.ValidationError(getattr(exc, "message", str(exc))) from exc
        if not isinstance(value, list):
            raise forms.ValidationError("A JSON list of conditions, in brackets: [ … ].")
        return value

    def document(self, editor: DesignEditor, *, status: str) -> dict[str, Any]:
        data = self.cleaned_data
        layer = data["layer"] or None
        return {
            **self.base_document(),
            "hypothesis": data["hypothesis"],
            "owner": data["owner"] or None,
            "tags": list(data["tags"]),
            "status": status,
            "allocation": data["allocation"],
            "layerID": layer,
            "targetingGateID": data["targeting_gate"] or None,
            "targetingConditions": data["targeting_conditions"],
            "parameters": editor.parameters_document(in_layer=layer is not None),
            "groups": editor.groups_document(),
            "overrides": editor.overrides_document(),
            **self.scorecard_document(),
        }

    def scorecard_document(self) -> dict[str, Any]:
        data = self.cleaned_data

        def refs(ids: list[str]) -> list[dict[str, str]]:
            return [dict(zip(("name", "type"), i.rsplit("::", 1), strict=True)) for i in ids]

        return {
            "primaryMetrics": refs(data["primary_metrics"]),
            "secondaryMetrics": refs(data["secondary_metrics"]),
            "primaryMetricTags": list(data["primary_metric_tags"]),
            "secondaryMetricTags": list(data["secondary_metric_tags"]),
            "duration": data["duration"] or SCORECARD_DEFAULTS["duration"],
            "defaultConfidenceInterval": data["confidence"]
            or SCORECARD_DEFAULTS["defaultConfidenceInterval"],
            "bonferroniCorrection": data["correction"] == "bonferroni",
            "benjaminiHochbergCorrection": data["correction"] == "benjamini_hochberg",
            "sequentialTesting": data["sequential_testing"],
            "cuped": data["cuped"],
            "assignmentSource": data["assignment_source"] or None,
        }

    @staticmethod
    def initial_from(doc: dict[str, Any]) -> dict[str, Any]:
        conditions = doc["targetingConditions"]
        card = stored_scorecard(doc)
        correction = "none"
        if card["bonferroniCorrection"]:
            correction = "bonferroni"
        elif card["benjaminiHochbergCorrection"]:
            correction = "benjamini_hochberg"
        return {
            "primary_metrics": [metric_id(m) for m in card["primaryMetrics"]],
            "secondary_metrics": [metric_id(m) for m in card["secondaryMetrics"]],
            "primary_metric_tags": card["primaryMetricTags"],
            "secondary_metric_tags": card["secondaryMetricTags"],
            "duration": card["duration"],
            "confidence": card["defaultConfidenceInterval"],
            "correction": correction,
            "sequential_testing": card["sequentialTesting"],
            "cuped": card["cuped"],
            "assignment_source": doc.get("assignmentSource") or "",
            "description": doc["description"],
            "hypothesis": doc["hypothesis"],
            "owner": doc["owner"] or "",
            "tags": doc["tags"],
            "id_type": doc["idType"],
            "layer": doc["layerID"] or "",
            "allocation": show_value("number", doc["allocation"]),
            "targeting_gate": doc["targetingGateID"] or "",
            "targeting_conditions": pretty_json(conditions) if conditions else "",
        }


class LayerForm(_Entity):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].widget.attrs["placeholder"] = "e.g. checkout_page"
        self.fields["description"].widget.attrs["placeholder"] = "Which experiments share it"
        self.fields["id_type"].help_text = "Every experiment in the layer randomises by it."

    def document(self, editor: DesignEditor) -> dict[str, Any]:
        return {**self.base_document(), "parameters": editor.parameters_document(in_layer=False)}

    @staticmethod
    def initial_from(doc: dict[str, Any]) -> dict[str, Any]:
        return {"description": doc["description"], "id_type": doc["idType"]}


class HoldoutForm(_Entity):
    percentage = forms.CharField(
        label="Held out",
        widget=forms.NumberInput(
            attrs={"min": 0, "max": 100, "step": 0.01, "placeholder": "e.g. 5"}
        ),
        help_text="Percent of units kept out: they get the defaults wherever it applies.",
    )
    is_global = forms.TypedChoiceField(
        label="Applies to",
        choices=[("false", "Chosen experiments"), ("true", "Every experiment and layer")],
        coerce=lambda v: v == "true",
        initial="false",
        widget=forms.RadioSelect,
    )
    experiments = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Experiments"
    )

    def __init__(self, *args, experiments, **kwargs):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].widget.attrs["placeholder"] = "e.g. q3_holdout"
        self.fields["description"].widget.attrs["placeholder"] = "Why these units are held out"
        self.fields["experiments"].choices = [(e, e) for e in experiments]
        self.fields["id_type"].help_text = "Who is held out, as a whole."

    def clean_percentage(self) -> Any:
        return _number(self.cleaned_data["percentage"])

    def document(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **self.base_document(),
            "passPercentage": data["percentage"],
            "isGlobal": data["is_global"],
            "experimentIDs": [] if data["is_global"] else list(data["experiments"]),
        }

    @staticmethod
    def initial_from(doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": doc["description"],
            "id_type": doc["idType"],
            "percentage": show_value("number", doc["passPercentage"]),
            "is_global": "true" if doc["isGlobal"] else "false",
            "experiments": doc["experimentIDs"],
        }


# ---------------------------------------------------------------- lists and actions


class ExperimentFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(
            attrs={"placeholder": "Name, description or hypothesis", "type": "search"}
        ),
    )
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any status"),
            (ExperimentStatus.DRAFT, "Draft"),
            (ExperimentStatus.RUNNING, "Running"),
            (ExperimentStatus.SHIPPED, "Shipped"),
            (ExperimentStatus.ABANDONED, "Abandoned"),
            (ExperimentStatus.ARCHIVED, "Archived"),
        ],
    )
    tag = forms.ChoiceField(required=False)

    def __init__(self, *args, tags, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = [("", "Any tag")] + [(t, t) for t in tags]


class ShipForm(forms.Form):
    group = forms.CharField(max_length=100)
