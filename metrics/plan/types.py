"""What the query plan takes and returns: plain data, no Django (docs/results-computation.md).

The caller (an experiment's results task) fills an `ExperimentScope`; `group_statistics`
answers a `PlanResult` whose per-group fields are the sufficient statistics the statistics
module reads, named after GrowthBook's columns (`sum`, `sum_squares`, `den_sum`, ...).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ExperimentScope:
    """One experiment (or gate) as stored in metrics_exposure.

    `kind` is "config" for experiments and dynamic configs (groups are the experiment's
    group names) or "gate" (groups "pass" and "fail"); `unit_type` is the idType exposures
    were stored under ("userID", "stableID" or a custom ID type). Units count when their
    first exposure is in [start, end] and their group is one of `groups`."""

    kind: str
    name: str
    unit_type: str
    groups: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    exclude_bots: bool = True

    def key(self) -> str:
        """What identifies the scope's rollups (metrics_unitday.scope)."""
        return f"{self.kind}\x1f{self.name}\x1f{self.unit_type}"


@dataclass(frozen=True, slots=True)
class DayStatistics:
    """One group's cumulative statistics through the end of `day` (UTC): the units exposed
    by then and their values over the events until then."""

    day: dt.date
    n: int
    sum: float
    sum_squares: float
    den_sum: float | None = None
    den_sum_squares: float | None = None
    main_den_sum_product: float | None = None


@dataclass(frozen=True, slots=True)
class GroupStatistics:
    """One group's sufficient statistics. `units` are the group's exposed units (after
    exclusions); `n` the units in the statistic (for mean, ratio and funnel those with a
    non-zero denominator, otherwise all of `units`). Denominator fields are None for the
    types that have none; covariate fields are None without CUPED (cuped_days=0)."""

    group: str
    units: int
    n: int
    sum: float
    sum_squares: float
    den_sum: float | None = None
    den_sum_squares: float | None = None
    main_den_sum_product: float | None = None
    covariate_sum: float | None = None
    covariate_sum_squares: float | None = None
    main_covariate_sum_product: float | None = None
    units_with_pre_data: int | None = None
    # Ratio-like types with CUPED: the denominator's pre-period sums and cross products
    # (GrowthBook's RegressionAdjustedRatioStatistic).
    den_pre_sum: float | None = None
    den_pre_sum_squares: float | None = None
    main_post_den_pre_sum_product: float | None = None
    main_pre_den_post_sum_product: float | None = None
    main_pre_den_pre_sum_product: float | None = None
    den_post_den_pre_sum_product: float | None = None
    # Funnel: units of the group that reached each step, in order (step 1 first).
    steps: tuple[int, ...] = ()
    daily: tuple[DayStatistics, ...] = ()


@dataclass(frozen=True, slots=True)
class Caps:
    """The per-unit caps applied (None: not applied). Percentile caps are pooled across
    groups over non-zero values; `fixed` is the metric's own cap, applied after them."""

    upper: float | None = None
    lower: float | None = None
    den_upper: float | None = None
    den_lower: float | None = None
    fixed: float | None = None


@dataclass(frozen=True, slots=True)
class PlanResult:
    metric: dict[str, Any]
    start: dt.datetime
    # The end used: the scope's end, or `now` when that is earlier.
    end: dt.datetime
    cuped_days: int
    groups: tuple[GroupStatistics, ...]
    caps: Caps
    # Units excluded: crossovers (exposed in more than one group), and bots that are not
    # crossovers (so the two add up to every unit excluded).
    crossovers: int
    bots: int
    # "events" (computed from metrics_event) or "rollup" (from metrics_unitday).
    source: str = "events"
    notes: tuple[str, ...] = field(default=())

    def group(self, name: str) -> GroupStatistics:
        for group in self.groups:
            if group.group == name:
                return group
        raise KeyError(name)


# The unit dimensions a breakdown can read from a unit's first exposure (metrics_exposure),
# besides "custom.<key>" (user.custom.<key>).
UNIT_DIMENSIONS = ("country", "browser", "os")


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Split a metric's results by a dimension (docs/results-computation.md).

    `source` "unit": every unit falls in one segment, by its user at its first exposure
    (`field` "country", "browser", "os" or "custom.<key>"). `source` "event": each segment
    is the metric restricted to the events whose `field` ("value" or "metadata.<key>") has
    that value, over all the units. `top` values by units are segments of their own; the
    rest is "other", and units or events without a value "unknown"."""

    source: str
    field: str
    top: int = 8

    def __post_init__(self) -> None:
        if self.source == "unit":
            ok = self.field in UNIT_DIMENSIONS or (
                self.field.startswith("custom.") and len(self.field) > len("custom.")
            )
        elif self.source == "event":
            ok = self.field == "value" or (
                self.field.startswith("metadata.") and len(self.field) > len("metadata.")
            )
        else:
            ok = False
        if not ok or not 1 <= self.top <= 50:
            raise ValueError(f"no breakdown by {self.source} {self.field!r}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One value of a breakdown: `kind` "value" (then `value` is it), "other" (values
    outside the top ones) or "unknown" (no value); `plan` holds its groups' statistics,
    computed with the caps of the whole experiment."""

    kind: str
    value: str | None
    plan: PlanResult


@dataclass(frozen=True, slots=True)
class BreakdownResult:
    breakdown: Breakdown
    segments: tuple[Segment, ...]
    caps: Caps
    crossovers: int
    bots: int
