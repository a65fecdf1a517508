"""Power analysis: the smallest relative effect a test can detect, and the units it needs.

Relative MDE = (z_{1−α/2} + z_{power}) · sqrt(var(X)·(1/N_t + 1/N_c)) / |X̄|
(Statsig experiments/power-analysis.mdx; one-sided tests use z_{1−α}). The inverse solves
the same equation for the units, given the share of them in the treatment.
"""

from __future__ import annotations

import math

from scipy import stats as sps

from metrics.stats.frequentist import Sided


def _z_sum(alpha: float, power: float, sided: Sided) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power are in (0, 1)")
    tail = alpha / 2 if sided is Sided.TWO else alpha
    return float(sps.norm.isf(tail) + sps.norm.ppf(power))


def minimum_detectable_effect(
    *,
    mean: float,
    variance: float,
    n_treatment: int,
    n_control: int,
    alpha: float = 0.05,
    power: float = 0.8,
    sided: Sided = Sided.TWO,
) -> float:
    """The relative MDE (0.02 = 2%) for these per-unit mean and variance and group sizes."""
    if mean == 0 or n_treatment < 1 or n_control < 1 or variance < 0:
        raise ValueError("a non-zero mean, a variance >= 0 and at least one unit per group")
    spread = math.sqrt(variance * (1 / n_treatment + 1 / n_control))
    return _z_sum(alpha, power, sided) * spread / abs(mean)


def units_needed(
    *,
    mean: float,
    variance: float,
    relative_mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
    sided: Sided = Sided.TWO,
) -> tuple[int, int]:
    """(treatment units, control units), rounded up, for a test of one treatment against
    control that puts `treatment_share` of the two groups' units in the treatment."""
    if mean == 0 or relative_mde <= 0 or not 0 < treatment_share < 1:
        raise ValueError("a non-zero mean, a positive MDE and a share in (0, 1)")
    effect = relative_mde * abs(mean)
    # var·(1/(s·N) + 1/((1−s)·N)) = (effect/z)²  =>  N = var·z² / (effect²·s·(1−s))
    total = (
        variance
        * _z_sum(alpha, power, sided) ** 2
        / (effect**2 * treatment_share * (1 - treatment_share))
    )
    return math.ceil(total * treatment_share), math.ceil(total * (1 - treatment_share))
