"""Experiment statistics: per-group sufficient statistics in, comparisons out.

Plain Python (numpy, scipy), no Django: numbers in, numbers out. The methods, formulas and
their sources are in docs/statistics.md.
"""

from metrics.stats.analysis import MetricInput, analyze_experiment, analyze_metric, compare
from metrics.stats.bayesian import BayesianResult, Posterior, Prior
from metrics.stats.corrections import BenjaminiHochberg, benjamini_hochberg, bonferroni_alpha, holm
from metrics.stats.cuped import Cuped
from metrics.stats.frequentist import Direction, Sided, TestChoice, TestKind
from metrics.stats.inputs import (
    Covariate,
    GroupStatistic,
    Proportion,
    Ratio,
    RatioCovariate,
    SampleMean,
)
from metrics.stats.power import minimum_detectable_effect, units_needed
from metrics.stats.results import (
    BonferroniOver,
    Comparison,
    Correction,
    Effect,
    Method,
    RelativeInterval,
    Settings,
)
from metrics.stats.sequential import SequentialMethod
from metrics.stats.srm import SrmResult, SrmVerdict, srm_check

__all__ = [
    "BayesianResult",
    "BenjaminiHochberg",
    "BonferroniOver",
    "Comparison",
    "Correction",
    "Covariate",
    "Cuped",
    "Direction",
    "Effect",
    "GroupStatistic",
    "Method",
    "MetricInput",
    "Posterior",
    "Prior",
    "Proportion",
    "Ratio",
    "RatioCovariate",
    "RelativeInterval",
    "SampleMean",
    "SequentialMethod",
    "Settings",
    "Sided",
    "SrmResult",
    "SrmVerdict",
    "TestChoice",
    "TestKind",
    "analyze_experiment",
    "analyze_metric",
    "benjamini_hochberg",
    "bonferroni_alpha",
    "compare",
    "holm",
    "minimum_detectable_effect",
    "srm_check",
    "units_needed",
]
