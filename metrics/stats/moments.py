"""Means and covariances of per-unit quantities, and the delta method on top of them.

Every metric here is a smooth function g of a group's means of per-unit quantities:

    mean metric        [y]            g = ȳ
    mean with CUPED    [y, x]         g = ȳ - θ·x̄
    ratio metric       [m, d]         g = m̄ / d̄
    ratio with CUPED   [m, d, m', d'] g = m̄/d̄ - θ·m̄'/d̄'      (' = before exposure)

so var(g) ≈ ∇gᵀ Σ ∇g / n, with Σ the per-unit covariance matrix of those quantities
(Statsig variance.mdx and delta-method.mdx; gbstats statistics.py `RatioStatistic` and
`RegressionAdjustedRatioStatistic.nabla`/`lambda_matrix` are the same formulas written out).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]


class Kind(StrEnum):
    MEAN = "mean"
    RATIO = "ratio"


@dataclass(frozen=True)
class Moments:
    """n units; `mean[j]` the mean of per-unit quantity j; `cov` their per-unit covariance."""

    n: int
    sums: Vector
    products: Matrix
    ddof: int

    @property
    def mean(self) -> Vector:
        if self.n <= 0:
            return np.zeros_like(self.sums)
        return self.sums / self.n

    @property
    def cov(self) -> Matrix:
        """(Σ a·b − Σa·Σb/n) / (n − ddof): ddof 1 is the unbiased sample covariance
        (Statsig), 0 the Bernoulli p(1 − p) of proportions (gbstats)."""
        if self.n <= self.ddof or self.n < 2:
            return np.zeros_like(self.products)
        centred = self.products - np.outer(self.sums, self.sums) / self.n
        return centred / (self.n - self.ddof)


def moments_from_sums(n: int, sums: Vector, products: Matrix, ddof: int) -> Moments:
    return Moments(
        n=n, sums=sums.astype(np.float64), products=products.astype(np.float64), ddof=ddof
    )


def pooled(a: Moments, b: Moments) -> Moments:
    """Both arms as one sample: CUPED's θ is estimated on it (gbstats `compute_theta`)."""
    return Moments(n=a.n + b.n, sums=a.sums + b.sums, products=a.products + b.products, ddof=a.ddof)


def value(kind: Kind, mean: Vector, theta: float) -> float:
    """The metric's estimate g; θ is ignored when the moments hold no covariate."""
    if kind is Kind.MEAN:
        adjusted = mean[0] - theta * mean[1] if len(mean) > 1 else mean[0]
        return float(adjusted)
    post = _safe_ratio(mean[0], mean[1])
    if len(mean) > 2:
        return post - theta * _safe_ratio(mean[2], mean[3])
    return post


def unadjusted_value(kind: Kind, mean: Vector) -> float:
    return float(mean[0]) if kind is Kind.MEAN else _safe_ratio(mean[0], mean[1])


def gradient(kind: Kind, mean: Vector, theta: float) -> Vector:
    """∇g with respect to the group's means."""
    if kind is Kind.MEAN:
        return np.array([1.0, -theta]) if len(mean) > 1 else np.array([1.0])
    grad = unadjusted_gradient(kind, mean)
    if len(mean) > 2:
        grad = grad - theta * _ratio_gradient(mean, 2, len(mean))
    return grad


def unadjusted_gradient(kind: Kind, mean: Vector) -> Vector:
    """∇ of the metric without CUPED (the post-exposure part only)."""
    grad = np.zeros(len(mean))
    if kind is Kind.MEAN:
        grad[0] = 1.0
        return grad
    return _ratio_gradient(mean, 0, len(mean))


def covariate_gradient(kind: Kind, mean: Vector) -> Vector:
    """∇ of the pre-exposure estimate (x̄, or m̄'/d̄'): what θ multiplies."""
    if kind is Kind.MEAN:
        return np.array([0.0, 1.0])
    return _ratio_gradient(mean, 2, len(mean))


def quadratic(grad: Vector, cov: Matrix, other: Vector | None = None) -> float:
    """gradᵀ Σ other (other = grad by default): a per-unit variance or covariance."""
    return float(grad @ cov @ (grad if other is None else other))


def _ratio_gradient(mean: Vector, start: int, size: int) -> Vector:
    """∇(mean[start] / mean[start + 1]) as a vector of length `size`."""
    grad = np.zeros(size)
    num, den = float(mean[start]), float(mean[start + 1])
    if den == 0:
        return grad
    grad[start] = 1 / den
    grad[start + 1] = -num / den**2
    return grad


def _safe_ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 else 0.0
