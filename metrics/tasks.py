"""The metrics app's worker tasks: counting pending exposures (asked for after each stored
batch, and swept by beat), the event tables' housekeeping and the catalog's auto metrics
(registered in metrics/apps.py)."""

from __future__ import annotations

from celery import shared_task

from metrics import services
from metrics.catalog import services as catalog_services


@shared_task
def exposures_apply_task() -> int:
    """Count the batches of exposures left pending by the intake; how many it counted."""
    return services.exposures_apply()


@shared_task
def event_partitions_task() -> dict[str, int]:
    """Create the coming days' partitions, drop expired ones, forget old idempotency keys
    and set-aside examples."""
    return services.events_housekeep()


@shared_task
def metric_autocreate_task() -> int:
    """Give every new custom event name its event count and user count metrics, in every
    project; how many metrics it made."""
    return catalog_services.metrics_autocreate_all()
