"""The catalog's HTML forms: the list's filters, a metric's form (a fixed number of filter
and step rows, enough for a person; the API takes any number up to the limits) and the
active-unit setting. They shape input; the rules are metrics.catalog.validation's."""

from __future__ import annotations

import re
from typing import cast

from django import forms

from metrics.catalog.validation import (
    MAX_STEPS,
    OPERATOR_WORDS,
    FilterInput,
    MetricInput,
    StepInput,
)
from metrics.definitions import Operator
from metrics.models import Metric, MetricDirection, MetricMetricType, MetricUserCountMode

FILTER_ROWS = 3
STEP_ROWS = 4
OPERATOR_CHOICES = [("", "—")] + [(op.value, OPERATOR_WORDS[op]) for op in Operator]


class MetricFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Name or description", "type": "search"}),
    )
    tag = forms.ChoiceField(required=False)
    type = forms.ChoiceField(
        required=False, label="Type", choices=[("", "Any type"), *MetricMetricType.choices]
    )
    archived = forms.BooleanField(required=False, label="Archived only")

    def __init__(self, *args, tags: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["tag"]).choices = [("", "Any tag")] + [
            (t, t) for t in tags
        ]


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text or "") if part.strip()]


class MetricForm(forms.Form):
    name = forms.CharField(
        max_length=128,
        help_text="With the type, the metric's ID (name::type): it cannot change later.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    metric_type = forms.ChoiceField(label="Type", choices=MetricMetricType.choices)
    description = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    source = forms.ChoiceField(
        required=False,
        label="Data",
        help_text="Ingested events, or a metric source of your warehouse (Settings → "
        "Warehouse): then filter on its columns and take values from a value column.",
    )
    event_name = forms.CharField(
        required=False,
        max_length=128,
        label="Event",
        help_text="The eventName your app logs.",
        widget=forms.TextInput(attrs={"list": "event-names", "autocomplete": "off"}),
    )
    value_field = forms.CharField(
        required=False,
        max_length=200,
        initial="value",
        label="Value from",
        help_text='"value", "metadata.<key>" or "user.<field>".',
    )
    user_count_mode = forms.ChoiceField(
        label="Count a unit", choices=MetricUserCountMode.choices, required=False
    )
    numerator = forms.ChoiceField(required=False, label="Numerator")
    denominator = forms.ChoiceField(required=False, label="Denominator")
    funnel_window_hours = forms.IntegerField(
        required=False,
        min_value=1,
        label="Window (hours)",
        help_text="Every step within this many hours of the first; empty: no limit.",
    )
    direction = forms.ChoiceField(
        choices=MetricDirection.choices, widget=forms.RadioSelect, initial="increase"
    )
    winsorize_lower = forms.FloatField(
        required=False, label="Lower percentile", help_text="e.g. 0.001; empty: none."
    )
    winsorize_upper = forms.FloatField(
        required=False,
        initial=0.999,
        label="Upper percentile",
        help_text="0.999 caps each unit at the 99.9th percentile.",
    )
    cap = forms.FloatField(
        required=False, label="Fixed cap", help_text="The most one unit can count (count, sum)."
    )
    dimensions = forms.CharField(
        required=False,
        max_length=1000,
        help_text='Break results down by "value" or "metadata.<key>" (up to 4, commas).',
    )
    tags = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(
        self,
        *args,
        tags: list[str],
        ratio_choices: list[str],
        metric: Metric | None = None,
        sources: tuple[str, ...] | list[str] = (),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.metric = metric
        cast(forms.ChoiceField, self.fields["source"]).choices = [("", "Ingested events")] + [
            (name, f"Warehouse: {name}") for name in sources
        ]
        cast(forms.ChoiceField, self.fields["tags"]).choices = [(t, t) for t in tags]
        parts = [("", "Choose a metric")] + [(i, i) for i in ratio_choices]
        cast(forms.ChoiceField, self.fields["numerator"]).choices = parts
        cast(forms.ChoiceField, self.fields["denominator"]).choices = parts
        # The event is required for every type but ratio and funnel (the label says so).
        chosen = metric.metric_type if metric else self.data.get("metric_type", "")
        source = metric.source.name if metric and metric.source else self.data.get("source", "")
        self.fields["event_name"].required = chosen not in ("ratio", "funnel") and not source
        filters = list(metric.filters) if metric else []
        steps = list(metric.steps) if metric else []
        self.filter_rows = max(FILTER_ROWS, len(filters) + 1)
        self.step_rows = min(MAX_STEPS, max(STEP_ROWS, len(steps) + 1))
        for i in range(self.filter_rows):
            self.fields[f"filter_{i}_field"] = forms.CharField(
                required=False, max_length=200, label=f"Filter {i + 1}: field"
            )
            self.fields[f"filter_{i}_operator"] = forms.ChoiceField(
                required=False, choices=OPERATOR_CHOICES, label=f"Filter {i + 1}: operator"
            )
            self.fields[f"filter_{i}_values"] = forms.CharField(
                required=False, max_length=5000, label=f"Filter {i + 1}: values"
            )
        for i in range(self.step_rows):
            self.fields[f"step_{i}"] = forms.CharField(
                required=False,
                max_length=128,
                label=f"Step {i + 1}",
                widget=forms.TextInput(attrs={"list": "event-names", "autocomplete": "off"}),
            )
        if metric is not None:
            self.fields["name"].disabled = True
            self.fields["metric_type"].disabled = True
            self._initial_from(metric, filters, steps)
            if metric.is_auto:
                for name in ["event_name", "value_field", "user_count_mode"] + [
                    f for f in self.fields if f.startswith("filter_")
                ]:
                    self.fields[name].disabled = True

    def _initial_from(self, metric: Metric, filters: list[dict], steps: list[dict]) -> None:
        initial = {
            "name": metric.name,
            "metric_type": metric.metric_type,
            "description": metric.description,
            "source": metric.source.name if metric.source else "",
            "event_name": metric.event_name,
            "value_field": metric.value_field,
            "user_count_mode": metric.user_count_mode,
            "numerator": metric.numerator.statsig_id if metric.numerator else "",
            "denominator": metric.denominator.statsig_id if metric.denominator else "",
            "funnel_window_hours": metric.funnel_window_hours,
            "direction": metric.direction,
            "winsorize_lower": metric.winsorize_lower,
            "winsorize_upper": metric.winsorize_upper,
            "cap": metric.cap,
            "dimensions": ", ".join(metric.dimensions),
            "tags": [t.name for t in metric.tags.all()],
        }
        for i, f in enumerate(filters):
            initial[f"filter_{i}_field"] = f["field"]
            initial[f"filter_{i}_operator"] = f["operator"]
            initial[f"filter_{i}_values"] = ", ".join(f["values"])
        for i, s in enumerate(steps):
            initial[f"step_{i}"] = s["event_name"]
        for name, value in initial.items():
            self.fields[name].initial = value

    def filter_row_fields(self):
        return [
            (self[f"filter_{i}_field"], self[f"filter_{i}_operator"], self[f"filter_{i}_values"])
            for i in range(self.filter_rows)
        ]

    def step_fields(self):
        return [self[f"step_{i}"] for i in range(self.step_rows)]

    def to_input(self) -> MetricInput:
        data = self.cleaned_data
        filters = [
            FilterInput(
                data[f"filter_{i}_field"].strip(),
                data[f"filter_{i}_operator"],
                _split(data[f"filter_{i}_values"]),
            )
            for i in range(self.filter_rows)
            if data[f"filter_{i}_field"].strip() or data[f"filter_{i}_operator"]
        ]
        # A funnel's steps keep the filters they were given elsewhere (the API).
        old_steps = {s["event_name"]: s for s in (self.metric.steps if self.metric else [])}
        steps = [
            StepInput(
                name,
                [FilterInput(**f) for f in old_steps.get(name, {}).get("filters", [])],
            )
            for i in range(self.step_rows)
            if (name := data[f"step_{i}"].strip())
        ]
        return MetricInput(
            name=data["name"],
            metric_type=data["metric_type"],
            description=data["description"],
            event_name=data["event_name"],
            filters=filters,
            value_field=data["value_field"] or "value",
            user_count_mode=data["user_count_mode"] or MetricUserCountMode.PARTICIPATION,
            numerator=data["numerator"],
            denominator=data["denominator"],
            steps=steps,
            funnel_window_hours=data["funnel_window_hours"],
            direction=data["direction"],
            winsorize_lower=data["winsorize_lower"],
            winsorize_upper=data["winsorize_upper"],
            cap=data["cap"],
            dimensions=_split(data["dimensions"]),
            tags=list(data["tags"]),
            source=data["source"],
        )

    def field_for(self, path: str | None) -> str | None:
        """The form field a service's `field` path names (`filters[1].values` →
        `filter_1_values`, `steps[2].event_name` → `step_2`), None for the whole form."""
        if not path:
            return None
        if m := re.match(r"^filters\[(\d+)\]\.(field|operator|values)", path):
            # Rows left empty are skipped: the nth filter given is the nth row filled in.
            filled = [
                i
                for i in range(self.filter_rows)
                if self.cleaned_data.get(f"filter_{i}_field", "").strip()
                or self.cleaned_data.get(f"filter_{i}_operator")
            ]
            index = int(m.group(1))
            row = filled[index] if index < len(filled) else index
            return f"filter_{row}_{m.group(2)}"
        if m := re.match(r"^steps\[(\d+)\]", path):
            filled = [
                i for i in range(self.step_rows) if self.cleaned_data.get(f"step_{i}", "").strip()
            ]
            index = int(m.group(1))
            return f"step_{filled[index] if index < len(filled) else index}"
        if path == "steps":
            return "step_0"
        if path.startswith("filters"):
            return "filter_0_field"
        return path if path in self.fields else None


class ActiveUnitsForm(forms.Form):
    active_events = forms.CharField(
        required=False,
        max_length=10_000,
        label="Events that make a unit active",
        help_text="Event names, separated by commas. Empty: any custom event.",
        widget=forms.TextInput(attrs={"list": "event-names", "autocomplete": "off"}),
    )

    def names(self) -> list[str]:
        return _split(self.cleaned_data["active_events"])
