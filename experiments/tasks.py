"""The experiments app's worker tasks: computing results (asked for by a refresh, scheduled
daily by beat; registered in experiments/apps.py)."""

from __future__ import annotations

from celery import shared_task

from experiments.results import services
from experiments.results.services import COMPUTE_TIME_LIMIT_S


@shared_task(time_limit=COMPUTE_TIME_LIMIT_S, soft_time_limit=COMPUTE_TIME_LIMIT_S - 60)
def results_compute_task(results_id: int) -> str:
    """Compute one queued refresh; its state after."""
    results = services.results_compute(results_id)
    return results.state if results is not None else "skipped"


@shared_task
def results_schedule_task() -> int:
    """Daily: queue a refresh of every running experiment."""
    return services.results_schedule()


@shared_task
def results_requeue_task() -> int:
    """Every few minutes: resend lost refreshes, fail interrupted ones."""
    return services.results_requeue()
