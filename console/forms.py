"""HTML forms of the console: they shape and type-check input; the services judge it."""

from __future__ import annotations

from django import forms
from django.conf import settings

from console.models import EnvironmentTier, KeyKind, ProjectAccessMode, Role

# The default role of a project cannot be admin (a database constraint says so).
DEFAULT_ROLE_CHOICES = [(r.value, r.label) for r in Role if r != Role.ADMIN]


class ProjectCreateForm(forms.Form):
    name = forms.CharField(widget=forms.TextInput(attrs={"autofocus": True}))
    slug = forms.CharField(
        required=False,
        help_text="Used in URLs. Leave empty to derive it from the name.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    access_mode = forms.ChoiceField(
        choices=ProjectAccessMode.choices,
        initial=ProjectAccessMode.CLOSED,
        widget=forms.RadioSelect,
    )
    default_role = forms.ChoiceField(
        choices=DEFAULT_ROLE_CHOICES,
        initial=Role.MEMBER,
        help_text="The role people get when they join or are approved.",
    )


class ProjectSettingsForm(forms.Form):
    name = forms.CharField()
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    access_mode = forms.ChoiceField(choices=ProjectAccessMode.choices, widget=forms.RadioSelect)
    default_role = forms.ChoiceField(
        choices=DEFAULT_ROLE_CHOICES,
        help_text="The role people get when they join or are approved.",
    )


class EnvironmentForm(forms.Form):
    name = forms.CharField()
    tier = forms.ChoiceField(choices=EnvironmentTier.choices, initial=EnvironmentTier.DEVELOPMENT)


class EnvironmentMoveForm(forms.Form):
    direction = forms.ChoiceField(choices=[("up", "Up"), ("down", "Down")])


class TagForm(forms.Form):
    name = forms.CharField()
    description = forms.CharField(required=False)


class MemberInviteForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"placeholder": "name@company.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AccessRequestForm(forms.Form):
    message = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why you need access (optional)"}),
    )


class KeyCreateForm(forms.Form):
    kind = forms.ChoiceField(choices=KeyKind.choices, initial=KeyKind.SERVER)
    environment = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="—",
        help_text="Server and client keys belong to one environment.",
    )
    role = forms.ChoiceField(
        choices=[("", "—"), *Role.choices],
        required=False,
        help_text="Console API keys act with this role.",
    )
    name = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"placeholder": "e.g. backend"})
    )

    def __init__(self, *args, environments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = environments


class KeyRotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        initial=lambda: settings.GATEHOUSE_KEY_ROTATION_OVERLAP_HOURS,
        widget=forms.NumberInput(attrs={"min": 0, "max": 720}),
        help_text="How long the old key keeps working; 0 stops it now.",
    )


class AuditFilterForm(forms.Form):
    actor = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"placeholder": "email contains…"})
    )
    action = forms.ChoiceField(required=False)
    target_type = forms.ChoiceField(required=False, label="Target")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, facets: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action")] + [(a, a) for a in facets["actions"]]
        self.fields["target_type"].choices = [("", "Any target")] + [
            (t, t) for t in facets["target_types"]
        ]
