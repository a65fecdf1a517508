from smtplib import SMTPException

from celery import shared_task

from console import notifications


@shared_task(
    autoretry_for=(SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=10,
)
def notification_send_task(kind: str, object_id: int) -> bool:
    return notifications.send(kind, object_id)
