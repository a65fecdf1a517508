"""The list filters, and the ID and upload forms of ID-list segments."""

from __future__ import annotations

from django import forms

from gates.forms.entities import LIVE_STATUSES
from gates.idlists import parse_pasted_ids
from gates.models import GateStatus, SegmentKind

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
    # Only when an app records SDK checks (gates.hooks); the view drops it otherwise.
    usage = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), ("stale", "No check in 30 days")],
        label="Stale by usage",
    )

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
