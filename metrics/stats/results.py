"""What the analysis returns, and the settings it takes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from metrics.stats.bayesian import BayesianResult, Prior
from metrics.stats.cuped import Cuped
from metrics.stats.frequentist import Interval, Sided, TestChoice, TestKind
from metrics.stats.sequential import DEFAULT_TUNING, SequentialMethod


class RelativeInterval(StrEnum):
    DELTA = "delta"  # Δ% ± c·SE(Δ%), SE by the delta method
    FIELLER = "fieller"  # exact for a ratio of normal means (Statsig's recommendation)


class Correction(StrEnum):
    NONE = "none"
    BONFERRONI = "bonferroni"
    BENJAMINI_HOCHBERG = "benjamini_hochberg"
    HOLM = "holm"


class BonferroniOver(StrEnum):
    VARIANTS = "variants"
    METRICS = "metrics"
    BOTH = "both"


@dataclass(frozen=True)
class Settings:
    """How to analyse. `primary_metrics` is how many primary metrics share α under Bonferroni
    over metrics; corrections apply to primary metrics only. Sequential intervals apply only
    while `target_date_passed` is False."""

    confidence_level: float = 0.95
    sided: Sided = Sided.TWO
    test: TestChoice = TestChoice.AUTO
    relative_interval: RelativeInterval = RelativeInterval.DELTA
    correction: Correction = Correction.NONE
    bonferroni_over: BonferroniOver = BonferroniOver.VARIANTS
    primary_metrics: int = 1
    sequential: bool = False
    sequential_method: SequentialMethod = SequentialMethod.MSPRT
    sequential_tuning: float = DEFAULT_TUNING
    target_date_passed: bool = False
    cuped: bool = True
    bayesian: bool = False
    prior: Prior | None = None  # None: flat

    def __post_init__(self) -> None:
        # Accept the enums' string values too ("fieller"), as a form or JSON would pass them.
        for name, enum in _ENUM_FIELDS.items():
            object.__setattr__(self, name, enum(getattr(self, name)))
        if not 0 < self.confidence_level < 1:
            raise ValueError("confidence_level is in (0, 1)")
        if self.primary_metrics < 1 or self.sequential_tuning <= 0:
            raise ValueError("primary_metrics >= 1 and sequential_tuning > 0")

    @property
    def alpha(self) -> float:
        return 1 - self.confidence_level

    @property
    def sequential_now(self) -> bool:
        return self.sequential and not self.target_date_passed


_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "sided": Sided,
    "test": TestChoice,
    "relative_interval": RelativeInterval,
    "correction": Correction,
    "bonferroni_over": BonferroniOver,
    "sequential_method": SequentialMethod,
}


@dataclass(frozen=True)
class Effect:
    """One scale of the effect (absolute: treatment − control in the metric's unit; relative:
    that over |control mean|, 0.05 = +5%), its interval at the comparison's α and p-value."""

    estimate: float
    standard_error: float
    interval: Interval
    p_value: float

    @property
    def excludes_zero(self) -> bool:
        low, high = self.interval
        return low > 0 or high < 0


@dataclass(frozen=True)
class Method:
    test: TestKind
    dof: float
    sided: Sided
    sequential: SequentialMethod | None
    relative_interval: RelativeInterval


@dataclass(frozen=True)
class Comparison:
    """One treatment against control for one metric.

    Means are without CUPED. `p_value` is the absolute effect's (Statsig); `adjusted_p_value`
    is set under Benjamini–Hochberg or Holm. `alpha` is the level used after correction, and
    `significant` means p < alpha. `message` explains a result that could not be computed
    (then `absolute` is None) or a part that is missing (`relative`, a Fieller interval)."""

    treatment: int
    control_n: int
    control_mean: float
    treatment_n: int
    treatment_mean: float
    absolute: Effect | None
    relative: Effect | None
    p_value: float | None
    adjusted_p_value: float | None
    alpha: float
    significant: bool
    method: Method | None
    cuped: Cuped
    bayesian: BayesianResult | None
    message: str | None

    @property
    def ok(self) -> bool:
        return self.absolute is not None and all(
            math.isfinite(x) for x in (self.absolute.estimate, self.absolute.standard_error)
        )
