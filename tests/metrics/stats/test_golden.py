"""Published values: gbstats' own tests (growthbook/growthbook packages/stats/tests/
frequentist/test_tests.py and bayesian/test_tests.py) and scipy's functions as cross-checks."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from metrics.stats import (
    Covariate,
    Direction,
    Prior,
    Proportion,
    Ratio,
    RatioCovariate,
    SampleMean,
    SequentialMethod,
    Settings,
    Sided,
    TestChoice,
    analyze_metric,
    srm_check,
)

TOL = 1e-5
# gbstats' fixtures: control mean 0.41 (sd 3.9), treatment 0.7 (sd 6.2).
CONTROL = SampleMean(n=3407, sum=1396.87, sum_squares=52377.9767)
CONTROL_3000 = SampleMean(n=3000, sum=1396.87, sum_squares=52377.9767)
TREATMENT = SampleMean(n=3461, sum=2422.7, sum_squares=134698.29)
GB_T = Settings(test=TestChoice.T)
CS = SequentialMethod.CONFIDENCE_SEQUENCE


def _one(groups, settings=GB_T, **kwargs):
    return analyze_metric(groups, settings, **kwargs)[0]


def _close(actual, expected, tol=TOL):
    assert actual == pytest.approx(expected, abs=tol)


def test_two_sided__gbstats_relative__same_values():
    # When
    result = _one([CONTROL, TREATMENT])
    # Then
    _close(result.relative.estimate, 0.70732)
    _close(result.relative.interval, (-0.03526, 1.44989))
    _close(result.relative.p_value, 0.06191)
    _close(result.relative.standard_error, 0.37879)


def test_two_sided__gbstats_absolute__same_values():
    result = _one([CONTROL, TREATMENT])
    _close(result.absolute.estimate, 0.29)
    _close(result.absolute.interval, (0.04538, 0.53462))
    _close(result.p_value, 0.02016)
    _close(result.absolute.standard_error, 0.12478)


def test_two_sided__gbstats_binomial__same_values():
    result = _one([Proportion(n=28, sum=14), Proportion(n=30, sum=16)])
    _close(result.relative.estimate, 0.06667)
    _close(result.relative.interval, (-0.47767, 0.61101))
    _close(result.relative.p_value, 0.80707)


@pytest.mark.parametrize(
    ("direction", "relative_ci", "relative_p", "absolute_ci", "absolute_p"),
    [
        (
            Direction.INCREASE,
            (-0.045136675850396, math.inf),
            0.06558262868467746,
            (0.020791480063255735, math.inf),
            0.03554272489873023,
        ),
        (
            Direction.DECREASE,
            (-math.inf, 1.0518588475628676),
            0.9344173713153225,
            (-math.inf, 0.44796185327007765),
            0.9644572751012698,
        ),
    ],
)
def test_one_sided__gbstats__same_values(
    direction, relative_ci, relative_p, absolute_ci, absolute_p
):
    result = _one(
        [CONTROL_3000, TREATMENT], Settings(test=TestChoice.T, sided=Sided.ONE), direction=direction
    )
    _close(result.relative.estimate, 0.5033610858562358)
    _close(result.relative.interval, relative_ci)
    _close(result.relative.p_value, relative_p)
    _close(result.absolute.interval, absolute_ci)
    _close(result.absolute.p_value, absolute_p)


def test_sequential_cs__gbstats_tuning_1000__same_values():
    settings = Settings(sequential=True, sequential_method=CS, sequential_tuning=1000)
    result = _one([CONTROL_3000, TREATMENT], settings)
    _close(result.relative.estimate, 0.50336)
    _close(result.relative.interval, (-0.55844, 1.56516))
    _close(result.relative.p_value, 1.0)
    assert result.method.sequential is CS
    assert result.method.test.value == "z"


def test_sequential_cs__gbstats_proportions__same_values():
    settings = Settings(sequential=True, sequential_method=CS)
    result = _one([Proportion(n=3000, sum=1396), Proportion(n=3461, sum=2422)], settings)
    _close(result.relative.estimate, 0.50386)
    _close(result.relative.interval, (0.40098, 0.60675))
    _close(result.relative.p_value, 0.0)


@pytest.mark.parametrize(
    ("direction", "relative_ci", "absolute_ci", "absolute_p"),
    [
        (
            Direction.INCREASE,
            (-0.42356454602790883, math.inf),
            (-0.12656844172804982, math.inf),
            0.46316491943359384,
        ),
        (
            Direction.DECREASE,
            (-math.inf, 1.4302867177403806),
            (-math.inf, 0.5953217750613832),
            0.4999,
        ),
    ],
)
def test_sequential_cs_one_sided__gbstats__same_values(
    direction, relative_ci, absolute_ci, absolute_p
):
    settings = Settings(sequential=True, sequential_method=CS, sided=Sided.ONE)
    result = _one([CONTROL_3000, TREATMENT], settings, direction=direction)
    _close(result.relative.interval, relative_ci)
    _close(result.relative.p_value, 0.4999)
    _close(result.absolute.interval, absolute_ci)
    # gbstats bisects and stops once the bound is within 1e-6 of 0; we solve for the root.
    _close(result.absolute.p_value, absolute_p, tol=5e-4)


def test_sequential_cs__gbstats_cuped__same_values():
    # Given: gbstats' regression-adjusted fixture (post/pre sum of products 1)
    control = SampleMean(3000, 1396.87, 52377.9767, Covariate(16.87, 527.9767, 1))
    treatment = SampleMean(3461, 2422.7, 134698.29, Covariate(22.7, 1348.29, 1))
    settings = Settings(sequential=True, sequential_method=CS)
    # When
    result = _one([control, treatment], settings)
    # Then
    assert result.cuped.applied
    _close(result.relative.estimate, 0.50338)
    # 1e-5 off in the 5th decimal: our lift's gradient in the control mean is the exact
    # −(ū_c + Δ)/ū_c², gbstats' `frequentist_variance_relative_cuped` uses −ū_t/ū_c².
    _close(result.relative.interval, (-0.50969, 1.51646), tol=3e-5)
    _close(result.relative.standard_error, 0.33341)


def _ratio_ra(n, post, pre, products):
    m, mss, d, dss = post
    mp, mpss, dp, dpss = pre
    mm, dd, mpdp, mdpost, mdpre, mpredpost = products
    covariate = RatioCovariate(
        sum=mp,
        sum_squares=mpss,
        den_sum=dp,
        den_sum_squares=dpss,
        main_sum_product=mm,
        den_sum_product=dd,
        main_den_pre_sum_product=mdpre,
        pre_den_sum_product=mpredpost,
        pre_pre_sum_product=mpdp,
    )
    return Ratio(
        n=n,
        sum=m,
        sum_squares=mss,
        den_sum=d,
        den_sum_squares=dss,
        main_den_sum_product=mdpost,
        covariate=covariate,
    )


RATIO_RA_CONTROL = _ratio_ra(
    100,
    (485.112236689623, 2715.484666118136, 679.9093275844917, 4939.424001640236),
    (192.59138069991536, 460.076026390857, 290.1398399750233, 920.9461385038898),
    (
        1113.6215759318352,
        2130.9404074446747,
        634.239482353647,
        3602.146836776702,
        1559.2878434944676,
        1460.3181079276983,
    ),
)
RATIO_RA_TREATMENT = _ratio_ra(
    100,
    (514.7757826608777, 2994.897482705013, 705.4090874383759, 5291.36604146392),
    (206.94157227402536, 514.2903702246757, 302.54389139107326, 994.4506208125663),
    (
        1237.0953021125997,
        2292.081739775257,
        698.4173425817908,
        3918.1561431600717,
        1701.0287270040265,
        1604.0759503266522,
    ),
)


def test_ratio_cuped__gbstats__same_values():
    result = _one([RATIO_RA_CONTROL, RATIO_RA_TREATMENT])
    assert result.cuped.applied
    _close(result.relative.estimate, -0.0007)
    _close(result.relative.interval, (-0.00841, 0.00700))
    _close(result.relative.standard_error, 0.00391)
    _close(result.relative.p_value, 0.85771)


def test_ratio_cuped_sequential__gbstats__same_values():
    settings = Settings(sequential=True, sequential_method=CS)
    result = _one([RATIO_RA_CONTROL, RATIO_RA_TREATMENT], settings)
    _close(result.relative.interval, (-0.02063, 0.01923))
    _close(result.relative.p_value, 1.0)


GAUSS_A = SampleMean(n=10, sum=100, sum_squares=1002.25)
GAUSS_B = SampleMean(n=10, sum=105, sum_squares=1111.5)


@pytest.mark.parametrize(
    ("groups", "prior", "expected", "ci", "stddev", "chance", "risk"),
    [
        (
            [Proportion(100, 49), Proportion(100, 51)],
            None,
            0.04082,
            (-0.24779, 0.32943),
            0.14725,
            0.60918,
            (0.0814, 0.04058),
        ),
        ([GAUSS_A, GAUSS_B], None, 0.05, (-0.02, 0.12), 0.03572, 0.91923, (0.05131, 0.00131)),
        (
            [GAUSS_A, GAUSS_B],
            Prior(mean=0.1, stddev=math.sqrt(0.1)),
            0.05063,
            (-0.01893, 0.12019),
            0.03549,
            0.92315,
            (0.05186, 0.00123),
        ),
    ],
)
def test_bayesian__gbstats__same_values(groups, prior, expected, ci, stddev, chance, risk):
    result = _one(groups, Settings(bayesian=True, prior=prior))
    posterior = result.bayesian.relative
    _close(posterior.mean, expected)
    _close(posterior.interval, ci)
    _close(posterior.stddev, stddev)
    _close(result.bayesian.chance_to_beat_control, chance)
    _close((result.bayesian.risk_control, result.bayesian.risk_treatment), risk)


def test_bayesian__decrease_is_good__chance_and_risks_swap():
    up = _one([GAUSS_A, GAUSS_B], Settings(bayesian=True)).bayesian
    down = _one([GAUSS_A, GAUSS_B], Settings(bayesian=True), direction=Direction.DECREASE).bayesian
    _close(down.chance_to_beat_control, 1 - up.chance_to_beat_control)
    _close((down.risk_control, down.risk_treatment), (up.risk_treatment, up.risk_control))


@pytest.mark.parametrize(("control", "treatment"), [(CONTROL, TREATMENT), (GAUSS_A, GAUSS_B)])
def test_welch__scipy_ttest_ind_from_stats__same_p_value(control, treatment):
    # Given
    expected = sps.ttest_ind_from_stats(
        treatment.mean,
        math.sqrt(treatment.variance),
        treatment.n,
        control.mean,
        math.sqrt(control.variance),
        control.n,
        equal_var=False,
    )
    # When
    result = _one([control, treatment])
    # Then
    _close(result.p_value, expected.pvalue, tol=1e-10)
    _close(result.absolute.estimate / result.absolute.standard_error, expected.statistic, 1e-10)


def test_auto__small_dof_uses_t_large_uses_z():
    small = _one([GAUSS_A, GAUSS_B], Settings())
    large = _one([CONTROL, TREATMENT], Settings())
    assert (small.method.test.value, large.method.test.value) == ("t", "z")
    _close(large.p_value, 2 * sps.norm.sf(0.29 / 0.12478363158758794), 1e-10)


@pytest.mark.parametrize(
    ("counts", "weights"),
    [([5000, 5100], [1, 1]), ([1000, 2100, 2950], [0.2, 0.35, 0.45]), ([100, 130, 0], [1, 1, 0])],
)
def test_srm__scipy_chisquare__same_p_value(counts, weights):
    kept = [(c, w) for c, w in zip(counts, weights, strict=False) if w > 0]
    total, weight = sum(c for c, _ in kept), sum(w for _, w in kept)
    expected = sps.chisquare([c for c, _ in kept], [w / weight * total for _, w in kept])
    result = srm_check(counts, weights)
    _close(result.p_value, expected.pvalue, 1e-12)
    _close(result.chi_squared, expected.statistic, 1e-9)


def test_msprt__statsig_formula__interval_and_p_value_agree():
    # Given: Statsig's formula written out for the gbstats fixture
    settings = Settings(sequential=True)
    v_c, v_t = CONTROL.variance, TREATMENT.variance
    big_v = v_c / CONTROL.n + v_t / TREATMENT.n
    tau = 1.959963984540054**2 * (v_c + v_t) / (CONTROL.n + TREATMENT.n)
    z_star = math.sqrt(
        (big_v + tau) / tau * (-2 * math.log(0.025) - math.log(big_v / (big_v + tau)))
    )
    # When
    result = _one([CONTROL, TREATMENT], settings)
    # Then
    half = z_star * math.sqrt(big_v)
    _close(result.absolute.interval, (0.29 - half, 0.29 + half), 1e-10)
    assert result.absolute.interval[0] < 0
    assert result.p_value > 0.05
    sigma = z_star / 1.959963984540054
    _close(result.p_value, 2 * sps.norm.sf(0.29 / math.sqrt(big_v) / sigma), 1e-10)


def test_msprt__after_target_date__fixed_horizon():
    result = _one([CONTROL, TREATMENT], Settings(sequential=True, target_date_passed=True))
    assert result.method.sequential is None
    _close(result.p_value, 0.02016, 1e-4)


def test_fieller__plain_means__statsig_formula():
    # Given: Statsig fieller-intervals.mdx with var(X̄) = s²/n
    result = _one([CONTROL, TREATMENT], Settings(relative_interval="fieller"))
    z = 1.959963984540054
    m_c, m_t = CONTROL.mean, TREATMENT.mean
    v_c, v_t = CONTROL.variance / CONTROL.n, TREATMENT.variance / TREATMENT.n
    g = z**2 * v_c / m_c**2
    spread = z / m_c * math.sqrt(m_t**2 / m_c**2 * v_c + (1 - g) * v_t)
    expected = ((m_t / m_c - spread) / (1 - g) - 1, (m_t / m_c + spread) / (1 - g) - 1)
    # Then
    _close(result.relative.interval, expected, 1e-10)
    assert np.isclose(result.relative.estimate, 0.70732, atol=TOL)
