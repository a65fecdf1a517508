import logging
from datetime import timedelta
from smtplib import SMTPException

from celery import shared_task
from django.conf import settings

from reviews import notifications, services

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=10,
)
def changeset_notify_task(change_set_id: int, event: str, extra: dict) -> int:
    return notifications.send(change_set_id, event, extra)


@shared_task
def changeset_apply_task(change_set_id: int) -> str:
    """Apply a heavy change set (reviews.services.changeset_apply_queued). Anything but a
    refusal (a time limit, a lost database, a bug) rolls back and returns the change set
    to be applied again, with the reason on its page; the error is raised for the log."""
    try:
        change_set = services.changeset_apply_queued(change_set_id=change_set_id)
    except Exception as exc:
        services.changeset_apply_abandon(change_set_id=change_set_id, reason=type(exc).__name__)
        raise
    return change_set.state if change_set is not None else "skipped"


@shared_task
def changeset_apply_requeue_task() -> int:
    """Beat's safety net: change sets left applying past the task time limit are sent again."""
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return services.changeset_apply_requeue(older_than=limit)


@shared_task
def changeset_apply_scheduled_task() -> int:
    """Beat, every GATEHOUSE_SCHEDULE_TICK_SECONDS: apply the approved change sets whose
    scheduled time has come (each exactly once, however many workers run it)."""
    return services.changeset_apply_due()
