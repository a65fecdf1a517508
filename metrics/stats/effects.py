"""The treatment-minus-control effect of one metric, absolute and relative, with its variance.

Absolute: Δ = g_t − g_c, var(Δ) = var(g_t) + var(g_c) (Statsig variance.mdx).
Relative: Δ% = (g_t − g_c) / |ū_c|, where ū_c is the control's mean without CUPED (gbstats
`frequentist_diff`; Statsig cuped.mdx leaves the control unadjusted), its variance by the
delta method through both arms' means (gbstats `frequentist_variance`, and
`frequentist_variance_relative_cuped[_ratio]` for CUPED, are special cases of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics.stats.moments import (
    Kind,
    Moments,
    gradient,
    quadratic,
    unadjusted_gradient,
    unadjusted_value,
    value,
)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its variance and the Welch–Satterthwaite degrees of freedom."""

    estimate: float
    variance: float
    dof: float

    @property
    def standard_error(self) -> float:
        return float(np.sqrt(self.variance)) if self.variance > 0 else 0.0


def unit_variance(kind: Kind, arm: Moments, theta: float) -> float:
    """Per-unit variance of the (linearised) metric: var(g) = this / n."""
    return quadratic(gradient(kind, arm.mean, theta), arm.cov)


def arm_variance(kind: Kind, arm: Moments, theta: float) -> float:
    return unit_variance(kind, arm, theta) / arm.n


def welch_dof(var_c: float, var_t: float, n_c: int, n_t: int) -> float:
    """ν = (v_c + v_t)² / (v_c²/(n_c − 1) + v_t²/(n_t − 1)), v = var of each arm's mean
    (Statsig p-value.mdx; gbstats TTest.dof)."""
    denominator = var_c**2 / (n_c - 1) + var_t**2 / (n_t - 1)
    if denominator <= 0:
        return float("inf")
    return float((var_c + var_t) ** 2 / denominator)


def absolute_effect(kind: Kind, control: Moments, treatment: Moments, theta: float) -> Estimate:
    var_c = arm_variance(kind, control, theta)
    var_t = arm_variance(kind, treatment, theta)
    delta = value(kind, treatment.mean, theta) - value(kind, control.mean, theta)
    return Estimate(delta, var_c + var_t, welch_dof(var_c, var_t, control.n, treatment.n))


def relative_effect(
    kind: Kind, control: Moments, treatment: Moments, theta: float
) -> Estimate | None:
    """None when the control's mean is 0: a lift over nothing is undefined."""
    baseline = unadjusted_value(kind, control.mean)
    if baseline == 0:
        return None
    scale = abs(baseline)
    lift = (value(kind, treatment.mean, theta) - value(kind, control.mean, theta)) / scale
    # ∂Δ%/∂(control means) = −(∇g_c + Δ%·sign(ū_c)·∇ū_c) / |ū_c|; treatment: ∇g_t / |ū_c|.
    grad_c = -(
        gradient(kind, control.mean, theta)
        + lift * np.sign(baseline) * unadjusted_gradient(kind, control.mean)
    )
    grad_t = gradient(kind, treatment.mean, theta)
    var_c = quadratic(grad_c, control.cov) / control.n / scale**2
    var_t = quadratic(grad_t, treatment.cov) / treatment.n / scale**2
    absolute = absolute_effect(kind, control, treatment, theta)
    return Estimate(lift, var_c + var_t, absolute.dof)


@dataclass(frozen=True)
class FiellerParts:
    """Lift = N / D − 1 with N = g_t − g_c + ū_c and D = ū_c: their means, variances and
    covariance, for Fieller's interval (Statsig fieller-intervals.mdx)."""

    numerator: float
    denominator: float
    var_numerator: float
    var_denominator: float
    covariance: float


def fieller_parts(kind: Kind, control: Moments, treatment: Moments, theta: float) -> FiellerParts:
    mean_c, mean_t = control.mean, treatment.mean
    baseline = unadjusted_value(kind, mean_c)
    grad_base = unadjusted_gradient(kind, mean_c)
    grad_num_c = grad_base - gradient(kind, mean_c, theta)
    grad_t = gradient(kind, mean_t, theta)
    return FiellerParts(
        numerator=value(kind, mean_t, theta) - value(kind, mean_c, theta) + baseline,
        denominator=baseline,
        var_numerator=quadratic(grad_num_c, control.cov) / control.n
        + quadratic(grad_t, treatment.cov) / treatment.n,
        var_denominator=quadratic(grad_base, control.cov) / control.n,
        covariance=quadratic(grad_num_c, control.cov, grad_base) / control.n,
    )
