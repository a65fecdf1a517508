"""Degenerate inputs give a message, never an exception or a NaN."""

import math

import pytest

from metrics.stats import (
    BonferroniOver,
    Correction,
    Covariate,
    Direction,
    MetricInput,
    Proportion,
    Ratio,
    RelativeInterval,
    SampleMean,
    Settings,
    SrmVerdict,
    analyze_experiment,
    analyze_metric,
    benjamini_hochberg,
    bonferroni_alpha,
    holm,
    srm_check,
)

A = SampleMean(n=3407, sum=1396.87, sum_squares=52377.9767)
B = SampleMean(n=3461, sum=2422.7, sum_squares=134698.29)


def _no_nan(result):
    for effect in (result.absolute, result.relative):
        if effect is not None:
            assert not math.isnan(effect.estimate)
            assert not math.isnan(effect.standard_error)
            assert not any(math.isnan(x) for x in effect.interval)
            assert not math.isnan(effect.p_value)


@pytest.mark.parametrize("n", [0, 1])
def test_compare__fewer_than_two_units__message(n):
    result = analyze_metric([SampleMean(n, 5.0 * n, 25.0 * n), A])[0]
    assert result.absolute is None
    assert result.p_value is None
    assert not result.significant
    assert "fewer than 2 units" in result.message


def test_compare__zero_variance__message():
    result = analyze_metric([SampleMean(10, 50, 250), SampleMean(10, 60, 360)])[0]
    assert result.absolute is None
    assert result.message == "no result: zero variance"


def test_compare__no_conversions_anywhere__message():
    result = analyze_metric([Proportion(500, 0), Proportion(500, 0)])[0]
    assert result.absolute is None
    assert "zero variance" in result.message


def test_compare__control_mean_zero__absolute_only():
    # Given: control values ±1 around 0; no conversions in a proportion's control
    for groups in ([SampleMean(100, 0.0, 100.0), B], [Proportion(400, 0), Proportion(400, 9)]):
        result = analyze_metric(groups)[0]
        assert result.relative is None
        assert result.absolute is not None
        assert "control mean is 0" in result.message
        _no_nan(result)


def test_compare__negative_values__lift_over_absolute_control_mean():
    # Given: control mean −10, treatment −9 (e.g. a balance); decrease is good
    control = SampleMean(1000, -10_000, 100_000 + 999 * 4)
    treatment = SampleMean(1000, -9_000, 81_000 + 999 * 4)
    for interval in RelativeInterval:
        settings = Settings(relative_interval=interval)
        result = analyze_metric([control, treatment], settings, direction=Direction.DECREASE)[0]
        # Then: the treatment is higher by 10% of |control|
        assert result.relative.estimate == pytest.approx(0.1)
        low, high = result.relative.interval
        assert low < 0.1 < high
        assert result.absolute.estimate == pytest.approx(1.0)


def test_compare__huge_n__finite_results():
    n = 10**12
    control = SampleMean(n, 1000.0 * n, n * (1000.0**2 + 4.0))
    treatment = SampleMean(n, 1000.001 * n, n * (1000.001**2 + 4.0))
    result = analyze_metric([control, treatment], Settings(bayesian=True))[0]
    _no_nan(result)
    assert result.method.test.value == "z"
    assert result.absolute.estimate == pytest.approx(0.001, rel=1e-3)
    assert result.significant


def test_cuped__no_unit_with_pre_data__not_applied():
    pre = Covariate(0.0, 0.0, 0.0, units_with_data=0)
    result = analyze_metric([SampleMean(500, 500, 1500, pre), SampleMean(500, 520, 1600, pre)])[0]
    assert not result.cuped.applied
    assert "5%" in result.cuped.reason
    assert result.absolute is not None


@pytest.mark.parametrize(
    ("n", "with_data", "reason"),
    [(50, 50, "100 units"), (500, 20, "5%")],
)
def test_cuped__statsig_guard__not_applied(n, with_data, reason):
    pre = Covariate(n * 1.0, n * 3.0, n * 2.5, units_with_data=with_data)
    groups = [SampleMean(n, n * 1.0, n * 4.0, pre), SampleMean(n, n * 1.1, n * 4.5, pre)]
    result = analyze_metric(groups)[0]
    assert not result.cuped.applied
    assert reason in result.cuped.reason


def test_cuped__pre_data_without_variance__not_applied():
    pre = Covariate(500.0, 500.0, 700.0)  # every unit had exactly 1 before
    groups = [SampleMean(500, 700, 1500, pre), SampleMean(500, 720, 1600, pre)]
    result = analyze_metric(groups)[0]
    assert not result.cuped.applied
    assert "no variance" in result.cuped.reason


def test_cuped__turned_off__not_applied_no_reason():
    pre = Covariate(500.0, 1500.0, 1200.0)
    groups = [SampleMean(500, 700, 1500, pre), SampleMean(500, 720, 1600, pre)]
    result = analyze_metric(groups, Settings(cuped=False))[0]
    assert not result.cuped.applied
    assert result.cuped.reason is None


