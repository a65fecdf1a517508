"""Sequential testing: intervals and p-values that stay valid when results are read every day.

Two methods, applied only before the experiment's target duration ends:
- mSPRT, Statsig's (experiments/advanced-setup/sequential-testing.mdx, after Zhao et al.,
  arXiv 1905.10493), the default;
- asymptotic confidence sequences, GrowthBook's (gbstats frequentist/tests.py
  `SequentialTwoSidedTTest`, after Waudby-Smith et al., arXiv 2103.06476), with the tuning
  parameter N* (default 5000).
"""

from __future__ import annotations

import math
from enum import StrEnum

from scipy import optimize
from scipy import stats as sps

from metrics.stats.frequentist import Direction, Sided

DEFAULT_TUNING = 5000.0
MAX_ONE_SIDED_P = 0.4999


class SequentialMethod(StrEnum):
    MSPRT = "msprt"
    CONFIDENCE_SEQUENCE = "confidence_sequence"


# --- mSPRT (Statsig) ------------------------------------------------------------------------


def msprt_critical(
    variance: float, unit_variances: float, units: int, alpha: float, sided: Sided
) -> float:
    """Z* = sqrt((V + τ)/τ · (−2 ln(α') − ln(V/(V + τ)))), τ = z_α'²·(var_t + var_c)/(N_t + N_c),
    α' = α/2 two-sided, α one-sided; V = var(Δ), unit_variances = var(X_t) + var(X_c)."""
    tail = alpha / 2 if sided is Sided.TWO else alpha
    tau = float(sps.norm.isf(tail)) ** 2 * unit_variances / units
    ratio = variance / (variance + tau)
    return math.sqrt((variance + tau) / tau * (-2 * math.log(tail) - math.log(ratio)))


def msprt_p_value(
    statistic: float, z_star: float, alpha: float, sided: Sided, direction: Direction
) -> float:
    """The z statistic read on N(0, σ²), σ = Z*/z_α', so that p < α exactly when |z| > Z*."""
    tail = alpha / 2 if sided is Sided.TWO else alpha
    sigma = z_star / float(sps.norm.isf(tail))
    if sided is Sided.TWO:
        return float(min(1.0, 2 * sps.norm.sf(abs(statistic) / sigma)))
    signed = statistic if direction is Direction.INCREASE else -statistic
    return float(sps.norm.sf(signed / sigma))


# --- Confidence sequences (GrowthBook) ------------------------------------------------------


def cs_rho(alpha: float, tuning: float, sided: Sided) -> float:
    """ρ = sqrt((−2 ln α + ln(−2 ln α + 1)) / N*) (eq. 161 of the paper; α doubled one-sided)."""
    a = alpha if sided is Sided.TWO else 2 * alpha
    return math.sqrt((-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / tuning)


def cs_halfwidth(
    standard_error: float,
    units: int,
    alpha: float,
    tuning: float,
    sided: Sided,
    rho: float | None = None,
) -> float:
    """Half-width of the sequence at N = n_t + n_c units, for an estimate with this SE
    (eq. 9 two-sided, eq. 134 one-sided); ρ tuned at α unless given."""
    s2 = standard_error**2 * units
    rho = cs_rho(alpha, tuning, sided) if rho is None else rho
    nr2 = units * rho**2
    spread = 2 * (nr2 + 1) / (units * rho) ** 2
    if sided is Sided.TWO:
        return math.sqrt(s2 * spread * math.log(math.sqrt(nr2 + 1) / alpha))
    return math.sqrt(s2 * spread * math.log(1 + math.sqrt(nr2 + 1) / (2 * alpha)))


def cs_p_value(
    estimate: float,
    standard_error: float,
    units: int,
    alpha: float,
    tuning: float,
    sided: Sided,
    direction: Direction,
) -> float:
    """Two-sided: 1/e-value (eq. 155), ρ tuned at α. One-sided: the smallest α' whose
    sequence (ρ still tuned at α) excludes 0, found by root finding where gbstats bisects;
    capped at 0.4999 as in gbstats (at α = 0.5 the one-sided sequence is undefined)."""
    if sided is Sided.TWO:
        rho = cs_rho(alpha, tuning, sided)
        nr2 = units * rho**2
        s = estimate**2 * units / standard_error**2
        log_e = rho**2 * s / (2 * (nr2 + 1)) - 0.5 * math.log(nr2 + 1)
        return 1.0 if log_e <= 0 else math.exp(-log_e)
    toward_good = estimate if direction is Direction.INCREASE else -estimate
    rho = cs_rho(alpha, tuning, sided)

    def gap(a: float) -> float:
        return toward_good - cs_halfwidth(standard_error, units, a, tuning, sided, rho)

    low, high = 1e-12, MAX_ONE_SIDED_P
    if gap(high) <= 0:
        return MAX_ONE_SIDED_P
    if gap(low) >= 0:
        return low
    return float(optimize.brentq(gap, low, high, xtol=1e-12))
