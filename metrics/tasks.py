"""Beat's housekeeping of the event tables (registered in metrics/apps.py)."""

from __future__ import annotations

from celery import shared_task

from metrics import services


@shared_task
def event_partitions_task() -> dict[str, int]:
    """Create the coming days' partitions, drop expired ones, forget old idempotency keys
    and set-aside examples."""
    return services.events_housekeep()