def test_ratio__zero_denominator__message_not_exception():
    result = analyze_metric([Ratio(10, 0, 0, 0, 0, 0), Ratio(10, 5, 9, 10, 12, 9)])[0]
    assert result.absolute is None or not math.isnan(result.absolute.estimate)
    assert result.message is not None


def test_fieller__control_not_distinct_from_zero__unbounded_with_message():
    control = SampleMean(20, 1.0, 400.0)  # mean 0.05, sd ~4.6
    result = analyze_metric([control, B], Settings(relative_interval="fieller"))[0]
    assert result.relative.interval == (-math.inf, math.inf)
    assert "Fieller" in result.message


def test_analyze__bad_groups__value_error():
    with pytest.raises(ValueError, match="at least one treatment"):
        analyze_metric([A])
    with pytest.raises(ValueError, match="same statistic type"):
        analyze_metric([A, Proportion(10, 3)])
    with pytest.raises(ValueError, match="confidence_level"):
        Settings(confidence_level=1.5)


def test_bonferroni__statsig_examples():
    assert bonferroni_alpha(0.05, metrics=2, share=0.6) == pytest.approx(0.015)
    assert bonferroni_alpha(0.05, metrics=4, share=0.4) == pytest.approx(0.005)
    assert bonferroni_alpha(0.05, variants=3, metrics=2) == pytest.approx(0.05 / 6)


def test_benjamini_hochberg__textbook_example__adjusted_and_alpha():
    # Given: Benjamini & Hochberg (1995)'s style of example
    p = [0.01, 0.04, 0.03, 0.005, 0.20]
    # When
    bh = benjamini_hochberg(p, fdr=0.05)
    # Then: sorted 0.005, 0.01, 0.03, 0.04, 0.20 against 0.01, 0.02, 0.03, 0.04, 0.05
    assert bh.alpha == pytest.approx(0.04)
    assert bh.rejected == (True, True, True, True, False)
    assert bh.adjusted == pytest.approx((0.025, 0.05, 0.05, 0.025, 0.20))


def test_benjamini_hochberg__none_pass__alpha_q_over_m():
    bh = benjamini_hochberg([0.5, 0.3, 0.9], fdr=0.05)
    assert bh.alpha == pytest.approx(0.05 / 3)
    assert bh.rejected == (False, False, False)
    assert bh.adjusted == pytest.approx((0.75, 0.75, 0.9))


def test_holm__textbook_example():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))


def test_analyze_experiment__bonferroni_over_variants_and_metrics():
    settings = Settings(
        correction=Correction.BONFERRONI, bonferroni_over=BonferroniOver.BOTH, primary_metrics=2
    )
    results = analyze_experiment(
        [MetricInput([A, B, B]), MetricInput([A, B], primary=False)], settings
    )
    assert [r.alpha for r in results[0]] == pytest.approx([0.05 / 4] * 2)
    assert results[1][0].alpha == pytest.approx(0.05)


def test_analyze_experiment__benjamini_hochberg__primary_only_and_rerun_at_bh_alpha():
    # Given: a clear effect, a weak one, and a secondary metric
    weak = SampleMean(n=3461, sum=1450.0, sum_squares=60000.0)
    settings = Settings(correction="benjamini_hochberg")
    metrics = [MetricInput([A, B]), MetricInput([A, weak]), MetricInput([A, B], primary=False)]
    # When
    results = analyze_experiment(metrics, settings)
    # Then
    raw = [analyze_metric(m.groups)[0].p_value for m in metrics[:2]]
    bh = benjamini_hochberg(raw, 0.05)
    assert [r[0].adjusted_p_value for r in results[:2]] == pytest.approx(bh.adjusted)
    assert [r[0].alpha for r in results[:2]] == pytest.approx([bh.alpha] * 2)
    assert results[2][0].adjusted_p_value is None
    assert results[2][0].alpha == pytest.approx(0.05)


def test_analyze_experiment__holm__significance_from_adjusted():
    settings = Settings(correction=Correction.HOLM)
    results = analyze_experiment([MetricInput([A, B, B])], settings)[0]
    assert all(r.adjusted_p_value == pytest.approx(min(1, 2 * r.p_value)) for r in results)
    assert all(r.significant == (r.adjusted_p_value < 0.05) for r in results)


@pytest.mark.parametrize(
    ("counts", "weights", "verdict"),
    [
        ([5000, 5000], [1, 1], SrmVerdict.OK),
        ([5000, 5400], [1, 1], SrmVerdict.ALERT),
        ([5000, 5300], [1, 1], SrmVerdict.WARNING),  # p = 0.0031
        ([50_000_000, 50_030_000], [1, 1], SrmVerdict.WARNING),  # p < 0.001, deviation < 0.1%
        ([0, 0], [1, 1], SrmVerdict.OK),
        ([100, 900], [1, 0], SrmVerdict.OK),
    ],
)
def test_srm__statsig_thresholds(counts, weights, verdict):
    assert srm_check(counts, weights).verdict is verdict
