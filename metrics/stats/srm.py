"""Sample ratio mismatch: do the groups' unit counts fit the configured split?

χ² = Σ (o − e)² / e with e = w/Σw · Σo over the groups of positive weight, p from χ² with
k − 1 degrees of freedom (Statsig srm-checks.mdx; gbstats utils.py `check_srm`). Verdict with
Statsig's thresholds (statsig-warehouse-native monitor-an-experiment.mdx): p < 0.001 with
more than 0.1 percentage point of deviation is an alert; p < 0.01 otherwise a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from scipy import stats as sps

ALERT_P = 0.001
WARNING_P = 0.01
MIN_DEVIATION = 0.001  # absolute, as a share of all units (0.1%)


class SrmVerdict(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ALERT = "alert"


@dataclass(frozen=True)
class SrmResult:
    """`max_deviation` is the largest |observed share − expected share| over the groups;
    `message` says why no test was run (no units, fewer than two weighted groups)."""

    chi_squared: float
    p_value: float
    max_deviation: float
    verdict: SrmVerdict
    message: str | None = None


def srm_check(counts: Sequence[int], weights: Sequence[float]) -> SrmResult:
    """Groups with weight 0 or less are left out (their units belong to no configured split)."""
    if len(counts) != len(weights):
        raise ValueError("one weight per group")
    kept = [(o, w) for o, w in zip(counts, weights, strict=True) if w > 0]
    total = sum(o for o, _ in kept)
    if total == 0 or len(kept) < 2:
        reason = "no units" if total == 0 else "fewer than two groups with a weight"
        return SrmResult(0.0, 1.0, 0.0, SrmVerdict.OK, message=reason)
    weight = sum(w for _, w in kept)
    expected = [w / weight * total for _, w in kept]
    chi2 = sum((o - e) ** 2 / e for (o, _), e in zip(kept, expected, strict=True))
    p = float(sps.chi2.sf(chi2, len(kept) - 1))
    deviation = max(abs(o - e) / total for (o, _), e in zip(kept, expected, strict=True))
    return SrmResult(chi2, p, deviation, srm_verdict(p, deviation))


def srm_verdict(p_value: float, max_deviation: float) -> SrmVerdict:
    if p_value < ALERT_P and max_deviation > MIN_DEVIATION:
        return SrmVerdict.ALERT
    if p_value < WARNING_P:
        return SrmVerdict.WARNING
    return SrmVerdict.OK
