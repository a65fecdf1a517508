"""The minimum detectable effect by weeks of running, from a population's per-window
statistics (`metrics.power.selectors.power_inputs`), through `metrics.stats.power`.

For k weeks, the experiment would see the units the population had in the last k weeks;
`allocation` of them enter it, split equally into `groups` groups. Each treatment is
compared with control: relative MDE = (z_{1−α/2} + z_{power}) · sqrt(var·(1/N_t + 1/N_c))
/ |mean| with N_t = N_c = units in the statistic × allocation / groups (Statsig
power-analysis.mdx). No correction for several treatments is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from metrics.power.selectors import PowerInputs, WindowStatistics
from metrics.stats.frequentist import Sided
from metrics.stats.power import minimum_detectable_effect, units_needed


@dataclass(frozen=True, slots=True)
class PowerSettings:
    groups: int = 2  # 2 to 5, equal split
    allocation: float = 100.0  # % of the population in the experiment
    confidence: float = 95.0  # %
    power: float = 80.0  # %
    sided: Sided = Sided.TWO
    target_mde: float | None = None  # % (relative), for the weeks needed

    @property
    def alpha(self) -> float:
        return 1 - self.confidence / 100


@dataclass(frozen=True, slots=True)
class WeekRow:
    weeks: int
    units: int  # the population's units seen in the window
    traffic: float  # units × allocation: units in the experiment
    per_group: float  # units of each group in the statistic
    mean: float | None
    variance: float | None
    mde: float | None  # relative, in % (2.5 = 2.5%)
    units_needed: int | None  # per group, for the target MDE
    note: str = ""  # why there is no MDE

    @property
    def std_dev(self) -> float | None:
        return None if self.variance is None else self.variance**0.5


@dataclass(frozen=True, slots=True)
class PowerTable:
    rows: tuple[WeekRow, ...]
    settings: PowerSettings
    weeks_needed: int | None  # the first week whose MDE is at most the target
    target_note: str = ""

    def as_chart(self) -> dict:
        return {
            "type": "line",
            "labels": [f"{r.weeks} week{'s' if r.weeks > 1 else ''}" for r in self.rows],
            "series": [
                {
                    "label": "Relative MDE (%)",
                    "data": [None if r.mde is None else round(r.mde, 4) for r in self.rows],
                }
            ],
            "decimals": True,
            "percent": True,
        }


def power_table(inputs: PowerInputs, settings: PowerSettings) -> PowerTable:
    rows = tuple(_row(w, settings) for w in inputs.windows)
    weeks_needed = None
    target_note = ""
    if settings.target_mde is not None:
        weeks_needed = next(
            (r.weeks for r in rows if r.mde is not None and r.mde <= settings.target_mde), None
        )
        if weeks_needed is None:
            last = rows[-1]
            if last.units_needed is not None:
                target_note = (
                    f"More than 4 weeks: each group needs {last.units_needed:,} units in the "
                    f"statistic; 4 weeks give {_units(last.per_group)}."
                )
            else:
                target_note = "No estimate: the population has no data for this metric."
    return PowerTable(rows, settings, weeks_needed, target_note)


def _row(window: WindowStatistics, settings: PowerSettings) -> WeekRow:
    share = settings.allocation / 100
    traffic = window.units * share
    per_group = window.n * share / settings.groups
    mde = needed = None
    note = ""
    if window.units == 0:
        note = "no units"
    elif window.mean is None or window.variance is None:
        note = "no unit has a value"
    elif window.mean == 0:
        note = "the mean is 0"
    elif per_group < 1:
        note = "less than one unit per group"
    else:
        # A share of the units is a fraction of one: the formula takes it as it is.
        mde = 100 * minimum_detectable_effect(
            mean=window.mean,
            variance=window.variance,
            n_treatment=per_group,  # type: ignore[arg-type]
            n_control=per_group,  # type: ignore[arg-type]
            alpha=settings.alpha,
            power=settings.power / 100,
            sided=settings.sided,
        )
    if settings.target_mde is not None and window.mean and window.variance is not None:
        needed, _ = units_needed(
            mean=window.mean,
            variance=window.variance,
            relative_mde=settings.target_mde / 100,
            alpha=settings.alpha,
            power=settings.power / 100,
            treatment_share=0.5,
            sided=settings.sided,
        )
    return WeekRow(
        window.weeks,
        window.units,
        traffic,
        per_group,
        window.mean,
        window.variance,
        mde,
        needed,
        note,
    )


def _units(value: float) -> str:
    """1,234 or 8.5: whole numbers without a decimal."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
