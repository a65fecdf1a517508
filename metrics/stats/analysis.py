"""The entry points: every treatment against control for one metric, or for an experiment's
metrics with corrections across them (docs/statistics.md)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from metrics.stats import bayesian as bayes
from metrics.stats import frequentist as freq
from metrics.stats import sequential as seq
from metrics.stats.corrections import benjamini_hochberg, bonferroni_alpha, holm
from metrics.stats.cuped import NOT_REQUESTED, Cuped, decide_cuped
from metrics.stats.effects import (
    Estimate,
    absolute_effect,
    fieller_parts,
    relative_effect,
    unit_variance,
)
from metrics.stats.frequentist import Direction, Sided, TestKind
from metrics.stats.inputs import GroupStatistic, units_with_pre_data
from metrics.stats.moments import Kind, Moments, unadjusted_value
from metrics.stats.results import (
    BonferroniOver,
    Comparison,
    Correction,
    Effect,
    Method,
    RelativeInterval,
    Settings,
)

DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class MetricInput:
    """One metric of an experiment: its groups' statistics (control first), which way is
    good, and whether it is primary (corrections cover primary metrics only)."""

    groups: Sequence[GroupStatistic]
    direction: Direction = Direction.INCREASE
    primary: bool = True


def analyze_metric(
    groups: Sequence[GroupStatistic],
    settings: Settings = DEFAULT_SETTINGS,
    *,
    direction: Direction = Direction.INCREASE,
    primary: bool = True,
) -> list[Comparison]:
    """Every treatment (groups[1:]) against the control (groups[0]). Corrections, when
    asked for and the metric is primary, cover this metric's variants (and, for Bonferroni
    over metrics, `settings.primary_metrics`)."""
    results = analyze_experiment([MetricInput(groups, direction, primary)], settings)
    return results[0]


def analyze_experiment(
    metrics: Sequence[MetricInput], settings: Settings = DEFAULT_SETTINGS
) -> list[list[Comparison]]:
    """Each metric's comparisons, in order; Benjamini–Hochberg and Holm pool the p-values of
    every primary metric and variant."""
    alpha = _bonferroni(settings, metrics)
    first = [_analyze(m, settings, alpha if m.primary else settings.alpha) for m in metrics]
    if settings.correction not in (Correction.BENJAMINI_HOCHBERG, Correction.HOLM):
        return first
    return _correct_p_values(metrics, first, settings)


def _bonferroni(settings: Settings, metrics: Sequence[MetricInput]) -> float:
    if settings.correction is not Correction.BONFERRONI:
        return settings.alpha
    variants = max((len(m.groups) - 1 for m in metrics), default=1)
    over = settings.bonferroni_over
    return bonferroni_alpha(
        settings.alpha,
        variants=max(1, variants) if over is not BonferroniOver.METRICS else 1,
        metrics=settings.primary_metrics if over is not BonferroniOver.VARIANTS else 1,
    )


def _analyze(metric: MetricInput, settings: Settings, alpha: float) -> list[Comparison]:
    groups = list(metric.groups)
    if len(groups) < 2:
        raise ValueError("a control and at least one treatment")
    if len({type(g) for g in groups}) != 1:
        raise ValueError("every group of a metric has the same statistic type")
    return [
        compare(groups[0], treatment, settings, direction=metric.direction, alpha=alpha, index=i)
        for i, treatment in enumerate(groups[1:], start=1)
    ]


def _correct_p_values(
    metrics: Sequence[MetricInput], first: list[list[Comparison]], settings: Settings
) -> list[list[Comparison]]:
    """BH: rerun the primary comparisons at the BH α (so intervals agree with significance);
    Holm: significance from the adjusted p-values, intervals at the uncorrected α."""
    slots = [
        (i, j)
        for i, m in enumerate(metrics)
        if m.primary
        for j, c in enumerate(first[i])
        if c.p_value is not None
    ]
    p_values = [first[i][j].p_value or 0.0 for i, j in slots]
    out = [list(row) for row in first]
    if settings.correction is Correction.HOLM:
        for (i, j), adjusted in zip(slots, holm(p_values), strict=True):
            out[i][j] = dataclasses.replace(
                out[i][j], adjusted_p_value=adjusted, significant=adjusted < settings.alpha
            )
        return out
    bh = benjamini_hochberg(p_values, settings.alpha)
    for (i, j), adjusted in zip(slots, bh.adjusted, strict=True):
        group = metrics[i].groups
        again = compare(group[0], group[j + 1], settings, metrics[i].direction, bh.alpha, j + 1)
        out[i][j] = dataclasses.replace(again, adjusted_p_value=adjusted)
    return out


def compare(
    control: GroupStatistic,
    treatment: GroupStatistic,
    settings: Settings = DEFAULT_SETTINGS,
    direction: Direction = Direction.INCREASE,
    alpha: float | None = None,
    index: int = 1,
) -> Comparison:
    """One treatment against control at `alpha` (the settings' when None)."""
    alpha = settings.alpha if alpha is None else alpha
    kind = control.kind
    c, t = control.moments(), treatment.moments()
    shell = _shell(kind, c, t, index, alpha)
    problem = _problem(c, t)
    if problem:
        return dataclasses.replace(shell, message=problem)
    cuped = _cuped(kind, control, treatment, c, t, settings)
    absolute = absolute_effect(kind, c, t, cuped.theta_used)
    if not absolute.variance > 0 or not math.isfinite(absolute.variance):
        return dataclasses.replace(shell, cuped=cuped, message="no result: zero variance")
    reading = _Reading.make(kind, c, t, cuped.theta_used, absolute, settings, direction, alpha)
    abs_effect = reading.read(absolute)
    relative, rel_note = _relative(kind, c, t, cuped.theta_used, reading, settings)
    posterior = (
        _bayesian(kind, c, absolute, relative, settings, direction) if settings.bayesian else None
    )
    return dataclasses.replace(
        shell,
        absolute=abs_effect,
        relative=relative,
        p_value=abs_effect.p_value,
        significant=abs_effect.p_value < alpha,
        method=reading.method,
        cuped=cuped,
        bayesian=posterior,
        message=rel_note,
    )


def _shell(kind: Kind, c: Moments, t: Moments, index: int, alpha: float) -> Comparison:
    return Comparison(
        treatment=index,
        control_n=c.n,
        control_mean=unadjusted_value(kind, c.mean),
        treatment_n=t.n,
        treatment_mean=unadjusted_value(kind, t.mean),
        absolute=None,
        relative=None,
        p_value=None,
        adjusted_p_value=None,
        alpha=alpha,
        significant=False,
        method=None,
        cuped=NOT_REQUESTED,
        bayesian=None,
        message=None,
    )


def _problem(c: Moments, t: Moments) -> str | None:
    if c.n < 2 or t.n < 2:
        return "no result: fewer than 2 units in a group"
    if not all(math.isfinite(x) for x in (*c.sums, *t.sums)):
        return "no result: the sums are not finite"
    return None


def _cuped(
    kind: Kind,
    control: GroupStatistic,
    treatment: GroupStatistic,
    c: Moments,
    t: Moments,
    settings: Settings,
) -> Cuped:
    if not settings.cuped or control.covariate is None or treatment.covariate is None:
        return NOT_REQUESTED
    with_data = units_with_pre_data(control) + units_with_pre_data(treatment)
    return decide_cuped(kind, c, t, with_data)


def _relative(
    kind: Kind, c: Moments, t: Moments, theta: float, reading: _Reading, settings: Settings
) -> tuple[Effect | None, str | None]:
    estimate = relative_effect(kind, c, t, theta)
    if estimate is None:
        return None, "no relative effect: the control mean is 0"
    effect = reading.read(estimate)
    if settings.relative_interval is not RelativeInterval.FIELLER or reading.sequential:
        return effect, None
    bounds = freq.fieller_interval(
        fieller_parts(kind, c, t, theta), reading.critical, reading.sided, reading.direction
    )
    if bounds is None:
        unbounded = (-math.inf, math.inf)
        note = "Fieller interval unbounded: the control mean is not distinguishable from 0"
        return dataclasses.replace(effect, interval=unbounded), note
    return dataclasses.replace(effect, interval=bounds), None


@dataclass(frozen=True)
class _Reading:
    """How an estimate becomes an interval and a p-value in this comparison: fixed-horizon
    z or t, mSPRT (Z* from the absolute scale, where τ is defined, used on both scales:
    it depends only on V/τ, which a change of scale leaves alone) or a confidence sequence."""

    method: Method
    alpha: float
    sided: Sided
    direction: Direction
    critical: float
    units: int
    tuning: float

    @property
    def sequential(self) -> seq.SequentialMethod | None:
        return self.method.sequential

    @classmethod
    def make(
        cls,
        kind: Kind,
        c: Moments,
        t: Moments,
        theta: float,
        absolute: Estimate,
        settings: Settings,
        direction: Direction,
        alpha: float,
    ) -> _Reading:
        sided = settings.sided
        sequential = settings.sequential_method if settings.sequential_now else None
        test = TestKind.Z if sequential else freq.choose_test(absolute.dof, settings.test)
        if sequential is seq.SequentialMethod.MSPRT:
            unit_vars = unit_variance(kind, c, theta) + unit_variance(kind, t, theta)
            critical = seq.msprt_critical(absolute.variance, unit_vars, c.n + t.n, alpha, sided)
        else:
            critical = freq.critical_value(alpha, sided, test, absolute.dof)
        method = Method(test, absolute.dof, sided, sequential, settings.relative_interval)
        return cls(method, alpha, sided, direction, critical, c.n + t.n, settings.sequential_tuning)

    def read(self, estimate: Estimate) -> Effect:
        se = estimate.standard_error
        z = estimate.estimate / se if se > 0 else 0.0
        if self.sequential is seq.SequentialMethod.CONFIDENCE_SEQUENCE:
            half = seq.cs_halfwidth(se, self.units, self.alpha, self.tuning, self.sided)
            p = seq.cs_p_value(
                estimate.estimate,
                se,
                self.units,
                self.alpha,
                self.tuning,
                self.sided,
                self.direction,
            )
        elif self.sequential is seq.SequentialMethod.MSPRT:
            half = self.critical * se
            p = seq.msprt_p_value(z, self.critical, self.alpha, self.sided, self.direction)
        else:
            half = self.critical * se
            p = freq.p_value(z, self.sided, self.direction, self.method.test, self.method.dof)
        bounds = freq.interval(estimate.estimate, half, self.sided, self.direction)
        return Effect(estimate.estimate, se, bounds, p)


def _bayesian(
    kind: Kind,
    c: Moments,
    absolute: Estimate,
    relative: Effect | None,
    settings: Settings,
    direction: Direction,
) -> bayes.BayesianResult:
    prior = settings.prior
    scale = abs(unadjusted_value(kind, c.mean))
    abs_prior_sd = prior.stddev * scale if prior and scale > 0 else None
    abs_prior_mean = prior.mean * scale if prior else 0.0
    absolute_post = bayes.posterior(
        absolute.estimate, absolute.standard_error, abs_prior_mean, abs_prior_sd, settings.alpha
    )
    relative_post = None
    if relative is not None:
        relative_post = bayes.posterior(
            relative.estimate,
            relative.standard_error,
            prior.mean if prior else 0.0,
            prior.stddev if prior else None,
            settings.alpha,
        )
    deciding = relative_post or absolute_post
    chance, risk_c, risk_t = bayes.decide(deciding, direction)
    scale_name = "relative" if relative_post else "absolute"
    return bayes.BayesianResult(relative_post, absolute_post, chance, risk_c, risk_t, scale_name)
