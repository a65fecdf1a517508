"""Bayesian read-out: a normal likelihood for the effect, a normal prior, a normal posterior.

posterior mean = (prior_mean/prior_var + estimate/se²) / (1/prior_var + 1/se²),
posterior var  = 1 / (1/prior_var + 1/se²)
(Statsig experiments/advanced-setup/bayesian.mdx; gbstats bayesian/tests.py
`EffectBayesianABTest`). The prior is flat by default; a proper prior is stated on the
relative effect (GrowthBook's convention, so one prior fits metrics of any unit) and scaled
by |control mean| for the absolute effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as sps

from metrics.stats.frequentist import Direction, Interval


@dataclass(frozen=True)
class Prior:
    """A normal prior on the relative effect (0.1 = +10%); GrowthBook's default proper prior
    has stddev 0.3."""

    mean: float = 0.0
    stddev: float = 0.3


@dataclass(frozen=True)
class Posterior:
    mean: float
    stddev: float
    interval: Interval  # central credible interval


@dataclass(frozen=True)
class BayesianResult:
    """`risk_control` is the expected loss of keeping control (what is given up if the
    treatment is better), `risk_treatment` of shipping the treatment, both on the relative
    scale when there is one, else on the absolute (`risk_scale`)."""

    relative: Posterior | None
    absolute: Posterior
    chance_to_beat_control: float
    risk_control: float
    risk_treatment: float
    risk_scale: str


def posterior(
    estimate: float,
    standard_error: float,
    prior_mean: float,
    prior_stddev: float | None,
    alpha: float,
) -> Posterior:
    """prior_stddev None: the flat (improper) prior, so the posterior is the likelihood."""
    precision = 1 / standard_error**2
    mean = estimate
    if prior_stddev is not None:
        prior_precision = 1 / prior_stddev**2
        mean = (estimate * precision + prior_mean * prior_precision) / (precision + prior_precision)
        precision += prior_precision
    stddev = 1 / math.sqrt(precision)
    z = float(sps.norm.isf(alpha / 2))
    return Posterior(mean, stddev, (mean - z * stddev, mean + z * stddev))


def expected_gain(mean: float, stddev: float) -> float:
    """E[max(X, 0)] for X ~ N(mean, stddev²): μΦ(μ/σ) + σφ(μ/σ)."""
    z = mean / stddev
    return float(mean * sps.norm.cdf(z) + stddev * sps.norm.pdf(z))


def decide(post: Posterior, direction: Direction) -> tuple[float, float, float]:
    """(chance to beat control, risk of control, risk of treatment), for the metric's good
    direction."""
    mean = post.mean if direction is Direction.INCREASE else -post.mean
    chance = float(sps.norm.sf(0, loc=mean, scale=post.stddev))
    return chance, expected_gain(mean, post.stddev), expected_gain(-mean, post.stddev)
