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


@shared_task(bind=True, acks_late=True, max_retries=8, soft_time_limit=60, time_limit=90)
def config_spec_push_task(self, spec_id: int) -> str | None:
    """Push one config spec to Redis; retries with exponential backoff on Redis errors
    (the last failure leaves it failed; config_spec_repush_task keeps trying later)."""
    import redis

    from console.publishing.services import config_spec_push

    final = self.request.retries >= self.max_retries
    try:
        spec = config_spec_push(spec_id=spec_id, final=final)
    except redis.RedisError as exc:
        if final:
            return "failed"
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 300)) from exc
    return spec.state if spec else None


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def config_spec_repush_task() -> dict[str, list[int]]:
    """Beat: push pending/failed specs (with backoff) and heal keys Redis lost."""
    import redis

    from console.publishing.services import config_spec_repush

    try:
        report = config_spec_repush()
    except redis.RedisError:
        return {"redis_unavailable": []}
    return {
        "pushed": report.pushed,
        "healed": report.healed,
        "failed": report.failed,
        "superseded": report.superseded,
    }


@shared_task(bind=True, acks_late=True, max_retries=None, soft_time_limit=30, time_limit=60)
def webhook_deliver_task(self, delivery_id: int) -> str | None:
    """One attempt at a webhook delivery; transient failures retry with exponential backoff
    (the attempt count and the limit live on the delivery row, so manual and beat-driven
    attempts count too)."""
    from console.webhooks.delivery import webhook_deliver

    delivery = webhook_deliver(delivery_id=delivery_id)
    if delivery is None:
        return None
    if delivery.retry_in is not None:
        raise self.retry(countdown=delivery.retry_in)
    return delivery.state


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def webhook_redeliver_task() -> int:
    """Beat: re-enqueue pending webhook deliveries that are overdue (lost enqueues)."""
    from console.webhooks.delivery import webhook_redeliver_overdue

    return len(webhook_redeliver_overdue())
