"""The Test a user form: a user's attributes as the SDKs take them."""

from __future__ import annotations

from typing import Any

from django import forms

from console.http_input import JsonRefused, load_json
from console.targeting.text import (
    parse_json_object,
)

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
