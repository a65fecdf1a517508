"""Per-group sufficient statistics: what the engine's query returns for one metric and one group.

Field names follow the query's columns (GrowthBook's set, docs/statistics.md "Inputs"), so a
row maps onto a dataclass without renaming. Every class turns itself into `Moments`: the
means of the per-unit quantities and their per-unit covariance matrix, which is all the
delta method (metrics.stats.moments) needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics.stats.moments import Kind, Moments, moments_from_sums, unadjusted_gradient


@dataclass(frozen=True)
class Covariate:
    """Pre-exposure data of the same metric for CUPED: sums over every unit of the group (a unit
    without pre-data counts as 0) and how many units had any pre-data (None: all of them)."""

    sum: float  # covariate_sum
    sum_squares: float  # covariate_sum_squares
    main_sum_product: float  # main_covariate_sum_product: sum of post * pre
    units_with_data: int | None = None


@dataclass(frozen=True)
class RatioCovariate:
    """Pre-exposure numerator and denominator of a ratio metric, and the cross products
    ratio CUPED needs (gbstats RegressionAdjustedRatioStatistic's six products)."""

    sum: float  # covariate_sum: numerator before exposure
    sum_squares: float  # covariate_sum_squares
    den_sum: float  # denominator_pre_sum
    den_sum_squares: float  # denominator_pre_sum_squares
    main_sum_product: float  # main_covariate_sum_product: num post * num pre
    den_sum_product: float  # denominator_post_denominator_pre_sum_product
    main_den_pre_sum_product: float  # main_post_denominator_pre_sum_product
    pre_den_sum_product: float  # main_pre_denominator_post_sum_product
    pre_pre_sum_product: float  # main_pre_denominator_pre_sum_product
    units_with_data: int | None = None


@dataclass(frozen=True)
class SampleMean:
    """A metric averaged over units (sums, counts, revenue per unit): n units, Σy, Σy²."""

    n: int
    sum: float
    sum_squares: float
    covariate: Covariate | None = None

    kind = Kind.MEAN

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        """Unbiased per-unit variance s² (Statsig variance.mdx); 0 below two units."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.sum_squares - self.sum**2 / self.n) / (self.n - 1))

    def moments(self) -> Moments:
        return _mean_moments(self.n, self.sum, self.sum_squares, self.covariate, ddof=1)


@dataclass(frozen=True)
class Proportion:
    """A 0/1 metric per unit (converted or not): n units of which `sum` converted."""

    n: int
    sum: float
    covariate: Covariate | None = None

    kind = Kind.MEAN

    @property
    def sum_squares(self) -> float:
        return self.sum

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        """p(1 - p), the Bernoulli variance (gbstats ProportionStatistic)."""
        return self.mean * (1 - self.mean)

    def moments(self) -> Moments:
        return _mean_moments(self.n, self.sum, self.sum, self.covariate, ddof=0)


@dataclass(frozen=True)
class Ratio:
    """A ratio of sums over units (clicks per session, revenue per order): numerator m and
    denominator d per unit; the metric is Σm / Σd, its variance by the delta method."""

    n: int
    sum: float  # main_sum: numerator
    sum_squares: float  # main_sum_squares
    den_sum: float  # denominator_sum
    den_sum_squares: float  # denominator_sum_squares
    main_den_sum_product: float  # main_denominator_sum_product: Σ m·d
    covariate: RatioCovariate | None = None

    kind = Kind.RATIO

    @property
    def mean(self) -> float:
        return self.sum / self.den_sum if self.den_sum != 0 else 0.0

    @property
    def variance(self) -> float:
        """Per-unit variance of the linearised ratio (Statsig variance.mdx, gbstats
        `variance_of_ratios`): var(m̄/d̄) = this / n."""
        m = self.moments()
        if self.n < 2 or m.mean[1] == 0:
            return 0.0
        grad = unadjusted_gradient(Kind.RATIO, m.mean)
        return float(grad @ m.cov @ grad)

    def moments(self) -> Moments:
        sums = [self.sum, self.den_sum]
        products = [
            [self.sum_squares, self.main_den_sum_product],
            [self.main_den_sum_product, self.den_sum_squares],
        ]
        c = self.covariate
        if c is not None:
            sums += [c.sum, c.den_sum]
            products = [
                [*products[0], c.main_sum_product, c.main_den_pre_sum_product],
                [*products[1], c.pre_den_sum_product, c.den_sum_product],
                [c.main_sum_product, c.pre_den_sum_product, c.sum_squares, c.pre_pre_sum_product],
                [
                    c.main_den_pre_sum_product,
                    c.den_sum_product,
                    c.pre_pre_sum_product,
                    c.den_sum_squares,
                ],
            ]
        return moments_from_sums(self.n, np.array(sums), np.array(products), ddof=1)


GroupStatistic = SampleMean | Proportion | Ratio


def _mean_moments(
    n: int, total: float, squares: float, covariate: Covariate | None, ddof: int
) -> Moments:
    if covariate is None:
        return moments_from_sums(n, np.array([total]), np.array([[squares]]), ddof=ddof)
    product = covariate.main_sum_product
    return moments_from_sums(
        n,
        np.array([total, covariate.sum]),
        np.array([[squares, product], [product, covariate.sum_squares]]),
        ddof=ddof,
    )


def units_with_pre_data(stat: GroupStatistic) -> int:
    """How many units had pre-exposure data (all of them when the query did not say)."""
    covariate = stat.covariate
    if covariate is None:
        return 0
    return stat.n if covariate.units_with_data is None else covariate.units_with_data
