"""Seeded simulations: error rates and coverage within binomial bounds.

Each check runs a fast version (hundreds of runs) and a thorough one marked slow (thousands).
Bounds are the 99.9% two-sided binomial range around the nominal rate, so a correct formula
passes with a fixed seed and a wrong one (a variance off by a few percent at small n, a
missing factor) lands outside."""

import numpy as np
import pytest
from scipy import stats as sps

from metrics.stats import (
    Covariate,
    Proportion,
    Ratio,
    SampleMean,
    SequentialMethod,
    Settings,
    analyze_metric,
    benjamini_hochberg,
    srm_check,
)

ALPHA = 0.05
FAST, SLOW = "fast", "slow"
SPEEDS = [FAST, pytest.param(SLOW, marks=pytest.mark.slow)]


def _bounds(runs, rate, tail=0.0005):
    return sps.binom.ppf(tail, runs, rate), sps.binom.isf(tail, runs, rate)


def _assert_rate(count, runs, rate):
    low, high = _bounds(runs, rate)
    assert low <= count <= high, f"{count}/{runs} outside [{low}, {high}] for rate {rate}"


def _runs(speed, fast, slow):
    return fast if speed == FAST else slow


def _mean_groups(y):
    """y: (runs, n) -> one SampleMean per run."""
    n = y.shape[1]
    return [SampleMean(n, s, q) for s, q in zip(y.sum(1), (y * y).sum(1), strict=True)]


def _false_positives(control, treatment, settings=None):
    settings = settings or Settings()
    return sum(
        analyze_metric([c, t], settings)[0].significant
        for c, t in zip(control, treatment, strict=True)
    )


@pytest.mark.parametrize("speed", SPEEDS)
def test_aa__mean_metric__false_positive_rate_is_alpha(speed):
    # Given: skewed per-unit values (gamma), 200 units per arm, no true difference
    rng = np.random.default_rng(101)
    runs = _runs(speed, 600, 10_000)
    control, treatment = (rng.gamma(2.0, 3.0, (runs, 200)) for _ in range(2))
    # When / Then
    _assert_rate(_false_positives(_mean_groups(control), _mean_groups(treatment)), runs, ALPHA)


@pytest.mark.parametrize("speed", SPEEDS)
def test_aa__four_units_per_arm__welch_t_as_scipy_and_at_most_alpha(speed):
    # Small n: where the n − 1 and the t distribution matter. Welch's test is slightly
    # conservative here (about 4.4% at 4 + 4 normal units), so: scipy's count, and ≤ α.
    rng = np.random.default_rng(202)
    runs = _runs(speed, 1500, 20_000)
    control, treatment = (rng.normal(5.0, 2.0, (runs, 4)) for _ in range(2))
    scipy_p = sps.ttest_ind(treatment, control, axis=1, equal_var=False).pvalue
    hits = _false_positives(_mean_groups(control), _mean_groups(treatment))
    assert hits == int((scipy_p < ALPHA).sum())
    assert hits <= _bounds(runs, ALPHA)[1]


@pytest.mark.parametrize("speed", SPEEDS)
def test_aa__proportion__false_positive_rate_is_alpha(speed):
    rng = np.random.default_rng(303)
    runs = _runs(speed, 600, 10_000)
    control = [Proportion(1000, k) for k in rng.binomial(1000, 0.1, runs)]
    treatment = [Proportion(1000, k) for k in rng.binomial(1000, 0.1, runs)]
    _assert_rate(_false_positives(control, treatment), runs, ALPHA)


def _ratio_groups(rng, runs, n, rate):
    d = rng.poisson(3.0, (runs, n)) + 1
    m = rng.binomial(d, rate)
    sums = [x.sum(1) for x in (m, m * m, d, d * d, m * d)]
    return [Ratio(n, *row) for row in zip(*sums, strict=True)]


@pytest.mark.parametrize("speed", SPEEDS)
def test_aa__ratio__false_positive_rate_is_alpha(speed):
    rng = np.random.default_rng(404)
    runs = _runs(speed, 600, 10_000)
    control, treatment = (_ratio_groups(rng, runs, 300, 0.2) for _ in range(2))
    _assert_rate(_false_positives(control, treatment), runs, ALPHA)


def _cuped_groups(rng, runs, n, effect=0.0):
    x = rng.gamma(2.0, 5.0, (runs, n))
    y = 2.0 + 0.9 * x + rng.normal(0.0, 3.0, (runs, n)) + effect
    sums = zip(y.sum(1), (y * y).sum(1), x.sum(1), (x * x).sum(1), (x * y).sum(1), strict=True)
    return [SampleMean(n, s, q, Covariate(xs, xq, xy)) for s, q, xs, xq, xy in sums]


