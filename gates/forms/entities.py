"""The gate, segment and dynamic config forms (the fields beside the rules)."""

from __future__ import annotations

from typing import Any

from django import forms

from console.targeting.text import (
    parse_json_object,
    pretty_json,
)
from gates.models import GateStatus, SegmentKind

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
