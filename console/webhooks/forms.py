"""Webhook forms: shape and types only; the services judge URLs, names and events."""

from __future__ import annotations

from django import forms

from console.webhooks.events import event_choices
from console.webhooks.services import DEFAULT_ROTATION_OVERLAP_HOURS, MAX_ROTATION_OVERLAP_HOURS


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(
        label="URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/services/…"}),
        help_text="A Slack incoming webhook, or any endpoint that accepts a JSON POST.",
    )
    all_events = forms.BooleanField(
        required=False, initial=True, label="Every event, including ones added later"
    )
    events = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Or only these events"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (name, description): the template shows names as chips, descriptions as titles.
        self.fields["events"].choices = event_choices()

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "url": data["url"],
            "events": None if data["all_events"] else list(data["events"]),
            "is_active": data["is_active"],
        }


class WebhookRotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        min_value=0, max_value=MAX_ROTATION_OVERLAP_HOURS, initial=DEFAULT_ROTATION_OVERLAP_HOURS
    )