@pytest.mark.parametrize("speed", SPEEDS)
def test_aa__cuped__false_positive_rate_is_alpha_and_variance_drops(speed):
    rng = np.random.default_rng(505)
    runs = _runs(speed, 600, 10_000)
    control, treatment = _cuped_groups(rng, runs, 300), _cuped_groups(rng, runs, 300)
    results = [analyze_metric([c, t])[0] for c, t in zip(control, treatment, strict=True)]
    assert all(r.cuped.applied for r in results)
    assert np.mean([r.cuped.variance_reduction for r in results]) > 0.5
    _assert_rate(sum(r.significant for r in results), runs, ALPHA)


@pytest.mark.parametrize("speed", SPEEDS)
def test_coverage__known_effect__absolute_and_relative_intervals_cover_95(speed):
    # Given: control mean 10, treatment mean 10.5 (+5%)
    rng = np.random.default_rng(606)
    runs = _runs(speed, 600, 10_000)
    control = _mean_groups(rng.normal(10.0, 3.0, (runs, 300)))
    treatment = _mean_groups(rng.normal(10.5, 3.0, (runs, 300)))
    results = [analyze_metric([c, t])[0] for c, t in zip(control, treatment, strict=True)]
    absolute = sum(r.absolute.interval[0] <= 0.5 <= r.absolute.interval[1] for r in results)
    relative = sum(r.relative.interval[0] <= 0.05 <= r.relative.interval[1] for r in results)
    _assert_rate(runs - absolute, runs, ALPHA)
    _assert_rate(runs - relative, runs, ALPHA)


@pytest.mark.parametrize("speed", SPEEDS)
def test_coverage__cuped_with_effect__covers_95(speed):
    rng = np.random.default_rng(707)
    runs = _runs(speed, 600, 10_000)
    control, treatment = _cuped_groups(rng, runs, 300), _cuped_groups(rng, runs, 300, 0.4)
    results = [analyze_metric([c, t])[0] for c, t in zip(control, treatment, strict=True)]
    missed = sum(not r.absolute.interval[0] <= 0.4 <= r.absolute.interval[1] for r in results)
    _assert_rate(missed, runs, ALPHA)


def _peeking(rng, runs, looks, per_look, settings):
    """How many A/A runs are significant at any of `looks` reads of growing data."""
    y = rng.gamma(2.0, 3.0, (2, runs, looks, per_look))
    sums, squares = y.sum(3).cumsum(2), (y * y).sum(3).cumsum(2)
    hits = 0
    for run in range(runs):
        for look in range(looks):
            n = per_look * (look + 1)
            groups = [SampleMean(n, sums[a, run, look], squares[a, run, look]) for a in (0, 1)]
            if analyze_metric(groups, settings)[0].significant:
                hits += 1
                break
    return hits


@pytest.mark.parametrize("speed", SPEEDS)
@pytest.mark.parametrize("method", list(SequentialMethod))
def test_peeking__sequential_keeps_alpha_fixed_does_not(speed, method):
    # Given: 10 daily reads of an A/A test
    runs = _runs(speed, 200, 3000)
    sequential = Settings(sequential=True, sequential_method=method)
    # When
    seq_hits = _peeking(np.random.default_rng(808), runs, 10, 100, sequential)
    fixed_hits = _peeking(np.random.default_rng(808), runs, 10, 100, Settings())
    # Then: sequential at or below α; fixed-horizon reads well above it
    assert seq_hits <= _bounds(runs, ALPHA)[1]
    assert fixed_hits > sps.binom.isf(0.001, runs, ALPHA)


@pytest.mark.parametrize("speed", SPEEDS)
def test_benjamini_hochberg__controls_fdr(speed):
    # Given: 20 hypotheses per run, 15 true nulls, 5 real effects (z ~ N(3, 1))
    rng = np.random.default_rng(909)
    runs, m, m0, q = _runs(speed, 400, 10_000), 20, 15, 0.1
    z = np.concatenate([rng.normal(0, 1, (runs, m0)), rng.normal(3, 1, (runs, m - m0))], axis=1)
    p = 2 * sps.norm.sf(np.abs(z))
    # When
    proportions = []
    for row in p:
        rejected = np.array(benjamini_hochberg(row, q).rejected)
        proportions.append(rejected[:m0].sum() / max(1, rejected.sum()))
    # Then: FDR ≤ q·m0/m (BH's theorem), with the sampling error of the mean
    fdr, se = np.mean(proportions), np.std(proportions) / np.sqrt(runs)
    assert fdr <= q * m0 / m + 3.3 * se
    assert fdr > 0.02  # the procedure does reject: it is not vacuous


@pytest.mark.parametrize("speed", SPEEDS)
def test_srm__false_alarm_rate_at_thresholds(speed):
    # Given: a correct 20/30/50 split of 3000 units
    rng = np.random.default_rng(1010)
    runs = _runs(speed, 3000, 50_000)
    counts = rng.multinomial(3000, [0.2, 0.3, 0.5], runs)
    # When
    p_values = np.array([srm_check(list(c), [0.2, 0.3, 0.5]).p_value for c in counts])
    # Then
    _assert_rate(int((p_values < 0.01).sum()), runs, 0.01)
    _assert_rate(int((p_values < 0.001).sum()), runs, 0.001)
