"""The power calculator's form: what to measure, whose units, and the test's settings.
Every field is bounded, so hostile input (NUL bytes, huge or non-finite numbers, names
not in the lists) is a form error, never a failure."""

from __future__ import annotations

from typing import cast

from django import forms

from metrics.power.analysis import PowerSettings
from metrics.power.selectors import Population, PopulationKind
from metrics.stats.frequentist import Sided

SIDES = [(Sided.TWO.value, "Two-sided"), (Sided.ONE.value, "One-sided")]


def population_choices(names: dict[str, list[str]]) -> list[tuple[str, object]]:
    choices: list[tuple[str, object]] = [("all", "All active units")]
    gates = [(f"gate:{n}", f"Gate {n}") for n in names.get(PopulationKind.GATE, [])]
    experiments = [
        (f"experiment:{n}", f"Experiment {n}") for n in names.get(PopulationKind.EXPERIMENT, [])
    ]
    if gates:
        choices.append(("Units passing a gate", gates))
    if experiments:
        choices.append(("Units of an experiment", experiments))
    return choices


class PowerSettingsForm(forms.Form):
    """The test's settings, for the page and the API (which names the MDE `targetMde`)."""

    groups = forms.IntegerField(
        label="Groups", min_value=2, max_value=5, initial=2, help_text="Equal split."
    )
    allocation = forms.FloatField(
        label="Allocation (%)", min_value=0.01, max_value=100, initial=100
    )
    confidence = forms.FloatField(label="Confidence (%)", min_value=50, max_value=99.99, initial=95)
    power = forms.FloatField(label="Power (%)", min_value=50, max_value=99.99, initial=80)
    sided = forms.ChoiceField(label="Test", choices=SIDES, initial=Sided.TWO.value)
    target_mde = forms.FloatField(
        label="Target MDE (%)",
        required=False,
        min_value=0.01,
        max_value=1000,
        help_text="The weeks it needs.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("groups", "allocation", "confidence", "power", "target_mde"):
            self.fields[name].widget.attrs["step"] = "any" if name != "groups" else "1"

    def settings(self) -> PowerSettings:
        data = self.cleaned_data
        return PowerSettings(
            groups=data["groups"],
            allocation=data["allocation"],
            confidence=data["confidence"],
            power=data["power"],
            sided=Sided(data["sided"]),
            target_mde=data["target_mde"],
        )


class PowerForm(PowerSettingsForm):
    env = forms.ChoiceField(label="Environment")
    metric = forms.ChoiceField(label="Metric")
    population = forms.ChoiceField(
        label="Population", help_text="Whose units the experiment would see."
    )

    def __init__(
        self,
        *args,
        environments: list[str],
        metrics: list[str],
        populations: dict[str, list[str]],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        choice = lambda name: cast(forms.ChoiceField, self.fields[name])  # noqa: E731
        choice("env").choices = [(n, n) for n in environments]
        choice("metric").choices = [("", "Pick a metric")] + [(m, m) for m in metrics]
        choice("population").choices = population_choices(populations)
        self.fields["population"].initial = "all"

    def chosen_population(self) -> Population:
        return Population.parse(self.cleaned_data["population"])
