"""The query plan: stored exposures and events in, per-group sufficient statistics out,
computed in PostgreSQL (docs/results-computation.md)."""

from metrics.plan.run import group_statistics
from metrics.plan.types import Caps, DayStatistics, ExperimentScope, GroupStatistics, PlanResult

__all__ = [
    "Caps",
    "DayStatistics",
    "ExperimentScope",
    "GroupStatistics",
    "PlanResult",
    "group_statistics",
]
