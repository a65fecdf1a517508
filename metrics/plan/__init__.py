"""The query plan: stored exposures and events in, per-group sufficient statistics out,
computed in the events engine, one plan per SQL dialect (docs/results-computation.md)."""

from metrics.plan.run import breakdown_statistics, group_statistics
from metrics.plan.types import (
    Breakdown,
    BreakdownResult,
    Caps,
    DayStatistics,
    ExperimentScope,
    GroupStatistics,
    PlanResult,
    Segment,
)

__all__ = [
    "Breakdown",
    "BreakdownResult",
    "Caps",
    "DayStatistics",
    "ExperimentScope",
    "GroupStatistics",
    "PlanResult",
    "Segment",
    "breakdown_statistics",
    "group_statistics",
]
