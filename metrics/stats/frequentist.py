"""Fixed-horizon tests: z or Welch t, two- or one-sided, and the intervals that go with them.

Statsig (p-value.mdx, confidence-intervals.mdx, one-sided-test.mdx): a z-test, except Welch's
t when the Welch–Satterthwaite dof is below 100. GrowthBook always uses t (gbstats
frequentist/tests.py `TwoSidedTTest`); `TestChoice.T` reproduces it.
"""

from __future__ import annotations

import math
from enum import StrEnum

from scipy import stats as sps

from metrics.stats.effects import FiellerParts

Interval = tuple[float, float]
T_TEST_BELOW_DOF = 100.0


class Sided(StrEnum):
    TWO = "two_sided"
    ONE = "one_sided"  # towards the metric's good direction


class Direction(StrEnum):
    INCREASE = "increase"  # higher is better
    DECREASE = "decrease"  # lower is better


class TestChoice(StrEnum):
    __test__ = False  # not a pytest test class

    AUTO = "auto"  # Statsig: t when dof < 100, else z
    T = "t"  # GrowthBook: always Welch t
    Z = "z"


class TestKind(StrEnum):
    __test__ = False

    Z = "z"
    T = "t"


def choose_test(dof: float, choice: TestChoice) -> TestKind:
    if choice is TestChoice.T:
        return TestKind.T
    if choice is TestChoice.AUTO and dof < T_TEST_BELOW_DOF:
        return TestKind.T
    return TestKind.Z


def _sf(x: float, test: TestKind, dof: float) -> float:
    return float(sps.t.sf(x, dof) if test is TestKind.T else sps.norm.sf(x))


def critical_value(alpha: float, sided: Sided, test: TestKind, dof: float) -> float:
    tail = alpha / 2 if sided is Sided.TWO else alpha
    return float(sps.t.isf(tail, dof) if test is TestKind.T else sps.norm.isf(tail))


def p_value(
    statistic: float, sided: Sided, direction: Direction, test: TestKind, dof: float
) -> float:
    """Two-sided: 2·P(T > |z|); one-sided: P(T > z) when higher is better, P(T < z) else."""
    if sided is Sided.TWO:
        return min(1.0, 2 * _sf(abs(statistic), test, dof))
    signed = statistic if direction is Direction.INCREASE else -statistic
    return _sf(signed, test, dof)


def interval(estimate: float, halfwidth: float, sided: Sided, direction: Direction) -> Interval:
    """A one-sided interval is open on the side that does not test the good direction."""
    lower, upper = estimate - halfwidth, estimate + halfwidth
    if sided is Sided.TWO:
        return (lower, upper)
    if direction is Direction.INCREASE:
        return (lower, math.inf)
    return (-math.inf, upper)


def fieller_interval(
    parts: FiellerParts, critical: float, sided: Sided, direction: Direction
) -> Interval | None:
    """Fieller's interval for the lift N/D − 1: the R with (N − R·D)² ≤ c²·var(N − R·D).
    None when it is unbounded (g = c²·var(D)/D² ≥ 1: the control mean is not
    distinguishable from 0), as in Statsig fieller-intervals.mdx."""
    c2 = critical**2
    a = parts.denominator**2 - c2 * parts.var_denominator
    if a <= 0:
        return None
    b = parts.numerator * parts.denominator - c2 * parts.covariance
    c = parts.numerator**2 - c2 * parts.var_numerator
    discriminant = b**2 - a * c
    if discriminant < 0:
        return None
    root = math.sqrt(discriminant)
    low, high = (b - root) / a - 1, (b + root) / a - 1
    if parts.denominator < 0:  # the lift divides by |ū_c|: flip for a negative control
        low, high = -high, -low
    return interval_from_bounds(low, high, sided, direction)


def interval_from_bounds(low: float, high: float, sided: Sided, direction: Direction) -> Interval:
    if sided is Sided.TWO:
        return (low, high)
    return (low, math.inf) if direction is Direction.INCREASE else (-math.inf, high)
