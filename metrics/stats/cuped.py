"""CUPED: subtract θ times the pre-exposure estimate, θ pooled over both arms.

θ = cov(post, pre) / var(pre) on both arms' units together (gbstats `compute_theta`); for a
ratio metric, on the linearised ratios (Statsig cuped.mdx "ratio CUPED"), within arms
(gbstats `compute_theta_regression_adjusted_ratio`). Statsig's guard: use it only with more
than 100 units, more than 5% of them with pre-exposure data, and when it lowers the variance
(Statsig variance-reduction.mdx).
"""

from __future__ import annotations

from dataclasses import dataclass

from metrics.stats.effects import arm_variance
from metrics.stats.moments import (
    Kind,
    Moments,
    covariate_gradient,
    pooled,
    quadratic,
    unadjusted_gradient,
)

MIN_UNITS = 100
MIN_SHARE_WITH_PRE_DATA = 0.05


@dataclass(frozen=True)
class Cuped:
    """Whether CUPED was applied to a comparison, with which θ and what it saved.

    `variance_reduction` is 1 − var(Δ adjusted) / var(Δ unadjusted) of the absolute effect;
    `reason` says why CUPED was not applied (None when it was, or was not asked for)."""

    applied: bool
    theta: float | None = None
    variance_reduction: float | None = None
    reason: str | None = None

    @property
    def theta_used(self) -> float:
        return self.theta if self.applied and self.theta is not None else 0.0


NOT_REQUESTED = Cuped(applied=False)


def pooled_theta(kind: Kind, control: Moments, treatment: Moments) -> float | None:
    """None when the pre-exposure data has no variance (no unit had any, or all alike).

    Mean metrics: cov/var over both arms' units as one sample (gbstats `compute_theta`).
    Ratio metrics: the arms' covariances of the linearised post and pre ratios, summed, over
    their summed variances (gbstats `compute_theta_regression_adjusted_ratio`)."""
    arms = [pooled(control, treatment)] if kind is Kind.MEAN else [control, treatment]
    covariance = variance = 0.0
    for arm in arms:
        mean, cov = arm.mean, arm.cov
        pre = covariate_gradient(kind, mean)
        variance += quadratic(pre, cov)
        covariance += quadratic(unadjusted_gradient(kind, mean), cov, pre)
    if variance <= 0:
        return None
    return covariance / variance


def decide_cuped(
    kind: Kind, control: Moments, treatment: Moments, units_with_pre_data: int
) -> Cuped:
    """Statsig's rules, in order; the first that fails is the reason."""
    units = control.n + treatment.n
    if units <= MIN_UNITS:
        return Cuped(applied=False, reason=f"not applied: {MIN_UNITS} units or fewer")
    if units_with_pre_data <= MIN_SHARE_WITH_PRE_DATA * units:
        return Cuped(applied=False, reason="not applied: 5% of units or fewer have pre-data")
    theta = pooled_theta(kind, control, treatment)
    if theta is None:
        return Cuped(applied=False, reason="not applied: the pre-exposure data has no variance")
    before = arm_variance(kind, control, 0.0) + arm_variance(kind, treatment, 0.0)
    after = arm_variance(kind, control, theta) + arm_variance(kind, treatment, theta)
    if not 0 < after < before:
        return Cuped(applied=False, theta=theta, reason="not applied: no variance reduction")
    return Cuped(applied=True, theta=theta, variance_reduction=1 - after / before)
