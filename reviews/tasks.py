from smtplib import SMTPException

from celery import shared_task

from reviews import notifications


@shared_task(
    autoretry_for=(SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=10,
)
def changeset_notify_task(change_set_id: int, event: str, extra: dict) -> int:
    return notifications.send(change_set_id, event, extra)
