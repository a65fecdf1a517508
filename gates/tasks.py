from celery import shared_task

from gates.services import rollouts_advance_due


@shared_task
def gate_rollout_advance_task() -> int:
    """Beat, every GATEHOUSE_SCHEDULE_TICK_SECONDS: apply the rollout steps that are due
    (each exactly once, however many workers run it)."""
    return rollouts_advance_due()
