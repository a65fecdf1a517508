"""HTML forms of the review pages: they shape input for reviews.services, which judges it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import cast

from django import forms

from reviews.models import ChangeSetState
from reviews.policy import EnvironmentRule
from reviews.services import EnvironmentRuleInput

APPROVALS_ERROR = "Approvals required is a whole number from 1 to 5."


class QueueFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Title or #number", "type": "search"}),
    )
    state = forms.ChoiceField(
        required=False,
        label="State",
        choices=[("", "Any state"), *ChangeSetState.choices],
    )


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask a question or explain"}),
        error_messages={"required": "A comment needs some text."},
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Why do you reject it?",
        max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "The author reads this: say what to change"}
        ),
        error_messages={"required": "Say why you reject it."},
    )


class ScheduleForm(forms.Form):
    """When to apply a change set, in UTC (the page says so and shows the time now)."""

    at = forms.DateTimeField(
        label="Apply at (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={
            "required": "Pick the date and time to apply it.",
            "invalid": "Give a date and time like 2026-12-24 09:30.",
        },
    )

    def clean_at(self):
        # The input is a wall-clock time in UTC (the label says so), whatever the browser's.
        return self.cleaned_data["at"].replace(tzinfo=UTC)


class RebaseForm(forms.Form):
    """The author's choice per conflicting key, posted as `resolve:<position>.<key>`."""

    PREFIX = "resolve:"

    def __init__(self, data=None, *, conflicts=()):
        super().__init__(data)
        for conflict in conflicts:
            name = f"{self.PREFIX}{conflict.change.position}.{conflict.key}"
            self.fields[name] = forms.ChoiceField(
                choices=[("mine", "Keep mine"), ("theirs", "Take theirs")],
                required=False,
                widget=forms.RadioSelect,
            )

    def resolutions(self, data) -> dict[str, str]:
        """Every `resolve:<position>.<key>` choice of the POST, whatever the conflicts are
        now (the service re-reads them and asks again for any still unresolved)."""
        return {
            name.removeprefix(self.PREFIX): value
            for name, value in data.items()
            if name.startswith(self.PREFIX) and value in ("mine", "theirs")
        }


# ---------------------------------------------------------------- settings


@dataclass
class RuleRow:
    rule: EnvironmentRule
    requires_review: forms.BoundField
    approvals_required: forms.BoundField
    groups: forms.BoundField


class ReviewPolicyForm(forms.Form):
    """The whole policy: the two project switches and one row per environment."""

    allow_break_glass = forms.BooleanField(
        required=False,
        label="Allow break-glass",
        help_text="Admins may apply their own change set without approvals in an emergency. "
        "It is flagged in the audit log and a follow-up review is opened at once.",
    )
    apply_on_approval = forms.BooleanField(
        required=False,
        label="Apply on approval",
        help_text="The approval that meets the policy applies the change set at once. Off: "
        "the author (or an admin) applies it when ready.",
    )

    def __init__(self, data=None, *, rules: list[EnvironmentRule], groups: list[str], policy):
        initial = {
            "allow_break_glass": policy.allow_break_glass,
            "apply_on_approval": policy.apply_on_approval,
        }
        self.rules = rules
        for rule in rules:
            prefix = self._prefix(rule)
            initial[f"{prefix}requires_review"] = rule.requires_review
            initial[f"{prefix}approvals_required"] = rule.approvals_required
            initial[f"{prefix}groups"] = [g.name for g in rule.groups]
        super().__init__(data, initial=initial)
        for rule in rules:
            prefix = self._prefix(rule)
            name = rule.environment.name
            self.fields[f"{prefix}requires_review"] = forms.BooleanField(
                required=False, label=f"{name} requires review"
            )
            self.fields[f"{prefix}approvals_required"] = forms.IntegerField(
                label=f"Approvals required in {name}",
                min_value=1,
                max_value=5,
                error_messages={
                    "required": APPROVALS_ERROR,
                    "invalid": APPROVALS_ERROR,
                    "min_value": APPROVALS_ERROR,
                    "max_value": APPROVALS_ERROR,
                },
                widget=forms.NumberInput(attrs={"min": 1, "max": 5, "step": 1}),
            )
            self.fields[f"{prefix}groups"] = forms.MultipleChoiceField(
                required=False,
                label=f"Groups that must approve in {name}",
                choices=[(g, g) for g in groups],
                widget=forms.CheckboxSelectMultiple,
            )

    @staticmethod
    def _prefix(rule: EnvironmentRule) -> str:
        return f"env-{rule.environment.pk}-"

    def rows(self) -> list[RuleRow]:
        return [
            RuleRow(
                rule,
                self[f"{self._prefix(rule)}requires_review"],
                self[f"{self._prefix(rule)}approvals_required"],
                self[f"{self._prefix(rule)}groups"],
            )
            for rule in self.rules
        ]

    def environment_inputs(self) -> list[EnvironmentRuleInput]:
        data = self.cleaned_data
        return [
            EnvironmentRuleInput(
                environment=rule.environment.name,
                requires_review=data[f"{self._prefix(rule)}requires_review"],
                approvals_required=data[f"{self._prefix(rule)}approvals_required"],
                groups=tuple(data[f"{self._prefix(rule)}groups"]),
            )
            for rule in self.rules
        ]


class ReviewGroupForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=60, widget=forms.TextInput(attrs={"placeholder": "e.g. Payments"})
    )
    members = forms.MultipleChoiceField(
        required=False, label="Members", widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, data=None, *, members, initial=None, prefix=None):
        super().__init__(data, initial=initial, prefix=prefix)
        self.users = {str(u.pk): u for u in members}
        self.fields["members"].choices = [(str(u.pk), u.email) for u in members]

    def chosen_users(self) -> list:
        return [self.users[pk] for pk in self.cleaned_data["members"]]


class EntityOwnerForm(forms.Form):
    kind = forms.ChoiceField(label="Kind")
    name = forms.CharField(
        label="Entity name",
        max_length=200,
        widget=forms.TextInput(attrs={"list": "entity-names", "autocomplete": "off"}),
    )
    group = forms.ChoiceField(label="Owning group")

    def __init__(self, data=None, *, kinds: list[tuple[str, str]], groups: list):
        super().__init__(data)
        self.groups = {str(g.pk): g for g in groups}
        cast(forms.ChoiceField, self.fields["kind"]).choices = kinds
        cast(forms.ChoiceField, self.fields["group"]).choices = [
            (str(g.pk), g.name) for g in groups
        ]

    def chosen_group(self):
        return self.groups[self.cleaned_data["group"]]
