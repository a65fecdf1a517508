"""Per-unit-day rollups (to come)."""

from __future__ import annotations

from metrics.definitions import MetricDefinition


def rolls_up(metric: MetricDefinition) -> bool:
    return False


def rollup_statement(*args, **kwargs):  # pragma: no cover
    raise NotImplementedError
