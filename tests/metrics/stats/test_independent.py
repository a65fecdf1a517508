"""Our sufficient-statistic formulas against direct computations on simulated raw values."""

import numpy as np
import pytest

from metrics.stats import (
    Covariate,
    Ratio,
    RatioCovariate,
    SampleMean,
    Settings,
    TestChoice,
    analyze_metric,
    minimum_detectable_effect,
    units_needed,
)

Z = Settings(test=TestChoice.Z)


def _mean_stat(y, x=None):
    covariate = None if x is None else Covariate(x.sum(), (x * x).sum(), (y * x).sum())
    return SampleMean(len(y), y.sum(), (y * y).sum(), covariate)


def _ratio_stat(m, d, mp=None, dp=None):
    covariate = None
    if mp is not None:
        covariate = RatioCovariate(
            sum=mp.sum(),
            sum_squares=(mp * mp).sum(),
            den_sum=dp.sum(),
            den_sum_squares=(dp * dp).sum(),
            main_sum_product=(m * mp).sum(),
            den_sum_product=(d * dp).sum(),
            main_den_pre_sum_product=(m * dp).sum(),
            pre_den_sum_product=(mp * d).sum(),
            pre_pre_sum_product=(mp * dp).sum(),
        )
    return Ratio(len(m), m.sum(), (m * m).sum(), d.sum(), (d * d).sum(), (m * d).sum(), covariate)


def test_cuped__numpy_regression_on_raw_values__same_effect_and_variance():
    # Given: pre-period values that predict the post-period ones
    rng = np.random.default_rng(7)
    x_c, x_t = rng.gamma(2, 5, 800), rng.gamma(2, 5, 900)
    y_c = 3 + 0.8 * x_c + rng.normal(0, 4, 800)
    y_t = 3.5 + 0.8 * x_t + rng.normal(0, 4, 900)
    # When
    result = analyze_metric([_mean_stat(y_c, x_c), _mean_stat(y_t, x_t)], Z)[0]
    # Then: θ is the slope of post on pre over both arms, the effect the adjusted difference
    theta = np.polyfit(np.r_[x_c, x_t], np.r_[y_c, y_t], 1)[0]
    adj_c, adj_t = y_c - theta * x_c, y_t - theta * x_t
    variance = adj_c.var(ddof=1) / 800 + adj_t.var(ddof=1) / 900
    unadjusted = y_c.var(ddof=1) / 800 + y_t.var(ddof=1) / 900
    assert result.cuped.applied
    assert result.cuped.theta == pytest.approx(theta, rel=1e-9)
    assert result.absolute.estimate == pytest.approx(adj_t.mean() - adj_c.mean(), rel=1e-9)
    assert result.absolute.standard_error**2 == pytest.approx(variance, rel=1e-9)
    assert result.cuped.variance_reduction == pytest.approx(1 - variance / unadjusted, rel=1e-9)


def test_ratio__delta_method_on_raw_values__same_variance():
    # Given: sessions (denominator) and clicks (numerator) per user
    rng = np.random.default_rng(11)
    d_c, d_t = rng.poisson(4, 700) + 1, rng.poisson(4, 650) + 1
    m_c, m_t = rng.binomial(d_c, 0.30), rng.binomial(d_t, 0.33)
    # When
    result = analyze_metric([_ratio_stat(m_c, d_c), _ratio_stat(m_t, d_t)], Z)[0]

    # Then: var(Σm/Σd) = var of the linearised unit values (m − R·d)/d̄, over n
    def ratio_and_var(m, d):
        r = m.sum() / d.sum()
        linear = (m - r * d) / d.mean()
        return r, linear.var(ddof=1) / len(m)

    (r_c, v_c), (r_t, v_t) = ratio_and_var(m_c, d_c), ratio_and_var(m_t, d_t)
    assert result.control_mean == pytest.approx(r_c)
    assert result.absolute.estimate == pytest.approx(r_t - r_c, rel=1e-12)
    assert result.absolute.standard_error**2 == pytest.approx(v_c + v_t, rel=1e-9)
    relative_var = v_t / r_c**2 + v_c * r_t**2 / r_c**4
    assert result.relative.standard_error**2 == pytest.approx(relative_var, rel=1e-9)


def test_ratio_cuped__linearised_raw_values__same_theta_and_variance():
    # Given
    rng = np.random.default_rng(5)
    n_c, n_t = 600, 640
    dp_c, dp_t = rng.poisson(4, n_c) + 1, rng.poisson(4, n_t) + 1
    mp_c, mp_t = rng.binomial(dp_c, 0.3), rng.binomial(dp_t, 0.3)
    d_c, d_t = dp_c + rng.poisson(1, n_c), dp_t + rng.poisson(1, n_t)
    m_c, m_t = mp_c + rng.binomial(d_c - dp_c, 0.3), mp_t + rng.binomial(d_t - dp_t, 0.35)
    control = _ratio_stat(m_c, d_c, mp_c, dp_c)
    treatment = _ratio_stat(m_t, d_t, mp_t, dp_t)
    # When
    result = analyze_metric([control, treatment], Z)[0]

    # Then: θ and the variance from the per-unit linearised ratios
    def linear(m, d):
        r = m.sum() / d.sum()
        return r, (m - r * d) / d.mean()

    arms = [(linear(m_c, d_c), linear(mp_c, dp_c)), (linear(m_t, d_t), linear(mp_t, dp_t))]
    cov = sum(np.cov(post, pre)[0, 1] for (_, post), (_, pre) in arms)
    var = sum(pre.var(ddof=1) for _, (_, pre) in arms)
    theta = cov / var
    estimates = [r - theta * rp for (r, _), (rp, _) in arms]
    variance = sum((post - theta * pre).var(ddof=1) / len(post) for (_, post), (_, pre) in arms)
    assert result.cuped.theta == pytest.approx(theta, rel=1e-9)
    assert result.absolute.estimate == pytest.approx(estimates[1] - estimates[0], rel=1e-9)
    assert result.absolute.standard_error**2 == pytest.approx(variance, rel=1e-9)


def test_power__statsig_formula_and_inverse__round_trip():
    # Given: mean 2, variance 9, 10 000 units per group
    mde = minimum_detectable_effect(mean=2.0, variance=9.0, n_treatment=10_000, n_control=10_000)
    # Then: (1.95996 + 0.84162)·sqrt(9·2/10 000)/2
    assert mde == pytest.approx((1.959963985 + 0.841621234) * np.sqrt(9 * 2 / 10_000) / 2)
    n_t, n_c = units_needed(mean=2.0, variance=9.0, relative_mde=mde)
    assert (n_t, n_c) in {(10_000, 10_000), (10_001, 10_001)}
